"""The training loss: the sum of cross-entropies over trained (assistant) tokens.

``LinearCrossEntropy`` never holds full-vocabulary float32 logits for all trained tokens at
once: it walks them in chunks and computes the gradient in the same pass, so the output
projection runs once, not twice. ``LossPath`` uses it where it reproduces the model's own
loss, and the model's forward otherwise.

Importing this module imports torch: only the training processes do.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

import torch
from peft import PeftModel
from torch import nn

from training.local.batches import Batch

if TYPE_CHECKING:
    from transformers import PreTrainedModel

# How much float32 logits one chunk of the loss may hold. Large enough for full-width GEMMs,
# small enough to stay a minor part of memory beside activations.
CE_CHUNK_BYTES_CUDA = 1 << 30
CE_CHUNK_BYTES_CPU = 1 << 26


class LinearCrossEntropy(torch.autograd.Function):
    """Sum of token cross-entropies of ``hidden @ weight.T (+ bias)`` against ``targets``.

    Chunked over tokens so at most ``chunk`` rows of float32 logits exist at a time, and the
    gradient for ``hidden`` is computed in the forward pass (softmax minus one-hot, times the
    weight), so backward is a multiply. The head weight must be frozen, as it is under LoRA.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        chunk: int,
    ) -> torch.Tensor:
        if weight.requires_grad or (bias is not None and bias.requires_grad):
            raise ValueError("LinearCrossEntropy needs a frozen output head")
        need_grad = bool(ctx.needs_input_grad[0])
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        for start in range(0, hidden.shape[0], chunk):
            rows = hidden[start : start + chunk].to(weight.dtype)
            logits = rows @ weight.T
            if bias is not None:
                logits = logits + bias
            logits = logits.float()
            wanted = targets[start : start + chunk]
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, wanted[:, None]).squeeze(1)).sum()
            if grad_hidden is not None:
                # In place: the float32 logits become the softmax, then its gradient.
                probs = logits.sub_(lse[:, None]).exp_()
                probs[torch.arange(probs.shape[0], device=probs.device), wanted] -= 1.0
                grad_hidden[start : start + chunk] = (probs.to(weight.dtype) @ weight).to(
                    hidden.dtype
                )
        ctx.save_for_backward(grad_hidden if grad_hidden is not None else hidden.new_empty(0))
        return total

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (grad_hidden,) = ctx.saved_tensors
        return grad_hidden * grad_output.to(grad_hidden.dtype), None, None, None, None


def linear_cross_entropy_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    *,
    chunk: int,
) -> torch.Tensor:
    return LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk)


class LossPath:
    """Sum of trained-token losses for a batch: through the chunked head when the model's
    logits are a plain linear head over the decoder output, else through the model's own
    forward (soft-capped or scaled logits, or a trainable head)."""

    def __init__(self, model: PeftModel, *, compile_decoder: bool) -> None:
        self.model = model
        causal_lm = cast("PreTrainedModel", model.get_base_model())
        head = causal_lm.get_output_embeddings()
        self.head: nn.Linear | None = None
        self.decoder: Any = None
        config = causal_lm.config
        plain_logits = (
            not getattr(config, "final_logit_softcapping", None)
            and getattr(config, "logit_scale", None) in (None, 1, 1.0)
            and getattr(config, "logits_scaling", None) in (None, 1, 1.0)
        )
        if plain_logits and type(head) is nn.Linear and not head.weight.requires_grad:
            self.head = head
            self.decoder = causal_lm.get_decoder()
        chunk_bytes = CE_CHUNK_BYTES_CUDA if self._device.type == "cuda" else CE_CHUNK_BYTES_CPU
        vocab = head.weight.shape[0] if head is not None else 1
        self.chunk = max(1, chunk_bytes // (4 * vocab))
        self.compile_decoder = compile_decoder
        self.fused = False

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def check_fused(self, batch: Batch, autocast: AbstractContextManager[Any]) -> bool:
        """Use the chunked head only if it reproduces the model's own loss on real data."""
        if self.head is None:
            return False
        was_training = self.model.training
        # Eval mode: LoRA dropout would make the two passes differ.
        self.model.eval()
        self.fused = True
        with torch.no_grad(), autocast:
            try:
                ours = self.loss_sum(batch)
            except (TypeError, ValueError, AttributeError, RuntimeError):
                ours = None
            self.fused = False
            theirs = self.loss_sum(batch)
        self.model.train(was_training)
        self.fused = ours is not None and bool(
            torch.isclose(ours, theirs, rtol=5e-3, atol=1e-3 * max(batch.trained, 1))
        )
        if self.fused and self.compile_decoder:
            self.decoder = torch.compile(self.decoder)
        return self.fused

    def loss_sum(self, batch: Batch) -> torch.Tensor:
        if self.fused:
            assert self.head is not None  # fused only over a plain linear head
            hidden = self.decoder(
                input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False
            ).last_hidden_state
            flat = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.index)
            return linear_cross_entropy_sum(
                flat, self.head.weight, self.head.bias, batch.targets, chunk=self.chunk
            )
        logits = self.model(
            input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False
        ).logits
        flat = logits.reshape(-1, logits.shape[-1]).index_select(0, batch.index).float()
        return nn.functional.cross_entropy(flat, batch.targets, reduction="sum")
