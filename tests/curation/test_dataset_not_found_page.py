"""Someone who opens a dataset they are not a member of gets a 404 page saying whom to ask,
not Django's bare 404, and the page is the same whether the dataset exists or not."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _body(html: str) -> str:
    main = re.search(
        r'<section class="card error-page narrow-card" id="dataset-not-found">.*?</section>',
        html,
        re.S,
    )
    assert main, html[:500]
    return main.group(0)


def test_a_user_not_in_the_dataset_is_told_to_ask_an_admin(dataset, outsider, client_for):
    response = client_for(outsider).get(reverse("dataset_detail", args=[dataset.slug]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "ask a dataset admin to add you" in html
    assert "<code>outsider</code>" in html
    assert "Page not found" not in html and "URLconf" not in html


def test_the_page_is_the_same_for_a_dataset_that_does_not_exist(dataset, outsider, client_for):
    client = client_for(outsider)
    existing = client.get(reverse("dataset_detail", args=[dataset.slug]))
    missing = client.get(reverse("dataset_detail", args=["no-such-dataset"]))
    assert missing.status_code == existing.status_code == 404
    assert _body(missing.content.decode()) == _body(existing.content.decode())


def test_training_pages_of_a_dataset_not_joined_show_the_same_page(dataset, outsider, client_for):
    response = client_for(outsider).get(reverse("finetune_list", args=[dataset.slug]))
    assert response.status_code == 404
    assert "ask a dataset admin to add you" in response.content.decode()
