"""A dataset's default region and languages: set on the PII settings page (admins only), by
`import_conversations --create --region IN --languages en,hi,zh`, shown in the API, and read by
detection (a national mobile number without country code is a phone in the region)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from curation.models import ConversationStatus, Dataset, PiiFinding
from curation.services.pii.runs import run_detection_here, start_detection
from tests.conftest import DATA
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

SETTINGS = {
    "pii_detection": "on",
    "pii_entities": ["PERSON", "PHONE_NUMBER"],
    "pii_threshold": 0.4,
    "pii_operator": "tag",
    "pii_allow_list": "",
    "pii_deny_list": "",
    "pii_patterns": "",
}


def test_an_admin_sets_region_and_languages_on_the_settings_page(dataset, admin_user, client_for):
    url = reverse("pii_settings", args=[dataset.slug])

    response = client_for(admin_user).post(
        url, {**SETTINGS, "region": "in", "languages": ["en", "hi"]}
    )

    assert response.status_code == 302
    dataset.refresh_from_db()
    assert (dataset.region, dataset.languages) == ("IN", ["en", "hi"])
    overview = client_for(admin_user).get(reverse("pii_overview", args=[dataset.slug]))
    assert b"<dd>IN</dd>" in overview.content and b"en, hi" in overview.content


def test_an_unknown_region_is_refused_with_its_reason(dataset, admin_user, client_for):
    url = reverse("pii_settings", args=[dataset.slug])

    response = client_for(admin_user).post(url, {**SETTINGS, "region": "XX"})

    assert response.status_code == 200
    assert b"not a two-letter region code" in response.content
    dataset.refresh_from_db()
    assert dataset.region == ""


@pytest.mark.parametrize(("who", "code"), [("reviewer", 404), ("outsider", 404)])
def test_only_admins_change_the_region(who, code, dataset, reviewer, outsider, client_for):
    user = {"reviewer": reviewer, "outsider": outsider}[who]
    url = reverse("pii_settings", args=[dataset.slug])

    response = client_for(user).post(url, {**SETTINGS, "region": "IN"})

    assert response.status_code in (code, 403)
    dataset.refresh_from_db()
    assert dataset.region == ""


def test_import_create_takes_region_and_languages():
    call_command(
        "import_conversations",
        "--dataset",
        "support-in",
        "--create",
        "--region",
        "in",
        "--languages",
        "en,hi,zh",
        str(DATA / "openai_ok.jsonl"),
    )

    dataset = Dataset.objects.get(slug="support-in")
    assert (dataset.region, dataset.languages) == ("IN", ["en", "hi", "zh"])


def test_import_create_refuses_an_unknown_language_and_creates_nothing():
    with pytest.raises(CommandError, match="--languages: unknown language code"):
        call_command(
            "import_conversations",
            "--dataset",
            "support-xx",
            "--create",
            "--languages",
            "en,tlh",
            str(DATA / "openai_ok.jsonl"),
        )

    assert not Dataset.objects.filter(slug="support-xx").exists()


def test_detection_reads_the_region_for_national_mobiles(dataset):
    messages = [{"role": "user", "content": "please ring me on 9123456780 after five"}]
    conversation = ConversationFactory(
        dataset=dataset, original=messages, status=ConversationStatus.PENDING_PII
    )
    Dataset.objects.filter(pk=dataset.pk).update(region="IN")
    dataset.refresh_from_db()

    run_detection_here(run=start_detection(dataset=dataset, enqueue=False))

    found = PiiFinding.objects.filter(conversation=conversation)
    assert [(f.entity_type, messages[0]["content"][f.start : f.end]) for f in found] == [
        ("PHONE_NUMBER", "9123456780")
    ]
    conversation.refresh_from_db()
    assert conversation.status != ConversationStatus.PENDING_PII
