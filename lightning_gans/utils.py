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
