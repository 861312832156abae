"""Fixtures for the simulator, provider and local-training tests: servers on ephemeral local
ports only, models built on the spot."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from training.providers.openai_provider import OpenAIProvider
from training.simulator import SimulatorServer

TEST_KEY = "sk-test-curator"


class FakeClock:
    """A clock tests move by hand, so job progress never depends on real time."""

    def __init__(self) -> None:
        # Whole seconds, so that advancing by whole seconds is exact in floating point.
        self.now = float(int(time.time()))
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def chat_example(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about invoices."},
            {"role": "user", "content": f"What is the total of invoice {index}?"},
            {"role": "assistant", "content": f"Invoice {index} totals {index * 10} euros."},
        ]
    }


def write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_until(predicate: Callable[[], Any], *, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until truthy; the deadline only guards against hangs."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def torch_stack() -> Iterator[None]:
    """Skip where the local-training extra is missing; else run torch on one thread, since a
    64-wide model gains nothing from threads and on a busy 2-core machine they only wait."""
    for name in ("torch", "transformers", "peft", "tokenizers"):
        pytest.importorskip(name)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def training_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", [chat_example(i) for i in range(12)])


@pytest.fixture
def validation_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "validation.jsonl", [chat_example(i) for i in range(100, 103)])


@pytest.fixture
def make_jsonl(tmp_path: Path) -> Callable[[str, list[Any]], Path]:
    def make(name: str, records: list[Any]) -> Path:
        return write_jsonl(tmp_path / name, records)

    return make


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def simulator(clock: FakeClock) -> Iterator[SimulatorServer]:
    """A simulator on a hand-driven clock: jobs move only when the test advances it."""
    with SimulatorServer(port=0, clock=clock) as server:
        yield server


@pytest.fixture
def fast_simulator() -> Iterator[SimulatorServer]:
    """A simulator on the real clock at high speed: a small job finishes in about a second."""
    with SimulatorServer(port=0, speed=100) as server:
        yield server


@pytest.fixture
def client(simulator: SimulatorServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=simulator.base_url, api_key=TEST_KEY, max_retries=0, timeout=5)


@pytest.fixture
def provider(simulator: SimulatorServer) -> OpenAIProvider:
    return OpenAIProvider(
        api_key=TEST_KEY,
        base_url=simulator.base_url,
        name="simulator",
        label="Simulator",
        is_simulator=True,
        timeout=5,
    )


@dataclass
class ReceivedWebhook:
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    url: str
    received: list[ReceivedWebhook] = field(default_factory=list)
    # Statuses to answer with, in order, before answering 200.
    fail_with: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[ReceivedWebhook]:
        wait_until(lambda: len(self.received) >= count, timeout=timeout)
        with self.lock:
            return list(self.received)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with receiver.lock:
                receiver.received.append(
                    ReceivedWebhook(
                        body=body, headers={k.lower(): v for k, v in self.headers.items()}
                    )
                )
                status = receiver.fail_with.pop(0) if receiver.fail_with else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/openai"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
