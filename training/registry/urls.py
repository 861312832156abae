from django.urls import path

from training.registry import views

urlpatterns = [
    path("d/<slug:slug>/registry/", views.registry_home, name="registry_home"),
    path(
        "d/<slug:slug>/registry/models/<int:model_id>/", views.model_detail, name="registry_model"
    ),
    path(
        "d/<slug:slug>/registry/models/<int:model_id>/promote/",
        views.model_promote,
        name="registry_promote",
    ),
    path(
        "d/<slug:slug>/registry/models/<int:model_id>/canary/",
        views.model_canary,
        name="registry_canary",
    ),
    path("d/<slug:slug>/registry/rollback/", views.registry_rollback, name="registry_rollback"),
    path(
        "d/<slug:slug>/registry/canary/stop/",
        views.registry_canary_stop,
        name="registry_canary_stop",
    ),
    path("d/<slug:slug>/registry/settings/", views.registry_settings, name="registry_settings"),
    path("d/<slug:slug>/registry/retrain/", views.retrain_start, name="retrain_start"),
    path(
        "d/<slug:slug>/registry/retrain/<int:run_id>/", views.retrain_detail, name="retrain_detail"
    ),
    path(
        "d/<slug:slug>/registry/retrain/<int:run_id>/retry/",
        views.retrain_retry,
        name="retrain_retry",
    ),
    path("d/<slug:slug>/drift/", views.drift, name="registry_drift"),
]
