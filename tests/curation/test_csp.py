"""The Content-Security-Policy is enforced, and no template needs inline script to work."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)


def test_pages_send_an_enforced_policy_without_inline_or_eval_scripts(admin_user, client_for):
    response = client_for(admin_user).get(reverse("dataset_members", args=["support"]))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy-Report-Only" not in response


def test_login_page_has_the_policy(client):
    response = client.get(reverse("login"))
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_htmx_is_configured_without_eval(admin_user, client_for):
    content = client_for(admin_user).get(reverse("dataset_list")).content.decode()
    assert '"allowEval": false' in content


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.html"))
)
def test_templates_have_no_inline_scripts_or_handlers(template):
    text = (ROOT / template).read_text()
    assert not INLINE_SCRIPT.search(text), "move the script to static/js and load it with src"
    assert not INLINE_HANDLER.search(text), "use a data-* attribute and a static script"
