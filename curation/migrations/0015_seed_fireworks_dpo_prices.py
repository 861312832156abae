"""Fireworks' preference (DPO) price for an existing price table: the table priced Fireworks
supervised jobs only, so DPO launches showed an unknown cost. Same rows as
CURATOR_TRAINING_PRICES seeds into a new table (its "source" says where the rate comes from);
an empty table is left alone, and rows staff added are kept.
"""

from decimal import Decimal

from django.db import migrations

FIREWORKS_MODELS = (
    ("accounts/fireworks/models/llama-v3p2-3b-instruct", 131072),
    ("accounts/fireworks/models/llama-v3p1-8b-instruct", 131072),
    ("accounts/fireworks/models/qwen2p5-7b-instruct", 32768),
)
# fireworks.ai/pricing (read 2026-12-07) lists one training rate for models up to 16B, with no
# method split; docs.fireworks.ai says DPO is billed per training token too. Unverified as a
# DPO rate: see docs/providers.md.
DPO_RATE = "0.5"


def forwards(apps, schema_editor):
    TrainingPrice = apps.get_model("curation", "TrainingPrice")
    if not TrainingPrice.objects.exists():
        return
    TrainingPrice.objects.bulk_create(
        [
            TrainingPrice(
                provider="fireworks",
                model=model,
                method="dpo",
                training_type="lora",
                price_per_million=Decimal(DPO_RATE),
                token_limit=limit,
            )
            for model, limit in FIREWORKS_MODELS
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("curation", "0014_merge_helper_branches")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
