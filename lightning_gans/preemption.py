"""Preemption: on SIGTERM or SIGUSR1 a run saves a resumable ``last.ckpt`` and exits with
:data:`PREEMPTED_EXIT_CODE`.

Clusters and spot machines stop jobs with a signal: SLURM sends SIGTERM at ``scancel`` and at
the time limit (and, with ``#SBATCH --signal=USR1@120``, SIGUSR1 two minutes before it); cloud
spot reclaims and Kubernetes send SIGTERM. Lightning turns SIGTERM into an exception after the
batch it arrives in (on every DDP process at the same batch) but saves nothing and leaves the
process with exit status 0, as if the run had finished. :class:`PreemptionCheckpoint` (every
:class:`~lightning_gans.BaseGAN` fit has it) completes that:

* SIGUSR1 is handled as SIGTERM (unless a handler of its own is installed, such as Lightning's
  ``SLURMEnvironment(auto_requeue=True)``);
* the batch in progress finishes (its discriminator and generator steps), then ``last.ckpt``
  is written (atomically) in the run's checkpoint folder, one line says so, and the process
  exits with status :data:`PREEMPTED_EXIT_CODE` (75, ``EX_TEMPFAIL``: "try again"), so a job
  script can requeue the run; ``--ckpt_path last`` then continues it bit-exactly.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

PREEMPTED_EXIT_CODE = 75
"""The exit status of a run stopped by SIGTERM/SIGUSR1 after saving its checkpoint (``EX_TEMPFAIL``)."""


class PreemptionCheckpoint(Callback):
    """Saves ``last.ckpt`` and exits with :data:`PREEMPTED_EXIT_CODE` when the run is stopped by a signal.

    Example:
        >>> callback = PreemptionCheckpoint()
        >>> callback.signal_name is None  # set when SIGTERM or SIGUSR1 arrives
        True
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous_usr1: Any = None

    # ------------------------------------------------------------------ signals

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.signal_name = None
        usr1 = getattr(signal, "SIGUSR1", None)
        if usr1 is None or threading.current_thread() is not threading.main_thread():
            return  # Windows, or a Trainer run in a thread: signals cannot be handled here
        if signal.getsignal(usr1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            self._previous_usr1 = signal.signal(usr1, self._on_usr1)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_usr1()

    def _on_usr1(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = "SIGUSR1"
        signal.raise_signal(signal.SIGTERM)  # Lightning's SIGTERM path: every DDP process stops at the same batch

    def _restore_usr1(self) -> None:
        if self._previous_usr1 is not None:
            signal.signal(signal.SIGUSR1, self._previous_usr1)
            self._previous_usr1 = None

    # ------------------------------------------------------------------ the checkpoint

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_usr1()
        if not isinstance(exception, SIGTERMException):
            return
        name = self.signal_name or "SIGTERM"
        step = trainer.global_step
        target = last_checkpoint_path(trainer)
        if target is None:
            saved = "checkpointing is off, so nothing was saved"
        else:
            # Every process calls it (it synchronises them); global rank 0 writes the file.
            trainer.save_checkpoint(target, weights_only=False)
            saved = f"saved {target}; continue with --ckpt_path last"
        if trainer.is_global_zero:
            print(
                f"lightning_gans: {name} received: stopped after generator step {step}, {saved} "
                f"(exit status {PREEMPTED_EXIT_CODE})",
                file=sys.stderr,
                flush=True,
            )
        exception.code = PREEMPTED_EXIT_CODE  # Lightning re-raises it: the process exits with this status


def last_checkpoint_path(trainer: L.Trainer) -> Path | None:
    """``last.ckpt`` in the folder of the run's ``ModelCheckpoint`` (the one with ``save_last``
    first); ``None`` when checkpointing is off."""
    callbacks = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.dirpath]
    callbacks.sort(key=lambda c: not c.save_last)
    if not callbacks:
        return None
    callback = callbacks[0]
    return Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"  # type: ignore[arg-type]
