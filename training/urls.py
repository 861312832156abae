from django.urls import path

from training import views

urlpatterns = [
    path("training/", views.training_jobs, name="training_jobs"),
    path("d/<slug:slug>/training/", views.finetune_list, name="finetune_list"),
    path("d/<slug:slug>/training/new/", views.finetune_launch, name="finetune_launch"),
    path("d/<slug:slug>/training/<int:job_id>/", views.finetune_detail, name="finetune_detail"),
    path(
        "d/<slug:slug>/training/<int:job_id>/cancel/",
        views.finetune_cancel,
        name="finetune_cancel",
    ),
    path("d/<slug:slug>/training/<int:job_id>/retry/", views.finetune_retry, name="finetune_retry"),
    path("d/<slug:slug>/training/<int:job_id>/serve/", views.finetune_serve, name="finetune_serve"),
    path(
        "d/<slug:slug>/training/<int:job_id>/adapter.zip",
        views.finetune_adapter_zip,
        name="finetune_adapter_zip",
    ),
    path("webhooks/openai/", views.openai_webhook, name="openai_webhook"),
]
