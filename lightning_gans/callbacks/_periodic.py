"""The base of the callbacks that act every N generator steps: cadence, ranks, no repeats, logging."""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from lightning_gans.callbacks._logging import log_metrics
from lightning_gans.progress import Progress
from lightning_gans.utils import is_fast_dev_run


class PeriodicCallback(L.Callback):
    """Calls :meth:`run` every ``every_n_batches`` generator steps (``pl_module.generator_steps``,
    checked at the end of each batch; ``None`` never) and once more when training ends, but
    never twice for the same generator step. Subclasses implement :meth:`run` and set:

    * ``rank_zero_only``: run on global rank 0 only (``True``), or on every rank, when
      :meth:`run` is a collective (all ranks reach the same generator steps);
    * ``at_train_end``: also run when training ends;
    * ``skip_fast_dev_run``: do nothing under ``fast_dev_run``.

    Example:
        A callback that reports the generator step, every 100 steps (stand-ins for the
        trainer and the module):

        >>> from types import SimpleNamespace
        >>> class Every100(PeriodicCallback):
        ...     def run(self, trainer, pl_module):
        ...         return pl_module.generator_steps
        >>> callback = Every100(every_n_batches=100)
        >>> [step for step in (99, 100, 150, 200) if callback.due(SimpleNamespace(generator_steps=step))]
        [100, 200]
        >>> trainer, module = SimpleNamespace(is_global_zero=True), SimpleNamespace(generator_steps=100)
        >>> callback.maybe_run(trainer, module), callback.maybe_run(trainer, module)  # never twice a step
        (100, None)
        >>> callback.maybe_run(SimpleNamespace(is_global_zero=False), SimpleNamespace(generator_steps=200)) is None
        True
    """

    rank_zero_only: ClassVar[bool] = True
    at_train_end: ClassVar[bool] = True
    skip_fast_dev_run: ClassVar[bool] = False

    def __init__(self, every_n_batches: int | None) -> None:
        self.every_n_batches = every_n_batches
        self._last_step = -1
        self._in_batch_hook = False

    def run(self, trainer: L.Trainer, pl_module: Any) -> Any:
        """Do the work (evaluate, plot, log) for the current generator step."""
        raise NotImplementedError

    def due(self, pl_module: Any) -> bool:
        """Whether the cadence calls for a run at this generator step."""
        return bool(self.every_n_batches) and pl_module.generator_steps % self.every_n_batches == 0

    def maybe_run(self, trainer: L.Trainer, pl_module: Any) -> Any | None:
        """:meth:`run`'s result, or ``None`` when this rank does not run or this step already ran."""
        step = pl_module.generator_steps
        if (self.rank_zero_only and not trainer.is_global_zero) or step == self._last_step:
            return None
        self._last_step = step
        return self.run(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if (self.skip_fast_dev_run and is_fast_dev_run(trainer)) or not self.due(pl_module):
            return
        self._in_batch_hook = True  # metrics may go through pl_module.log_dict here
        try:
            self.maybe_run(trainer, pl_module)
        finally:
            self._in_batch_hook = False

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.at_train_end and not (self.skip_fast_dev_run and is_fast_dev_run(trainer)):
            self.maybe_run(trainer, pl_module)

    # ------------------------------------------------------------------ helpers for run()

    def log_metrics(self, trainer: L.Trainer, pl_module: Any, metrics: dict[str, float]) -> None:
        """Log ``metrics`` to every logger at the current batch and into ``trainer.callback_metrics``."""
        log_metrics(trainer, metrics, pl_module if self._in_batch_hook else None)

    def prefix(self, pl_module: Any = None) -> str:
        """``"[Name] step N:"`` (``"[Name]"`` without a module) for messages and progress."""
        name = f"[{type(self).__name__}]"
        return name if pl_module is None else f"{name} step {getattr(pl_module, 'generator_steps', 0)}:"

    def info(self, pl_module: Any, message: str) -> None:
        """Print ``message`` after :meth:`prefix` (on global rank 0)."""
        rank_zero_info(f"{self.prefix(pl_module)} {message}")

    def progress(
        self, total: int, what: str, pl_module: Any = None, unit: str = "images", enabled: bool = True
    ) -> Progress:
        """A :class:`~lightning_gans.progress.Progress` described as ``"[Name] step N: <what>"``."""
        return Progress(total, f"{self.prefix(pl_module)} {what}", unit=unit, enabled=enabled)
