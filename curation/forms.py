"""Every form of the curation pages: datasets, imports, PII settings, versions, prices and
access tokens."""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.forms import modelformset_factory
from django.utils.text import slugify

from curation.models import (
    FLAG_LABELS,
    Dataset,
    ImportFormat,
    JobStatus,
    Membership,
    Role,
    TokenScope,
    TrainingPrice,
    VersionFormat,
)
from curation.models.datasets import MEMBER_NOT_ADDABLE
from curation.pii.config import LANGUAGES
from curation.pii.patterns import pattern_problem
from curation.pii.policy import KNOWN_ENTITIES
from curation.services.versions.preview import normalize_filter


def base_model_choices(current: str = "") -> list[tuple[str, Any]]:
    """The base models of the price table (the one list of what can be trained), grouped by
    provider with their full names; a value set before and no longer priced stays offered."""
    labels = {
        p["name"]: p.get("label") or p["name"].title() for p in settings.CURATOR_TRAINING_PROVIDERS
    }
    groups: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    order = {name: index for index, name in enumerate(labels)}
    # Configured providers first, in the settings' order: a model several providers sell
    # (OpenAI's and Azure's gpt-4.1-mini) is listed under the first of them.
    prices = sorted(
        TrainingPrice.objects.seeded(), key=lambda price: order.get(price.provider, len(order))
    )
    for price in prices:
        if price.model in seen:
            continue
        seen.add(price.model)
        groups.setdefault(labels.get(price.provider, price.provider), []).append(
            (price.model, price.model)
        )
    choices: list[tuple[str, Any]] = [(label, models) for label, models in groups.items()]
    if current and current not in seen:
        choices.insert(0, (current, f"{current} (not in the price table)"))
    return choices


class BaseModelChoiceMixin:
    """Makes `base_model` a select of the price table's models instead of a free-text box."""

    def _base_model_select(self) -> None:
        field = self.fields["base_model"]  # type: ignore[attr-defined]  # a mixin of forms that have the field
        current = self.initial.get("base_model") or ""  # type: ignore[attr-defined]  # a mixin of forms that have the field
        self.fields["base_model"] = forms.ChoiceField(  # type: ignore[attr-defined]  # a mixin of forms that have the field
            label=field.label,
            choices=base_model_choices(current),
            initial=current or field.initial,
            help_text=(
                "The model you mean to fine-tune; examples over its token limit are flagged. "
                "The list is the price table's (site staff edit it under Prices)."
            ),
        )


class DatasetCreateForm(BaseModelChoiceMixin, forms.ModelForm):
    reviewers = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="They become its reviewers now; you can add more on its Members page.",
    )
    invite = forms.BooleanField(
        label="Also make an invitation link",
        required=False,
        help_text=(
            "For reviewers not listed above: anyone with an account who opens the link joins "
            "as a reviewer, for 14 days. It is shown on the Members page."
        ),
    )

    class Meta:
        model = Dataset
        fields = ["name", "slug", "description", "base_model"]
        help_texts = {"slug": "Used in URLs and on the command line. Letters, digits, hyphens."}

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self._base_model_select()
        people = get_user_model().objects.filter(is_active=True).order_by("username")
        if user is not None:
            people = people.exclude(pk=user.pk)
            if not user.is_staff:
                # Only site staff may add a staff account to a dataset.
                people = people.filter(is_staff=False)
        cast(forms.ModelMultipleChoiceField, self.fields["reviewers"]).queryset = people
        self.fields["reviewers"].label = "Who reviews it?"
        if not people.exists():
            self.fields["reviewers"].help_text = (
                "No other accounts yet: site staff create them in the admin. Meanwhile, make "
                "an invitation link below."
            )
            self.fields["invite"].initial = True

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name", ""))
        if not slug:
            raise forms.ValidationError("Give the dataset a name or a slug.")
        if Dataset.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"The slug {slug!r} is taken; choose another.")
        return slug


