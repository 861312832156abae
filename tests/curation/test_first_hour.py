"""What a new user meets first: `make run` wiring, readable logs, styled error pages, the
favicon, JSON shown as JSON."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from curation.logs import ReadableLog
from curation.models import AuditEvent
from tests.factories import ConversationFactory

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> str:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    # -n prints the recipe without running it; -o keeps the stamps from being remade.
    found = subprocess.run(
        ["make", "-n", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return found.stdout


def test_make_run_points_the_app_at_the_simulator_port_it_starts():
    recipe = dry_run("run", "PORT=9501", "SIM_PORT=9876")
    assert 'CURATOR_SIMULATOR_URL="http://127.0.0.1:9876/v1"' in recipe
    assert "run_openai_simulator --port 9876" in recipe
    assert "runserver 127.0.0.1:9501" in recipe


def test_make_run_installs_no_gpu_stack_but_make_test_does(tmp_path):
    venv = ["VENV=" + str(tmp_path / "venv")]
    run = dry_run("run", *venv)
    assert "install --quiet -e ." in run
    assert "local-training" not in run and "torch" not in run
    test = dry_run("test", *venv)
    assert '-e ".[dev,local-training]"' in test
    gpu = dry_run("gpu-worker", *venv)
    assert '-e ".[local-training]"' in gpu


def test_make_run_prints_the_logins_after_every_service_answers():
    recipe = dry_run("run", "PORT=9501", "SIM_PORT=9876")
    waiting = recipe.index("prepare_services --wait-url http://127.0.0.1:9501/accounts/login/")
    assert recipe.index('grep -A2 "Demo logins"') > waiting
    assert "--wait-worker-pid" in recipe
    assert "--reset-passwords" not in recipe
    assert "--reset-passwords" in dry_run("run", "RESET_DEMO=1")


def record(name: str, message: str, level: int = logging.INFO, **extra) -> logging.LogRecord:  # type: ignore[no-untyped-def]
    entry = logging.LogRecord(name, level, __file__, 1, message, (), None)
    entry.__dict__.update(extra)
    return entry


def test_a_denied_page_is_one_log_line_without_a_traceback():
    try:
        raise PermissionError("Only dataset admins can do this.")
    except PermissionError:
        import sys

        info = sys.exc_info()
    denied = record("django.request", "Forbidden: /d/x/", logging.WARNING, status_code=403)
    denied.exc_info = info
    assert ReadableLog().filter(denied) and denied.exc_info is None
    server = record("django.server", '"GET /d/x/ HTTP/1.1" 403 135', logging.WARNING)
    server.status_code = 403
    assert not ReadableLog().filter(server)  # django.request already said it
    broken = record("django.request", "Internal Server Error", logging.ERROR, status_code=500)
    broken.exc_info = info
    assert ReadableLog().filter(broken) and broken.exc_info is info


def test_the_worker_says_one_line_per_job():
    lines = [
        "Worker abc: default: curation.jobs.run_pii(1) (id-1)",
        "Successfully completed curation.jobs.run_pii(1) job in 0:00:00.08s on worker abc",
        "Worker abc: default: Job OK (id-1)",
        "Worker abc: job id-1 result is kept for 500 seconds",
        "Worker abc: cleaning registries for queue: default",
    ]
    kept = [line for line in lines if ReadableLog().filter(record("rq.worker", line))]
    assert kept == [lines[1]]
    assert ReadableLog().filter(record("rq.worker", "Job failed", logging.ERROR))


@pytest.mark.django_db
def test_403_and_404_pages_are_styled_and_say_what_to_do(client_for, dataset, reviewer, settings):
    settings.DEBUG = False
    client = client_for(reviewer)
    denied = client.get(reverse("dataset_settings", args=[dataset.slug]))
    assert denied.status_code == 403
    text = denied.content.decode()
    assert "curator.css" in text and "Only dataset admins can do this." in text
    missing = client.get("/d/no-such-dataset/")
    assert missing.status_code == 404
    assert "curator.css" in missing.content.decode()
    assert "Back to your datasets" in missing.content.decode()


@pytest.mark.django_db
def test_the_favicon_exists_for_every_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("img/favicon.svg")
    assert (ROOT / "static" / "img" / "favicon.svg").exists()


@pytest.mark.django_db
def test_tools_and_audit_details_are_indented_json(client_for, dataset, admin_user):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    conversation = ConversationFactory(dataset=dataset, tools=tools)
    AuditEvent.record(actor=admin_user, action="demo.thing", dataset=dataset, count=3)
    client = client_for(admin_user)
    page = client.get(reverse("conversation_detail", args=[dataset.slug, conversation.pk]))
    text = page.content.decode()
    assert "&quot;name&quot;: &quot;lookup&quot;" in text and "{&#x27;type&#x27;" not in text
    audit = client.get(reverse("audit_log", args=[dataset.slug])).content.decode()
    assert "&quot;count&quot;: 3" in audit


@pytest.mark.django_db
def test_the_new_dataset_form_offers_the_price_tables_models_as_a_choice(
    client_for, admin_user, settings
):
    admin_user.is_staff = True
    admin_user.save()
    page = client_for(admin_user).get(reverse("dataset_create")).content.decode()
    assert '<select name="base_model"' in page
    assert '<optgroup label="OpenAI">' in page and '<optgroup label="Together">' in page
    assert (
        '<option value="gpt-4.1-mini-2025-04-14" selected>gpt-4.1-mini-2025-04-14</option>' in page
    )
    assert "meta-llama/Llama-3.2-3B-Instruct</option>" in page
    assert 'data-slug-from="id_name"' in page
