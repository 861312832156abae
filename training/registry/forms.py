"""Forms of the registry pages."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from training.evaluation.metrics import GATE_EVIDENCE, evidence_error
from training.evaluation.models import Comparison
from training.models import FineTuneJob
from training.registry.stages import MAX_GATE_LEVEL, MIN_GATE_EXAMPLES, RegistrySettings


class PromoteForm(forms.Form):
    comparison = forms.ModelChoiceField(
        queryset=Comparison.objects.none(),
        required=False,
        empty_label="Latest comparison with production",
        help_text="The comparison of this model with the production model the gate reads.",
    )
    force = forms.BooleanField(required=False, label="Override the gate (site staff)")
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Reason for the override"
    )

    def __init__(self, *args: Any, comparisons: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if comparisons is not None:
            field = cast(forms.ModelChoiceField, self.fields["comparison"])
            field.queryset = comparisons
            field.label_from_instance = lambda c: (  # type: ignore[assignment]  # per instance, as Django allows
                f"#{c.pk}: {c.run_a.model.ref} vs {c.run_b.model.ref} ({c.run_a.eval_set})"
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        if data.get("force") and not (data.get("reason") or "").strip():
            self.add_error("reason", "An override needs a written reason.")
        return data


class CanaryForm(forms.Form):
    fraction = forms.FloatField(
        min_value=0.001,
        max_value=0.5,
        initial=0.05,
        help_text="Share of traffic the canary answers (0.05 is 5 %).",
    )


class RegistrySettingsForm(forms.ModelForm):
    class Meta:
        model = RegistrySettings
        fields = [
            "canary_max_excess",
            "canary_min_feedback",
            "canary_false_rollback_rate",
            "novelty_threshold",
            "negative_feedback_threshold",
            "gate_evidence",
            "gate_level",
            "gate_min_examples",
            "drift_window_days",
            "drift_min_sample",
            "retrain_like",
            "retrain_weekly",
        ]
        labels = {
            "gate_evidence": "The gate's evidence (the one test promotion applies)",
            "gate_level": "The gate's level (chance of promoting a model that is not better)",
            "gate_min_examples": "The gate decides on at least this many examples",
            "canary_max_excess": "Roll the canary back when its negative-feedback rate exceeds "
            "production's by more than (0 to 1)",
            "canary_min_feedback": "…checked first when each has this many rated conversations "
            "(then at twice, four times that…)",
            "canary_false_rollback_rate": "Chance of rolling back a canary that is not worse, "
            "over all its checks",
            "novelty_threshold": "Warn when this share of production prompts is novel (0 to 1)",
            "negative_feedback_threshold": "Warn when this share of rated production "
            "conversations is negative (0 to 1)",
            "drift_window_days": "Drift window (days)",
            "drift_min_sample": "Drift warnings need at least this many recent conversations",
            "retrain_like": "Weekly retraining like job",
            "retrain_weekly": "Retrain weekly",
        }

    def __init__(self, *args: Any, dataset: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        like = cast(forms.ModelChoiceField, self.fields["retrain_like"])
        like.queryset = FineTuneJob.objects.filter(dataset=dataset)
        self.fields["retrain_like"].required = False
        self.fields["gate_evidence"] = forms.ChoiceField(
            choices=[(value, value) for value in GATE_EVIDENCE],
            label=self.Meta.labels["gate_evidence"],
            help_text="Chosen before comparing: the judge's verdicts, people's blind verdicts, "
            "or one quality metric (length ratio and latency are shown, never tested). "
            "A comparison keeps the settings it was made under.",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data
        for name in ("canary_max_excess", "novelty_threshold", "negative_feedback_threshold"):
            value = data.get(name)
            if value is not None and not 0 <= value <= 1:
                self.add_error(name, "Between 0 and 1.")
        evidence = data.get("gate_evidence")
        if evidence and (problem := evidence_error(evidence)):
            self.add_error("gate_evidence", problem)
        rate = data.get("canary_false_rollback_rate")
        if rate is not None and not 0 < rate <= MAX_GATE_LEVEL:
            self.add_error("canary_false_rollback_rate", f"Above 0 and at most {MAX_GATE_LEVEL}.")
        level = data.get("gate_level")
        if level is not None and not 0 < level <= MAX_GATE_LEVEL:
            self.add_error("gate_level", f"Above 0 and at most {MAX_GATE_LEVEL}.")
        minimum = data.get("gate_min_examples")
        if minimum is not None and minimum < MIN_GATE_EXAMPLES:
            self.add_error("gate_min_examples", f"At least {MIN_GATE_EXAMPLES}.")
        if data.get("retrain_weekly") and not data.get("retrain_like"):
            self.add_error("retrain_like", "Choose the job to retrain like.")
        return data


class RetrainForm(forms.Form):
    like = forms.ModelChoiceField(
        queryset=FineTuneJob.objects.none(),
        label="Retrain like",
        help_text="Same provider, base model and settings as this job.",
    )
    judge = forms.CharField(
        required=False,
        label="Judge for the comparison with production",
        help_text="A model REF (empty: the default judge, else people compare blind).",
    )

    def __init__(self, *args: Any, dataset: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        like = cast(forms.ModelChoiceField, self.fields["like"])
        like.queryset = FineTuneJob.objects.filter(dataset=dataset).order_by("-created_at")
        like.label_from_instance = lambda job: (  # type: ignore[assignment]  # per instance, as Django allows
            f"#{job.pk} {job.provider} {job.base_model} on v{job.version.number} ({job.status})"
        )
