"""A newcomer's first loop, in a real browser, on the simulator: create a dataset and choose its
reviewer, import, let personal data be scanned, review, freeze a version, fine-tune, evaluate
against the base, compare, promote. At each step the test presses only what the dataset
page's "Next" says (and the button on the page it leads to); the background jobs run in real
RQ burst workers, the fine-tune on the simulator."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.urls import reverse

from curation.models import ConversationStatus, Dataset, JobStatus, Role
from curation.services.reviews.edits import warm_up
from curation.splits import VALIDATION, split_of, validation_threshold
from tests.browser.test_review import shown_id, wait_for_change
from tests.factories import UserFactory
from tests.training.evaluation.conftest import sim  # noqa: F401  (the simulator fixture)
from training.evaluation.models import EvalRun
from training.models import FineTuneJob
from training.registry.stages import ModelStage, StageName
from training.services import drive_finetune

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONVERSATIONS = 16


def next_text(page: Any) -> str:
    return " ".join(page.locator(".loop-next").inner_text().split())


def press_next(page: Any, expected: str) -> None:
    """Check what "Next" says on the dataset page, then press its button."""
    text = next_text(page)
    assert expected in text, text
    # Every next action is a link or a form that answers with a redirect: wait for the page it
    # leads to, so a burst worker started next finds the jobs the action queued.
    with page.expect_navigation():
        page.locator(".loop-next .loop-action").click()


def test_a_newcomer_goes_from_an_empty_site_to_a_promoted_model_by_following_next(
    live_server,
    page,
    new_page,
    login,
    run_worker,
    sim,  # noqa: F811  (the fixture imported above)
    tmp_path,
):
    warm_up()
    admin = UserFactory(username="ada", is_staff=True)
    rita = UserFactory(username="rita")
    chats = tmp_path / "support.jsonl"
    chats.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "You answer questions about invoices."},
                        {"role": "user", "content": f"What is the total of invoice {n}?"},
                        {"role": "assistant", "content": f"Invoice {n} totals {n * 10} euros."},
                    ]
                }
            )
            + "\n"
            for n in range(CONVERSATIONS)
        )
    )
    login(page, admin)
    page.goto(live_server.url + "/")
    # An empty home page says how to start.
    assert "You are not a member of any dataset yet." in page.content()
    page.get_by_role("link", name="Create a dataset").click()
    page.fill("#id_name", "Invoices")
    page.get_by_label("rita").check()
    page.get_by_role("button", name="Create dataset").click()
    page.wait_for_url(re.compile(r"/d/invoices/$"))
    dataset = Dataset.objects.get(slug="invoices")
    assert dataset.memberships.get(user=rita).role == Role.REVIEWER

    # Import.
    press_next(page, "No conversations yet — Import conversations")
    page.set_input_files("input[type=file]", str(chats))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload and import").click()
    run_worker("default", "pii")
    page.goto(live_server.url + reverse("dataset_detail", args=["invoices"]))

    # Review, as the reviewer the admin chose: the home page says what waits for her.
    reviewer_page = new_page()
    login(reviewer_page, rita)
    reviewer_page.goto(live_server.url + "/")
    press_next(reviewer_page, f"{CONVERSATIONS} waiting for review — Review")
    current = shown_id(reviewer_page)
    for _ in range(CONVERSATIONS):
        reviewer_page.wait_for_selector("#review-form .criterion.is-focused")
        for key in ("5", "5", "5", "a"):
            reviewer_page.keyboard.press(key)
        current = wait_for_change(reviewer_page, current)
        if current is None:
            break
    reviewer_page.locator("#review-empty").wait_for()
    for _ in range(100):
        approved = dataset.conversations.filter(status=ConversationStatus.APPROVED).count()
        if approved == CONVERSATIONS:
            break
        page.wait_for_timeout(100)
    assert approved == CONVERSATIONS

    # A version.
    page.reload()
    press_next(page, f"{CONVERSATIONS} approved, not in a version yet — New version")
    # The split hashes conversation ids, which differ from run to run: at the default 10 %
    # some runs hold out none of sixteen (nothing to evaluate on; CI met it once). Choose the
    # seed, as a user may, that holds out 1 to 5, so the training file keeps its minimum of 10.
    threshold = validation_threshold(0.1)
    keys = list(dataset.conversations.values_list("pk", "near_dup_cluster"))
    seed = next(
        s
        for s in range(1000)
        if 1 <= sum(split_of(*key, seed=s, threshold=threshold) == VALIDATION for key in keys) <= 5
    )
    page.fill("#id_seed", str(seed))
    with page.expect_navigation():
        page.get_by_role("button", name="Freeze as version 1").click()
    run_worker("default")

    # Fine-tune: the launch page's defaults, on the simulator.
    page.goto(live_server.url + reverse("dataset_detail", args=["invoices"]))
    press_next(page, "is not fine-tuned yet — Fine-tune")
    page.get_by_role("button", name="Launch fine-tune").click()
    page.wait_for_url(re.compile(r"/training/\d+/$"))
    job = drive_finetune(job_id=FineTuneJob.objects.get(dataset=dataset).pk, sleep=lambda s: None)
    assert job.status == "succeeded", job.error

    # Evaluate against the base, then compare the two runs.
    page.goto(live_server.url + reverse("dataset_detail", args=["invoices"]))
    press_next(page, "is not evaluated yet — Evaluate vs base")
    run_worker("eval")
    # Both runs (the fine-tune and its base) end succeeded; on failure, their errors show.
    runs = list(EvalRun.objects.filter(dataset=dataset).values_list("status", "error", "failed"))
    assert len(runs) == 2 and all(status == JobStatus.SUCCEEDED for status, _, _ in runs), runs
    page.goto(live_server.url + reverse("dataset_detail", args=["invoices"]))
    press_next(page, "not yet compared with its base — Compare with its base")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"/evaluation/comparisons/\d+/$"))
    run_worker("eval")

    # Promote: the first promotion needs no comparison to pass.
    page.goto(live_server.url + reverse("dataset_detail", args=["invoices"]))
    press_next(page, "is compared, not promoted — Promote")
    page.get_by_role("button", name="Promote").click()
    production = ModelStage.objects.get(dataset=dataset, stage=StageName.PRODUCTION)
    assert production.model.job_id == job.pk
    page.goto(live_server.url + reverse("dataset_detail", args=["invoices"]))
    assert "come back through the API — Make an ingest token" in next_text(page)
