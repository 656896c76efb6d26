"""Small helpers shared by the model and the callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


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
