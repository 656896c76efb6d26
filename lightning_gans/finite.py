"""Stop training on NaN/inf without slowing it down, and never checkpoint non-finite weights.

Every step's loss tensors are kept and checked together (one host sync) every ``every``
steps, at an epoch's end and before a checkpoint is written; the error names the first bad step.
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
    """The first generator step whose losses were not finite.

    Each step's loss tensors are kept as they are (no device work, no host sync); every
    ``every`` batches they are stacked and checked at once (one sync), and dropped.

    Args:
        every: check (one host sync) every this many batches; 0 turns the watch off.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self._steps: list[int] = []
        self._losses: list[tuple[Tensor, ...]] = []
        self._names: list[str] = []
        self._zero: Tensor | None = None

    def record(
        self, metrics: dict[str, Tensor], step: int, epoch: int, batch_idx: int, with_penalty: bool = True
    ) -> None:
        """Keep ``metrics``' losses of generator step ``step``; check every ``every`` batches of
        the epoch. ``with_penalty=False`` skips ``loss/d_penalty`` (a float16 loss scaler expects
        it to overflow while it backs off, and skips those updates)."""
        if not self.every:
            return
        names = ["loss/d", "loss/g", "loss/d_penalty", "loss/g_penalty"] if with_penalty else ["loss/d", "loss/g"]
        if names != self._names:
            self.raise_if_seen(epoch)
            self._names = names
        loss = metrics["loss/d"]
        if self._zero is None or self._zero.device != loss.device:
            self._zero = torch.zeros((), device=loss.device)
        self._steps.append(step)  # a step without penalty (lazy regularisation) records 0 for it
        self._losses.append(tuple(metrics.get(name, self._zero) for name in names))
        if (batch_idx + 1) % self.every == 0:
            self.raise_if_seen(epoch)

    def check_before_checkpoint(self, step: int, epoch: int, *modules: nn.Module | None) -> None:
        """Raise :class:`NonFiniteLossError` instead of letting a checkpoint be written when a
        loss not read yet, or a weight of ``modules``, is not finite: the last checkpoint saved
        keeps the last finite model."""
        kept = "the checkpoint was not written, so the last one saved keeps the last finite model"
        try:
            self.raise_if_seen(epoch)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error} At generator step {step} {kept}.") from None
        if not all_finite(*modules):
            raise NonFiniteLossError(
                f"Non-finite weights at generator step {step}: {kept}. Try lower learning rates, a gradient "
                "penalty (WGANGP, R1GAN) or spectral normalisation (SNGAN), and resume from the last checkpoint "
                "with --ckpt_path."
            )

    def raise_if_seen(self, epoch: int) -> None:
        """Raise :class:`NonFiniteLossError` naming the first bad step since the last check, if any."""
        if not self._losses:
            return
        steps = self._steps
        losses = torch.stack([torch.stack([loss.float() for loss in step]) for step in self._losses])
        self._steps, self._losses = [], []
        finite = losses.isfinite().all(dim=1)
        if bool(finite.all()):
            return
        first = int((~finite).nonzero()[0, 0])
        bad = ", ".join(f"{k} = {v}" for k, v in zip(self._names, losses[first].tolist()) if not math.isfinite(v))
        raise NonFiniteLossError(
            f"Non-finite loss at generator step {steps[first]} (epoch {epoch}): {bad}. "
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
