"""The simulator's endpoints: request parsing, pagination, handlers, routes and faults."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from training.simulator.chat import chat_completions
from training.simulator.faults import Fault
from training.simulator.records import ApiError
from training.simulator.state import SimulatorState


@dataclass
class Request:
    method: str
    params: dict[str, str]
    query: list[tuple[str, str]]
    headers: Any
    body: bytes
    # Where the client reached the server ("http://host:port"), for URLs in replies.
    origin: str = ""
    # The API shape the request was routed to ("openai", "azure", …).
    shape: str = "openai"

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            ) from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object")
        return data

    def query_value(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class Response:
    status: int = 200
    body: dict[str, Any] | None = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class UploadedPart:
    name: str
    filename: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> dict[str, UploadedPart]:
    """Split a multipart/form-data body into its named parts, byte for byte.

    The header lines of each part go through the email package's parser, which knows the
    quoting rules of Content-Disposition (including RFC 2231 ``filename*=``); the bodies
    are sliced out directly so binary content is never re-encoded.
    """
    header = email.message.EmailMessage()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ApiError(400, "Expected a multipart/form-data body with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    parts: dict[str, UploadedPart] = {}
    sections = body.split(delimiter)
    for section in sections[1:]:
        if section.startswith(b"--"):
            break
        section = section.removeprefix(b"\r\n")
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Malformed multipart body: a part has no header end")
        headers = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.HTTP)
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        parts[name] = UploadedPart(
            name=name, filename=headers.get_filename(), data=data.removesuffix(b"\r\n")
        )
    return parts


def _limit(request: Request, default: int) -> int:
    raw = request.query_value("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise ApiError(
            400, f"Invalid limit {raw!r}: expected an integer from 1 to 100", param="limit"
        )
    return value


def paginate(
    items: list[dict[str, Any]], request: Request, *, default_limit: int = 20
) -> dict[str, Any]:
    """Cursor pagination as OpenAI does it: ``after`` is the id of the last item seen."""
    limit = _limit(request, default_limit)
    after = request.query_value("after")
    start = 0
    if after:
        ids = [item["id"] for item in items]
        # An unknown cursor yields an empty page rather than restarting from the top,
        # which would make a client loop forever.
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(items)}


# -- endpoint handlers -----------------------------------------------------------------------


def files_create(state: SimulatorState, request: Request) -> Response:
    parts = parse_multipart(request.headers.get("content-type", ""), request.body)
    if "file" not in parts:
        raise ApiError(400, "Missing required parameter: 'file'.", param="file")
    if "purpose" not in parts:
        raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose")
    upload = parts["file"]
    return Response(
        body=state.create_file(
            filename=upload.filename or "upload.jsonl",
            purpose=parts["purpose"].data.decode("utf-8", "replace").strip(),
            data=upload.data,
        )
    )


def files_list(state: SimulatorState, request: Request) -> Response:
    purpose = request.query_value("purpose")
    files = [f for f in reversed(state.files) if purpose is None or f["purpose"] == purpose]
    return Response(body=paginate(files, request, default_limit=100))


def files_retrieve(state: SimulatorState, request: Request) -> Response:
    return Response(body=state.retrieve_file(request.params["id"]))


def files_content(state: SimulatorState, request: Request) -> Response:
    return Response(
        raw=state.file_content(request.params["id"]), content_type="application/octet-stream"
    )


def files_delete(state: SimulatorState, request: Request) -> Response:
    return Response(body=state.delete_file(request.params["id"]))


def jobs_create(state: SimulatorState, request: Request) -> Response:
    return Response(body=state.create_job(request.json(), shape=request.shape))


_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")


def jobs_list(state: SimulatorState, request: Request) -> Response:
    metadata: dict[str, str] = {}
    null_metadata = False
    for key, value in request.query:
        match = _METADATA_KEY.match(key)
        if match:
            metadata[match.group(1)] = value
        elif key == "metadata" and value == "null":
            null_metadata = True
    if metadata and null_metadata:
        raise ApiError(
            400, "Use either metadata[key]=value or metadata=null, not both", param="metadata"
        )
    jobs = state.list_jobs(
        metadata=metadata or None, null_metadata=null_metadata, shape=request.shape
    )
    return Response(body=paginate(jobs, request))


def jobs_retrieve(state: SimulatorState, request: Request) -> Response:
    state.sim_job(request.params["id"], shape=request.shape)  # 404 for another account's
    return Response(body=state.retrieve_job(request.params["id"]))


def jobs_cancel(state: SimulatorState, request: Request) -> Response:
    return Response(body=state.cancel_job(request.params["id"]))


def jobs_events(state: SimulatorState, request: Request) -> Response:
    return Response(body=paginate(state.job_events(request.params["id"]), request))


def jobs_checkpoints(state: SimulatorState, request: Request) -> Response:
    page = paginate(state.job_checkpoints(request.params["id"]), request, default_limit=10)
    page["first_id"] = page["data"][0]["id"] if page["data"] else None
    page["last_id"] = page["data"][-1]["id"] if page["data"] else None
    return Response(body=page)


def chat_create(state: SimulatorState, request: Request) -> Response:
    return Response(body=chat_completions(state, request.json()))


Handler = Callable[[SimulatorState, Request], Response]
RouteTable = list[tuple[str, re.Pattern[str], str, Handler]]

_ID = r"(?P<id>[A-Za-z0-9_\-:.]+)"
ROUTES: RouteTable = [
    ("POST", re.compile(r"^/v1/files$"), "files.create", files_create),
    ("GET", re.compile(r"^/v1/files$"), "files.list", files_list),
    ("GET", re.compile(rf"^/v1/files/{_ID}$"), "files.retrieve", files_retrieve),
    ("GET", re.compile(rf"^/v1/files/{_ID}/content$"), "files.content", files_content),
    ("DELETE", re.compile(rf"^/v1/files/{_ID}$"), "files.delete", files_delete),
    ("POST", re.compile(r"^/v1/fine_tuning/jobs$"), "jobs.create", jobs_create),
    ("GET", re.compile(r"^/v1/fine_tuning/jobs$"), "jobs.list", jobs_list),
    ("GET", re.compile(rf"^/v1/fine_tuning/jobs/{_ID}$"), "jobs.retrieve", jobs_retrieve),
    ("POST", re.compile(rf"^/v1/fine_tuning/jobs/{_ID}/cancel$"), "jobs.cancel", jobs_cancel),
    ("GET", re.compile(rf"^/v1/fine_tuning/jobs/{_ID}/events$"), "jobs.events", jobs_events),
    (
        "GET",
        re.compile(rf"^/v1/fine_tuning/jobs/{_ID}/checkpoints$"),
        "jobs.checkpoints",
        jobs_checkpoints,
    ),
    ("POST", re.compile(r"^/v1/chat/completions$"), "chat.completions", chat_create),
]


@dataclass(frozen=True)
class Route:
    shape: str  # which API is spoken: "openai", "together", "fireworks", …
    endpoint: str  # the logical name faults are scripted by
    handler: Handler
    params: dict[str, str]


# Each API shape is one route table mounted under a path prefix: OpenAI's at the root, the
# others under a prefix of their own (Azure's data plane at /openai, the path Azure serves
# it at), so that a client swaps only its base URL and their /v1/files never collide.
# register_routes is the one place a new shape (or a new part of one) plugs in.
_TABLES: list[tuple[str, str, RouteTable]] = [("openai", "", ROUTES)]


# Handlers whose request bodies have a size limit of their own (Fireworks' ``:upload``).
BODY_LIMITS: dict[Handler, int] = {}


def register_routes(
    shape: str, prefix: str, table: RouteTable, body_limits: dict[Any, int] | None = None
) -> None:
    """Serve ``table`` for ``shape`` under the path ``prefix`` (e.g. "/together")."""
    _TABLES.append((shape, prefix.rstrip("/"), table))
    BODY_LIMITS.update(body_limits or {})


def route(method: str, path: str) -> Route | None:
    for shape, prefix, table in _TABLES:
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            continue
        rest = path[len(prefix) :] or "/"
        for route_method, pattern, endpoint, handler in table:
            match = pattern.match(rest)
            if match and route_method == method:
                return Route(shape, endpoint, handler, match.groupdict())
    return None


def fault_error(fault: Fault, *, shape: str = "openai") -> ApiError:
    if fault.kind == "daily_limit":
        return ApiError(
            429,
            "You have reached your daily limit of fine-tuning jobs for this organization. "
            "Please try again tomorrow.",
            type="requests",
            code="daily_limit_exceeded",
        )
    status = fault.status
    if status == 429:
        return ApiError(
            429,
            "Rate limit reached for requests to the fine-tuning API. Please try again in 1s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={"retry-after": "1", "x-ratelimit-remaining-requests": "0"},
        )
    if status == 401:
        return ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
    if status == 503:
        return ApiError(
            503,
            "The engine is currently overloaded, please try again later.",
            type="server_error",
        )
    if status >= 500:
        return ApiError(
            status,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )
    return ApiError(status, f"Simulated error {status}", code=f"simulated_{status}")
