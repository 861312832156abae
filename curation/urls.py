from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from curation.views import (
    access_tokens,
    audit,
    conversations,
    datasets,
    help_pages,
    imports,
    pii,
    reviews,
    version_downloads,
    versions,
)
from curation.views import preferences as preference_views

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path(
        "favicon.ico",
        login_not_required(
            RedirectView.as_view(url=f"/{settings.STATIC_URL.strip('/')}/img/favicon.svg")
        ),
    ),
    path("", datasets.dataset_list, name="dataset_list"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("datasets/new/", datasets.dataset_create, name="dataset_create"),
    path("d/<slug:slug>/", datasets.dataset_detail, name="dataset_detail"),
    path("d/<slug:slug>/settings/", datasets.dataset_settings, name="dataset_settings"),
    path("d/<slug:slug>/members/", datasets.dataset_members, name="dataset_members"),
    path("d/<slug:slug>/members/<int:member_id>/", datasets.member_update, name="member_update"),
    path(
        "d/<slug:slug>/members/invitations/",
        datasets.invitation_create,
        name="invitation_create",
    ),
    path(
        "d/<slug:slug>/members/invitations/<int:invitation_id>/revoke/",
        datasets.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invite/<str:token>/", datasets.invitation_accept, name="invitation_accept"),
    path("d/<slug:slug>/imports/", imports.import_list, name="import_list"),
    path("d/<slug:slug>/imports/<int:batch_id>/", imports.import_detail, name="import_detail"),
    path(
        "d/<slug:slug>/imports/<int:batch_id>/errors.csv",
        imports.import_errors_csv,
        name="import_errors_csv",
    ),
    path("d/<slug:slug>/imports/<int:batch_id>/retry/", imports.import_retry, name="import_retry"),
    path("d/<slug:slug>/conversations/", conversations.conversation_list, name="conversation_list"),
    path(
        "d/<slug:slug>/conversations/<int:conversation_id>/",
        conversations.conversation_detail,
        name="conversation_detail",
    ),
    path(
        "d/<slug:slug>/conversations/<int:conversation_id>/chat/",
        pii.conversation_chat,
        name="conversation_chat",
    ),
    path(
        "d/<slug:slug>/conversations/<int:conversation_id>/findings/<int:finding_id>/",
        pii.finding_decide,
        name="finding_decide",
    ),
    path(
        "d/<slug:slug>/conversations/<int:conversation_id>/findings/",
        pii.finding_add,
        name="finding_add",
    ),
    path(
        "d/<slug:slug>/review/<int:conversation_id>/findings/<int:finding_id>/",
        pii.review_finding_decide,
        name="review_finding_decide",
    ),
    path("d/<slug:slug>/pii/", pii.pii_overview, name="pii_overview"),
    path("d/<slug:slug>/pii/settings/", pii.pii_settings, name="pii_settings"),
    path("d/<slug:slug>/pii/rerun/", pii.pii_rerun, name="pii_rerun"),
    path("d/<slug:slug>/pii/runs/<int:run_id>/retry/", pii.pii_retry, name="pii_retry"),
    path("d/<slug:slug>/pii/purge/", pii.pii_purge, name="pii_purge"),
    # Review workflow
    path("d/<slug:slug>/review/", reviews.review_start, name="review_start"),
    path(
        "d/<slug:slug>/review/<int:conversation_id>/",
        reviews.review_conversation,
        name="review_conversation",
    ),
    path(
        "d/<slug:slug>/review/<int:conversation_id>/previous/",
        reviews.review_step,
        {"direction": "previous"},
        name="review_previous",
    ),
    path(
        "d/<slug:slug>/review/<int:conversation_id>/next/",
        reviews.review_step,
        {"direction": "next"},
        name="review_next",
    ),
    path(
        "d/<slug:slug>/review/<int:conversation_id>/messages/<int:index>/edit/",
        reviews.review_edit,
        name="review_edit",
    ),
    path("d/<slug:slug>/pairwise/", preference_views.pairwise_next, name="pairwise_next"),
    path(
        "d/<slug:slug>/pairwise/adjudication/",
        preference_views.pairwise_adjudication,
        name="pairwise_adjudication",
    ),
    path(
        "d/<slug:slug>/pairwise/<int:pair_id>/",
        preference_views.pairwise_decide,
        name="pairwise_decide",
    ),
    path(
        "d/<slug:slug>/review/<int:conversation_id>/pair/",
        preference_views.review_pair,
        name="review_pair",
    ),
    path("d/<slug:slug>/adjudication/", reviews.adjudication_list, name="adjudication_list"),
    path(
        "d/<slug:slug>/adjudication/<int:conversation_id>/",
        reviews.adjudication_detail,
        name="adjudication_detail",
    ),
    path("d/<slug:slug>/stats/", reviews.review_stats, name="review_stats"),
    path("d/<slug:slug>/duplicates/", reviews.review_clusters, name="review_clusters"),
    path(
        "d/<slug:slug>/duplicates/<int:cluster>/keep/",
        reviews.review_keep_one,
        name="review_keep_one",
    ),
    path("d/<slug:slug>/bulk/", reviews.review_bulk, name="review_bulk"),
    path("d/<slug:slug>/audit/", audit.audit_log, name="audit_log"),
    # Dataset versions, downloads, access tokens, training prices
    path("d/<slug:slug>/versions/", versions.version_list, name="version_list"),
    path("d/<slug:slug>/versions/new/", versions.version_create, name="version_create"),
    path("d/<slug:slug>/versions/compare/", versions.version_compare, name="version_compare"),
    path("d/<slug:slug>/versions/<int:number>/", versions.version_detail, name="version_detail"),
    path(
        "d/<slug:slug>/versions/<int:number>/datasheet/",
        versions.version_datasheet,
        name="version_datasheet",
    ),
    path(
        "d/<slug:slug>/versions/<int:number>/retry/", versions.version_retry, name="version_retry"
    ),
    path(
        "d/<slug:slug>/versions/<int:number>/delete/",
        versions.version_delete,
        name="version_delete",
    ),
    path(
        "d/<slug:slug>/versions/<int:number>/files/<str:name>",
        version_downloads.version_file,
        name="version_file",
    ),
    path(
        "d/<slug:slug>/versions/<int:number>/download.zip",
        version_downloads.version_zip,
        name="version_zip",
    ),
    path(
        "d/<slug:slug>/versions/<int:number>/diff/<int:other>/",
        versions.version_diff,
        name="version_diff",
    ),
    path(
        "d/<slug:slug>/versions/<int:number>/diff/<int:other>.json",
        version_downloads.version_diff_json,
        name="version_diff_json",
    ),
    path("account/tokens/", access_tokens.token_list, name="token_list"),
    path("account/tokens/<int:token_id>/revoke/", access_tokens.token_revoke, name="token_revoke"),
    path("prices/", versions.price_list, name="price_list"),
    # The docs/ pages, as the app's help
    path("help/", help_pages.help_page, name="help_index"),
    path("help/screenshots/<str:name>", help_pages.help_screenshot, name="help_screenshot"),
    path("help/<slug:page>/", help_pages.help_page, name="help_page"),
    # Training: fine-tune jobs and the provider webhook
    path("", include("training.urls")),
    path("", include("training.evaluation.urls")),
    path("api/v1/", include(("curation.api.urls", "api-v1"), namespace="api-v1")),
    path("", include("training.registry.urls")),
    path("admin/", admin.site.urls),
]