class RubricField(forms.CharField):
    """The rubric edited as one criterion per line: `Name: description`."""

    widget = forms.Textarea(attrs={"rows": 6})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        if isinstance(value, list):
            return "\n".join(
                f"{item.get('name', '')}: {item.get('description', '')}".rstrip(": ")
                for item in value
            )
        return ""

    def to_python(self, value: Any) -> list[dict[str, str]]:  # type: ignore[override]  # cleans the text to rows, by design
        text = super().to_python(value) or ""
        criteria: list[dict[str, str]] = []
        keys: set[str] = set()
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, _, description = line.partition(":")
            name = name.strip()
            if not name:
                raise forms.ValidationError(
                    f"Line {number}: a criterion needs a name before the colon."
                )
            key = slugify(name).replace("-", "_") or f"criterion_{number}"
            if key in keys:
                raise forms.ValidationError(
                    f"Line {number}: the criterion {name!r} is listed twice."
                )
            keys.add(key)
            criteria.append({"key": key, "name": name, "description": description.strip()})
        if not criteria:
            raise forms.ValidationError("The rubric needs at least one criterion.")
        return criteria


class DatasetSettingsForm(BaseModelChoiceMixin, forms.ModelForm):
    rubric = RubricField(
        help_text="One criterion per line as `Name: what a 5 means`. Scored 1 to 5."
    )

    class Meta:
        model = Dataset
        fields = [
            "name",
            "description",
            "system_prompt",
            "base_model",
            "token_limit",
            "reviews_needed",
            "approval_rule",
            "rubric",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "system_prompt": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._base_model_select()

    def clean_reviews_needed(self) -> int:
        value = self.cleaned_data["reviews_needed"]
        if not 1 <= value <= 10:
            raise forms.ValidationError("Between 1 and 10 reviews per example.")
        return value


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REVIEWER)

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataset = dataset

    def clean_username(self) -> Any:
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(MEMBER_NOT_ADDABLE.format(username=username))
        if Membership.objects.filter(dataset=self.dataset, user=user).exists():
            raise forms.ValidationError(f"{username} is already a member.")
        return user


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": ".jsonl,.json,.csv,.gz,.txt"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            if not data and self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportUploadForm(forms.Form):
    # The form metaclass takes declared fields off the class, so `self.files` stays the upload.
    files = MultipleFileField(  # type: ignore[assignment]
        help_text="JSONL, JSON, CSV, or any of them gzipped (.gz). Several files at once are fine.",
        error_messages={"required": "Choose at least one file to upload."},
    )
    format = forms.ChoiceField(choices=ImportFormat.choices, initial=ImportFormat.AUTO)

    def clean_files(self) -> list[Any]:
        files = self.cleaned_data["files"]
        most = settings.CURATOR_MAX_UPLOAD_FILES
        if len(files) > most:
            raise forms.ValidationError(
                f"{len(files)} files chosen; upload at most {most} at once "
                "(CURATOR_MAX_UPLOAD_FILES), or gzip them together into fewer files."
            )
        limit = settings.CURATOR_MAX_UPLOAD_SIZE
        for upload in files:
            if upload.size > limit:
                raise forms.ValidationError(
                    f"{upload.name} is {upload.size:,} bytes, over the upload limit of {limit:,} bytes "
                    "(CURATOR_MAX_UPLOAD_SIZE); use `manage.py import_conversations` for larger files."
                )
            if upload.size == 0:
                raise forms.ValidationError(f"{upload.name} is empty.")
        return files


# -- PII settings and findings -------------------------------------------------------


