"""The few places where ``lightning_gans`` relies on names its dependencies do not promise.

Each use says why no public API serves. ``tests/test_compat.py`` checks every name here, so
an upgrade that removes one fails loudly there instead of deep inside a run.
"""

from __future__ import annotations

import csv
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import DDPStrategy
from torch import nn


def csv_logger_continue(logger: CSVLogger, header: list[str], rows: list[dict[str, Any]]) -> None:
    """Put back the rows of ``metrics.csv`` that an interrupted run logged, so a resumed run
    appends to them.

    Why private: Lightning's CSV experiment writer (``_ExperimentWriter``) deletes an existing
    ``metrics.csv`` when it opens a folder and has no option to append; it then appends to the
    file it finds and keeps the header in ``metrics_keys``. We rewrite the file after it is
    opened and tell the writer its header.
    """
    experiment = logger.experiment  # opening the writer deletes the old file
    if not rows:
        return
    with open(experiment.metrics_file_path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    experiment.metrics_keys = list(header)


def finish_spent_loader_iterators(checkpoint: dict[str, Any]) -> None:
    """Mark the data loaders' saved iterators as finished when the checkpoint was taken after
    the last batch of an epoch (at the epoch's end, or in ``on_train_batch_end`` of its last
    batch), so a resumed run starts the next epoch with the order the uninterrupted run uses.

    Why private: such a checkpoint holds torchdata ``StatefulDataLoader`` states whose iterator
    has yielded every batch of the epoch (or, under ``limit_train_batches``, its limit) but is
    not marked finished. Restored, the next epoch's ``iter()`` continues the spent iterator:
    the resumed run trains fewer steps (measured with 3-batch epochs: 6 -> 6 or 7 steps instead
    of 9) or sees other batches than the uninterrupted one. torchdata's state key
    ``_iterator_finished`` makes ``iter()`` start a new epoch from the restored sampler RNG;
    Lightning's loop state (``loops.fit_loop["epoch_loop.batch_progress"]["is_last_batch"]``)
    says whether the epoch's batches were all taken.
    """
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    if not fit_loop.get("epoch_loop.batch_progress", {}).get("is_last_batch"):
        return
    for state in fit_loop.get("state_dict", {}).get("combined_loader", []) or []:
        if isinstance(state, dict) and "_iterator_finished" in state:
            state["_iterator_finished"] = True


def start_next_epoch_when_resumed(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint taken after training ended at an epoch's end (``lightning_gans``' CLI
    saves ``last.ckpt`` then) start the next epoch with its batch count at 0 when resumed.

    Why private: with ``max_steps`` set, Lightning treats every resume as a restart inside an
    epoch (``fit_loop._iteration_based_training``) and keeps the finished epoch's batch count
    (``fit_loop["epoch_loop.batch_progress"]["current"]``), so the resumed epoch counts as done
    before its first batch and the run stops (measured: ``--ckpt_path last`` with
    ``max_epochs`` 2 -> 3 and 3 batches per epoch ended at step 6, not 9). Without
    ``max_steps`` Lightning resets that count itself; zeroing it changes nothing then.
    """
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    epochs = fit_loop.get("epoch_progress", {}).get("current", {})
    batches = fit_loop.get("epoch_loop.batch_progress", {})
    if not epochs or epochs.get("completed") != epochs.get("ready") or not batches.get("is_last_batch"):
        return
    batches["current"] = {key: 0 for key in batches.get("current", {})}
    batches["is_last_batch"] = False


def repair_mid_epoch_state(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint taken during an epoch (not at its end) count its epoch as started.

    Why private: Lightning, resumed from a checkpoint taken after an epoch's last batch but
    before the epoch ended (e.g. ``ModelCheckpoint(every_n_train_steps=...)`` on that batch),
    starts the next epoch without counting it as started (``fit_loop.epoch_progress``:
    ``ready == completed`` during the epoch), so a mid-epoch checkpoint of *that* run replays
    an epoch when resumed (measured: 15 steps instead of 12). The counts are set to what an
    uninterrupted run records mid-epoch: ``ready = started = completed + 1``. (At an epoch's
    end Lightning saves ``ready == completed`` on purpose: the caller does not call this then.)
    """
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    in_epoch = fit_loop.get("epoch_loop.batch_progress", {}).get("current", {}).get("ready", 0) > 0
    epochs = fit_loop.get("epoch_progress", {})
    for counts in (epochs.get("current"), epochs.get("total")):
        if in_epoch and counts and counts.get("ready") == counts.get("completed"):
            counts["ready"] = counts["started"] = counts["completed"] + 1


def resume_inside_cut_short_epoch(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint taken after training stopped inside an epoch (``max_steps`` or
    ``max_time`` reached, ``trainer.should_stop`` set by a callback) resume inside that epoch,
    at the batch where it stopped.

    Why private: Lightning ends a cut-short epoch as if it were complete (it runs
    ``on_train_epoch_end`` and counts the epoch as processed and completed in
    ``fit_loop.epoch_progress``), so a checkpoint taken then, or at the end of training, resumes
    at the *next* epoch and skips the rest of the cut one (measured: ``max_steps`` 15 -> 40 with
    10-batch epochs resumed at epoch 2, and its weights differed from an uninterrupted run by
    1.5e-2). The counts are set to those of a checkpoint taken inside epoch ``E`` (``ready ==
    started == E + 1``, ``processed == completed == E``; ``E`` is ``ready - 1``: Lightning marks an
    epoch ready when it starts it), and the checkpoint's ``epoch`` to ``E``; the batch counts and
    the loaders' positions already say where in the epoch it stopped. ``processed`` is also the
    epoch whose shuffled order the resumed loader draws (:class:`~lightning_gans.data._loading.EpochShuffle`).
    """
    epochs = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    for counts in (epochs.get("current"), epochs.get("total")):
        if counts and counts.get("ready", 0) > 0:
            epoch = counts["ready"] - 1
            counts.update(ready=epoch + 1, started=epoch + 1, processed=epoch, completed=epoch)
    current = epochs.get("current")
    if current and "epoch" in checkpoint:  # the epoch the checkpoint reports (and the CLI prints)
        checkpoint["epoch"] = current["completed"]


# --- callbacks and metrics ---


def logger_step(trainer: Any) -> int:
    """The step Lightning's own ``self.log`` passes to the loggers during fitting: batches that
    stepped (once per batch, however many optimizers a GAN steps in it).

    Why private: no public attribute holds it. ``trainer.global_step`` counts the optimizer
    steps Lightning sees (here the generator's), and has already moved past the batch when its
    ``on_train_batch_end`` runs, while ``self.log`` in that batch wrote at the earlier count;
    Lightning's logger connector and its own callbacks (``LearningRateMonitor``,
    ``DeviceStatsMonitor``) read ``fit_loop.epoch_loop._batches_that_stepped``.
    """
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def logger_step_when_resumed(checkpoint: dict[str, Any]) -> int | None:
    """The :func:`logger_step` the uninterrupted run had at the first batch after ``checkpoint``.

    Why private: Lightning saves its count of batches that stepped (``fit_loop["state_dict"]``
    ``["epoch_loop.state_dict"]["_batches_that_stepped"]``) before it counts the batch in whose
    ``on_train_batch_end`` the checkpoint is written, and adds that batch when it resumes from
    such a checkpoint (its batch counts say ``completed == processed - 1``). From a checkpoint
    written after the batch was counted (at an epoch's end, after ``max_steps``, on SIGTERM) it
    sometimes adds it again: resumed with ``max_steps`` set, every later row of the logs moved
    one step on (measured: rows at steps 29, 30, 39, 40 instead of 24, 29, 29, 34, 39, 39).
    """
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    saved = fit_loop.get("epoch_loop.state_dict", {}).get("_batches_that_stepped")
    total = fit_loop.get("epoch_loop.batch_progress", {}).get("total", {})
    if saved is None or not total:
        return None
    return int(saved) + (1 if total.get("completed") == total.get("processed", 0) - 1 else 0)


def set_logger_step(trainer: Any, step: int) -> None:
    """Set the count :func:`logger_step` reads (see :func:`logger_step_when_resumed` for why)."""
    trainer.fit_loop.epoch_loop._batches_that_stepped = step


def set_callback_metrics(trainer: Any, metrics: dict[str, float]) -> None:
    """Put ``metrics`` into ``trainer.callback_metrics`` where ``LightningModule.log`` is refused.

    Why not public: ``log``/``log_dict`` (which the callbacks use in ``on_train_batch_end``) raise
    in ``on_train_end``, yet the last evaluation runs there and ``trainer.callback_metrics`` should
    hold it after ``fit``. This writes into the dict the ``callback_metrics`` property returns,
    relying on it being the trainer's live dict, which Lightning does not document.
    """
    import torch

    trainer.callback_metrics.update({k: torch.tensor(float(v)) for k, v in metrics.items()})


def inception_features(net: Any, images: Any) -> tuple[Any, ...]:
    """Every feature ``net`` (torchmetrics' ``NoTrainInceptionV3``) was built for, from one forward
    pass of ``uint8`` images: e.g. the 2048-d pool features and the logits, for FID/KID and IS.

    Why private: the public forwards do not serve. torchmetrics' ``NoTrainInceptionV3.forward``
    returns only the first feature (FID and IS would need two InceptionV3 passes);
    torch-fidelity's ``FeatureExtractorInceptionV3.forward`` returns them all but lacks
    torchmetrics' ``antialias`` resize. torchmetrics' ``_torch_fidelity_forward`` does both.
    """
    return net._torch_fidelity_forward(images)


# --- distributed training ---


def wrap_in_ddp(strategy: DDPStrategy, network: nn.Module) -> nn.Module:
    """Wrap one network in ``DistributedDataParallel`` exactly as ``strategy`` would wrap a
    whole module, and register the strategy's communication hook on it.

    Why private: ``DDPStrategy`` keeps its DDP arguments (``_ddp_kwargs``), device placement
    (a side CUDA stream) and communication hook (``_ddp_comm_state``, ``_ddp_comm_hook``,
    ``_ddp_comm_wrapper``) private and applies them only to the whole ``LightningModule`` in
    ``_setup_model``/``_register_ddp_hooks``. A GAN needs one wrapper per network (see
    :mod:`lightning_gans.strategies`), with the same arguments the user gave the strategy.
    """
    from lightning.pytorch.overrides.distributed import _register_ddp_comm_hook

    wrapper = strategy._setup_model(network)
    if strategy.root_device.type == "cuda":  # as DDPStrategy: comm hooks need NCCL
        _register_ddp_comm_hook(
            model=wrapper,
            ddp_comm_state=strategy._ddp_comm_state,
            ddp_comm_hook=strategy._ddp_comm_hook,
            ddp_comm_wrapper=strategy._ddp_comm_wrapper,
        )
    return wrapper


def launched_processes(launcher: Any) -> list[Any] | None:
    """The child processes Lightning's script launcher started (``subprocess.Popen``; empty in the
    children themselves), or ``None`` when the run's processes were not started that way.

    Why private: ``_SubprocessScriptLauncher`` (what ``Trainer(devices=N, strategy="ddp")`` uses
    when run as a script) keeps its children in ``procs`` and watches them only every 5 s, then
    kills every process with SIGKILL and no message; its children never notice that the launcher
    itself has died. :class:`~lightning_gans.strategies.RankWatch` needs the processes to do both.
    """
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    return launcher.procs if isinstance(launcher, _SubprocessScriptLauncher) else None
