from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from curation.models import Dataset, ImportFormat, Membership, Role


class DatasetCreateForm(forms.ModelForm):
    class Meta:
        model = Dataset
        fields = ["name", "slug", "description", "base_model"]
        help_texts = {"slug": "Used in URLs and on the command line. Letters, digits, hyphens."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

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

    def to_python(self, value: Any) -> list[dict[str, str]]:
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


class DatasetSettingsForm(forms.ModelForm):
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
            raise forms.ValidationError(
                f"No active user is called {username!r}. Site staff create users in the admin."
            )
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
    files = MultipleFileField(
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