class LinesField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value: Any) -> str:
        return "\n".join(value) if isinstance(value, list) else (value or "")

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # cleans the text to rows, by design
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

    def to_python(self, value: Any) -> list[dict[str, Any]]:  # type: ignore[override]  # cleans the text to rows, by design
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
    languages = forms.MultipleChoiceField(
        label="Languages",
        choices=list(LANGUAGES.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: names are detected by each message's script.",
    )

    class Meta:
        model = Dataset
        fields = [
            "pii_detection",
            "region",
            "languages",
            "pii_entities",
            "pii_threshold",
            "pii_operator",
            "pii_allow_list",
            "pii_deny_list",
            "pii_patterns",
            "purge_originals_after_approval",
        ]

    def clean_region(self) -> str:
        return str(self.cleaned_data["region"]).strip().upper()

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


# -- dataset versions and training prices ---------------------------------------------


class VersionForm(forms.Form):
    min_score = forms.FloatField(
        label="Minimum average score",
        required=False,
        min_value=1,
        max_value=5,
        help_text="Leave empty to include approved examples whatever their score (and unscored ones).",
    )
    exclude_flags = forms.MultipleChoiceField(
        label="Leave out examples flagged",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=sorted(FLAG_LABELS.items(), key=itemgetter(1)),
    )
    batches = forms.MultipleChoiceField(
        label="Only from these imports",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="None selected: every import.",
    )
    validation_fraction = forms.FloatField(
        min_value=0,
        max_value=0.99,
        help_text="Share of examples held out for validation; 0 for none.",
    )
    seed = forms.IntegerField(
        help_text="Keep the same seed from version to version so that no example changes split.",
    )
    prepend_system_prompt = forms.BooleanField(
        label="Add the dataset's system prompt to examples that have none",
        required=False,
        initial=True,
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    format = forms.ChoiceField(
        label="Kind",
        choices=VersionFormat.choices,
        required=False,
        initial=VersionFormat.SFT,
        help_text="Supervised: chat examples (a pair's chosen reply). Preference: the approved "
        "chosen/rejected pairs in OpenAI's preference format, for DPO.",
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["batches"]).choices = [
            (str(batch.pk), f"{batch.original_name} (#{batch.pk})")
            for batch in dataset.batches.filter(status=JobStatus.SUCCEEDED).only(
                "id", "original_name"
            )[:500]
        ]
        if not dataset.system_prompt:
            del self.fields["prepend_system_prompt"]

    def selection(self) -> dict[str, Any]:
        data = self.cleaned_data
        return normalize_filter(
            min_score=data.get("min_score"),
            exclude_flags=data.get("exclude_flags") or [],
            batches=[int(batch) for batch in data.get("batches") or []],
        )


class PriceForm(forms.ModelForm):
    class Meta:
        model = TrainingPrice
        fields = [
            "provider",
            "model",
            "method",
            "training_type",
            "price_per_million",
            "token_limit",
        ]


PriceFormSet = modelformset_factory(TrainingPrice, form=PriceForm, extra=1, can_delete=True)


class VersionPairForm(forms.Form):
    """Two built (or deleted) versions of a dataset to compare, older first by default."""

    a = forms.TypedChoiceField(label="From", coerce=int)
    b = forms.TypedChoiceField(label="To", coerce=int)

    def __init__(self, *args: Any, numbers: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(number, f"v{number}") for number in numbers]
        for name in ("a", "b"):
            cast(forms.TypedChoiceField, self.fields[name]).choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("a") is not None and data.get("a") == data.get("b"):
            raise forms.ValidationError("Pick two different versions.")
        return data


# -- personal access tokens -----------------------------------------------------------

LIFETIMES = (7, 30, 90, 365)


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. “training cluster download script”.",
    )
    days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=[(days, f"{days} days") for days in LIFETIMES],
        required=False,
        empty_value=None,
    )

    scope = forms.TypedChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        required=False,
        empty_value=TokenScope.READ,
        help_text="Read: downloads and API reads. Ingest: post production conversations and "
        "read the production model. Admin: everything you may do.",
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(),
        required=False,
        empty_label="All my datasets",
        help_text="Restrict the token to one dataset (others answer 403).",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            dataset_field = cast(forms.ModelChoiceField, self.fields["dataset"])
            dataset_field.queryset = Dataset.objects.for_user(user).order_by("name")
        default = settings.CURATOR_TOKEN_LIFETIME_DAYS
        if default not in LIFETIMES:
            days = cast(forms.TypedChoiceField, self.fields["days"])
            # The getter returns the normalised list; django-stubs types it as any setter input.
            days.choices = [(default, f"{default} days"), *days.choices]  # type: ignore[misc]
        self.fields["days"].initial = default
