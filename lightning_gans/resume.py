"""Exact resume: everything that makes ``--ckpt_path`` continue a run as if it had not stopped.

One owner for what Lightning does not do by itself for a GAN:

* what the module adds to a checkpoint (:data:`KEYS`: its step counts, the run's noise seed, the
  schedules' resolved length, the class and library version) and reads back;
* the repairs of Lightning's loop state in checkpoints taken at an epoch's end, after an epoch's
  last batch, mid-epoch or in an epoch cut short by ``max_steps``/``max_time``
  (:mod:`lightning_gans._compat`, where each is explained), so the
  resumed run sees the same batches in the same order and trains the same number of steps;
* the final ``last.ckpt`` of a run that ended at an epoch's end or at ``max_steps``/``max_time``,
  also when the checkpoint callback's cadence did not fall there (:meth:`ExactResume.save_final_checkpoint`);
* the continuation of ``metrics.csv`` when a run is resumed in its own folder;
* checkpoint files written atomically (:mod:`lightning_gans.checkpoint_io`).

:class:`ExactResume` is the callback that does all but the first and the CSV; every :class:`~lightning_gans.BaseGAN`
adds it through ``configure_callbacks`` (and calls its final save at the end of training), so a
``Trainer`` in Python resumes as the CLI does.

Example:
    >>> from lightning_gans.resume import ExactResume
    >>> callback = ExactResume()
    >>> callback.epoch_ending  # set at each epoch's end, cleared when the next one starts
    False
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lightning_gans import _compat
from lightning_gans.checkpoint_io import AtomicCheckpointIO
from lightning_gans.utils import is_fast_dev_run
from lightning_gans.version import __version__

CLASS_KEY = "lightning_gans_class"
"""The checkpoint key naming the class that wrote it (``load_gan`` rebuilds it)."""
VERSION_KEY = "lightning_gans_version"
KEYS = ("generator_steps", "discriminator_steps", "noise_seed", "lightning_gans_schedules", CLASS_KEY, VERSION_KEY)
"""What a GAN adds to Lightning's checkpoint."""


def write_model_state(model: Any, checkpoint: dict[str, Any]) -> None:
    """Add a :class:`~lightning_gans.BaseGAN`'s own resume state to ``checkpoint`` (see :data:`KEYS`)."""
    checkpoint["generator_steps"] = model.generator_steps
    checkpoint["discriminator_steps"] = model.discriminator_steps
    checkpoint["noise_seed"] = model.noise_seed
    checkpoint["lightning_gans_schedules"] = model.schedules.state_dict()
    # Which class to rebuild: lightning_gans.load_gan reads it (a Trainer in Python stores no class path).
    checkpoint[CLASS_KEY] = f"{type(model).__module__}.{type(model).__qualname__}"
    checkpoint[VERSION_KEY] = __version__


def read_model_state(model: Any, checkpoint: dict[str, Any]) -> None:
    """Restore what :func:`write_model_state` wrote (checkpoints of older releases lack some keys)."""
    model.generator_steps = checkpoint.get("generator_steps", 0)
    model.discriminator_steps = checkpoint.get("discriminator_steps", 0)
    model.noise_seed = checkpoint.get("noise_seed")
    model.schedules.load_state_dict(checkpoint.get("lightning_gans_schedules") or {})


class ExactResume(Callback):
    """Makes every checkpoint of a fit resume exactly, and saves the final ``last.ckpt``.

    It knows whether a checkpoint is written at an epoch's end (Lightning calls this callback's
    ``on_train_epoch_end`` before ``ModelCheckpoint``'s epoch-end save) or within an epoch, and
    repairs the loop state accordingly. After a fit that ended at an epoch's end,
    :meth:`save_final_checkpoint` writes ``last.ckpt`` for the first
    ``ModelCheckpoint(save_last=True)``, so the newest checkpoint holds the final model.
    """

    def __init__(self) -> None:
        self.epoch_ending = False
        self._logger_step_when_resumed: int | None = None

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._logger_step_when_resumed = _compat.logger_step_when_resumed(checkpoint)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:  # noqa: E501
        if self._logger_step_when_resumed is not None:  # the first batch after a resume: logs go on at its step
            _compat.set_logger_step(trainer, self._logger_step_when_resumed)
            self._logger_step_when_resumed = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Write checkpoints atomically (:class:`~lightning_gans.checkpoint_io.AtomicCheckpointIO`)
        unless the trainer was given a ``CheckpointIO`` plugin of its own."""
        if stage == "fit" and type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_ending = False

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_ending = True

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        _compat.finish_spent_loader_iterators(checkpoint)
        all_batches_taken = _last_batch_taken(checkpoint)
        if self.epoch_ending and all_batches_taken:  # e.g. the final last.ckpt after an epoch-end finish
            _compat.start_next_epoch_when_resumed(checkpoint)
        elif self.epoch_ending:  # the epoch was cut short: max_steps, max_time or should_stop
            _compat.resume_inside_cut_short_epoch(checkpoint)
        else:  # a mid-epoch checkpoint (a step cadence, after validation, a preemption)
            _compat.repair_mid_epoch_state(checkpoint)

    def save_final_checkpoint(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` after a fit that ended normally: at an epoch's end, or inside an
        epoch at ``max_steps``/``max_time``, so ``last.ckpt`` holds the final model and
        ``--ckpt_path last`` continues from it. The module calls this from its ``on_train_end``,
        which Lightning runs after every callback's (``ModelCheckpoint``'s own final
        ``save_last`` included), so this save is the last and keeps the file name."""
        if trainer.interrupted or not self.epoch_ending or is_fast_dev_run(trainer):
            return  # an exception or interruption: the cadence's last checkpoint stays
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.save_last and callback.dirpath:
                last = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
                trainer.save_checkpoint(last, weights_only=False)
                return


def _last_batch_taken(checkpoint: dict[str, Any]) -> bool:
    """Whether the checkpoint was taken after its epoch's last batch (Lightning's loop state)."""
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    return bool(fit_loop.get("epoch_loop.batch_progress", {}).get("is_last_batch"))


def continue_csv_log(logger: CSVLogger, step: int) -> None:
    """Keep the rows an interrupted run logged before generator step ``step`` in its
    ``metrics.csv``, which Lightning's CSVLogger deletes when it opens an existing folder; the
    resumed run appends to them, without gaps or duplicates."""
    header, rows = keep_csv_rows_before(Path(logger.log_dir) / "metrics.csv", step)
    _compat.csv_logger_continue(logger, header, rows)


def keep_csv_rows_before(metrics_file: Path, step: int) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows up to generator step ``step`` of a CSVLogger's ``metrics.csv``
    (rows from later steps, written after the checkpoint, are logged again by the resumed run)."""
    if not metrics_file.is_file():
        return [], []
    with open(metrics_file, newline="") as file:
        reader = csv.DictReader(file)
        rows = [row for row in reader if _row_step(row) <= step]
        return list(reader.fieldnames or []), rows


def _row_step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or "inf")
    except ValueError:
        return float("inf")
