"""The DataLoader every datamodule returns: resumable, and shuffled reproducibly under DDP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lightning_gans.utils import run_seed


class EpochShuffle(DistributedSampler):
    """Shuffled indices of this process's shard whose order is a function of ``(seed,
    epoch)`` alone (``DistributedSampler``; one replica in a single process).

    The order is drawn at the first index, for the epoch Lightning's fit loop is in
    (``trainer.fit_loop.epoch_progress.current.processed``, the number Lightning passes to
    ``set_epoch``): a resumed run's loader creates its iterator, and fast-forwards it to the
    checkpoint's position, before Lightning calls ``set_epoch`` for that epoch.
    """

    def __init__(self, dataset: Dataset, trainer: L.Trainer | None = None, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.trainer = trainer

    def __iter__(self) -> Iterator[int]:
        if self.trainer is not None:
            # Epochs started and processed so far (typed as the base tracker, which lacks the field).
            self.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)  # type: ignore[attr-defined]
        yield from super().__iter__()


def resumable_loader(
    datamodule: L.LightningDataModule, dataset: Dataset, batch_size: int, shuffle: bool, drop_last: bool, **kwargs: Any
) -> DataLoader:
    """A torchdata ``StatefulDataLoader`` whose shuffled order is a function of the run's seed
    and the epoch alone, so a resumed run sees exactly the batches the uninterrupted run would
    have seen, at any point of an epoch and on any number of processes.

    Lightning saves the loader's position in checkpoints and calls ``set_epoch`` on its sampler
    at each epoch start. A shuffled loader gets a ``DistributedSampler`` (one replica in a
    single process) seeded from ``seed_everything``'s seed (:func:`~lightning_gans.utils.run_seed`,
    0 when none was set): its order depends on ``(seed, epoch)`` only. Left to the default, each
    epoch's order would come from a running RNG that Lightning does not restore when resuming at
    an epoch's end (the resumed epoch would replay the first epoch's order), or from the global
    RNG, which validation and callbacks also draw from.
    """
    from torchdata.stateful_dataloader import StatefulDataLoader

    trainer = getattr(datamodule, "trainer", None)
    sampler = None
    if shuffle:
        world_size, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = EpochShuffle(
            dataset,
            trainer=trainer,
            num_replicas=world_size,
            rank=rank,
            shuffle=True,
            seed=run_seed() or 0,
            drop_last=drop_last,
        )
        shuffle = False
    return StatefulDataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, drop_last=drop_last, **kwargs
    )
