"""Bring an existing price table up to date: Azure OpenAI's models, a price per method (SFT,
DPO) and training type (LoRA, full) where the provider has one, and the per-example token
limits Together and Fireworks publish (the table used 8,192 for all of them).

A new installation's empty table is filled from CURATOR_TRAINING_PRICES when first read, with
the same rows; this migration leaves an empty table alone. Rows staff edited are kept.
"""

from decimal import Decimal

from django.db import migrations

OPENAI_MODELS = (
    ("gpt-4.1-2025-04-14", "25"),
    ("gpt-4.1-mini-2025-04-14", "5"),
    ("gpt-4.1-nano-2025-04-14", "1.5"),
    ("gpt-4o-2024-08-06", "25"),
    ("gpt-4o-mini-2024-07-18", "3"),
)
TOGETHER_MODELS = (
    ("meta-llama/Llama-3.2-3B-Instruct", 131072),
    ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 131072),
    ("Qwen/Qwen2.5-7B-Instruct", 32768),
)
TOGETHER_RATES = (
    ("supervised", "lora", "0.48"),
    ("supervised", "full", "0.54"),
    ("dpo", "lora", "1.20"),
    ("dpo", "full", "1.35"),
)
FIREWORKS_MODELS = (
    ("accounts/fireworks/models/llama-v3p2-3b-instruct", 131072),
    ("accounts/fireworks/models/llama-v3p1-8b-instruct", 131072),
    ("accounts/fireworks/models/qwen2p5-7b-instruct", 32768),
)
OLD_LIMIT = 8192


def rows():
    for provider in ("openai", "azure"):
        for model, price in OPENAI_MODELS:
            for method in ("supervised", "dpo"):
                yield provider, model, method, "lora", price, 65536
    for model, limit in TOGETHER_MODELS:
        for method, training_type, price in TOGETHER_RATES:
            yield "together", model, method, training_type, price, limit
    for model, limit in FIREWORKS_MODELS:
        yield "fireworks", model, "supervised", "lora", "0.5", limit


def forwards(apps, schema_editor):
    TrainingPrice = apps.get_model("curation", "TrainingPrice")
    if not TrainingPrice.objects.exists():
        return
    limits = {(p, m): limit for p, m, _, _, _, limit in rows()}
    for (provider, model), limit in limits.items():
        TrainingPrice.objects.filter(
            provider=provider, model=model, token_limit=OLD_LIMIT, updated_by__isnull=True
        ).update(token_limit=limit)
    TrainingPrice.objects.bulk_create(
        [
            TrainingPrice(
                provider=provider,
                model=model,
                method=method,
                training_type=training_type,
                price_per_million=Decimal(price),
                token_limit=limit,
            )
            for provider, model, method, training_type, price, limit in rows()
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("curation", "0012_training_price_method_and_type")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
