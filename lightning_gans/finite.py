"""Stop training on NaN/inf without slowing it down, and never checkpoint non-finite weights.

Every step's losses are checked on the device (no host sync); the first bad step is kept
there and read every ``every`` steps, at an epoch's end and before a checkpoint is written.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lightning_gans.errors import NonFiniteLossError

ADVICE = (
    "Try lower learning rates, a gradient penalty (WGANGP, R1GAN) or spectral normalisation (SNGAN), check that "
    "the data is finite and scaled to [-1, 1], or train in precision 32 if this happened under 16-mixed."
)


class NonFiniteWatch:
    """The first generator step whose losses were not finite, recorded on the device.

    Args:
        every: read the record (one host sync) every this many batches; 0 turns it off.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self._first: Tensor | None = None  # (generator step, *losses) of the first bad step; step -1: none
        self._names: list[str] = []

    def record(
        self, metrics: dict[str, Tensor], step: int, epoch: int, batch_idx: int, with_penalty: bool = True
    ) -> None:
        """Remember ``metrics``' losses of generator step ``step`` if it is the first bad one;
        raise every ``every`` batches of the epoch. ``with_penalty=False`` skips ``loss/d_penalty`` (a float16
        loss scaler expects it to overflow while it backs off, and skips those updates)."""
        if not self.every:
            return
        names = ["loss/d", "loss/g", "loss/d_penalty"] if with_penalty else ["loss/d", "loss/g"]
        zero = torch.zeros_like(metrics["loss/d"])
        values = torch.stack([torch.full_like(zero, step), *(metrics.get(k, zero) for k in names)]).float()
        if self._first is None or self._first.shape != values.shape:
            self._first = torch.full_like(values, float("nan"))
            self._first[0] = -1
        first_bad = ~values[1:].isfinite().all() & (self._first[0] < 0)
        self._first = torch.where(first_bad, values, self._first)
        self._names = names
        if (batch_idx + 1) % self.every == 0:
            self.raise_if_seen(epoch)

    def raise_if_seen(self, epoch: int) -> None:
        """Raise :class:`NonFiniteLossError` naming the first bad step, if there was one."""
        if self._first is None:
            return
        step, *values = self._first.tolist()
        if step < 0:
            return
        bad = ", ".join(f"{k} = {v}" for k, v in zip(self._names, values) if not math.isfinite(v))
        raise NonFiniteLossError(
            f"Non-finite loss at generator step {int(step)} (epoch {epoch}): {bad}. "
            f"Training stopped so it does not run on NaNs. {ADVICE}"
        )


def all_finite(*modules: nn.Module | None) -> bool:
    """Whether every parameter and floating-point buffer of ``modules`` is finite (one host sync)."""
    tensors = [
        t.detach().isfinite().all()
        for module in modules
        if module is not None
        for t in (*module.parameters(), *module.buffers())
        if t.is_floating_point() and t.numel()
    ]
    return not tensors or bool(torch.stack(tensors).all())
