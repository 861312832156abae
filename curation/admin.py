from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from curation.models import (
    AuditEvent,
    Conversation,
    Dataset,
    ImportBatch,
    ImportLineError,
    Membership,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "base_model", "reviews_needed", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "dataset", "role", "created_at"]
    list_filter = ["role", "dataset"]
    search_fields = ["user__username", "dataset__name"]
    autocomplete_fields = ["user", "dataset"]


class ImportLineErrorInline(admin.TabularInline):
    model = ImportLineError
    extra = 0
    can_delete = False
    readonly_fields = ["line", "field", "reason"]
    max_num = 0


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "dataset",
        "status",
        "read",
        "imported",
        "duplicates",
        "invalid",
        "created_at",
    ]
    list_filter = ["status", "dataset"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = [
        "sha256",
        "size",
        "rq_job_id",
        "heartbeat_at",
        "started_at",
        "finished_at",
        "attempts",
    ]
    inlines = [ImportLineErrorInline]


@admin.register(ImportLineError)
class ImportLineErrorAdmin(admin.ModelAdmin):
    list_display = ["batch", "line", "field", "reason"]
    search_fields = ["reason"]
    list_select_related = ["batch"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "status", "token_count", "message_count", "created_at"]
    list_filter = ["status", "dataset"]
    search_fields = ["content_hash"]
    raw_id_fields = ["batch", "leased_to"]
    readonly_fields = ["content_hash", "created_at", "updated_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "dataset"]
    list_filter = ["action", "dataset"]
    search_fields = ["action", "object_id"]
    readonly_fields = [
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "dataset",
        "details",
    ]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


# -- dataset versions (read-only: a built version never changes) ---------------------------
from curation.models import AccessToken, DatasetVersion, TrainingPrice  # noqa: E402


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = [
        "dataset",
        "number",
        "status",
        "examples",
        "train_examples",
        "validation_examples",
        "created_at",
    ]
    list_filter = ["status", "dataset"]
    readonly_fields = [field.name for field in DatasetVersion._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Deleting is an audited action on the version page that keeps the manifest.
        return False


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = [
        "user",
        "name",
        "token_hash",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # a secret is only ever shown to its owner, on their own page


@admin.register(TrainingPrice)
class TrainingPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "model",
        "price_per_million",
        "token_limit",
        "updated_at",
        "updated_by",
    ]
    list_filter = ["provider"]
    readonly_fields = ["updated_at", "updated_by"]


# -- review workflow ---------------------------------------------------------------------
from curation.models import Adjudication, ConversationRevision, Review  # noqa: E402


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["conversation", "reviewer", "decision", "dataset", "created_at"]
    list_filter = ["decision", "dataset"]
    search_fields = ["reviewer__username", "comment"]
    raw_id_fields = ["conversation", "reviewer"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ConversationRevision)
class ConversationRevisionAdmin(admin.ModelAdmin):
    list_display = ["conversation", "message_index", "author", "created_at"]
    raw_id_fields = ["conversation", "author"]
    readonly_fields = ["before", "after", "created_at"]


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["conversation", "dataset", "status", "decision", "resolved_by", "resolved_at"]
    list_filter = ["status", "dataset"]
    raw_id_fields = ["conversation", "resolved_by"]
