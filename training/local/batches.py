"""Packed rows to tensors, and the order a run takes them in.

Importing this module imports torch: only the training processes do.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from training.local.data import IGNORE_INDEX, PackedRow


@dataclass
class Batch:
    input_ids: torch.Tensor
    position_ids: torch.Tensor
    # Flat positions (row * length + column) whose target is trained, and those targets.
    index: torch.Tensor
    targets: torch.Tensor
    tokens: int
    trained: int

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.input_ids.to(device, non_blocking=True),
            self.position_ids.to(device, non_blocking=True),
            self.index.to(device, non_blocking=True),
            self.targets.to(device, non_blocking=True),
            self.tokens,
            self.trained,
        )


def collate_rows(rows: Sequence[PackedRow], *, pad_id: int, length: int | None, pin: bool) -> Batch:
    """Rows to tensors. Padding forms its own segment (positions from 0), so with no
    attention mask it still cannot be attended to by, or attend to, real tokens."""
    width = length or _round_up(max(len(row) for row in rows), 8)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for number, row in enumerate(rows):
        size = len(row)
        input_ids[number, :size] = torch.tensor(row.input_ids)
        position_ids[number, :size] = torch.tensor(row.position_ids)
        position_ids[number, size:] = torch.arange(width - size)
        targets[number, :size] = torch.tensor(row.targets)
    flat = targets.view(-1)
    index = (flat != IGNORE_INDEX).nonzero().squeeze(1)
    tensors = [input_ids, position_ids, index, flat[index]]
    if pin:
        tensors = [tensor.pin_memory() for tensor in tensors]
    # Four tensors, as the Batch fields take them (named for the type checker).
    ids, positions, trained_index, trained_targets = tensors
    return Batch(
        ids,
        positions,
        trained_index,
        trained_targets,
        tokens=sum(len(row) for row in rows),
        trained=int(index.numel()),
    )


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def step_windows(
    rows: list[PackedRow], *, batch_size: int, grad_accum: int, seed: int
) -> Iterator[list[list[PackedRow]]]:
    """Optimizer steps forever: each a list of micro-batches; rows reshuffled every epoch."""
    epoch = 0
    while True:
        order = list(rows)
        random.Random(seed + epoch).shuffle(order)
        micro = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for start in range(0, len(micro), grad_accum):
            yield micro[start : start + grad_accum]
        epoch += 1
