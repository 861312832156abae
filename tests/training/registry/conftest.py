"""Fixtures for the registry tests: models with evaluation runs and comparisons whose
verdicts and metrics the test chooses (no endpoint needed), and the simulator fixtures of
the evaluation tests for the end-to-end ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from curation.models import AccessToken
from tests.factories import built_version
from tests.training.evaluation.conftest import (  # noqa: F401  (fixtures reused here)
    client,
    eval_queue,
    eval_version,
    finetune,
    sim,
)
from training.evaluation.models import (
    Comparison,
    EvalExample,
    EvalRun,
    ExampleStatus,
    JudgeVerdict,
)
from training.registry.models import Model, ModelKind


@pytest.fixture
def version(dataset: Any) -> Any:
    return built_version(dataset, train=12, validation=6)


@pytest.fixture
def make_model(dataset: Any, version: Any) -> Callable[..., Model]:
    def make(name: str, *, trained: bool = True) -> Model:
        return Model.objects.create(
            kind=ModelKind.HOSTED_FINETUNE if trained else ModelKind.BASE,
            provider="openai",
            name=name,
            dataset=dataset if trained else None,
            version=version if trained else None,
        )

    return make


@pytest.fixture
def make_comparison(dataset: Any, version: Any) -> Callable[..., Comparison]:
    """make_comparison(a, b, winners=["b", "a", "tie", ...], metric={"rouge_l": (a, b)},
    failed_b={3, 4}, split="validation", gate={"evidence": "metric:rouge_l"}).

    Judge verdicts are written only for examples both sides answered, as the job does."""
    judge = Model.objects.create(kind=ModelKind.BASE, provider="openai", name="judge-model")

    def run_for(
        model: Model,
        values: list[dict[str, float]],
        failed: frozenset[int] = frozenset(),
        split: str = "validation",
    ) -> EvalRun:
        run = EvalRun.objects.create(
            dataset=dataset,
            version=version,
            split=split,
            model=model,
            status="succeeded",
            examples=len(values),
            scored=len(values),
        )
        EvalExample.objects.bulk_create(
            [
                EvalExample(
                    run=run,
                    position=i,
                    key=f"k{i}",
                    status=ExampleStatus.FAILED if i in failed else ExampleStatus.OK,
                    error="HTTP 500" if i in failed else "",
                    metrics={} if i in failed else metrics,
                    output=None if i in failed else {"role": "assistant", "content": "x"},
                )
                for i, metrics in enumerate(values)
            ]
        )
        return run

    def make(
        a: Model,
        b: Model,
        *,
        winners: list[str] = (),
        metric: dict[str, tuple[list[float], list[float]]] | None = None,
        failed_a: set[int] | frozenset[int] = frozenset(),
        failed_b: set[int] | frozenset[int] = frozenset(),
        split: str = "validation",
        gate: dict[str, Any] | None = None,
    ) -> Comparison:
        count = max(len(winners), *(len(v[0]) for v in (metric or {}).values()), 1)
        values_a = [{} for _ in range(count)]
        values_b = [{} for _ in range(count)]
        for name, (list_a, list_b) in (metric or {}).items():
            for i in range(count):
                values_a[i][name] = list_a[i]
                values_b[i][name] = list_b[i]
        comparison = Comparison.objects.create(
            dataset=dataset,
            run_a=run_for(a, values_a, frozenset(failed_a), split),
            run_b=run_for(b, values_b, frozenset(failed_b), split),
            judge=judge,
            status="succeeded",
            examples=count,
            gate={"evidence": "judge", "level": 0.05, "min_examples": 30, **(gate or {})},
        )
        JudgeVerdict.objects.bulk_create(
            [
                JudgeVerdict(comparison=comparison, key=f"k{i}", first=w, second=w, winner=w)
                for i, w in enumerate(winners)
                if i not in failed_a and i not in failed_b
            ]
        )
        return comparison

    return make


@pytest.fixture
def token_for() -> Callable[..., str]:
    def make(user: Any, scope: str = "read", dataset: Any = None) -> str:
        return AccessToken.issue(user=user, name="test", scope=scope, dataset=dataset)[1]

    return make
