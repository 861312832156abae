"""Fireworks AI's datasets and fine-tuning jobs, as the official ``fireworks-ai`` SDK calls
them: resources named ``accounts/{account}/…``, ids chosen by the client (a second create
with the same id answers 409 ALREADY_EXISTS), google.rpc error bodies, ``JOB_STATE_*``."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from fireworks.types.dataset_create_params import DatasetCreateParams
from fireworks.types.dataset_get_upload_endpoint_params import DatasetGetUploadEndpointParams
from fireworks.types.deployment_create_params import DeploymentCreateParams
from fireworks.types.dpo_job_create_params import DpoJobCreateParams
from fireworks.types.lora_load_params import LoraLoadParams
from fireworks.types.shared_params.training_config import TrainingConfig
from fireworks.types.supervised_fine_tuning_job_create_params import (
    SupervisedFineTuningJobCreateParams,
)

from training.simulator.chat import chat_completions
from training.simulator.endpoints import Request, Response, RouteTable, parse_multipart
from training.simulator.records import ApiError, SimJob
from training.simulator.serving import (
    create_deployment,
    delete_deployment,
    deployments,
    get_deployment,
    is_fine_tuned,
)
from training.simulator.shapes.common import adapter_files, iso, metric_rows
from training.simulator.state import SHAPE_MODELS, SimulatorState
from training.simulator.vendor_rules import (
    FIREWORKS_UPLOAD_LIMIT,
    FileRuleError,
    check_dataset_lines,
    check_fireworks_beta,
    check_fireworks_ranges,
    check_typed_dict,
)

SHAPE = "fireworks"
STATE = {
    "validating_files": "JOB_STATE_VALIDATING",
    "queued": "JOB_STATE_PENDING",
    "running": "JOB_STATE_RUNNING",
    "succeeded": "JOB_STATE_COMPLETED",
    "failed": "JOB_STATE_FAILED",
    "cancelled": "JOB_STATE_CANCELLED",
}
COLLECTIONS = {"supervisedFineTuningJobs": "sft", "dpoJobs": "dpo"}
# Fields that travel in the path or the query string, not in the body.
PATH_FIELDS = frozenset(
    {
        "account_id",
        "supervised_fine_tuning_job_id",
        "dpo_job_id",
        "dataset_id",
        "deployment_id",
        "disable_auto_deploy",
        "disable_speculative_decoding",
        "skip_image_tag_validation",
        "skip_shape_validation",
        "accept_shapeless_risk",
        "validate_only",
        "replace_merged_addon",
    }
)
# Fireworks serves its base models serverless; a fine-tuned model (a LoRA addon) answers only
# on a deployment: its own on-demand deployment, or loaded as an addon onto a deployment of
# its base with addons enabled (docs.fireworks.ai/fine-tuning/fine-tuning-models, "Deploying
# a fine-tuned model"; serverless LoRA is limited to models this simulator does not offer).
CHAT_BASES = SHAPE_MODELS[SHAPE]


def _datasets(state: SimulatorState) -> dict[str, dict[str, Any]]:
    return state.shape_data.setdefault(SHAPE, {}).setdefault("datasets", {})


def _dataset_api(account: str, dataset_id: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"accounts/{account}/datasets/{dataset_id}",
        "displayName": record.get("displayName") or dataset_id,
        "createTime": iso(record["created"]),
        "state": "READY" if record.get("file_id") else "UPLOADING",
        "format": "CHAT",
        "exampleCount": str(record.get("examples", 0)),
        "status": {"code": "OK", "message": ""},
        "userUploaded": {},
    }


def datasets_create(state: SimulatorState, request: Request) -> Response:
    body = request.json()
    check_typed_dict(body, DatasetCreateParams, skip=PATH_FIELDS - {"dataset_id"})
    dataset_id = body.get("datasetId")
    if not isinstance(dataset_id, str) or not re.fullmatch(r"[a-z0-9-]{1,63}", dataset_id):
        raise ApiError(400, "datasetId must be 1-63 lowercase letters, digits or hyphens")
    datasets = _datasets(state)
    if dataset_id in datasets:
        # google.rpc ALREADY_EXISTS: a client whose create reply was lost sees this on retry.
        raise ApiError(409, f'Dataset "{dataset_id}" already exists')
    dataset = body.get("dataset") or {}
    datasets[dataset_id] = {"created": state.clock(), "displayName": dataset.get("displayName")}
    return Response(body=_dataset_api(request.params["account"], dataset_id, datasets[dataset_id]))


def _dataset(state: SimulatorState, request: Request) -> dict[str, Any]:
    record = _datasets(state).get(request.params["id"])
    if record is None:
        raise ApiError(404, f'Dataset "{request.params["id"]}" not found')
    return record


def _store(state: SimulatorState, record: dict[str, Any], *, filename: str, data: bytes) -> Any:
    """Check the lines by Fireworks' dataset rules, then keep them as the dataset's data."""
    try:
        examples = check_dataset_lines(data, provider=SHAPE)
    except FileRuleError as error:
        raise ApiError(400, f"invalid dataset file {filename}: {error}") from None
    stored = state.create_file(filename=filename, purpose="fine-tune", data=data)
    record["file_id"] = stored["id"]
    record["examples"] = examples
    return stored


def datasets_upload(state: SimulatorState, request: Request) -> Response:
    """``:upload``, the one-request path: at most 150 MB (the server refuses a bigger body
    before reading it; see BODY_LIMITS)."""
    record = _dataset(state, request)
    parts = parse_multipart(request.headers.get("content-type", ""), request.body)
    upload = parts.get("file")
    if upload is None:
        raise ApiError(400, "Missing the file part")
    stored = _store(state, record, filename=upload.filename or "dataset.jsonl", data=upload.data)
    return Response(
        body={
            "id": stored["id"],
            "bytes": stored["bytes"],
            "created_at": stored["created_at"],
            "filename": stored["filename"],
            "object": "file",
            "purpose": "fine-tune",
        }
    )


def datasets_upload_endpoint(state: SimulatorState, request: Request) -> Response:
    """``:getUploadEndpoint``: one signed URL per file name, for files of any size."""
    record = _dataset(state, request)
    body = request.json()
    check_typed_dict(body, DatasetGetUploadEndpointParams, skip=PATH_FIELDS)
    sizes = body["filenameToSize"]
    if len(sizes) != 1:
        raise ApiError(400, "filenameToSize must name exactly one file")
    ((filename, size),) = sizes.items()
    record["pending"] = {"filename": filename, "size": int(size)}
    url = f"{request.origin}/fireworks/_upload/{request.params['id']}/{filename}"
    return Response(body={"filenameToSignedUrls": {filename: url}})


def datasets_put(state: SimulatorState, request: Request) -> Response:
    """The PUT to a signed URL (the URL is the credential, as on cloud storage)."""
    record = _datasets(state).get(request.params["id"])
    pending = (record or {}).get("pending")
    if record is None or not pending or pending["filename"] != request.params["name"]:
        raise ApiError(404, "No upload is pending under this URL")
    if len(request.body) != pending["size"]:
        raise ApiError(
            400, f"uploaded {len(request.body)} bytes, but the signed URL was for {pending['size']}"
        )
    pending["data"] = request.body
    return Response(body={})


def datasets_validate_upload(state: SimulatorState, request: Request) -> Response:
    """``:validateUpload``: the uploaded file becomes the dataset's data once it checks out."""
    record = _dataset(state, request)
    pending = record.get("pending") or {}
    if "data" not in pending:
        raise ApiError(400, f'Dataset "{request.params["id"]}" has no uploaded file to validate')
    _store(state, record, filename=pending["filename"], data=pending["data"])
    record.pop("pending")
    return Response(body={})


