from django.urls import path

from training.evaluation import views, views_pairs

urlpatterns = [
    path("d/<slug:slug>/evaluation/", views.eval_home, name="eval_home"),
    path("d/<slug:slug>/evaluation/new/", views.eval_run_create, name="eval_run_create"),
    path("d/<slug:slug>/evaluation/quick/<int:model_id>/", views.eval_quick, name="eval_quick"),
    path(
        "d/<slug:slug>/evaluation/runs/<int:run_id>/", views.eval_run_detail, name="eval_run_detail"
    ),
    path(
        "d/<slug:slug>/evaluation/runs/<int:run_id>/retry/",
        views.eval_run_retry,
        name="eval_run_retry",
    ),
    path("d/<slug:slug>/evaluation/compare/", views.eval_runs_compare, name="eval_runs_compare"),
    path(
        "d/<slug:slug>/evaluation/comparisons/new/",
        views.eval_comparison_create,
        name="eval_comparison_create",
    ),
    path(
        "d/<slug:slug>/evaluation/comparisons/<int:comparison_id>/",
        views.eval_comparison_detail,
        name="eval_comparison_detail",
    ),
    path(
        "d/<slug:slug>/evaluation/comparisons/<int:comparison_id>/export.<str:fmt>",
        views.eval_comparison_export,
        name="eval_comparison_export",
    ),
    path(
        "d/<slug:slug>/evaluation/comparisons/<int:comparison_id>/blind/",
        views.eval_blind,
        name="eval_blind",
    ),
    path(
        "d/<slug:slug>/evaluation/comparisons/<int:comparison_id>/pairs/",
        views_pairs.eval_comparison_pairs,
        name="eval_comparison_pairs",
    ),
    path("d/<slug:slug>/evaluation/prescore/", views.eval_prescore, name="eval_prescore"),
]
