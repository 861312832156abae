"""An import's parsing processes die with its work horse: killed outright, it leaves none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from django.core.files import File

from curation.services.imports import create_import_batch
from tests.conftest import ROOT, WORKER_START, database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_killing_the_work_horse_leaves_no_parsing_process(dataset, tmp_path, clear_queues):
    path = tmp_path / "big.jsonl"
    line = {
        "messages": [
            {"role": "user", "content": "Where is my order? " * 20},
            {"role": "assistant", "content": "It ships tomorrow. " * 20},
        ]
    }
    with path.open("w") as handle:
        for n in range(400_000):
            line["messages"][0]["content"] = f"Where is order {n}? " * 20
            handle.write(json.dumps(line) + "\n")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "CURATOR_IMPORT_PROCESSES": "2",
        "CURATOR_IMPORT_PARALLEL_MIN_BYTES": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", *WORKER_START],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with path.open("rb") as handle:
            create_import_batch(
                dataset=dataset,
                uploaded=File(handle, name=path.name),
                original_name=path.name,
                fmt="openai",
                user=None,
            )
        parsers: list[psutil.Process] = []
        horse = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(parsers) < 2:
            for child in psutil.Process(worker.pid).children():
                horse = child
                parsers = child.children()
            time.sleep(0.1)
        assert horse is not None and len(parsers) >= 2, "the import never started its parsers"
        os.kill(horse.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(p) for p in parsers):
            time.sleep(0.2)
        assert not any(alive(p) for p in parsers), [p.pid for p in parsers if alive(p)]
    finally:
        worker.terminate()
        worker.wait(timeout=60)
