"""Every evaluation page and action, as each kind of visitor, and what the pages show."""

from __future__ import annotations

import json
from typing import Any

import pytest

from curation.models import AuditEvent
from tests.factories import UserFactory
from tests.helpers import ALL, as_user, assert_page_access
from tests.training.evaluation.conftest import BASE, JUDGE
from training.evaluation.models import Comparison, EvalRun, HumanVerdict
from training.evaluation.services.comparisons import create_comparison, regressions
from training.evaluation.services.runs import create_eval_run, run_eval_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluated(finetune: Any, dataset: Any, eval_version: Any) -> dict[str, Any]:
    """The fine-tune and its base evaluated with a judge, and a comparison of the two."""
    judge = JUDGE
    runs = []
    for ref in (f"openai:{BASE}", f"job:{finetune.pk}"):
        run = create_eval_run(
            dataset=dataset, version=eval_version, model=ref, judge=judge, enqueue=False
        )
        runs.append(run_eval_job(run_id=run.pk))
    for run in runs:
        run.refresh_from_db()
    comparison = create_comparison(run_a=runs[0], run_b=runs[1], judge=None)
    return {"a": runs[0], "b": runs[1], "comparison": comparison}


@pytest.mark.parametrize("who", ALL)
def test_members_see_evaluation_pages_and_admins_alone_start_runs(
    request: pytest.FixtureRequest, client_for: Any, who: str, evaluated: Any, dataset: Any
) -> None:
    client = client_for(as_user(request, who))
    a, b, comparison = evaluated["a"], evaluated["b"], evaluated["comparison"]
    base = f"/d/{dataset.slug}/evaluation"
    members = ("admin", "reviewer")
    assert_page_access(
        client,
        who,
        {
            "home": (f"{base}/", members),
            # Open for blind review: its runs, page and exports are the admins' alone.
            "run": (f"{base}/runs/{a.pk}/", ("admin",)),
            "runs compare": (f"{base}/compare/?runs={a.pk}&runs={b.pk}", members),
            "comparison": (f"{base}/comparisons/{comparison.pk}/", ("admin",)),
            "csv": (f"{base}/comparisons/{comparison.pk}/export.csv", ("admin",)),
            "json": (f"{base}/comparisons/{comparison.pk}/export.json", ("admin",)),
            "blind": (f"{base}/comparisons/{comparison.pk}/blind/", members),
            "prescore": (f"{base}/prescore/", members),
            "new run": (f"{base}/new/", ("admin",)),
            "new comparison": (f"{base}/comparisons/new/", ("admin",)),
        },
    )
    runs_before = EvalRun.objects.count()
    response = client.post(
        f"{base}/new/",
        {
            "version": "1",
            "split": "validation",
            "model": f"openai:{BASE}",
            "temperature": "0",
            "max_tokens": "64",
            "seed": "0",
            "concurrency": "2",
        },
    )
    expected = {"anonymous": 302, "outsider": 404, "reviewer": 403, "admin": 302}[who]
    assert response.status_code == expected
    assert EvalRun.objects.count() == runs_before + (1 if who == "admin" else 0)
    model_id = b.model_id
    response = client.post(f"{base}/quick/{model_id}/")
    assert response.status_code == expected
    response = client.post(f"{base}/prescore/", {"judge": f"openai:{BASE}", "threshold": "3"})
    assert (
        response.status_code
        == {"anonymous": 302, "outsider": 404, "reviewer": 403, "admin": 302}[who]
    )
    response = client.post(f"{base}/runs/{a.pk}/retry/")
    assert response.status_code == expected
    comparisons_before = Comparison.objects.count()
    response = client.post(
        f"{base}/comparisons/new/", {"run_a": a.pk, "run_b": b.pk, "reviews_needed": "1"}
    )
    assert response.status_code == expected
    assert Comparison.objects.count() == comparisons_before + (1 if who == "admin" else 0)
    client.get(f"{base}/comparisons/{comparison.pk}/blind/")  # a member is handed a pair
    pair = comparison.pairs.order_by("position").first()
    response = client.post(
        f"{base}/comparisons/{comparison.pk}/blind/", {"pair": pair.pk, "choice": "tie"}
    )
    member = who in members
    assert response.status_code == {"anonymous": 302, "outsider": 404}.get(who, 302)
    assert HumanVerdict.objects.filter(pair=pair).exists() == member


