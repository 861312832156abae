from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from curation.models import Dataset, DatasetVersion, VersionStatus
from training.evaluation.models import EvalRun
from training.evaluation.services.runs import MAX_CONCURRENCY

MODEL_HELP = (
    "job:<id>, <provider>:<model> (openai:gpt-4o-mini-2024-07-18), local:<model or adapter>, "
    "or a configured endpoint's name"
)
# Model fields suggest the known REFs from the page's <datalist id="model-refs">.
REF_INPUT = forms.TextInput(attrs={"list": "model-refs"})


class RunForm(forms.Form):
    version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(), to_field_name="number", empty_label=None
    )
    split = forms.ChoiceField(
        choices=[("validation", "validation"), ("train", "train")], initial="validation"
    )
    model = forms.CharField(max_length=400, help_text=MODEL_HELP, widget=REF_INPUT)
    judge = forms.CharField(
        max_length=400,
        required=False,
        help_text="Optional: a model that scores each reply on the dataset's rubric.",
        widget=REF_INPUT,
    )
    allow_contestant_judge = forms.BooleanField(
        required=False,
        label="Let the judge be a model it judges",
        help_text="Not recommended: a model tends to prefer its own replies.",
    )
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0)
    max_tokens = forms.IntegerField(min_value=1, max_value=32768, initial=512)
    seed = forms.IntegerField(required=False, initial=0)
    concurrency = forms.IntegerField(min_value=1, max_value=MAX_CONCURRENCY)
    limit = forms.IntegerField(
        min_value=1, required=False, help_text="Evaluate only the first K examples."
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = DatasetVersion.objects.filter(  # type: ignore[attr-defined]  # a ModelChoiceField
            dataset=dataset, status=VersionStatus.SUCCEEDED
        ).order_by("-number")
        self.fields["concurrency"].initial = settings.CURATOR_EVAL_CONCURRENCY
        self.fields["judge"].initial = settings.CURATOR_EVAL_JUDGE


class ComparisonForm(forms.Form):
    run_a = forms.ModelChoiceField(queryset=EvalRun.objects.none(), label="Run A (baseline)")
    run_b = forms.ModelChoiceField(queryset=EvalRun.objects.none(), label="Run B (candidate)")
    judge = forms.CharField(
        max_length=400, required=False, help_text="Optional pairwise judge.", widget=REF_INPUT
    )
    reviews_needed = forms.IntegerField(
        min_value=1, max_value=5, initial=1, help_text="People's verdicts wanted per pair."
    )
    allow_contestant_judge = forms.BooleanField(
        required=False,
        label="Let the judge be a model it judges",
        help_text="Not recommended: a model tends to prefer its own replies.",
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runs = EvalRun.objects.filter(dataset=dataset, status="succeeded").select_related(
            "model", "version"
        )
        for name in ("run_a", "run_b"):
            self.fields[name].queryset = runs  # type: ignore[attr-defined]  # a ModelChoiceField
            self.fields[name].label_from_instance = lambda run: (  # type: ignore[attr-defined]  # a ModelChoiceField
                f"#{run.pk} {run.model.ref} on {run.eval_set}"
            )
        self.fields["judge"].initial = settings.CURATOR_EVAL_JUDGE


class PreScoreForm(forms.Form):
    judge = forms.CharField(max_length=400, help_text=MODEL_HELP, widget=REF_INPUT)
    threshold = forms.FloatField(min_value=1, max_value=5, initial=3.0)
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "All conversations"),
            ("in_review", "In review"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["judge"].initial = settings.CURATOR_EVAL_JUDGE
