"""The JSON API, version 1 (django-ninja; schema at /api/v1/openapi.json).

Every endpoint takes `Authorization: Bearer <personal access token>`. Scopes: ``read``
(everything under GET except what only serving code needs), ``ingest`` (post production
conversations, read the production model), ``admin`` (all of it, plus promotion and rollback).
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.text import slugify
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from curation.api.auth import ApiError, TokenAuth, api_dataset, api_token, require_scope
from curation.api.ratelimit import retry_after
from curation.api.serializers import (
    batch_json,
    conversation_json,
    dataset_json,
    eval_run_json,
    job_json,
    model_json,
    version_json,
)
from curation.models import (
    AccessToken,
    Conversation,
    ConversationStatus,
    Dataset,
    DatasetVersion,
    ImportBatch,
    Membership,
    Role,
    TokenScope,
)
from curation.permissions import can_create_datasets
from curation.services import memberships
from curation.services.ingest import IngestError, read_body
from curation.services.pii.runs import pii_settings_update
from curation.token_auth import bearer_secret
from training.evaluation.models import Comparison, EvalRun
from training.models import FineTuneJob
from training.registry.feedback import ingest_production_conversations
from training.registry.models import Model
from training.registry.promotion import PromotionRefused, promote_model, rollback_production
from training.registry.services import UnknownModel, resolve_model
from training.registry.serving import production_answer
from training.registry.stages import ModelStage

READ, INGEST, ADMIN = TokenScope.READ, TokenScope.INGEST, TokenScope.ADMIN
PAGE_LIMIT = 200


def _schema_needs_a_token(view: Any) -> Any:
    """The schema, like every other call, answers only a valid token (any scope) or a
    signed-in browser session: nothing under /api/v1/ is public."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            secret = bearer_secret(request)
            if not secret or AccessToken.authenticate(secret) is None:
                response = _error(
                    401,
                    "send a personal access token as: Authorization: Bearer <token>",
                    "unauthorized",
                )
                response["WWW-Authenticate"] = 'Bearer realm="curator", error="invalid_token"'
                return response
        return view(request, *args, **kwargs)

    return guarded


api = NinjaAPI(
    title="Curator API",
    version="1",
    description="Datasets, versions, conversations, imports, evaluation, models and the "
    "production loop. Authenticate with a personal access token (Account → Tokens).",
    auth=TokenAuth(),
    urls_namespace="api-v1",
    docs_url=None,
    docs_decorator=_schema_needs_a_token,
)