def datasets_get(state: SimulatorState, request: Request) -> Response:
    record = _datasets(state).get(request.params["id"])
    if record is None:
        raise ApiError(404, f'Dataset "{request.params["id"]}" not found')
    return Response(body=_dataset_api(request.params["account"], request.params["id"], record))


def _file_of(state: SimulatorState, name: Any, *, param: str) -> str:
    dataset_id = str(name or "").rsplit("/", 1)[-1]
    record = _datasets(state).get(dataset_id)
    if record is None or not record.get("file_id"):
        raise ApiError(400, f"{param}: dataset {name!r} does not exist or has no data")
    return str(record["file_id"])


def jobs_create(state: SimulatorState, request: Request) -> Response:
    account = request.params["account"]
    collection = request.params["collection"]
    method = COLLECTIONS[collection]
    body = request.json()
    key = "supervisedFineTuningJobId" if method == "sft" else "dpoJobId"
    job_id = request.query_value(key) or ""
    if not re.fullmatch(r"[a-z0-9-]{1,63}", job_id):
        raise ApiError(400, f"{key} must be 1-63 lowercase letters, digits or hyphens")
    if method == "sft":
        check_typed_dict(body, SupervisedFineTuningJobCreateParams, skip=PATH_FIELDS)
        config = body
        check_fireworks_ranges(config)
    else:
        check_typed_dict(body, DpoJobCreateParams, skip=PATH_FIELDS)
        config = body.get("trainingConfig") or {}
        check_typed_dict(config, TrainingConfig, where="trainingConfig")
        check_fireworks_ranges(config, where="trainingConfig")
        check_fireworks_beta(body.get("lossConfig"))
    hyperparameters: dict[str, Any] = {}
    if config.get("epochs") is not None:
        hyperparameters["n_epochs"] = int(config["epochs"])
    # batchSize counts tokens on Fireworks; the number of examples a step takes is
    # batchSizeSamples, which is what the job's batch size means here.
    if config.get("batchSizeSamples") is not None:
        hyperparameters["batch_size"] = int(config["batchSizeSamples"])
    output = config.get("outputModel") or job_id
    try:
        state.create_job(
            {
                "model": config.get("baseModel"),
                "training_file": _file_of(state, body.get("dataset"), param="dataset"),
                "validation_file": _file_of(
                    state, body["evaluationDataset"], param="evaluationDataset"
                )
                if body.get("evaluationDataset")
                else None,
                "hyperparameters": hyperparameters,
            },
            shape=SHAPE,
            job_id=job_id,
            planned_model=f"accounts/{account}/models/{output}",
            extra={
                "collection": collection,
                "account": account,
                "dataset": body.get("dataset"),
                "evaluation_dataset": body.get("evaluationDataset"),
                "display_name": body.get("displayName"),
                "lora_r": config.get("loraRank"),
                "batch_size_tokens": config.get("batchSize"),
                "loss_config": body.get("lossConfig"),
                "learning_rate": config.get("learningRate"),
                "max_context_length": config.get("maxContextLength"),
            },
        )
    except ApiError as error:
        if error.status == 409:
            raise ApiError(409, f'Job "{job_id}" already exists') from None
        raise
    return Response(body=to_api(state.sim_job(job_id, shape=SHAPE), request))


