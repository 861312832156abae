"""CLI start-up stays light: Django's set-up and its system checks (which load the URL config,
so every view module) import none of the heavy third-party libraries. They load in the job
or request that needs them; a regression here costs every manage.py command seconds and
tens of megabytes (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "openai",
    "together",
    "fireworks",
    "datasketch",
    "scipy",
    "numpy",
    "spacy",
    "presidio_analyzer",
    "nltk",
    "rouge_score",
    "tiktoken",
    "torch",
    "transformers",
)


def test_system_checks_import_no_heavy_library() -> None:
    code = (
        "import sys, django\n"
        "from django.core.management import call_command\n"
        "django.setup()\n"
        "call_command('check', verbosity=0)\n"
        f"print('heavy:', *(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "curation.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    heavy = [line for line in done.stdout.splitlines() if line.startswith("heavy:")]
    assert heavy == ["heavy:"]
