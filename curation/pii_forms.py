from __future__ import annotations

from typing import Any

from django import forms

from curation.models import Dataset
from curation.pii.patterns import pattern_problem
from curation.pii.policy import KNOWN_ENTITIES


class LinesField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value: Any) -> str:
        return "\n".join(value) if isinstance(value, list) else (value or "")

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class PatternsField(forms.CharField):
    """Custom patterns, one per line: `ENTITY: regex` (optionally ` | score`)."""

    widget = forms.Textarea(attrs={"rows": 4, "placeholder": "TICKET_ID: TCK-\\d{6}"})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list):
            return "\n".join(
                f"{p['entity']}: {p['pattern']}"
                + (f" | {p['score']}" if p.get("score", 1.0) != 1.0 else "")
                for p in value
            )
        return value or ""

    def to_python(self, value: Any) -> list[dict[str, Any]]:
        text = super().to_python(value) or ""
        patterns = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            entity, sep, rest = line.partition(":")
            if not sep or not entity.strip() or not rest.strip():
                raise forms.ValidationError(f"Line {number}: write `ENTITY: regex`.")
            pattern, _, score_text = (
                rest.strip().rpartition(" | ") if " | " in rest else (rest.strip(), "", "")
            )
            score = 1.0
            if score_text:
                try:
                    score = float(score_text)
                except ValueError:
                    raise forms.ValidationError(
                        f"Line {number}: the score {score_text!r} is not a number."
                    ) from None
            problem = pattern_problem(pattern)
            if problem is not None:
                raise forms.ValidationError(f"Line {number}: {problem}.")
            patterns.append(
                {
                    "entity": entity.strip().upper().replace(" ", "_"),
                    "pattern": pattern,
                    "score": score,
                }
            )
        return patterns


class PiiSettingsForm(forms.ModelForm):
    pii_entities = forms.MultipleChoiceField(
        label="Entity types",
        choices=[(e, e) for e in KNOWN_ENTITIES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    pii_allow_list = LinesField(
        label="Allow-list (never redact)",
        required=False,
        help_text="One value per line, e.g. product names.",
    )
    pii_deny_list = LinesField(
        label="Deny-list (always redact)", required=False, help_text="One value per line."
    )
    pii_patterns = PatternsField(
        label="Custom patterns",
        required=False,
        help_text="One per line: `ENTITY: regex`, optionally ` | score`.",
    )

    class Meta:
        model = Dataset
        fields = [
            "pii_detection",
            "pii_entities",
            "pii_threshold",
            "pii_operator",
            "pii_allow_list",
            "pii_deny_list",
            "pii_patterns",
            "purge_originals_after_approval",
        ]

    def clean_pii_threshold(self) -> float:
        value = self.cleaned_data["pii_threshold"]
        if not 0.0 <= value <= 1.0:
            raise forms.ValidationError("The threshold is a score between 0 and 1.")
        return value


class AddFindingForm(forms.Form):
    text = forms.CharField(
        max_length=2000,
        strip=False,
        help_text="Exact text to redact; every occurrence is redacted.",
    )
    entity_type = forms.CharField(max_length=64, initial="PERSON")
    message_index = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    field = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    start = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
