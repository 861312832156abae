"""Together AI's files and fine-tuning API, as the official ``together`` SDK calls it.

Uploads go the way Together's do: ``POST /v1/files`` answers 302 with a storage URL and a
file id, the SDK PUTs the bytes there, then asks ``/v1/files/{id}/preprocess``. Jobs carry
no metadata, so a client finds its own by the suffix it chose; events have no ids.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from together.types.finetune_model_limits import FinetuneModelLimits

from training.simulator.chat import chat_completions
from training.simulator.endpoints import Request, Response, RouteTable
from training.simulator.records import ApiError, SimJob
from training.simulator.serving import (
    create_deployment,
    delete_deployment,
    deployments,
    get_deployment,
    is_fine_tuned,
    serving,
)
from training.simulator.shapes.common import (
    adapter_files,
    form,
    full_model_files,
    iso,
    metric_rows,
    tar_archive,
)
from training.simulator.state import SHAPE_MODELS, SimulatorState
from training.simulator.vendor_rules import (
    FileRuleError,
    check_dataset_lines,
    check_together_limits,
    together_request,
)

SHAPE = "together"
USER = "curator-sim"
STATUS = {
    "validating_files": "pending",
    "queued": "queued",
    "running": "running",
    "succeeded": "completed",
    "failed": "error",
    "cancelled": "cancelled",
}
LIMITS = {
    "default_gradient_accumulation_steps": 1,
    "lora_training": {
        "default_rank": 8,
        "max_batch_size": 32,
        "max_batch_size_dpo": 16,
        "max_rank": 64,
        "min_batch_size": 8,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
    },
    "full_training": {"max_batch_size": 32, "max_batch_size_dpo": 16, "min_batch_size": 8},
    "max_learning_rate": 1.0,
    "max_num_checkpoints": 10,
    "max_num_epochs": 20,
    "max_num_evals": 10,
    "max_seq_length_dpo": 8192,
    "max_seq_length_sft": 8192,
    "merge_output_lora": True,
    "min_learning_rate": 0.0,
    "min_max_seq_length": 512,
    "supports_full_training": True,
    "supports_reasoning": False,
    "supports_tools": True,
    "supports_vision": False,
}


# Base models whose LoRA fine-tunes Together serves serverless, by the fine-tune's output
# name (docs.together.ai/docs/adapter-upload, "Supported base models"); any other fine-tune
# needs a dedicated endpoint. "-Reference" models are training references: they answer no
# chat themselves (a dedicated endpoint or a fine-tune of them does).
SERVERLESS_LORA_BASES = frozenset(
    {
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    }
)
CHAT_BASES = frozenset(m for m in SHAPE_MODELS[SHAPE] if not m.endswith("-Reference"))
# Hardware a dedicated endpoint can run on (GET /v1/hardware), with its price per minute.
HARDWARE = {"1x_nvidia_h100_80gb_sxm": 0.0555, "2x_nvidia_h100_80gb_sxm": 0.111}
ENDPOINT_READY = "STARTED"


def _uploads(state: SimulatorState) -> dict[str, dict[str, str]]:
    return state.shape_data.setdefault(SHAPE, {}).setdefault("uploads", {})


def _file_api(stored: Any) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object": "file",
        "bytes": len(stored.data),
        "created_at": stored.created_at,
        "filename": stored.filename,
        "FileType": "jsonl",
        "purpose": stored.purpose,
        "processing_status": "COMPLETED",
    }


def files_create(state: SimulatorState, request: Request) -> Response:
    fields = form(request)
    name = str(fields.get("file_name") or "")
    if not name:
        raise ApiError(400, "Missing required parameter: 'file_name'.", param="file_name")
    file_id = "file-" + secrets.token_hex(12)
    _uploads(state)[file_id] = {"filename": name, "purpose": str(fields.get("purpose") or "")}
    return Response(
        status=302,
        body={},
        headers={
            "Location": f"{request.origin}/together/_upload/{file_id}",
            "X-Together-File-Id": file_id,
        },
    )


def files_put(state: SimulatorState, request: Request) -> Response:
    pending = _uploads(state).get(request.params["id"])
    if pending is None:
        raise ApiError(404, "No upload is pending under this URL")
    state.create_file(
        filename=pending["filename"],
        purpose=pending["purpose"],
        data=request.body,
        file_id=request.params["id"],
    )
    return Response(body={})


def files_preprocess(state: SimulatorState, request: Request) -> Response:
    """Together checks a file's lines on the server once its bytes are in; a file that
    breaks its dataset rules is refused here, naming the line."""
    stored = state.stored_file(request.params["id"])
    if stored.purpose == "fine-tune":
        try:
            check_dataset_lines(stored.data, provider=SHAPE)
        except FileRuleError as error:
            raise ApiError(400, f"Invalid file {stored.filename}: {error}", param="file") from None
    return Response(body=_file_api(stored))


def files_retrieve(state: SimulatorState, request: Request) -> Response:
    return Response(body=_file_api(state.stored_file(request.params["id"])))


# Context lengths (SFT, DPO) per model. The simulator's own figures, in the range Together's
# supported-models page gives (32K to 131K); a real account reads its models' limits from
# the limits endpoint, as clients of the simulator do.
SEQUENCE_LIMITS = {
    "meta-llama/Llama-3.2-3B-Instruct": (131072, 65536),
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": (131072, 65536),
    "Qwen/Qwen2.5-7B-Instruct": (32768, 16384),
}


def limits_for(model: str) -> FinetuneModelLimits:
    """A model's limits, as the SDK's own type (the one fact both the limits endpoint and
    the job checks read)."""
    if model not in SHAPE_MODELS[SHAPE]:
        raise ApiError(404, f"Model {model} is not available for fine-tuning", param="model_name")
    sft, dpo = SEQUENCE_LIMITS.get(model, (32768, 16384))
    return FinetuneModelLimits.model_validate(
        {**LIMITS, "model_name": model, "max_seq_length_sft": sft, "max_seq_length_dpo": dpo}
    )


def model_limits(state: SimulatorState, request: Request) -> Response:
    limits = limits_for(request.query_value("model_name") or "")
    return Response(body=limits.model_dump(mode="json", by_alias=True))


def estimate_price(state: SimulatorState, request: Request) -> Response:
    body = request.json()
    stored = state.stored_file(str(body.get("training_file") or ""))
    tokens = max(1, len(stored.data) // 4) * int(body.get("n_epochs") or 1)
    return Response(
        body={
            "estimation_available": True,
            "allowed_to_proceed": True,
            "estimated_train_token_count": tokens,
            "estimated_eval_token_count": 0,
            "estimated_total_price": round(tokens * 0.48 / 1_000_000, 6),
            "user_limit": 1000.0,
        }
    )


def _training_type(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("training_type") or {"type": "Lora", "lora_r": 8, "lora_alpha": 16}
    if not isinstance(kind, dict) or kind.get("type") not in {"Lora", "Full"}:
        raise ApiError(400, "training_type.type must be 'Lora' or 'Full'", param="training_type")
    return kind


def _training_method(body: dict[str, Any]) -> dict[str, Any]:
    method = body.get("training_method") or {"method": "sft"}
    if not isinstance(method, dict) or method.get("method") not in {"sft", "dpo"}:
        raise ApiError(
            400, "training_method.method must be 'sft' or 'dpo'", param="training_method"
        )
    return method


def jobs_create(state: SimulatorState, request: Request) -> Response:
    body = request.json()
    # What client.fine_tuning.create sends is a FinetuneRequest; the server checks it against
    # the model's limits (the SDK checks some of them too, but a server cannot count on it).
    parsed = together_request(body)
    model = body.get("model")
    base = state.base_of(model) if isinstance(model, str) else None
    limits_model = base if base is not None else model
    if isinstance(limits_model, str) and limits_model in SHAPE_MODELS[SHAPE]:
        check_together_limits(parsed, limits_for(limits_model))
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 40):
        raise ApiError(400, "suffix must be a string of at most 40 characters", param="suffix")
    kind = _training_type(body)
    method = _training_method(body)
    n_epochs = body.get("n_epochs", 1)
    hyperparameters: dict[str, Any] = {"n_epochs": n_epochs}
    if isinstance(body.get("batch_size"), int):
        hyperparameters["batch_size"] = min(256, body["batch_size"])
    base = str(model).rsplit("/", 1)[-1] if isinstance(model, str) else "model"
    tail = f"-{re.sub(r'[^A-Za-z0-9_-]', '-', suffix)}" if suffix else ""
    output = f"{USER}/{base}{tail}-{secrets.token_hex(4)}"
    job = state.create_job(
        {
            "model": model,
            "training_file": body.get("training_file"),
            "validation_file": body.get("validation_file") or None,
            "hyperparameters": hyperparameters,
            "suffix": suffix,
            "seed": body.get("random_seed"),
        },
        shape=SHAPE,
        job_id="ft-" + secrets.token_hex(16),
        planned_model=output,
        extra={
            "training_type": kind,
            "training_method": method,
            "lora_r": kind.get("lora_r"),
            "lora_alpha": kind.get("lora_alpha"),
            "learning_rate": body.get("learning_rate"),
        },
    )
    return Response(body=to_api(state.sim_job(job["id"], shape=SHAPE)))


def to_api(job: SimJob) -> dict[str, Any]:
    status = STATUS.get(job.status, job.status)
    hp = job.hyperparameters
    remaining = max(0, (job.estimated_finish or 0) - int(job.created_clock))
    return {
        "id": job.id,
        "object": "finetune",
        "status": status,
        "user_id": USER,
        "model": job.model,
        "model_output_name": job.planned_model,
        "suffix": job.suffix,
        "created_at": iso(job.created_clock),
        "updated_at": iso(job.finished_at or job.created_clock),
        "started_at": iso(job.created_clock),
        "training_file": job.training_file,
        "validation_file": job.validation_file or "",
        "n_epochs": hp.get("n_epochs") if isinstance(hp.get("n_epochs"), int) else None,
        "batch_size": hp.get("batch_size") if isinstance(hp.get("batch_size"), int) else None,
        "learning_rate": job.extra.get("learning_rate"),
        "random_seed": job.seed,
        "training_type": job.extra.get("training_type"),
        "training_method": job.extra.get("training_method"),
        "token_count": job.trained_tokens,
        "progress": {
            "estimate_available": job.estimated_finish is not None,
            "seconds_remaining": remaining,
        },
        "adapter_object_name": f"{job.planned_model}-adapter" if status == "completed" else None,
        "events": [],
        # The failure reason travels as the last error event, as on Together.
    }


def jobs_list(state: SimulatorState, request: Request) -> Response:
    return Response(body={"data": [to_api(job) for job in reversed(state.shape_jobs(SHAPE))]})


def jobs_retrieve(state: SimulatorState, request: Request) -> Response:
    return Response(body=to_api(state.sim_job(request.params["id"], shape=SHAPE)))


def jobs_cancel(state: SimulatorState, request: Request) -> Response:
    state.sim_job(request.params["id"], shape=SHAPE)
    state.cancel_job(request.params["id"])
    return Response(body=to_api(state.sim_job(request.params["id"], shape=SHAPE)))


def _event_type(event: dict[str, Any]) -> str:
    message = str(event.get("message", ""))
    if event.get("level") == "error":
        return "job_error"
    if event.get("type") == "metrics":
        return (
            "epoch_complete" if event.get("data", {}).get("full_valid_loss") else "training_start"
        )
    if "Checkpoint" in message:
        return "checkpoint_save"
    if "cancelled" in message:
        return "job_stopped"
    if "successfully completed" in message:
        return "job_complete"
    return "job_start" if "started" in message else "job_pending"


def jobs_events(state: SimulatorState, request: Request) -> Response:
    job = state.sim_job(request.params["id"], shape=SHAPE)
    events = []
    for event in job.events:
        data = event.get("data") or {}
        events.append(
            {
                "object": "fine-tune-event",
                "created_at": iso(event["created_at"]),
                "level": "error" if event.get("level") == "error" else "info",
                "message": event.get("message", ""),
                "type": _event_type(event),
                "step": data.get("step"),
                "total_steps": data.get("total_steps"),
            }
        )
    return Response(body={"data": events})


def jobs_checkpoints(state: SimulatorState, request: Request) -> Response:
    job = state.sim_job(request.params["id"], shape=SHAPE)
    data = [
        {
            "checkpoint_type": "Final"
            if ckpt["fine_tuned_model_checkpoint"] == job.planned_model
            else f"Intermediate (step {ckpt['step_number']})",
            "created_at": iso(ckpt["created_at"]),
            "path": f"{job.id}/{ckpt['fine_tuned_model_checkpoint']}:{ckpt['step_number']}",
            "step": ckpt["step_number"],
            "checkpoint": "adapter",
        }
        for ckpt in job.checkpoints
    ]
    return Response(body={"data": data})


def jobs_metrics(state: SimulatorState, request: Request) -> Response:
    job = state.sim_job(request.params["id"], shape=SHAPE)
    rows = []
    for row in metric_rows(job):
        metric = {"global_step": float(row["step"]), "train_loss": row["train_loss"]}
        if row.get("valid_loss") is not None:
            metric["eval_loss"] = row["valid_loss"]
        rows.append(metric)
    return Response(body={"metrics": rows})


def jobs_download(state: SimulatorState, request: Request) -> Response:
    """``GET /v1/finetune/download``: a ``.tar.zst`` as Together serves it. ``checkpoint``
    is "adapter" (LoRA jobs only), "merged" (LoRA fused into its base) or
    "model_output_path" (what the job trained: the full model of a full fine-tune)."""
    job = state.sim_job(request.query_value("ft_id") or "", shape=SHAPE)
    if job.status != "succeeded":
        raise ApiError(400, f"Job {job.id} has no trained model to download yet", param="ft_id")
    checkpoint = request.query_value("checkpoint") or "model_output_path"
    lora = (job.extra.get("training_type") or {}).get("type") == "Lora"
    if checkpoint not in {"adapter", "merged", "model_output_path"}:
        raise ApiError(
            400,
            "checkpoint must be one of adapter, merged, model_output_path",
            param="checkpoint",
        )
    if checkpoint in {"adapter", "merged"} and not lora:
        raise ApiError(
            400,
            f"Job {job.id} is a full fine-tune: it has no {checkpoint} checkpoint; "
            "download model_output_path",
            param="checkpoint",
        )
    adapter = lora and checkpoint in {"adapter", "model_output_path"}
    files = adapter_files(job) if adapter else full_model_files(job)
    name = job.planned_model.rsplit("/", 1)[-1] + ("-adapter" if adapter else "")
    return Response(
        raw=tar_archive(files, mtime=int(job.created_clock), compression="zst"),
        content_type="application/zstd",
        headers={"content-disposition": f'attachment; filename="{name}.tar.zst"'},
    )


def _not_serverless(model: str) -> ApiError:
    # Together's words when a model needs a dedicated endpoint that is not running.
    return ApiError(
        400,
        f"Unable to access non-serverless model {model}. Please visit "
        f"https://api.together.ai/models/{model} to create and start a new dedicated "
        "endpoint for the model.",
        code="model_not_available",
    )


def chat_create(state: SimulatorState, request: Request) -> Response:
    """Together's OpenAI-compatible chat: serverless bases, serverless LoRA fine-tunes, and
    any model with a started dedicated endpoint (asked by the endpoint's name or model)."""
    body = request.json()
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model")
    by_name = next(
        (
            record
            for record in deployments(state, SHAPE).values()
            if record.options.get("name") == model and not record.deleted
        ),
        None,
    )
    if by_name is not None:
        if not by_name.ready(state.clock()):
            raise _not_serverless(model)
        return Response(body=chat_completions(state, body, served=by_name.model, bases=CHAT_BASES))
    if model in CHAT_BASES:
        return Response(body=chat_completions(state, body, bases=CHAT_BASES))
    if model in SHAPE_MODELS[SHAPE] or is_fine_tuned(state, model):
        base = state.base_of(model)
        if base in SERVERLESS_LORA_BASES or serving(state, SHAPE, model) is not None:
            return Response(body=chat_completions(state, body, bases=CHAT_BASES))
        raise _not_serverless(model)
    raise ApiError(
        404,
        f"Unable to access model {model}. Please visit https://api.together.ai/models to "
        "view the list of supported models.",
        code="model_not_available",
    )


def _endpoint_api(state: SimulatorState, record: Any) -> dict[str, Any]:
    ready = record.ready(state.clock())
    return {
        "object": "endpoint",
        "id": record.id,
        "name": record.options["name"],
        "display_name": record.options.get("display_name") or record.options["name"],
        "model": record.model,
        "hardware": record.options["hardware"],
        "type": "dedicated",
        "owner": USER,
        "state": "STOPPED" if record.deleted else (ENDPOINT_READY if ready else "PENDING"),
        "autoscaling": record.options["autoscaling"],
        "created_at": iso(record.created),
    }


def endpoints_create(state: SimulatorState, request: Request) -> Response:
    """``POST /v1/endpoints``: a dedicated endpoint (docs.together.ai/reference/createendpoint:
    model, hardware and autoscaling required)."""
    body = request.json()
    model, hardware = body.get("model"), body.get("hardware")
    scaling = body.get("autoscaling")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model")
    if hardware not in HARDWARE:
        raise ApiError(
            400, f"hardware must be one of {', '.join(sorted(HARDWARE))}", param="hardware"
        )
    replicas = scaling if isinstance(scaling, dict) else {}
    low, high = replicas.get("min_replicas"), replicas.get("max_replicas")
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ApiError(
            400,
            "autoscaling needs integer min_replicas >= 1 and max_replicas >= min_replicas",
            param="autoscaling",
        )
    if model not in SHAPE_MODELS[SHAPE] and not is_fine_tuned(state, model):
        raise ApiError(404, f"Model {model} not found", param="model")
    if not _dedicated_allowed(state, model):
        raise ApiError(
            400,
            f"Model {model} cannot be deployed as a dedicated endpoint: models with the "
            "-Reference suffix (and fine-tunes of them) are served as serverless LoRA only",
            param="model",
        )
    endpoint_id = "endpoint-" + secrets.token_hex(12)
    record = create_deployment(
        state,
        shape=SHAPE,
        deployment_id=endpoint_id,
        model=model,
        options={
            "name": f"{USER}/{model.rsplit('/', 1)[-1]}-{endpoint_id[-8:]}",
            "display_name": body.get("display_name"),
            "hardware": hardware,
            "autoscaling": {"min_replicas": low, "max_replicas": high},
        },
    )
    return Response(body=_endpoint_api(state, record))


def endpoints_retrieve(state: SimulatorState, request: Request) -> Response:
    return Response(body=_endpoint_api(state, get_deployment(state, SHAPE, request.params["id"])))


def endpoints_list(state: SimulatorState, request: Request) -> Response:
    found = [r for r in deployments(state, SHAPE).values() if not r.deleted]
    return Response(body={"object": "list", "data": [_endpoint_api(state, r) for r in found]})


def endpoints_delete(state: SimulatorState, request: Request) -> Response:
    delete_deployment(state, SHAPE, request.params["id"])
    return Response(body={})


def _dedicated_allowed(state: SimulatorState, model: str) -> bool:
    # docs.together.ai/docs/fine-tuning-models: "-Reference" models can be fine-tuned but not
    # deployed as dedicated endpoints; list_hardware answers 404 for them.
    base = state.base_of(model) or model
    return not base.endswith("-Reference")


def hardware_list(state: SimulatorState, request: Request) -> Response:
    """``GET /v1/hardware``: what a dedicated endpoint can run on; 404 for a ``model`` that
    cannot have one."""
    model = request.query_value("model")
    if model is not None and (
        (model not in SHAPE_MODELS[SHAPE] and not is_fine_tuned(state, model))
        or not _dedicated_allowed(state, model)
    ):
        raise ApiError(404, f"No hardware is available for model {model}", param="model")
    return Response(
        body={
            "object": "list",
            "data": [
                {
                    "object": "hardware",
                    "id": name,
                    "pricing": {"cents_per_minute": round(price * 100, 4)},
                }
                for name, price in HARDWARE.items()
            ],
        }
    )


_ID = r"(?P<id>[A-Za-z0-9_\-.]+)"
ROUTES: RouteTable = [
    ("POST", re.compile(r"^/v1/chat/completions$"), "chat.completions", chat_create),
    ("POST", re.compile(r"^/v1/endpoints$"), "deployments.create", endpoints_create),
    ("GET", re.compile(r"^/v1/endpoints$"), "deployments.list", endpoints_list),
    ("GET", re.compile(rf"^/v1/endpoints/{_ID}$"), "deployments.retrieve", endpoints_retrieve),
    ("DELETE", re.compile(rf"^/v1/endpoints/{_ID}$"), "deployments.delete", endpoints_delete),
    ("GET", re.compile(r"^/v1/hardware$"), "deployments.list", hardware_list),
    ("POST", re.compile(r"^/v1/files$"), "files.create", files_create),
    ("PUT", re.compile(rf"^/_upload/{_ID}$"), "_upload", files_put),
    ("POST", re.compile(rf"^/v1/files/{_ID}/preprocess$"), "files.upload", files_preprocess),
    ("GET", re.compile(rf"^/v1/files/{_ID}$"), "files.retrieve", files_retrieve),
    ("GET", re.compile(r"^/v1/fine-tunes/models/limits$"), "models.limits", model_limits),
    ("POST", re.compile(r"^/v1/fine-tunes/estimate-price$"), "models.limits", estimate_price),
    ("POST", re.compile(r"^/v1/fine-tunes$"), "jobs.create", jobs_create),
    ("GET", re.compile(r"^/v1/fine-tunes$"), "jobs.list", jobs_list),
    ("GET", re.compile(rf"^/v1/fine-tunes/{_ID}$"), "jobs.retrieve", jobs_retrieve),
    ("POST", re.compile(rf"^/v1/fine-tunes/{_ID}/cancel$"), "jobs.cancel", jobs_cancel),
    ("GET", re.compile(rf"^/v1/fine-tunes/{_ID}/events$"), "jobs.events", jobs_events),
    (
        "GET",
        re.compile(rf"^/v1/fine-tunes/{_ID}/checkpoints$"),
        "jobs.checkpoints",
        jobs_checkpoints,
    ),
    ("GET", re.compile(rf"^/v1/fine-tunes/{_ID}/metrics$"), "jobs.metrics", jobs_metrics),
    ("GET", re.compile(r"^/v1/finetune/download$"), "jobs.download", jobs_download),
]
