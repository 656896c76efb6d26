"""Watch mode collapse on Stacked MNIST: modes covered (of 1,000) and KL to uniform."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from lightning_gans.callbacks._periodic import PeriodicCallback
from lightning_gans.errors import ConfigurationError
from lightning_gans.metrics.digits import DigitFeatures
from lightning_gans.metrics.stacked_mnist import (
    StackedMNISTModes,
    classify_modes,
    mode_histogram,
    statistics_of_histogram,
)
from lightning_gans.sampling import samples_of_rank
from lightning_gans.utils import shard


class StackedMNISTCoverage(PeriodicCallback):
    """Every ``every_n_batches`` generator steps and when training ends, classify the three
    channels of ``num_samples`` generated images with the packaged digit classifier and log
    ``stacked/modes`` (digit triples with at least one image, of 1,000) and ``stacked/kl``
    (KL of the mode histogram to uniform), as VEEGAN and PacGAN report them (Table 2 counts
    26,000 images). See :func:`lightning_gans.metrics.stacked_mnist_modes`.

    Several processes: each rank generates and classifies its share of the fixed evaluation
    noise; the histograms are summed across ranks, so the numbers equal one process's.

    Args:
        every_n_batches: cadence in generator steps; ``None``: only when training ends.
        num_samples: generated images per evaluation.
        batch_size: images generated and classified at once.
        seed: seed of the evaluation noise (the same images' noise at every evaluation).

    Example:
        >>> from types import SimpleNamespace
        >>> callback = StackedMNISTCoverage()  # every 1,000 generator steps, 26,000 images
        >>> callback.num_samples, callback.batch_size
        (26000, 500)
        >>> [callback.due(SimpleNamespace(generator_steps=step)) for step in (999, 1000, 2000)]
        [False, True, True]
        >>> quick = StackedMNISTCoverage(every_n_batches=None, num_samples=2_600)  # only when training ends
        >>> quick.due(SimpleNamespace(generator_steps=1000)), quick.at_train_end
        (False, True)
    """

    rank_zero_only = False  # a collective: every rank classifies its share
    skip_fast_dev_run = True

    def __init__(
        self, every_n_batches: int | None = 1000, num_samples: int = 26_000, batch_size: int = 500, seed: int = 0
    ) -> None:
        if every_n_batches is not None and every_n_batches < 1:
            raise ConfigurationError(f"every_n_batches must be >= 1 or None, got {every_n_batches}.")
        if num_samples < 1 or batch_size < 1:
            raise ConfigurationError(
                f"num_samples and batch_size must be >= 1 (VEEGAN counts 26000 images), got {num_samples} and "
                f"{batch_size}."
            )
        super().__init__(every_n_batches)
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self._classifier: DigitFeatures | None = None
        self.history: list[tuple[int, StackedMNISTModes]] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        shape = tuple(getattr(pl_module, "data_shape", ()))
        if shape and shape[0] != 3:
            raise ConfigurationError(
                f"StackedMNISTCoverage reads images of 3 digit channels (Stacked MNIST); the model makes {shape}. "
                "Use lightning_gans.StackedMNISTDataModule."
            )

    @torch.no_grad()
    def run(self, trainer: L.Trainer, pl_module: Any) -> StackedMNISTModes:
        if self._classifier is None:
            self._classifier = DigitFeatures(channels=3)
        share = shard(self.num_samples, trainer.global_rank, trainer.world_size)  # for the progress bar
        histogram = torch.zeros(1000, dtype=torch.long)
        with self.progress(
            len(share), "classifying generated images", pl_module, enabled=trainer.is_global_zero
        ) as bar:
            for images in samples_of_rank(trainer, pl_module, self.num_samples, self.seed, self.batch_size, None, bar):
                histogram += mode_histogram(classify_modes(images, self._classifier))
        if trainer.world_size > 1:
            histogram = trainer.strategy.reduce(histogram.to(pl_module.device), reduce_op="sum").long().cpu()
        stats = statistics_of_histogram(histogram)
        self.history.append((pl_module.generator_steps, stats))
        self.log_metrics(trainer, pl_module, {"stacked/modes": float(stats.modes), "stacked/kl": stats.kl})
        self.info(pl_module, f"{stats.modes}/1000 Stacked MNIST modes, KL to uniform {stats.kl:.3f}")
        return stats