def _error(status: int, message: str, code: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
    message = getattr(request, "auth_problem", "authentication required")
    response = _error(401, message, "unauthorized")
    response["WWW-Authenticate"] = 'Bearer realm="curator", error="invalid_token"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = getattr(exc, "code", "error")
    return _error(exc.status_code, str(exc), code, **getattr(exc, "extra", {}))


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(422, "invalid request parameters", "invalid", details=exc.errors)


class Page(Schema):
    limit: int = 50
    after: int | None = None


def _page(queryset: Any, page: Page) -> list[Any]:
    """Keyset paging by descending id: pass the last id seen as ``after``."""
    limit = max(1, min(page.limit, PAGE_LIMIT))
    if page.after is not None:
        queryset = queryset.filter(pk__lt=page.after)
    return list(queryset.order_by("-pk")[:limit])


def _listing(items: list[Any], render: Any) -> dict[str, Any]:
    return {
        "items": [render(item) for item in items],
        "next_after": items[-1].pk if items else None,
    }


# -- datasets, versions, files --------------------------------------------------------------


@api.get("/datasets", tags=["datasets"])
def list_datasets(request: HttpRequest) -> dict[str, Any]:
    token = require_scope(request, READ, INGEST)
    datasets = Dataset.objects.for_user(token.user).order_by("name")
    if token.dataset_id is not None:
        datasets = datasets.filter(pk=token.dataset_id)
    roles = dict(
        Membership.objects.filter(user=token.user, dataset__in=datasets).values_list(
            "dataset_id", "role"
        )
    )
    listed = list(datasets)
    for dataset in listed:
        dataset.user_role = roles.get(dataset.pk)
    return {"items": [dataset_json(dataset) for dataset in listed]}


@api.get("/datasets/{slug}", tags=["datasets"])
def get_dataset(request: HttpRequest, slug: str) -> dict[str, Any]:
    """What the list says of one dataset (read or ingest scope: an ingest token finds the
    datasets it posts to), with its counts for a read token."""
    dataset = api_dataset(request, slug, READ, INGEST)
    return dataset_json(dataset, counts=api_token(request).allows(READ))


class DatasetSettingsIn(Schema):
    """PII settings the API sets: the default region for phone numbers and postcodes, and the
    conversations' languages (empty: detected per message by script). Omitted: unchanged."""

    region: str | None = None
    languages: list[str] | None = None


class DatasetCreateIn(DatasetSettingsIn):
    name: str
    slug: str = ""


def _apply_settings(dataset: Dataset, payload: DatasetSettingsIn) -> list[str]:
    """Set the given fields on ``dataset`` and check them as the settings page does."""
    changed = []
    if payload.region is not None:
        dataset.region = payload.region.strip().upper()
        changed.append("region")
    if payload.languages is not None:
        dataset.languages = [code.strip().lower() for code in payload.languages if code.strip()]
        changed.append("languages")
    checked = {"region", "languages", "name", "slug"} if dataset.pk is None else set(changed)
    try:
        dataset.clean_fields(
            exclude=[f.name for f in Dataset._meta.fields if f.name not in checked]
        )
    except DjangoValidationError as error:
        raise ApiError(422, "invalid settings", "invalid", fields=error.message_dict) from None
    return changed


@api.post("/datasets", tags=["datasets"], summary="Create a dataset (admin scope)")
def create_dataset(request: HttpRequest, payload: DatasetCreateIn) -> HttpResponse:
    token = require_scope(request, ADMIN)
    if token.dataset_id is not None or not can_create_datasets(token.user):
        raise ApiError(403, "this token's user may not create datasets", "cannot_create")
    dataset = Dataset(name=payload.name.strip(), slug=slugify(payload.slug or payload.name))
    _apply_settings(dataset, payload)
    if Dataset.objects.filter(slug=dataset.slug).exists():
        raise ApiError(409, f"a dataset {dataset.slug!r} exists", "slug_taken")
    dataset = memberships.dataset_create(dataset=dataset, user=token.user)
    dataset.user_role = Role.ADMIN  # type: ignore[attr-defined]
    return JsonResponse(dataset_json(dataset), status=201)


@api.patch("/datasets/{slug}", tags=["datasets"], summary="Change PII settings (admin scope)")
def update_dataset(request: HttpRequest, slug: str, payload: DatasetSettingsIn) -> dict[str, Any]:
    dataset = api_dataset(request, slug, ADMIN, admin=True)
    changed = _apply_settings(dataset, payload)
    if changed:
        pii_settings_update(dataset=dataset, user=api_token(request).user, changed=changed)
    return dataset_json(dataset)


@api.get("/datasets/{slug}/versions", tags=["versions"])
def list_versions(request: HttpRequest, slug: str, page: Query[Page]) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    items = _page(DatasetVersion.objects.filter(dataset=dataset), page)
    return _listing(items, lambda version: version_json(version, request))


@api.get("/datasets/{slug}/versions/{number}", tags=["versions"])
def get_version(request: HttpRequest, slug: str, number: int) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    version = DatasetVersion.objects.filter(dataset=dataset, number=number).first()
    if version is None:
        raise ApiError(404, f"{slug} has no version {number}", "not_found")
    return version_json(version, request)


# -- conversations ---------------------------------------------------------------------------


class ConversationQuery(Page):
    status: str = ""
    feedback: str = ""
    ingested: bool | None = None


@api.get("/datasets/{slug}/conversations", tags=["conversations"])
def list_conversations(
    request: HttpRequest, slug: str, query: Query[ConversationQuery]
) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    rows = Conversation.objects.filter(dataset=dataset).select_related("dataset")
    if query.status:
        if query.status not in ConversationStatus.values:
            raise ApiError(
                422, f"status must be one of {', '.join(ConversationStatus.values)}", "invalid"
            )
        rows = rows.filter(status=query.status)
    if query.feedback == "down":
        rows = rows.filter(metadata__feedback="down")
    elif query.feedback == "up":
        rows = rows.filter(metadata__feedback="up")
    elif query.feedback == "low_score":
        rows = rows.filter(metadata__score__lte=2)
    elif query.feedback:
        raise ApiError(422, "feedback must be up, down or low_score", "invalid")
    if query.ingested is not None:
        rows = rows.filter(batch__ingest_request__isnull=not query.ingested)
    return _listing(_page(rows, query), conversation_json)


@api.get("/datasets/{slug}/conversations/{conversation_id}", tags=["conversations"])
def get_conversation(request: HttpRequest, slug: str, conversation_id: int) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    conversation = (
        Conversation.objects.filter(dataset=dataset, pk=conversation_id)
        .select_related("dataset")
        .first()
    )
    if conversation is None:
        raise ApiError(404, "no such conversation", "not_found")
    return conversation_json(conversation)


def _body_stream(request: HttpRequest) -> Any:
    """The request body as a stream. A chunked body has no Content-Length, so Django's own
    stream reads nothing; gunicorn marks the input it has de-chunked as terminated."""
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"]
    # Not request.body: that would hold all of it (and stop at DATA_UPLOAD_MAX_MEMORY_SIZE).
    return request


INGEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "A JSON array, or JSONL, of OpenAI chat conversations: "
        '{"messages": [...], "tools"?: [...], "metadata"?: {...}, "feedback"?: "up"|"down", '
        '"score"?: 1-5, "comment"?: str, "trace_id"?: str, "source"?: str, "model"?: str}',
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/jsonl": {"schema": {"type": "string"}},
        },
    },
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string"},
            "description": "A retried request with the same key and body imports nothing "
            "twice and gets the first answer back.",
        }
    ],
}


