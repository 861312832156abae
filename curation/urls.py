from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from curation.views import conversations, datasets, imports

urlpatterns = [
    path("", datasets.dataset_list, name="dataset_list"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("datasets/new/", datasets.dataset_create, name="dataset_create"),
    path("d/<slug:slug>/", datasets.dataset_detail, name="dataset_detail"),
    path("d/<slug:slug>/settings/", datasets.dataset_settings, name="dataset_settings"),
    path("d/<slug:slug>/members/", datasets.dataset_members, name="dataset_members"),
    path("d/<slug:slug>/members/<int:member_id>/", datasets.member_update, name="member_update"),
    path("d/<slug:slug>/imports/", imports.import_list, name="import_list"),
    path("d/<slug:slug>/imports/<int:batch_id>/", imports.import_detail, name="import_detail"),
    path("d/<slug:slug>/imports/<int:batch_id>/errors.csv", imports.import_errors_csv, name="import_errors_csv"),
    path("d/<slug:slug>/imports/<int:batch_id>/retry/", imports.import_retry, name="import_retry"),
    path("d/<slug:slug>/conversations/", conversations.conversation_list, name="conversation_list"),
    path(
        "d/<slug:slug>/conversations/<int:conversation_id>/",
        conversations.conversation_detail,
        name="conversation_detail",
    ),
    path("admin/", admin.site.urls),
    path("admin/rq/", include("django_rq.urls")),
]