def test_the_comparison_page_shows_both_models_escaped_with_intervals(
    client_for: Any, admin_user: Any, evaluated: Any, dataset: Any
) -> None:
    comparison = evaluated["comparison"]
    page = client_for(admin_user).get(f"/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/")
    html = page.content.decode()
    assert "Simulated results" in html
    assert "Largest regressions first" in html and "comparison-chart" in html
    # Only examples where B did worse are listed; with none, the page says so.
    assert ("No regressions" in html) == (not regressions(comparison))
    assert "ROUGE-L" in html and "[" in html


def test_a_run_page_shows_the_versioned_judge_prompt(
    client_for: Any, admin_user: Any, evaluated: Any, dataset: Any
) -> None:
    run = evaluated["b"]
    html = (
        client_for(admin_user).get(f"/d/{dataset.slug}/evaluation/runs/{run.pk}/").content.decode()
    )
    assert "rubric-judge/2" in html and "&lt;&lt;&lt;RESPONSE&gt;&gt;&gt;" in html
    assert "Invoice 100 totals 1000 euros" in html


def test_exports_have_one_row_per_shared_example(
    client_for: Any, admin_user: Any, evaluated: Any, dataset: Any
) -> None:
    comparison = evaluated["comparison"]
    base = f"/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}"
    data = json.loads(client_for(admin_user).get(f"{base}/export.json").content)
    assert len(data["examples"]) == comparison.examples == 8
    csv_text = b"".join(client_for(admin_user).get(f"{base}/export.csv").streaming_content).decode()
    assert len(csv_text.strip().splitlines()) == 9
    assert client_for(admin_user).get(f"{base}/export.xml").status_code == 404


def test_blind_review_hides_names_and_unblinds_the_verdict(
    client_for: Any, reviewer: Any, evaluated: Any, dataset: Any
) -> None:
    comparison: Comparison = evaluated["comparison"]
    client = client_for(reviewer)
    url = f"/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/blind/"
    html = client.get(url).content.decode()
    assert "ft:" not in html and "job:" not in html and BASE not in html
    pair = comparison.pairs.get(leased_to=reviewer)
    # "left" is better; whichever run was drawn to the left wins.
    key = dataset.criteria[0]["key"]
    response = client.post(url, {"pair": pair.pk, "choice": "left", f"criterion_{key}": "tie"})
    assert response.status_code == 302
    verdict = HumanVerdict.objects.get(pair=pair, reviewer=reviewer)
    assert verdict.winner == ("a" if pair.left_is_a else "b")
    assert verdict.criteria == {key: "tie"}
    assert AuditEvent.objects.filter(action="eval.blind_verdict").exists()
    # A second reviewer is not handed a pair the first one holds.
    other = UserFactory(username="second")
    from curation.models import Membership

    Membership.objects.create(dataset=dataset, user=other, role="reviewer")
    client.get(url)
    held = comparison.pairs.get(leased_to=reviewer)
    client_for(other).get(url)
    assert comparison.pairs.get(leased_to=other).pk != held.pk


def test_the_csv_export_quotes_cells_a_spreadsheet_would_run(
    client_for: Any, admin_user: Any, dataset: Any, eval_version: Any
) -> None:
    from training.evaluation.models import EvalExample
    from training.registry.models import Model

    model = Model.objects.create(kind="base", provider="simulator", name="m")
    runs = []
    for output in ('=HYPERLINK("http://x")', "fine"):
        run = EvalRun.objects.create(
            dataset=dataset, version=eval_version, model=model, status="succeeded"
        )
        EvalExample.objects.create(
            run=run,
            position=0,
            key="k",
            status="ok",
            output={"role": "assistant", "content": output},
            reference={"role": "assistant", "content": "ok"},
            metrics={},
        )
        runs.append(run)
    comparison = create_comparison(run_a=runs[0], run_b=runs[1])
    url = f"/d/{dataset.slug}/evaluation/comparisons/{comparison.pk}/export.csv"
    text = b"".join(client_for(admin_user).get(url).streaming_content).decode()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
