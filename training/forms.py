from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from curation.models import Dataset, DatasetVersion, VersionFormat, VersionStatus
from training.hyperparameters import (
    LOCAL_HYPERPARAMETERS,
    LocalSettingError,
    clean_local_hyperparameters,
    local_defaults,
)
from training.local import TrainSettings
from training.models import AUTO, HYPERPARAMETERS, FineTuneMethod
from training.pricing import offered_models
from training.providers import ProviderConfig, available_providers
from training.services.launch_checks import (
    DPO_KINDS,
    HOSTED_EXTRA_KINDS,
    clean_hosted_hyperparameters,
    clean_hyperparameter,
    method_version_problem,
)

SIMULATOR_NOTE = "Simulator — no real training"
# The hosted LoRA fieldset's fields and the hyperparameter each sets (Together, Fireworks).
HOSTED_FIELDS = {
    "hosted_learning_rate": "learning_rate",
    "hosted_lora_rank": "lora_rank",
    "hosted_lora_alpha": "lora_alpha",
    "hosted_max_seq_length": "max_seq_length",
    "full_training": "full_training",
    "dpo_beta": "dpo_beta",
}


def provider_label(config: ProviderConfig) -> str:
    label = config.display_label
    return f"{label} ({SIMULATOR_NOTE})" if config.is_simulator else label


class ProviderSelect(forms.Select):
    """Marks each provider option with its kind, so the stylesheet can show the Local LoRA
    fieldset only while a local provider is chosen (no JavaScript involved)."""

    kinds: dict[str, str] = {}

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        kind = self.kinds.get(str(option["value"]))
        if kind:
            option["attrs"]["data-kind"] = kind
        return option


BF16_CHOICES = [("auto", "auto (if supported)"), ("true", "on"), ("false", "off")]


