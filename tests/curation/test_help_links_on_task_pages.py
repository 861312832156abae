"""Every task page links to its help page, and the site navigation links to the help index,
so a user reads how a step works without leaving the app."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ConversationFactory, ImportBatchFactory, built_version

pytestmark = pytest.mark.django_db


def help_href(page: str) -> str:
    return f'href="{reverse("help_page", args=[page])}"'


def test_each_task_page_links_to_its_help_page(dataset, admin_user, client_for):
    conversation = ConversationFactory(dataset=dataset)
    batch = ImportBatchFactory(dataset=dataset)
    version = built_version(dataset)
    slug = dataset.slug
    pages = {
        reverse("import_list", args=[slug]): "importing",
        reverse("import_detail", args=[slug, batch.pk]): "importing",
        reverse("pii_overview", args=[slug]): "personal-data",
        reverse("review_conversation", args=[slug, conversation.pk]): "reviewing",
        reverse("conversation_list", args=[slug]): "reviewing",
        reverse("version_list", args=[slug]): "versions",
        reverse("version_detail", args=[slug, version.number]): "versions",
        reverse("finetune_list", args=[slug]): "training",
        reverse("training_jobs"): "training",
        reverse("eval_home", args=[slug]): "evaluation",
        reverse("registry_home", args=[slug]): "registry",
        reverse("token_list"): "api",
    }
    client = client_for(admin_user)
    for url, page in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert help_href(page) in response.content.decode(), url
        # The page it names exists.
        assert client.get(reverse("help_page", args=[page])).status_code == 200, page


def test_the_site_navigation_links_to_the_help_index(admin_user, client_for):
    text = client_for(admin_user).get(reverse("dataset_list")).content.decode()
    nav = text.split('<nav class="topnav">', 1)[1].split("</nav>", 1)[0]
    assert f'href="{reverse("help_index")}"' in nav and ">Help</a>" in nav