def to_api(job: SimJob, request: Request) -> dict[str, Any]:
    account = job.extra["account"]
    collection = job.extra["collection"]
    percent = 0
    rows = metric_rows(job)
    if rows and rows[-1].get("total_steps"):
        percent = int(100 * rows[-1]["step"] / rows[-1]["total_steps"])
    if job.status == "succeeded":
        percent = 100
    status = {"code": "OK", "message": ""}
    if job.error:
        status = {"code": "INVALID_ARGUMENT", "message": job.error.get("message", "")}
    elif job.status == "cancelled":
        status = {"code": "CANCELLED", "message": "cancelled by the user"}
    hp = job.hyperparameters
    fields: dict[str, Any] = {
        "name": f"accounts/{account}/{collection}/{job.id}",
        "displayName": job.extra.get("display_name") or job.id,
        "createTime": iso(job.created_clock),
        "updateTime": iso(job.finished_at or job.created_clock),
        "completedTime": iso(job.finished_at),
        "state": STATE.get(job.status, "JOB_STATE_UNSPECIFIED"),
        "status": status,
        "dataset": job.extra.get("dataset"),
        "jobProgress": {"percent": percent, "epoch": 0},
    }
    config = {
        "baseModel": job.model,
        "outputModel": job.planned_model,
        "epochs": hp.get("n_epochs") if isinstance(hp.get("n_epochs"), int) else None,
        "batchSize": job.extra.get("batch_size_tokens"),
        "batchSizeSamples": hp.get("batch_size") if isinstance(hp.get("batch_size"), int) else None,
        "learningRate": job.extra.get("learning_rate"),
        "loraRank": job.extra.get("lora_r"),
        "maxContextLength": job.extra.get("max_context_length"),
    }
    if collection == "supervisedFineTuningJobs":
        fields.update(config)
        fields["evaluationDataset"] = job.extra.get("evaluation_dataset")
        fields["metricsFileSignedUrl"] = f"{request.origin}/fireworks/_metrics/{job.id}.jsonl"
    else:
        fields["trainingConfig"] = config
        if job.extra.get("loss_config"):
            fields["lossConfig"] = job.extra["loss_config"]
    return fields


