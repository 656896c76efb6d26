"""The DataLoader every datamodule returns: resumable, and shuffled reproducibly under DDP."""

from __future__ import annotations

import os
from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def resumable_loader(
    datamodule: L.LightningDataModule, dataset: Dataset, batch_size: int, shuffle: bool, drop_last: bool, **kwargs: Any
) -> DataLoader:
    """A torchdata ``StatefulDataLoader``: Lightning saves its position (and its shuffling
    sampler's RNG) in checkpoints, so a run resumed mid-epoch sees exactly the batches the
    uninterrupted run would have seen.

    Under several processes the shuffled loader gets a ``DistributedSampler`` here: left to
    Lightning, the shuffling sampler would be wrapped in a ``DistributedSamplerWrapper`` whose
    order comes from an RNG no checkpoint reaches. A ``DistributedSampler``'s order is a
    function of the seed (``seed_everything``'s, as Lightning's own) and the epoch alone.
    """
    from torchdata.stateful_dataloader import StatefulDataLoader

    trainer = getattr(datamodule, "trainer", None)
    sampler = None
    if shuffle and trainer is not None and trainer.world_size > 1:
        sampler = DistributedSampler(
            dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=True,
            seed=int(os.environ.get("PL_GLOBAL_SEED", 0)), drop_last=drop_last,
        )
        shuffle = False
    return StatefulDataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, drop_last=drop_last, **kwargs
    )
