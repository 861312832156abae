"""Read-only admin pages: fine-tune rows change only through the app (which audits every
change a person makes) and the training worker."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from training.models import FineTuneCheckpoint, FineTuneEvent, FineTuneJob, FineTuneMetric


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CheckpointInline(ReadOnlyInline):
    model = FineTuneCheckpoint
    fields = ["step", "fine_tuned_model_checkpoint", "remote_id", "created_at"]


@admin.register(FineTuneJob)
class FineTuneJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "dataset",
        "version",
        "provider",
        "base_model",
        "status",
        "remote_status",
        "fine_tuned_model",
        "created_at",
    ]
    list_filter = ["status", "provider", "dataset"]
    search_fields = ["remote_job_id", "fine_tuned_model", "uid", "base_model"]
    list_select_related = ["dataset", "version"]
    inlines = [CheckpointInline]


@admin.register(FineTuneEvent)
class FineTuneEventAdmin(ReadOnlyAdmin):
    list_display = ["job", "created_at", "level", "type", "step", "message"]
    list_filter = ["level", "type"]
    search_fields = ["message", "remote_id"]
    list_select_related = ["job"]


@admin.register(FineTuneMetric)
class FineTuneMetricAdmin(ReadOnlyAdmin):
    list_display = [
        "job",
        "step",
        "train_loss",
        "valid_loss",
        "train_mean_token_accuracy",
        "source",
    ]
    list_select_related = ["job"]


@admin.register(FineTuneCheckpoint)
class FineTuneCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["job", "step", "fine_tuned_model_checkpoint", "created_at"]
    search_fields = ["fine_tuned_model_checkpoint", "remote_id"]
    list_select_related = ["job"]