def _job(state: SimulatorState, request: Request) -> SimJob:
    job = state.sim_job(request.params["id"], shape=SHAPE)
    if job.extra.get("collection") != request.params["collection"]:
        raise ApiError(404, f'Job "{request.params["id"]}" not found')
    return job


def jobs_get(state: SimulatorState, request: Request) -> Response:
    return Response(body=to_api(_job(state, request), request))


def jobs_list(state: SimulatorState, request: Request) -> Response:
    collection = request.params["collection"]
    jobs = [
        to_api(job, request)
        for job in reversed(state.shape_jobs(SHAPE))
        if job.extra.get("collection") == collection
    ]
    return Response(body={collection: jobs, "nextPageToken": "", "totalSize": len(jobs)})


def jobs_cancel(state: SimulatorState, request: Request) -> Response:
    job = _job(state, request)
    state.cancel_job(job.id)
    return Response(body={})


def metrics_endpoint(state: SimulatorState, request: Request) -> Response:
    job = _job(state, request)
    return Response(body={"signedUrl": f"{request.origin}/fireworks/_metrics/{job.id}.jsonl"})


def metrics_file(state: SimulatorState, request: Request) -> Response:
    job = state.sim_job(request.params["id"], shape=SHAPE)
    lines = [
        json.dumps(
            {
                "step": row["step"],
                "epoch": row.get("epoch"),
                "train/loss": row["train_loss"],
                **({"eval/loss": row["valid_loss"]} if row.get("valid_loss") is not None else {}),
            }
        )
        for row in metric_rows(job)
    ]
    return Response(raw=("\n".join(lines) + "\n").encode(), content_type="application/jsonl")


def _deployment_api(state: SimulatorState, account: str, record: Any) -> dict[str, Any]:
    ready = record.ready(state.clock())
    return {
        "name": f"accounts/{account}/deployments/{record.id}",
        "displayName": record.options.get("displayName") or record.id,
        "baseModel": record.model,
        "createTime": iso(record.created),
        "state": "DELETED" if record.deleted else ("READY" if ready else "CREATING"),
        "status": {"code": "OK", "message": ""},
        "minReplicaCount": record.options.get("minReplicaCount", 0),
        "maxReplicaCount": record.options.get("maxReplicaCount", 1),
        "enableAddons": bool(record.options.get("enableAddons")),
        "acceleratorType": record.options.get("acceleratorType") or "NVIDIA_H100_80GB",
        "acceleratorCount": record.options.get("acceleratorCount") or 1,
    }


def _known_model(state: SimulatorState, account: str, model: Any) -> str:
    if not isinstance(model, str) or not model:
        raise ApiError(400, "missing required field baseModel")
    if model in SHAPE_MODELS[SHAPE] or (
        model.startswith(f"accounts/{account}/models/") and is_fine_tuned(state, model)
    ):
        return model
    raise ApiError(404, f'Model "{model}" not found')


def deployments_create(state: SimulatorState, request: Request) -> Response:
    """``POST /v1/accounts/{account}/deployments?deploymentId=…`` (DeploymentCreateParams)."""
    account = request.params["account"]
    body = request.json()
    check_typed_dict(body, DeploymentCreateParams, skip=PATH_FIELDS)
    model = _known_model(state, account, body.get("baseModel"))
    deployment_id = request.query_value("deploymentId") or f"d-{secrets.token_hex(6)}"
    if not re.fullmatch(r"[a-z0-9-]{1,63}", deployment_id):
        raise ApiError(400, "deploymentId must be 1-63 lowercase letters, digits or hyphens")
    record = create_deployment(
        state, shape=SHAPE, deployment_id=deployment_id, model=model, options=body
    )
    return Response(body=_deployment_api(state, account, record))


def deployments_get(state: SimulatorState, request: Request) -> Response:
    record = get_deployment(state, SHAPE, request.params["id"])
    return Response(body=_deployment_api(state, request.params["account"], record))


