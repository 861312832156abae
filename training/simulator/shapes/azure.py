"""Azure OpenAI: the data plane at ``/openai`` (files and fine-tuning as OpenAI's, under the
``api-key`` header) and the control plane's deployments at ``/azure-management``.

On Azure a model answers only through a deployment: chat goes to
``/openai/deployments/{deployment}/chat/completions`` or to the v1 API's
``/openai/v1/chat/completions`` with the deployment's name as ``model``. Deployments are
made with the documented control-plane call, ``PUT https://management.azure.com/subscriptions/
{subscription}/resourceGroups/{group}/providers/Microsoft.CognitiveServices/accounts/
{resource}/deployments/{name}?api-version=…`` with a body ``{"sku": {"name", "capacity"},
"properties": {"model": {"format": "OpenAI", "name", "version"}}}``
(learn.microsoft.com/rest/api/aiservices/accountmanagement/deployments/create-or-update).
"""

from __future__ import annotations

import re
from typing import Any

from training.simulator.chat import chat_completions
from training.simulator.endpoints import ROUTES as OPENAI_ROUTES
from training.simulator.endpoints import Request, Response, RouteTable
from training.simulator.records import ApiError
from training.simulator.serving import (
    Deployment,
    create_deployment,
    delete_deployment,
    deployments,
    get_deployment,
)
from training.simulator.state import BASE_MODELS, MODEL_ALIASES, SimulatorState

SHAPE = "azure"
# Deployment types (sku.name) a fine-tuned or base model can be deployed with.
SKUS = frozenset({"Standard", "GlobalStandard", "DataZoneStandard", "DeveloperTier"})
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def _arm_error(status: int, code: str, message: str) -> ApiError:
    # Azure Resource Manager answers {"error": {"code", "message"}}.
    return ApiError(status, message, code=code, type=code)


def _require_api_version(request: Request) -> None:
    version = request.query_value("api-version") or ""
    if not API_VERSION.match(version):
        raise _arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )


def _resource_id(params: dict[str, str]) -> str:
    return (
        f"/subscriptions/{params['subscription']}/resourceGroups/{params['group']}/providers/"
        f"Microsoft.CognitiveServices/accounts/{params['account']}/deployments/{params['name']}"
    )


def _key(params: dict[str, str]) -> str:
    # Deployment names are unique per Azure OpenAI resource.
    return params["name"]


def _deployment_api(state: SimulatorState, params: dict[str, str], record: Deployment) -> Any:
    ready = record.ready(state.clock())
    return {
        "id": _resource_id(params),
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "name": record.id,
        "sku": record.options["sku"],
        "properties": {
            "model": record.options["model"],
            "provisioningState": "Succeeded" if ready else "Creating",
        },
    }


def _deployable(state: SimulatorState, model: str) -> bool:
    return model in BASE_MODELS or model in MODEL_ALIASES or state.base_of(model) is not None


def deployment_put(state: SimulatorState, request: Request) -> Response:
    _require_api_version(request)
    body = request.json()
    sku = body.get("sku")
    properties = body.get("properties")
    model = properties.get("model") if isinstance(properties, dict) else None
    # ARM matches SKU names without regard to case (the az CLI sends "standard").
    if not isinstance(sku, dict) or str(sku.get("name")).lower() not in {k.lower() for k in SKUS}:
        raise _arm_error(
            400,
            "InvalidResourceProperties",
            f"sku.name must be one of {', '.join(sorted(SKUS))}",
        )
    capacity = sku.get("capacity")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise _arm_error(400, "InvalidCapacity", "sku.capacity must be a positive integer")
    if not isinstance(model, dict) or model.get("format") != "OpenAI":
        raise _arm_error(
            400,
            "InvalidResourceProperties",
            'properties.model must name a model with "format": "OpenAI"',
        )
    name = model.get("name")
    state.advance_all()
    if not isinstance(name, str) or not _deployable(state, name):
        raise _arm_error(
            400,
            "DeploymentModelNotSupported",
            f"The model '{name}' is not supported for deployment in this resource.",
        )
    exists = _key(request.params) in deployments(state, SHAPE)
    record = create_deployment(
        state,
        shape=SHAPE,
        deployment_id=_key(request.params),
        model=name,
        options={"sku": dict(sku), "model": dict(model)},
        replace=True,
    )
    return Response(
        status=200 if exists else 201, body=_deployment_api(state, request.params, record)
    )


def deployment_get(state: SimulatorState, request: Request) -> Response:
    _require_api_version(request)
    try:
        record = get_deployment(state, SHAPE, _key(request.params))
    except ApiError:
        raise _arm_error(
            404, "DeploymentNotFound", f"Deployment '{request.params['name']}' not found"
        ) from None
    return Response(body=_deployment_api(state, request.params, record))


def deployment_delete(state: SimulatorState, request: Request) -> Response:
    _require_api_version(request)
    try:
        delete_deployment(state, SHAPE, _key(request.params))
    except ApiError:
        return Response(status=204, raw=b"")
    return Response(status=200, body={})


def _deployed_model(state: SimulatorState, name: Any) -> str:
    record = deployments(state, SHAPE).get(name) if isinstance(name, str) else None
    if record is None or record.deleted or not record.ready(state.clock()):
        raise ApiError(
            404,
            "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
            code="DeploymentNotFound",
        )
    return record.model


def chat_by_deployment(state: SimulatorState, request: Request) -> Response:
    """``/openai/deployments/{deployment}/chat/completions?api-version=…``"""
    body = request.json()
    model = _deployed_model(state, request.params["deployment"])
    body.setdefault("model", request.params["deployment"])
    return Response(body=chat_completions(state, body, served=model))


def chat_v1(state: SimulatorState, request: Request) -> Response:
    """``/openai/v1/chat/completions``: ``model`` is the deployment's name."""
    body = request.json()
    return Response(
        body=chat_completions(state, body, served=_deployed_model(state, body.get("model")))
    )


DATA_PLANE: RouteTable = [route for route in OPENAI_ROUTES if route[2] != "chat.completions"] + [
    ("POST", re.compile(r"^/v1/chat/completions$"), "chat.completions", chat_v1),
    (
        "POST",
        re.compile(r"^/deployments/(?P<deployment>[A-Za-z0-9_.-]+)/chat/completions$"),
        "chat.completions",
        chat_by_deployment,
    ),
]

_DEPLOYMENT = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
    r"Microsoft\.CognitiveServices/accounts/(?P<account>[^/]+)/deployments/(?P<name>[A-Za-z0-9_.-]+)$"
)
CONTROL_PLANE: RouteTable = [
    ("PUT", _DEPLOYMENT, "deployments.create", deployment_put),
    ("GET", _DEPLOYMENT, "deployments.retrieve", deployment_get),
    ("DELETE", _DEPLOYMENT, "deployments.delete", deployment_delete),
]