class LaunchForm(forms.Form):
    version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(),
        to_field_name="number",
        empty_label=None,
        help_text="Only built versions can be trained on.",
    )
    provider = forms.ChoiceField()
    base_model = forms.ChoiceField(label="Base model")
    method = forms.ChoiceField(choices=FineTuneMethod.choices, initial=FineTuneMethod.SUPERVISED)
    n_epochs = forms.CharField(
        label="Epochs", initial=AUTO, max_length=12, help_text="auto, or 1 to 50"
    )
    batch_size = forms.CharField(
        label="Batch size", initial=AUTO, max_length=12, help_text="auto, or 1 to 256"
    )
    learning_rate_multiplier = forms.CharField(
        label="Learning-rate multiplier",
        initial=AUTO,
        max_length=12,
        help_text="auto, or a number up to 10",
    )
    suffix = forms.CharField(
        required=False,
        max_length=40,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]*$", "Use letters, digits, - and _ only.")],
        help_text="Becomes part of the fine-tuned model's name.",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="Same seed, same data, same settings: a reproducible run. Empty: the provider picks one.",
    )

    # Local LoRA settings: read only when a local provider is chosen (see clean()).
    lora_rank = forms.IntegerField(label="LoRA rank", required=False, min_value=1, max_value=1024)
    lora_alpha = forms.IntegerField(
        label="LoRA alpha",
        required=False,
        min_value=1,
        max_value=4096,
        help_text="Scales the adapter's update by alpha ÷ rank.",
    )
    lora_dropout = forms.FloatField(
        label="LoRA dropout", required=False, min_value=0, max_value=0.99
    )
    lora_target_modules = forms.CharField(
        label="Target modules",
        required=False,
        max_length=500,
        help_text="all-linear, or module names separated by commas (q_proj,v_proj).",
    )
    learning_rate = forms.FloatField(
        label="Learning rate", required=False, min_value=1e-9, max_value=1
    )
    grad_accum = forms.IntegerField(
        label="Gradient accumulation",
        required=False,
        min_value=1,
        max_value=1024,
        help_text="Micro-batches per optimizer step.",
    )
    max_seq_length = forms.IntegerField(
        label="Max sequence length",
        required=False,
        min_value=16,
        max_value=1_048_576,
        help_text="Tokens; longer conversations are cut (the events say how many).",
    )
    packing = forms.BooleanField(
        label="Pack examples",
        required=False,
        help_text="Several whole examples per row, none attending to another: faster.",
    )
    bf16 = forms.ChoiceField(label="bf16", choices=BF16_CHOICES, required=False)
    eval_every = forms.IntegerField(
        label="Validate every",
        required=False,
        min_value=0,
        help_text="Steps between validation losses (0: only before and after).",
    )
    save_every = forms.IntegerField(
        label="Checkpoint every",
        required=False,
        min_value=0,
        help_text="Steps between saved checkpoints (0: none).",
    )
    max_steps = forms.IntegerField(
        label="Max steps",
        required=False,
        min_value=0,
        help_text="Stop after this many steps (empty: all epochs).",
    )
    merge_weights = forms.BooleanField(
        label="Also save merged weights",
        required=False,
        help_text="The base model with the adapter folded in, beside the adapter (as large as the base model).",
    )

    gpus = forms.IntegerField(
        label="GPUs",
        required=False,
        min_value=1,
        max_value=64,
        help_text="Data-parallel processes on one GPU machine (torchrun).",
    )

    # Together / Fireworks settings: read only when one of those providers is chosen.
    hosted_learning_rate = forms.FloatField(
        label="Learning rate",
        required=False,
        min_value=1e-8,
        max_value=1,
        help_text="Empty: the provider's default.",
    )
    hosted_lora_rank = forms.IntegerField(
        label="LoRA rank", required=False, min_value=1, max_value=64
    )
    hosted_lora_alpha = forms.IntegerField(
        label="LoRA alpha", required=False, min_value=1, max_value=512
    )
    hosted_max_seq_length = forms.IntegerField(
        label="Max sequence length", required=False, min_value=512, max_value=131072
    )
    full_training = forms.BooleanField(
        label="Full fine-tune (not LoRA)", required=False, help_text="Together only."
    )
    dpo_beta = forms.FloatField(
        label="DPO beta",
        required=False,
        min_value=0,
        max_value=10,
        help_text="Preference (DPO) runs only. Beta sets how strongly the model is held to "
        "the base model while it learns the preferences: higher (0.5) stays closer to the "
        "base, lower (0.05) follows the chosen replies more; empty: the provider's default "
        "(about 0.1).",
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataset = dataset
        versions = DatasetVersion.objects.filter(
            dataset=dataset, status=VersionStatus.SUCCEEDED
        ).select_related("dataset")
        cast(forms.ModelChoiceField, self.fields["version"]).queryset = versions
        self.fields["version"].label_from_instance = (  # type: ignore[attr-defined]  # a ModelChoiceField, relabelled per instance
            lambda v: (
                f"{v.label} — {v.train_examples} train / {v.validation_examples} validation"
                + (" (preference pairs)" if v.format == VersionFormat.PREFERENCE else "")
            )
        )
        # DPO trains on preference pairs: offered only where a preference version exists.
        if not versions.filter(format=VersionFormat.PREFERENCE).exists():
            cast(forms.ChoiceField, self.fields["method"]).choices = [
                choice for choice in FineTuneMethod.choices if choice[0] != FineTuneMethod.DPO
            ]
        self.fields["method"].help_text = (
            "Preference (DPO) trains on a preference version (chosen/rejected pairs); "
            "supervised on a supervised version."
        )
        self.configs = available_providers()
        provider_choices = [(c.name, provider_label(c)) for c in self.configs]
        cast(forms.ChoiceField, self.fields["provider"]).choices = provider_choices
        self.fields["provider"].widget = ProviderSelect(choices=provider_choices)
        self.fields["provider"].widget.kinds = {c.name: c.kind for c in self.configs}
        for name, value in local_defaults().items():
            if value is not None:
                field = self.fields[name]
                field.initial = "true" if value is True and name == "bf16" else value
        offered = {c.name: list(offered_models(c)) for c in self.configs}
        cast(forms.ChoiceField, self.fields["base_model"]).choices = [
            (provider_label(c), [(m, m) for m in offered[c.name]])
            for c in self.configs
            if offered[c.name]
        ]
        if not self.is_bound:
            latest = versions.order_by("-number").first()
            if latest is not None:
                self.initial.setdefault("version", latest.number)
            if self.configs:
                first = self.configs[0]
                self.initial.setdefault("provider", first.name)
                models = offered[first.name]
                default = dataset.base_model if dataset.base_model in models else None
                self.initial.setdefault("base_model", default or (models[0] if models else ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data, which add_error edits
        for name in HYPERPARAMETERS:
            if name in cleaned:
                try:
                    cleaned[name] = clean_hyperparameter(name, cleaned[name])
                except ValueError as error:
                    self.add_error(name, str(error))
        if self.is_local:
            self._clean_local(cleaned)
        else:
            # Another provider: the Local LoRA fieldset is not what is being launched.
            for name in LOCAL_HYPERPARAMETERS:
                self.errors.pop(name, None)
                cleaned.pop(name, None)
        config = self.selected_config
        kind = config.kind if config is not None else ""
        if kind in HOSTED_EXTRA_KINDS:
            try:
                cleaned["hosted"] = clean_hosted_hyperparameters(
                    {key: cleaned.get(field) for field, key in HOSTED_FIELDS.items()}
                )
            except ValueError as error:
                self.add_error(None, str(error))
        else:
            for name in HOSTED_FIELDS:
                self.errors.pop(name, None)
        if cleaned.get("method") == FineTuneMethod.DPO and kind not in DPO_KINDS:
            self.add_error(
                "method",
                "Preference (DPO) training is offered by OpenAI-compatible providers, "
                "Together and Fireworks.",
            )
        if cleaned.get("method") and cleaned.get("version"):
            problem = method_version_problem(method=cleaned["method"], version=cleaned["version"])
            if problem:
                self.add_error("method", problem)
        if (
            cleaned.get("method") == FineTuneMethod.DPO
            and kind not in HOSTED_EXTRA_KINDS
            and cleaned.get("dpo_beta") is not None
        ):
            cleaned.setdefault("hosted", {})["dpo_beta"] = cleaned["dpo_beta"]
        return cleaned

    def _clean_local(self, cleaned: dict[str, Any]) -> None:
        if cleaned.get("learning_rate_multiplier", AUTO) != AUTO:
            self.add_error(
                "learning_rate_multiplier",
                "The local trainer takes an absolute learning rate (Local LoRA settings): "
                "leave this at auto.",
            )
        if any(name in self.errors for name in LOCAL_HYPERPARAMETERS):
            return
        try:
            cleaned.update(
                clean_local_hyperparameters({n: cleaned.get(n) for n in LOCAL_HYPERPARAMETERS})
            )
        except LocalSettingError as error:
            self.add_error(error.field if error.field in self.fields else None, str(error))

    @property
    def selected_config(self) -> ProviderConfig | None:
        name = (self.data if self.is_bound else self.initial).get("provider")
        return next((c for c in self.configs if c.name == name), None)

    @property
    def is_local(self) -> bool:
        config = self.selected_config
        return config is not None and config.kind == "local"

    @property
    def has_local_provider(self) -> bool:
        return any(config.kind == "local" for config in self.configs)

    @property
    def local_auto(self) -> dict[str, Any]:
        """What "auto" epochs and batch size, and an empty seed, mean to the local trainer."""
        defaults = TrainSettings()
        return {
            "n_epochs": defaults.epochs,
            "batch_size": defaults.batch_size,
            "seed": defaults.seed,
        }

    @property
    def main_fields(self) -> list[forms.BoundField]:
        # Without the Together/Fireworks fieldset, DPO's beta (OpenAI-compatible) shows here.
        # The getter returns the (value, label) list; django-stubs types it as any setter input.
        methods = cast(
            list[tuple[str, str]], cast(forms.ChoiceField, self.fields["method"]).choices
        )
        beta_here = not self.has_hosted_settings and any(
            value == FineTuneMethod.DPO for value, _ in methods
        )
        return [
            self[name]
            for name in self.fields
            if name not in LOCAL_HYPERPARAMETERS
            and (name not in HOSTED_FIELDS or (beta_here and name == "dpo_beta"))
        ]

    @property
    def hosted_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in HOSTED_FIELDS]

    @property
    def has_hosted_settings(self) -> bool:
        return any(config.kind in HOSTED_EXTRA_KINDS for config in self.configs)

    @property
    def local_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name in LOCAL_HYPERPARAMETERS]

    @property
    def hyperparameters(self) -> dict[str, Any]:
        values = {name: self.cleaned_data.get(name, AUTO) for name in HYPERPARAMETERS}
        if self.is_local:
            values.update(
                {n: self.cleaned_data[n] for n in LOCAL_HYPERPARAMETERS if n in self.cleaned_data}
            )
        values.update(self.cleaned_data.get("hosted") or {})
        return values
