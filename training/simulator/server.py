"""HTTP front of the simulator: the threaded server, auth, fault injection, replies."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from training.simulator.endpoints import BODY_LIMITS, Request, Response, fault_error, route
from training.simulator.faults import Fault, FaultPlan
from training.simulator.records import ApiError, new_id
from training.simulator.shapes import install as install_shapes
from training.simulator.state import Clock, SimulatorState
from training.simulator.webhooks import WebhookSender, generate_secret
from training.simulator_paths import AZURE_PREFIXES, PREFIXES

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024**3
DEFAULT_PORT = 8765


def _vendor_of(path: str) -> str:
    """Whose host a path of the simulator stands for: its first segment is the vendor's
    prefix (training.simulator_paths); anything else is OpenAI's."""
    first = "/" + path.lstrip("/").split("/", 1)[0]
    for vendor, prefix in PREFIXES.items():
        if first == prefix:
            return vendor
    if first == AZURE_PREFIXES["data"]:
        return "azure"
    if first == AZURE_PREFIXES["management"]:
        return "azure-management"
    return "openai"


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"Request body too large: this endpoint takes at most {limit} bytes",
        code="request_too_large",
    )


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    simulator: SimulatorServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CuratorOpenAISimulator/1.0"
    # Idle keep-alive connections give up after this, so stopping the server never waits.
    timeout = 30
    # Headers and body go out in separate writes; with Nagle on, each reply would stall
    # ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _read_body(self, limit: int = MAX_BODY_BYTES) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise _too_large(limit)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > limit:
            raise _too_large(limit)
        return self.rfile.read(length) if length else b""

    def _authenticate(self, path: str) -> None:
        simulator = self.server.simulator
        if path.startswith("/openai/"):
            # Azure OpenAI's shape: the key travels in an api-key header, not as a bearer.
            key = self.headers.get("api-key", "").strip()
            if not key:
                raise ApiError(
                    401,
                    "Access denied due to missing subscription key. Make sure to include "
                    "subscription key when making requests to an API.",
                    code="401",
                )
            if not simulator.accepts_key(key):
                raise ApiError(
                    401,
                    "Access denied due to invalid subscription key or wrong API endpoint.",
                    code="401",
                )
            return
        header = self.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        if not simulator.accepts_key(key):
            masked = key[:6] + "*" * 4 + key[-4:] if len(key) > 10 else key[:3] + "***"
            raise ApiError(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _dispatch(self, method: str) -> None:
        simulator = self.server.simulator
        state = simulator.state
        url = urlsplit(self.path)
        endpoint = f"{method} {url.path}"
        fault: Fault | None = None
        shape = "openai"
        body_read = False
        try:
            path = url.path.rstrip("/") or "/"
            found = route(method, path)
            if found is not None:
                shape, endpoint = found.shape, found.endpoint
            body = self._read_body(
                BODY_LIMITS.get(found.handler, MAX_BODY_BYTES) if found else MAX_BODY_BYTES
            )
            body_read = True
            if method == "GET" and path == "/_simulator/jobs":
                self._send(Response(body=state.jobs_by_shape()))
                return
            credential = (
                self.headers.get("api-key", "")
                or self.headers.get("authorization", "").partition(" ")[2]
            ).strip()
            if credential:
                state.log_credential(_vendor_of(path), credential)
            if found is None:
                raise ApiError(404, f"Invalid URL ({method} {url.path})")
            if not endpoint.startswith("_"):
                # "_"-named routes stand for signed URLs: the URL itself is the credential.
                self._authenticate(path)
            fault = simulator.faults.take(endpoint, shape)
            if fault is not None and not fault.takes_effect:
                raise fault_error(fault, shape=shape)
            request = Request(
                method=method,
                params=found.params,
                query=parse_qsl(url.query, keep_blank_values=True),
                headers=self.headers,
                body=body,
                origin=f"http://{self.headers.get('host') or simulator.url.removeprefix('http://')}",
                shape=shape,
            )
            response = found.handler(state, request)
        except ApiError as exc:
            response = Response(status=exc.status, body=exc.body(shape), headers=exc.headers)
        except Exception as exc:
            logger.exception("simulator error on %s", endpoint)
            error = ApiError(500, f"Simulator error: {exc}", type="server_error")
            response = Response(status=500, body=error.body(shape))
        if fault is not None and fault.takes_effect:
            # The work is done; dropping the connection without a reply is what a client
            # sees when the network dies after the server acted.
            state.log_request(f"{shape}:{endpoint}" if shape != "openai" else endpoint, str(fault))
            self.close_connection = True
            return
        state.log_request(
            f"{shape}:{endpoint}" if shape != "openai" else endpoint, str(response.status)
        )
        if not body_read:
            # The body was not read, so the connection cannot carry another request.
            self.close_connection = True
        self._send(response)

    def _send(self, response: Response) -> None:
        payload = response.raw if response.raw is not None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("content-type", response.content_type)
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-request-id", new_id("req_", 32))
        self.send_header("openai-processing-ms", "1")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class SimulatorServer:
    """The simulator on a local port; a context manager that serves from a thread.

    ``port=0`` picks a free port (see ``base_url``). ``speed`` scales simulated time: at 100
    a job planned to take 100 s finishes in one. ``faults`` is a spec string for
    :mod:`training.simulator.faults`. ``api_keys`` restricts accepted keys; by default any
    non-empty key is accepted except those starting with ``sk-bad``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        faults: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        api_keys: set[str] | frozenset[str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.state = SimulatorState(speed=speed, clock=clock)
        self.faults = FaultPlan(faults)
        self.api_keys = frozenset(api_keys) if api_keys is not None else None
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret or (generate_secret() if webhook_url else None)
        self.webhooks: WebhookSender | None = None
        if webhook_url:
            assert self.webhook_secret is not None
            self.webhooks = WebhookSender(url=webhook_url, secret=self.webhook_secret, clock=clock)
            self.state.add_listener(self.webhooks.on_job_finished)
        install_shapes()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.simulator = self
        self._serve_thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def accepts_key(self, key: str) -> bool:
        if self.api_keys is not None:
            return key in self.api_keys
        return bool(key) and not key.startswith("sk-bad")

    def set_faults(self, spec: str | None) -> None:
        """Replace pending faults; raises FaultSpecError on a bad spec."""
        self.faults.set(spec)

    def _tick(self) -> None:
        # Progress is computed lazily on requests; webhooks need someone to notice a job
        # finishing even when nobody polls, so this loop looks a few times a second.
        while not self._stopping.wait(0.05):
            self.state.advance_all()

    def _start_ticker(self) -> None:
        if self.webhooks is not None and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="sim-ticker", daemon=True)
            self._ticker.start()

    def start(self) -> Self:
        if self._serve_thread is None:
            self._start_ticker()
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="sim-http",
                daemon=True,
            )
            self._serve_thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for the management command)."""
        self._start_ticker()
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self._serve_thread is not None:
            self._httpd.shutdown()
            self._serve_thread.join(timeout=5)
            self._serve_thread = None
        self._httpd.server_close()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self.webhooks is not None:
            self.webhooks.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["DEFAULT_PORT", "SimulatorServer"]