def deployments_list(state: SimulatorState, request: Request) -> Response:
    account = request.params["account"]
    found = [
        _deployment_api(state, account, r)
        for r in deployments(state, SHAPE).values()
        if not r.deleted
    ]
    return Response(body={"deployments": found, "nextPageToken": "", "totalSize": len(found)})


def deployments_delete(state: SimulatorState, request: Request) -> Response:
    delete_deployment(state, SHAPE, request.params["id"])
    return Response(body={})


def _addons(state: SimulatorState) -> dict[str, dict[str, Any]]:
    return state.shape_data.setdefault(SHAPE, {}).setdefault("addons", {})


def _addon_api(state: SimulatorState, account: str, addon_id: str, addon: dict[str, Any]) -> Any:
    deployment = deployments(state, SHAPE).get(addon["deployment"])
    ready = deployment is not None and deployment.ready(state.clock())
    return {
        "name": f"accounts/{account}/deployedModels/{addon_id}",
        "model": addon["model"],
        "deployment": f"accounts/{account}/deployments/{addon['deployment']}",
        "state": "DEPLOYED" if ready else "DEPLOYING",
        "serverless": False,
        "default": bool(addon.get("default")),
    }


def addons_load(state: SimulatorState, request: Request) -> Response:
    """``POST /v1/accounts/{account}/deployedModels``: a LoRA addon onto a deployment of its
    base model that has addons enabled (LoraLoadParams)."""
    account = request.params["account"]
    body = request.json()
    check_typed_dict(body, LoraLoadParams, skip=PATH_FIELDS)
    model = _known_model(state, account, body.get("model"))
    deployment_id = str(body.get("deployment") or "").rsplit("/", 1)[-1]
    deployment = get_deployment(state, SHAPE, deployment_id)
    if not deployment.options.get("enableAddons"):
        raise ApiError(400, f'Deployment "{deployment_id}" does not have addons enabled')
    if state.base_of(model) != deployment.model:
        raise ApiError(
            400, f'"{model}" was not trained from "{deployment.model}", the deployment\'s model'
        )
    addon_id = f"{model.rsplit('/', 1)[-1]}-{deployment_id}"[:63]
    addon = {"model": model, "deployment": deployment_id, "default": body.get("default")}
    _addons(state)[addon_id] = addon
    return Response(body=_addon_api(state, account, addon_id, addon))


def _serves(state: SimulatorState, model: str, deployment_id: str | None) -> bool:
    now = state.clock()
    for record in deployments(state, SHAPE).values():
        if deployment_id and record.id != deployment_id:
            continue
        if record.model == model and record.ready(now):
            return True
    for addon in _addons(state).values():
        if addon["model"] != model or (deployment_id and addon["deployment"] != deployment_id):
            continue
        host = deployments(state, SHAPE).get(addon["deployment"])
        if host is not None and host.ready(now):
            return True
    return False


def chat_create(state: SimulatorState, request: Request) -> Response:
    """``/inference/v1/chat/completions``: OpenAI's shape, errors included. A model may name
    its deployment as ``model#accounts/{account}/deployments/{id}``."""
    try:
        body = request.json()
        requested = body.get("model")
        if not isinstance(requested, str) or not requested:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        model, _, where = requested.partition("#")
        deployment_id = where.rsplit("/", 1)[-1] if where else None
        if model in CHAT_BASES and not deployment_id:
            return Response(body=chat_completions(state, body, served=model, bases=CHAT_BASES))
        if _serves(state, model, deployment_id):
            return Response(body=chat_completions(state, body, served=model, bases=CHAT_BASES))
        raise ApiError(
            404,
            f"Model not found, inaccessible, and/or not deployed: {requested}",
            code="NOT_FOUND",
        )
    except ApiError as error:
        return Response(status=error.status, body=error.body("openai"), headers=error.headers)


def _trained(state: SimulatorState, account: str, model_id: str) -> SimJob:
    name = f"accounts/{account}/models/{model_id}"
    for job in state.shape_jobs(SHAPE):
        if job.fine_tuned_model == name:
            return job
    raise ApiError(404, f'Model "{name}" not found')