@api.post(
    "/datasets/{slug}/conversations",
    tags=["conversations"],
    openapi_extra=INGEST_BODY,
    summary="Ingest production conversations with feedback",
)
def ingest(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = api_dataset(request, slug, INGEST, admin=True)
    token = api_token(request)
    # Per person, not per token: more tokens do not buy more requests.
    wait = retry_after(user_id=token.user_id)
    if wait is not None:
        response = _error(429, f"too many requests: retry after {wait} s", "rate_limited")
        response["Retry-After"] = str(wait)
        return response
    limit = settings.CURATOR_INGEST_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        return _error(413, f"the body is over the limit of {limit} bytes", "too_large", limit=limit)
    try:
        body = read_body(
            _body_stream(request), max_bytes=limit, max_items=settings.CURATOR_INGEST_MAX_ITEMS
        )
        with body.file:
            result = ingest_production_conversations(
                dataset=dataset,
                token=token,
                body=body,
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
    except IngestError as error:
        code = {400: "malformed", 409: "in_progress", 413: "too_large", 422: "key_reused"}.get(
            error.status, "invalid"
        )
        return _error(error.status, error.reason, code, **error.extra)
    response = JsonResponse(result.body, status=result.status)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


# -- imports -----------------------------------------------------------------------------------


@api.get("/datasets/{slug}/imports", tags=["imports"])
def list_imports(request: HttpRequest, slug: str, page: Query[Page]) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    return _listing(_page(ImportBatch.objects.filter(dataset=dataset), page), batch_json)


@api.get("/datasets/{slug}/imports/{batch_id}", tags=["imports"])
def get_import(request: HttpRequest, slug: str, batch_id: int) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    batch = ImportBatch.objects.filter(dataset=dataset, pk=batch_id).first()
    if batch is None:
        raise ApiError(404, "no such import", "not_found")
    return {**batch_json(batch), "errors": batch.as_summary()["errors"]}


# -- training jobs, evaluation runs, models ---------------------------------------------------


@api.get("/datasets/{slug}/jobs", tags=["jobs"])
def list_jobs(request: HttpRequest, slug: str, page: Query[Page]) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    rows = FineTuneJob.objects.filter(dataset=dataset).select_related("version")
    return _listing(_page(rows, page), job_json)


@api.get("/datasets/{slug}/jobs/{job_id}", tags=["jobs"])
def get_job(request: HttpRequest, slug: str, job_id: int) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    job = FineTuneJob.objects.filter(dataset=dataset, pk=job_id).select_related("version").first()
    if job is None:
        raise ApiError(404, "no such fine-tune job", "not_found")
    return job_json(job)


@api.get("/datasets/{slug}/evaluation-runs", tags=["evaluation"])
def list_eval_runs(request: HttpRequest, slug: str, page: Query[Page]) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    rows = EvalRun.objects.filter(dataset=dataset).select_related("model", "version")
    return _listing(_page(rows, page), eval_run_json)


@api.get("/datasets/{slug}/evaluation-runs/{run_id}", tags=["evaluation"])
def get_eval_run(request: HttpRequest, slug: str, run_id: int) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    run = (
        EvalRun.objects.filter(dataset=dataset, pk=run_id)
        .select_related("model", "version")
        .first()
    )
    if run is None:
        raise ApiError(404, "no such evaluation run", "not_found")
    return eval_run_json(run)


def _dataset_models(dataset: Dataset) -> Any:
    """Models that belong to the dataset: its fine-tunes, staged or evaluated models."""
    return (
        Model.objects.usable_by(dataset)
        .filter(Q(dataset=dataset) | Q(stages__dataset=dataset) | Q(eval_runs__dataset=dataset))
        .distinct()
    )


@api.get("/datasets/{slug}/models", tags=["models"])
def list_models(request: HttpRequest, slug: str) -> dict[str, Any]:
    dataset = api_dataset(request, slug, READ)
    stages = dict(ModelStage.objects.filter(dataset=dataset).values_list("model_id", "stage"))
    return {
        "items": [
            model_json(model, stages.get(model.pk, "candidate"))
            for model in _dataset_models(dataset).select_related("version", "job")
        ]
    }


@api.get("/datasets/{slug}/production-model", tags=["models"], summary="What serving code calls")
def production_model(request: HttpRequest, slug: str, key: str | None = None) -> dict[str, Any]:
    """With ``key`` (the caller's user or session id): the model serving that key."""
    dataset = api_dataset(request, slug, READ, INGEST)
    if key is not None and not 1 <= len(key) <= 200:
        raise ApiError(422, "key must be 1 to 200 characters", "invalid_key")
    answer = production_answer(dataset, key=key)
    if answer is None:
        raise ApiError(404, f"{slug} has no production model yet", "no_production_model")
    return answer


class PromoteIn(Schema):
    model: str
    comparison: int | None = None
    # Refused when set: the dataset's gate settings name the one test promotion applies.
    metric: str = ""


@api.post("/datasets/{slug}/production-model", tags=["models"], summary="Promote (admin scope)")
def promote(request: HttpRequest, slug: str, payload: PromoteIn) -> dict[str, Any]:
    dataset = api_dataset(request, slug, ADMIN, admin=True)
    if payload.metric:
        raise ApiError(
            422,
            "promotion takes no metric: the dataset's gate settings name the one test it applies",
            "metric_not_accepted",
        )
    try:
        model = resolve_model(payload.model, dataset=dataset)
    except UnknownModel as error:
        raise ApiError(422, str(error), "unknown_model") from None
    comparison = None
    if payload.comparison is not None:
        comparison = Comparison.objects.filter(dataset=dataset, pk=payload.comparison).first()
        if comparison is None:
            raise ApiError(404, f"no comparison {payload.comparison} in {slug}", "not_found")
    try:
        promote_model(
            dataset=dataset,
            model=model,
            user=api_token(request).user,
            comparison=comparison,
        )
    except PromotionRefused as error:
        raise ApiError(409, error.reason, "gate_refused", gate=error.details) from None
    return production_answer(dataset) or {}


@api.post("/datasets/{slug}/rollback", tags=["models"], summary="Roll back (admin scope)")
def rollback(request: HttpRequest, slug: str) -> dict[str, Any]:
    dataset = api_dataset(request, slug, ADMIN, admin=True)
    try:
        rollback_production(dataset=dataset, user=api_token(request).user)
    except PromotionRefused as error:
        raise ApiError(409, error.reason, "rollback_refused") from None
    return production_answer(dataset) or {}
