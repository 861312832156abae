"""Deployments: what makes a fine-tuned model answer where the vendor requires one.

A deployment is created by a shape's own endpoint (a Together dedicated endpoint, a
Fireworks deployment, an Azure control-plane PUT), becomes ready after a planned delay in
simulated seconds (scaled by the simulator's ``speed``, like jobs) and answers chat until
deleted. Deployments are kept per shape in ``state.shape_data[shape]["deployments"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.simulator.records import ApiError
from training.simulator.state import SimulatorState

# How long a deployment takes to come up, in simulated seconds (minutes at the vendors).
READY_AFTER = 60.0


@dataclass
class Deployment:
    id: str
    model: str  # what answers: a base model or a fine-tuned model
    created: float
    speed: float
    options: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    def ready(self, now: float) -> bool:
        return not self.deleted and (now - self.created) * self.speed >= READY_AFTER


def deployments(state: SimulatorState, shape: str) -> dict[str, Deployment]:
    return state.shape_data.setdefault(shape, {}).setdefault("deployments", {})


def create_deployment(
    state: SimulatorState,
    *,
    shape: str,
    deployment_id: str,
    model: str,
    options: dict[str, Any] | None = None,
    replace: bool = False,
) -> Deployment:
    """A new deployment of ``model``; 409 where the id is taken (unless ``replace``)."""
    with state._lock:
        found = deployments(state, shape)
        if deployment_id in found and not found[deployment_id].deleted and not replace:
            raise ApiError(409, f'Deployment "{deployment_id}" already exists')
        record = Deployment(
            id=deployment_id,
            model=model,
            created=state.clock(),
            speed=state.speed,
            options=dict(options or {}),
        )
        found[deployment_id] = record
        return record


def get_deployment(state: SimulatorState, shape: str, deployment_id: str) -> Deployment:
    record = deployments(state, shape).get(deployment_id)
    if record is None or record.deleted:
        raise ApiError(404, f'Deployment "{deployment_id}" not found')
    return record


def delete_deployment(state: SimulatorState, shape: str, deployment_id: str) -> Deployment:
    with state._lock:
        record = get_deployment(state, shape, deployment_id)
        record.deleted = True
        return record


def serving(state: SimulatorState, shape: str, model: str) -> Deployment | None:
    """A ready deployment of ``model`` in ``shape``, if any."""
    now = state.clock()
    for record in deployments(state, shape).values():
        if record.model == model and record.ready(now):
            return record
    return None


def is_fine_tuned(state: SimulatorState, model: str) -> bool:
    """Whether ``model`` is a model this simulator fine-tuned (and has finished)."""
    state.advance_all()
    return state.base_of(model) is not None
