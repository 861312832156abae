"""The CSRF cookie is HttpOnly (no script reads it), and htmx still posts: it sends the token
from the page's hx-headers, which the server accepts."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def test_the_csrf_cookie_is_http_only():
    client = Client(enforce_csrf_checks=True)
    response = client.get(reverse("login"))
    cookie = response.cookies["csrftoken"]
    assert cookie["httponly"] is True


def test_no_script_of_ours_reads_cookies():
    for path in (ROOT / "static" / "js").rglob("*.js"):
        if "vendor" in path.parts:
            continue
        assert "document.cookie" not in path.read_text(), path


def test_an_htmx_post_with_the_pages_header_token_is_accepted(dataset, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(reverse("dataset_detail", args=[dataset.slug])).content.decode()
    headers = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))
    url = reverse("logout")
    refused = client.post(url, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    accepted = client.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=headers["X-CSRFToken"])
    assert accepted.status_code in (200, 302)
