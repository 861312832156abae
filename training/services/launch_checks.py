"""Checks before a fine-tune is launched: hyperparameters, the version's files against the
provider's rules, limits, dates and prices. Run in the web request (or the CLI) before any
byte is sent, so a person sees what fails and why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from curation.models import (
    DatasetVersion,
    VersionFormat,
    VersionStatus,
    training_epochs,
)
from curation.models.prices import estimate_cost
from curation.services.versions.files import TamperedFileError, record_tampered, verify_file
from curation.storage import open_stream
from training.local import TrainSettings
from training.models import AUTO, HYPERPARAMETERS, FineTuneMethod, usd
from training.pricing import billed_validation_passes, model_end_date, offered_models, price_for
from training.providers import (
    ModelInfo,
    ProviderConfig,
    ProviderError,
    ProviderNotConfigured,
    available_providers,
    get_config,
    get_local_backend,
    get_provider,
)
from training.providers.files import convert_lines, converts
from training.providers.registry import DEFAULT_EPOCHS
from training.services.config import MAX_FILE_BYTES, MIN_TRAIN_EXAMPLES

logger = logging.getLogger(__name__)

# (minimum, maximum, type) accepted for each hyperparameter besides "auto"; OpenAI's ranges.
HYPERPARAMETER_RANGES: dict[str, tuple[float, float, type]] = {
    "n_epochs": (1, 50, int),
    "batch_size": (1, 256, int),
    "learning_rate_multiplier": (1e-6, 10, float),
}
HYPERPARAMETER_LABELS = {
    "n_epochs": "epochs",
    "batch_size": "batch size",
    "learning_rate_multiplier": "learning-rate multiplier",
}


def clean_hyperparameter(name: str, raw: Any) -> int | float | str:
    """``"auto"`` (also for empty input) or a number in the provider's range; ValueError."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", AUTO}):
        return AUTO
    low, high, kind = HYPERPARAMETER_RANGES[name]
    label = HYPERPARAMETER_LABELS[name]
    try:
        number = kind(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        expected = "a whole number" if kind is int else "a number"
        raise ValueError(f"{label}: expected 'auto' or {expected}, got {raw!r}") from None
    if isinstance(raw, float) and kind is int and raw != int(raw):
        raise ValueError(f"{label}: expected a whole number, got {raw!r}")
    if not low <= number <= high:
        raise ValueError(f"{label}: {number} is outside {low:g} to {high:g}")
    return number


# Providers whose API takes LoRA settings and an absolute learning rate (and DPO).
HOSTED_EXTRA_KINDS = frozenset({"together", "fireworks"})
# OpenAI-compatible APIs take DPO through the job's method block (the simulator validates it).
DPO_KINDS = frozenset({"together", "fireworks", "openai", "simulator", "local"})
# name: (minimum, maximum, type, label) of the settings those providers take.
HOSTED_RANGES: dict[str, tuple[float, float, type, str]] = {
    "learning_rate": (1e-8, 1.0, float, "learning rate"),
    "lora_rank": (1, 64, int, "LoRA rank"),
    "lora_alpha": (1, 512, int, "LoRA alpha"),
    "max_seq_length": (512, 131072, int, "max sequence length"),
    "dpo_beta": (0.0, 10.0, float, "DPO beta"),
}


def clean_hosted_hyperparameters(raw: dict[str, Any]) -> dict[str, Any]:
    """The LoRA and method settings Together and Fireworks take; absent ones are left to
    the provider's default. ValueError names the setting at fault."""
    cleaned: dict[str, Any] = {}
    for name, (low, high, kind, label) in HOSTED_RANGES.items():
        value = raw.get(name)
        if value is None or (isinstance(value, str) and value.strip().lower() in {"", AUTO}):
            continue
        try:
            number = kind(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"{label}: expected a number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"{label}: {number} is outside {low:g} to {high:g}")
        cleaned[name] = number
    full = raw.get("full_training")
    if full not in (None, "", False):
        cleaned["lora"] = str(full).strip().lower() not in {"on", "true", "1", "yes"}
    if raw.get("lora") is False:
        cleaned["lora"] = False
    return cleaned


def clean_hyperparameters(raw: dict[str, Any]) -> dict[str, int | float | str]:
    return {name: clean_hyperparameter(name, raw.get(name)) for name in HYPERPARAMETERS}


@dataclass
class LaunchCheck:
    """What a launch would send and cost, and every rule it breaks."""

    version: DatasetVersion
    config: ProviderConfig | None
    model: ModelInfo | None
    hyperparameters: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    train_tokens: int = 0
    epochs: int | None = None
    billed_tokens: int | None = None
    cost: Decimal | None = None
    max_example_tokens: int | None = None
    # Local providers only: the RQ workers listening on the GPU queue.
    gpu_workers: tuple[str, ...] | None = None
    # Things to know that do not stop the launch (end dates coming up).
    notices: list[str] = field(default_factory=list)
    # The price table's row the estimate used, if the model has one.
    price: Any = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def is_simulator(self) -> bool:
        return bool(self.config and self.config.is_simulator)

    @property
    def cost_text(self) -> str:
        return usd(self.cost)

    @property
    def is_local(self) -> bool:
        return bool(self.config and self.config.kind == "local")


def _train_tokens(version: DatasetVersion) -> int:
    tokens = (version.stats or {}).get("tokens") or {}
    if isinstance(tokens.get("train"), int):
        return tokens["train"]
    if not version.examples:
        return 0
    return round(version.total_tokens * version.train_examples / version.examples)


def _data_files(version: DatasetVersion) -> list[str]:
    names = ["train.jsonl"]
    if version.validation_examples:
        names.append("validation.jsonl")
    return names


def _check_files(version: DatasetVersion, *, verify: bool) -> list[str]:
    problems = []
    for name in _data_files(version):
        label = version.download_name(name)
        info = version.file_info(name)
        if info is None:
            problems.append(f"{label} is missing from the version's files")
            continue
        if info.get("size", 0) > MAX_FILE_BYTES:
            problems.append(
                f"{label} is {info['size'] / 1024**2:.0f} MB; providers accept files up to "
                f"{MAX_FILE_BYTES // 1024**2} MB"
            )
        if verify:
            try:
                verify_file(version, name)
            except TamperedFileError as error:
                record_tampered(error=error, user=None)
                problems.append(str(error))
            except FileNotFoundError:
                problems.append(f"{label} is missing from the version's files")
            continue
        # Cheap checks for a page view; the launch itself reads and hashes every byte.
        if not default_storage.exists(info["name"]):
            problems.append(f"{label} is missing from storage")
        elif default_storage.size(info["name"]) != info.get("size"):
            problems.append(
                f"{label} is {default_storage.size(info['name'])} bytes, not the "
                f"{info.get('size')} recorded when it was built: it was changed or damaged"
            )
    return problems


def _check_provider_files(version: DatasetVersion, config: ProviderConfig) -> list[str]:
    """Convert the files for the provider without keeping the result: every line without a
    mapping is named now, and lines left out (preference outputs it cannot take) must leave
    enough to train on."""
    problems: list[str] = []
    for name in _data_files(version):
        info = version.file_info(name)
        if info is None:
            continue
        with open_stream(info["name"]) as stream:
            conversion = convert_lines(
                config.kind,
                stream,
                name=version.download_name(name),
                preference=version.format == VersionFormat.PREFERENCE,
                sink=None,
            )
        problems.extend(conversion.problems)
        short = conversion.written < MIN_TRAIN_EXAMPLES
        if name == "train.jsonl" and conversion.excluded and short and not conversion.problems:
            first_line, reason = conversion.excluded[0]
            problems.append(
                f"{conversion.name}: {len(conversion.excluded)} lines cannot be given to "
                f"{config.label} (line {first_line}: {reason}), leaving "
                f"{conversion.written}; fine-tuning needs at least {MIN_TRAIN_EXAMPLES}"
            )
    return problems


def check_launch(
    *,
    version: DatasetVersion,
    provider: str,
    base_model: str,
    hyperparameters: dict[str, Any] | None = None,
    verify_files: bool = False,
    method: str = FineTuneMethod.SUPERVISED,
) -> LaunchCheck:
    """Check ``version`` against the provider's rules and estimate the cost.

    With ``verify_files`` the stored files are read and their sha256 compared with the
    recorded ones; without, only their presence and size are checked (fast enough for
    every page view).
    """
    hyperparameters = dict(hyperparameters or {})
    problems: list[str] = []
    config: ProviderConfig | None = None
    model: ModelInfo | None = None
    try:
        config = get_config(provider)
    except ProviderNotConfigured as error:
        problems.append(str(error))
    if config is not None:
        if not config.is_usable:
            problems.append(
                f"{config.label} has no API key: set the environment variable "
                f"{config.api_key_env or 'named by api_key_env'}"
            )
        offered = offered_models(config)
        model = offered.get(base_model)
        if model is None and (offered or config.kind != "local"):
            allowed = ", ".join(offered) or "none yet: add its models and prices at /prices/"
            problems.append(
                f"{base_model or '(no model)'} is not a base model {config.label} offers here "
                f"(allowed: {allowed})"
            )
    check = LaunchCheck(
        version=version, config=config, model=model, hyperparameters=hyperparameters
    )
    if config is not None and config.kind != "local":
        problems.extend(_check_dates(check, config, base_model))
        if config.is_usable and not problems:
            problems.extend(_check_reachable(config))
    if config is not None and config.kind == "local":
        problems.extend(_check_local(check, config))

    label = f"{version.dataset.slug} {version.label}"
    if version.status != VersionStatus.SUCCEEDED:
        problems.append(
            f"{label} is not built (it is {version.get_status_display().lower()}); "
            "only a built version can be trained on"
        )
        check.problems = problems
        return check
    if version.train_examples < MIN_TRAIN_EXAMPLES:
        problems.append(
            f"{label} has {version.train_examples} training example"
            f"{'s' if version.train_examples != 1 else ''}; fine-tuning needs at least "
            f"{MIN_TRAIN_EXAMPLES}"
        )
    tokens = (version.stats or {}).get("tokens") or {}
    check.max_example_tokens = tokens.get("max_per_example")
    if (
        model is not None
        and check.max_example_tokens
        and check.max_example_tokens > model.token_limit
    ):
        problems.append(
            f"the longest example of {label} has {check.max_example_tokens:,} tokens, over the "
            f"{model.token_limit:,}-token per-example limit of {model.name}"
        )
    problems.extend(_check_files(version, verify=verify_files))
    if verify_files and config is not None and converts(config.kind) and not problems:
        problems.extend(_check_provider_files(version, config))

    check.train_tokens = _train_tokens(version)
    epochs = hyperparameters.get("n_epochs", AUTO)
    if isinstance(epochs, int):
        check.epochs = epochs
    elif check.is_local:
        check.epochs = TrainSettings().epochs  # the local trainer's "auto" is its default
    elif config is not None and config.kind in DEFAULT_EPOCHS:
        check.epochs = DEFAULT_EPOCHS[config.kind]  # what the provider trains when not told
    else:
        check.epochs = training_epochs(version.train_examples)
    full = hyperparameters.get("lora") is False or str(
        hyperparameters.get("full_training") or ""
    ).strip().lower() in {"on", "true", "1", "yes"}
    check.price = (
        price_for(
            config,
            base_model,
            method="dpo" if method == FineTuneMethod.DPO else "supervised",
            training_type="full" if full else "lora",
        )
        if config is not None
        else None
    )
    passes = (
        billed_validation_passes(config, has_validation=bool(version.validation_examples))
        if config is not None
        else 0
    )
    estimate = estimate_cost(
        price=check.price,
        examples=version.train_examples,
        capped_tokens=check.train_tokens,
        epochs=check.epochs,
        validation_tokens=int(tokens.get("validation") or 0),
        validation_passes=passes,
    )
    check.billed_tokens = estimate.billed_tokens
    # No price row (a method or training type the table lacks): the cost is unknown, not $0.
    if model is not None and (check.price is not None or check.is_local):
        check.cost = estimate.cost
    check.problems = problems
    return check


def _alternatives(config: ProviderConfig) -> str:
    others = [
        c.display_label for c in available_providers() if c.name != config.name and c.is_usable
    ]
    return ", ".join(others) or "Together AI, Fireworks AI, Azure OpenAI or your own GPUs"


def _check_dates(check: LaunchCheck, config: ProviderConfig, base_model: str) -> list[str]:
    """OpenAI's fine-tuning cutoff (its own API only) and the model's end date, if any."""
    today = timezone.localdate()
    problems: list[str] = []
    if config.is_openai_platform:
        ends = date.fromisoformat(str(settings.CURATOR_OPENAI_FINE_TUNING_ENDS))
        warn_from = date.fromisoformat(str(settings.CURATOR_OPENAI_FINE_TUNING_WARN_FROM))
        if today >= ends:
            problems.append(
                f"OpenAI stopped taking new fine-tuning jobs on {ends:%-d %B %Y}; "
                f"train on {_alternatives(config)} instead"
            )
        elif today >= warn_from:
            days = (ends - today).days
            check.notices.append(
                f"OpenAI stops taking new fine-tuning jobs on {ends:%-d %B %Y} "
                f"({days} day{'s' if days != 1 else ''} from now); later launches need "
                f"{_alternatives(config)}"
            )
    model_ends = model_end_date(config, base_model)
    if model_ends is not None:
        if today >= model_ends:
            problems.append(f"{base_model} was retired at {config.label} on {model_ends:%-d %B %Y}")
        else:
            check.notices.append(
                f"{base_model} and its fine-tunes are retired at {config.label} on "
                f"{model_ends:%-d %B %Y}"
            )
    return problems


def _check_reachable(config: ProviderConfig) -> list[str]:
    """Reach the provider now, so a wrong URL or key shows here and not a minute later."""
    try:
        get_provider(config.name).ping()
    except ProviderError as error:
        return [f"cannot reach {config.display_label} at {config.url or 'its API'}: {error}"]
    return []


def _check_local(check: LaunchCheck, config: ProviderConfig) -> list[str]:
    """Is a GPU worker alive, and the extra installed here? (Nothing here imports torch.)"""
    try:
        backend = get_local_backend(config.name)
    except ProviderError as error:
        return [str(error)]
    availability = backend.availability()
    check.gpu_workers = availability.workers
    return list(availability.problems)


def _provider_settings_problems(
    *,
    config: ProviderConfig,
    base_model: str,
    hyperparameters: dict[str, Any],
    method: str,
    seed: int | None,
    validation: bool,
) -> list[str]:
    """Every chosen setting the provider has no place for, or would refuse, before anything
    is created: a setting is sent or refused, never dropped."""
    problems = []
    if (
        config.kind in HOSTED_EXTRA_KINDS
        and hyperparameters.get("learning_rate_multiplier", AUTO) != AUTO
    ):
        problems.append(
            f"{config.label} takes an absolute learning rate, not OpenAI's learning-rate "
            "multiplier: leave the multiplier at auto and set the learning rate"
        )
    if not config.is_usable:
        return problems
    try:
        problems.extend(
            get_provider(config.name).check_settings(
                model=base_model,
                hyperparameters={k: v for k, v in hyperparameters.items() if v != AUTO},
                method="dpo" if method == FineTuneMethod.DPO else "supervised",
                validation=validation,
                seed=seed,
            )
        )
    except ProviderError as error:
        problems.append(f"cannot check the settings with {config.display_label}: {error}")
    return problems


def method_version_problem(*, method: str, version: DatasetVersion) -> str:
    """Why this method cannot train on this version's files, or "" (DPO needs preference
    pairs, supervised training needs chat examples)."""
    preference = version.format == VersionFormat.PREFERENCE
    if method == FineTuneMethod.DPO and not preference:
        return (
            f"v{version.number} holds supervised examples; DPO trains on a preference version "
            "(snapshot --format preference)"
        )
    if method != FineTuneMethod.DPO and preference:
        return f"v{version.number} holds preference pairs: train it with the DPO method"
    return ""