def models_download_endpoint(state: SimulatorState, request: Request) -> Response:
    """``GET …/models/{id}:getDownloadEndpoint``: a signed URL per file of the LoRA addon."""
    job = _trained(state, request.params["account"], request.params["id"])
    base = f"{request.origin}/fireworks/_models/{request.params['account']}/{request.params['id']}"
    urls = {name: f"{base}/{name}" for name in adapter_files(job)}
    return Response(body={"filenameToSignedUrls": urls})


def models_file(state: SimulatorState, request: Request) -> Response:
    job = _trained(state, request.params["account"], request.params["id"])
    files = adapter_files(job)
    if request.params["name"] not in files:
        raise ApiError(404, "No such file")
    return Response(raw=files[request.params["name"]], content_type="application/octet-stream")


_ACCOUNT = r"/v1/accounts/(?P<account>[a-z0-9-]+)"
_COLLECTION = r"(?P<collection>supervisedFineTuningJobs|dpoJobs)"
_ID = r"(?P<id>[a-z0-9-]+)"
ROUTES: RouteTable = [
    ("POST", re.compile(r"^/inference/v1/chat/completions$"), "chat.completions", chat_create),
    ("POST", re.compile(rf"^{_ACCOUNT}/deployments$"), "deployments.create", deployments_create),
    ("GET", re.compile(rf"^{_ACCOUNT}/deployments$"), "deployments.list", deployments_list),
    (
        "GET",
        re.compile(rf"^{_ACCOUNT}/deployments/{_ID}$"),
        "deployments.retrieve",
        deployments_get,
    ),
    (
        "DELETE",
        re.compile(rf"^{_ACCOUNT}/deployments/{_ID}$"),
        "deployments.delete",
        deployments_delete,
    ),
    ("POST", re.compile(rf"^{_ACCOUNT}/deployedModels$"), "deployments.create", addons_load),
    (
        "GET",
        re.compile(rf"^{_ACCOUNT}/models/{_ID}:getDownloadEndpoint$"),
        "jobs.download",
        models_download_endpoint,
    ),
    (
        "GET",
        re.compile(
            r"^/_models/(?P<account>[a-z0-9-]+)/(?P<id>[a-z0-9-]+)/(?P<name>[A-Za-z0-9_.-]+)$"
        ),
        "_download",
        models_file,
    ),
    ("POST", re.compile(rf"^{_ACCOUNT}/datasets$"), "files.create", datasets_create),
    ("POST", re.compile(rf"^{_ACCOUNT}/datasets/{_ID}:upload$"), "files.upload", datasets_upload),
    (
        "POST",
        re.compile(rf"^{_ACCOUNT}/datasets/{_ID}:getUploadEndpoint$"),
        "files.upload",
        datasets_upload_endpoint,
    ),
    ("PUT", re.compile(rf"^/_upload/{_ID}/(?P<name>[^/]+)$"), "_upload", datasets_put),
    (
        "POST",
        re.compile(rf"^{_ACCOUNT}/datasets/{_ID}:validateUpload$"),
        "files.upload",
        datasets_validate_upload,
    ),
    ("GET", re.compile(rf"^{_ACCOUNT}/datasets/{_ID}$"), "files.retrieve", datasets_get),
    ("POST", re.compile(rf"^{_ACCOUNT}/{_COLLECTION}$"), "jobs.create", jobs_create),
    ("GET", re.compile(rf"^{_ACCOUNT}/{_COLLECTION}$"), "jobs.list", jobs_list),
    ("GET", re.compile(rf"^{_ACCOUNT}/{_COLLECTION}/{_ID}$"), "jobs.retrieve", jobs_get),
    ("POST", re.compile(rf"^{_ACCOUNT}/{_COLLECTION}/{_ID}:cancel$"), "jobs.cancel", jobs_cancel),
    (
        "GET",
        re.compile(rf"^{_ACCOUNT}/{_COLLECTION}/{_ID}:getMetricsFileEndpoint$"),
        "jobs.metrics",
        metrics_endpoint,
    ),
    ("GET", re.compile(rf"^/_metrics/{_ID}\.jsonl$"), "_metrics", metrics_file),
]

# Bodies bigger than this are refused before they are read, by handler.
BODY_LIMITS: dict[Any, int] = {datasets_upload: FIREWORKS_UPLOAD_LIMIT}
