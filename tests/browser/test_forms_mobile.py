"""Forms with long choices (a token's scope, a provider's name) fit a 390 px phone: the page
never scrolls sideways because a select's longest option is wider than the screen. Nor does
the training page, whose job table holds long model names, at 1280 px or on a phone, nor the price table with its seven columns of inputs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Role
from tests.browser.conftest import PHONE, watched_page
from tests.factories import DatasetFactory, FineTuneJobFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_token_form_fits_a_phone_despite_its_long_scope_choices(live_server, phone, login):
    login(phone, UserFactory(username="tess"))
    phone.goto(live_server.url + reverse("token_list"))
    scope = phone.locator("select[name=scope]")
    scope.wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    select_box = scope.bounding_box()
    assert select_box["x"] + select_box["width"] <= PHONE["width"]


@pytest.mark.parametrize("width", [1280, PHONE["width"]])
def test_the_training_page_with_long_model_names_never_scrolls_sideways(
    live_server, browser, login, width
):
    admin = UserFactory(username="admin")
    dataset = DatasetFactory(name="Customer support conversations (EU region)", slug="support")
    MembershipFactory(dataset=dataset, user=admin, role=Role.ADMIN)
    FineTuneJobFactory(
        dataset=dataset,
        status="succeeded",
        base_model="gpt-4.1-mini-2025-04-14",
        fine_tuned_model="ft:gpt-4.1-mini-2025-04-14:acme-support-team:support-v12:AbCdEf12",
        estimated_cost="12.3456",
    )
    FineTuneJobFactory(
        dataset=dataset,
        status="running",
        provider_label="Together (Llama 3.1 8B Instruct Reference)",
        base_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        remote_status="validating_files",
        estimated_cost="3.5",
    )
    for page in watched_page(browser, viewport={"width": width, "height": 900}):
        login(page, admin)
        page.goto(live_server.url + reverse("training_jobs"))
        page.locator("#job-table table").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [1280, PHONE["width"]])
def test_the_price_table_never_scrolls_the_page_sideways(live_server, browser, login, width):
    staff = UserFactory(username="staff", is_staff=True)
    for page in watched_page(browser, viewport={"width": width, "height": 900}):
        login(page, staff)
        page.goto(live_server.url + reverse("price_list"))
        page.locator("form table").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
