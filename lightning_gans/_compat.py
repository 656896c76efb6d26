"""The few places where ``lightning_gans`` relies on names its dependencies do not promise.

Each use says why no public API serves. ``tests/test_compat.py`` checks every name here, so
an upgrade that removes one fails loudly there instead of deep inside a run.
"""

from __future__ import annotations

import csv
from typing import Any

from lightning.pytorch.loggers import CSVLogger


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
