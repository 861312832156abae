"""Training as a separate process group: ``torchrun --standalone --nproc-per-node N``, or
the one rank alone where N is 1.

The RQ work horse that takes a local job is a fork of the worker; CUDA must never be
initialised there (a forked CUDA context is unusable, and the next job in that worker would
inherit it). So the work horse imports no torch: it starts torchrun in a session of its own,
follows what rank 0 writes (events, steps, checkpoints, the result) in a JSON-lines file,
passes cancel on as a stop file, and stops the whole group when it must (cancel ignored,
job timeout, the work horse itself going). Each rank watches the work horse too and takes
the group down if it disappears (a killed worker leaves no orphan training on the GPUs).

Torch-free: importing this module never imports torch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY = "training.local.worker_main"
# How long the group has to stop by itself after the stop file appears, then after TERM.
STOP_GRACE_SECONDS = 60.0
TERM_GRACE_SECONDS = 10.0
LOG_TAIL = 4000


class LaunchFailed(RuntimeError):
    """torchrun ended without a result; the message ends with the tail of its log."""


@dataclass(frozen=True)
class RunFiles:
    folder: Path

    @property
    def spec(self) -> Path:
        return self.folder / "spec.json"

    @property
    def messages(self) -> Path:
        return self.folder / "messages.jsonl"

    @property
    def stop(self) -> Path:
        return self.folder / "stop"

    @property
    def result(self) -> Path:
        return self.folder / "result.json"

    @property
    def log(self) -> Path:
        return self.folder / "torchrun.log"


def command(*, spec: Path, gpus: int) -> list[str]:
    if gpus <= 1:
        # One rank needs no rendezvous: torchrun's agent would only cost another import of
        # torch (seconds of CPU) before the rank starts; the rank reads WORLD_SIZE as 1.
        return [sys.executable, "-m", ENTRY, str(spec)]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={gpus}",
        "-m",
        ENTRY,
        str(spec),
    ]


def stop_group(process: subprocess.Popen[bytes], *, grace: float = TERM_GRACE_SECONDS) -> None:
    """TERM the whole process group, then KILL what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_group(
    *,
    spec: dict[str, Any],
    gpus: int,
    folder: Path,
    on_message: Callable[[dict[str, Any]], None],
    should_stop: Callable[[], bool],
    poll_seconds: float = 0.2,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one training (under torchrun for several ranks) and return rank 0's result
    (``result.json``).

    ``on_message`` gets every line rank 0 writes, in order; ``should_stop`` is asked each
    poll and, once true, the group is asked to stop (stop file), then made to.
    """
    files = RunFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.spec.write_text(
        json.dumps(
            {
                **spec,
                "messages": str(files.messages),
                "stop": str(files.stop),
                "result": str(files.result),
            }
        )
    )
    environment = {
        **os.environ,
        **(env or {}),
        "CURATOR_PARENT_PID": str(os.getpid()),
        # Each rank gets its share of the CPU threads, not all of them.
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or "1",
    }
    with files.log.open("wb") as log:
        process = subprocess.Popen(
            command(spec=files.spec, gpus=gpus),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # its own process group: one signal stops every rank
        )
    offset = 0
    stop_sent_at: float | None = None
    try:
        while True:
            returncode = process.poll()
            offset = _forward(files.messages, offset, on_message)
            if returncode is not None:
                break
            if stop_sent_at is None and should_stop():
                files.stop.touch()
                stop_sent_at = time.monotonic()
            elif stop_sent_at is not None and time.monotonic() - stop_sent_at > STOP_GRACE_SECONDS:
                stop_group(process)
            time.sleep(poll_seconds)
    finally:
        if process.poll() is None:
            # An exception here (the job's timeout, a database error) must not leave the
            # group training on the GPUs with nobody listening.
            stop_group(process)
    offset = _forward(files.messages, offset, on_message)
    if files.result.exists():
        return dict(json.loads(files.result.read_text()))
    tail = files.log.read_text(errors="replace")[-LOG_TAIL:] if files.log.exists() else ""
    raise LaunchFailed(f"training exited with status {returncode} and no result:\n{tail}")


def _forward(path: Path, offset: int, on_message: Callable[[dict[str, Any]], None]) -> int:
    """Hand on the complete lines written since ``offset``; the new offset."""
    if not path.exists():
        return offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next look
    for line in data[:end].splitlines():
        if line.strip():
            on_message(json.loads(line))
    return offset + end
