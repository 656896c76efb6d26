"""Small helpers shared by the model and the callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


@contextmanager
def eval_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put ``modules`` in eval mode and restore each submodule's previous mode on exit.

    Restoring per submodule (not just ``module.train(was_training)``) keeps modules that
    were deliberately frozen in eval mode, e.g. a BatchNorm a user fixed, as they were.
    """
    saved = [(m, m.training) for module in modules if module is not None for m in module.modules()]
    try:
        for module in modules:
            if module is not None:
                module.eval()
        yield
    finally:
        for m, training in saved:
            m.training = training


def run_seed() -> int | None:
    """The run's seed as ``seed_everything`` (and the CLI's ``seed_everything``) set it, or
    ``None`` when no seed was set. Lightning publishes it in ``PL_GLOBAL_SEED``; this is the
    one place that reads it."""
    import os

    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed is not None else None


def to_uint8(images: Tensor) -> Tensor:
    """Samples in ``[-1, 1]`` -> ``uint8`` in ``[0, 255]``, same shape and device.

    ``(x + 1) * 127.5`` in float32, clamped to the range and rounded to the nearest integer
    (ties to even), not truncated: ``0`` becomes 128, not 127. The one conversion the sample
    grids, ``generate``'s PNG files and the FID/IS/KID inputs share.
    """
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_uint8_grid(images: Tensor, nrow: int) -> np.ndarray:
    """``(N, C, H, W)`` in ``[-1, 1]`` -> one ``(H', W', 3)`` uint8 grid (:func:`to_uint8`),
    ``nrow`` images a row, 2 white pixels between them."""
    from torchvision.utils import make_grid

    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0, normalize=False, value_range=(-1, 1))
    return to_uint8(grid).permute(1, 2, 0).numpy()


def datamodule_of(trainer: Any) -> Any:
    """The datamodule attached to ``trainer`` (``None`` without one). Lightning sets
    ``trainer.datamodule`` when fitting starts; its type stubs do not declare it."""
    return getattr(trainer, "datamodule", None)


def is_fast_dev_run(trainer: Any) -> bool:
    """Whether ``trainer`` runs ``fast_dev_run`` (loggers and checkpoints off); a Trainer
    argument Lightning sets at runtime, which its type stubs do not declare."""
    return bool(getattr(trainer, "fast_dev_run", False))


def shard(n: int, rank: int, world: int) -> range:
    """The indices ``0..n-1`` that ``rank`` of ``world`` processes handles (contiguous chunks)."""
    per = -(-n // world)
    return range(rank * per, min(n, (rank + 1) * per))
