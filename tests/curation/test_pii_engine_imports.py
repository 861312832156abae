"""Loading the PII engine skips torch and transformers where they are installed (the GPU
extras are, in the test environment), and leaves them importable afterwards."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import django
django.setup()
from curation.pii.engine import PiiConfig, get_engine
engine = get_engine()
detections = engine.analyze_texts(["Write to maria.lopez@example.com, Priya Raman"], PiiConfig())
loaded = sorted(name for name in ("torch", "transformers") if name in sys.modules)
import transformers  # the local trainer's import still works afterwards
print(json.dumps({"loaded": loaded, "found": sorted(d.entity_type for d in detections[0]),
                  "later": transformers.__name__}))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="needs the GPU extras installed"
)
def test_engine_loads_without_torch_or_transformers_and_still_detects() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "curation.settings"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )

    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["loaded"] == []
    assert outcome["found"] == ["EMAIL_ADDRESS", "PERSON"]
    assert outcome["later"] == "transformers"
