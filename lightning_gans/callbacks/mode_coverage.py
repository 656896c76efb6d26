"""Watch mode collapse on 2-D mixtures: modes captured, sample quality, reverse KL."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from lightning_gans.callbacks._logging import figure_to_array, log_image
from lightning_gans.callbacks._periodic import PeriodicCallback
from lightning_gans.data.toy import GaussianMixture
from lightning_gans.errors import ConfigurationError
from lightning_gans.metrics.mode_coverage import ModeStatistics, mode_statistics
from lightning_gans.sampling import iter_samples
from lightning_gans.utils import datamodule_of


class ModeCoverage(PeriodicCallback):
    """Every ``every_n_batches`` generator steps, sample and measure mode coverage.

    Logs ``toy/modes`` (modes with at least one high-quality sample),
    ``toy/hq_fraction`` (fraction of samples within ``threshold`` std of their nearest
    mean) and ``toy/reverse_kl`` (KL of the high-quality samples' mode histogram to uniform,
    as PacGAN counts it; see :class:`~lightning_gans.metrics.ModeStatistics`), plus a
    scatter plot of the samples over the mixture as ``toy/samples``: to W&B or
    TensorBoard when attached, else as PNG files in ``<log_dir>/images``.

    Args:
        every_n_batches: evaluation cadence in batches (= generator steps).
        num_samples: samples per evaluation (PacGAN uses 2,500).
        threshold: high-quality radius in standard deviations.
        plot: log the scatter plot too.
        mixture: the mixture to compare against; taken from the datamodule's ``mixture``
            when omitted (as :class:`~lightning_gans.ToyDataModule` has).
        seed: seed of the evaluation noise: the same at every evaluation, so evaluations are
            comparable, and the training's random stream is left alone.

    Example:
        >>> import torch
        >>> from lightning_gans.data import ring
        >>> from lightning_gans.metrics import mode_statistics
        >>> callback = ModeCoverage(every_n_batches=200, num_samples=500, mixture=ring())
        >>> callback.every_n_batches, callback.num_samples, callback.threshold, callback.mixture.num_modes
        (200, 500, 3.0, 8)

        What it computes and plots at each evaluation, here for samples of the data itself:

        >>> samples, _ = callback.mixture.sample(500, generator=torch.Generator().manual_seed(0))
        >>> stats = mode_statistics(samples, callback.mixture.means, callback.mixture.std, callback.threshold)
        >>> stats.modes, stats.num_modes
        (8, 8)
        >>> callback.scatter(samples, stats, step=0).shape  # an RGB image for the logger
        (400, 400, 3)
    """

    def __init__(
        self,
        every_n_batches: int = 500,
        num_samples: int = 2_500,
        threshold: float = 3.0,
        plot: bool = True,
        mixture: GaussianMixture | None = None,
        seed: int = 1234,
    ) -> None:
        if every_n_batches < 1:
            raise ConfigurationError(
                f"every_n_batches must be >= 1 (the evaluation cadence in generator steps), got {every_n_batches}."
            )
        if num_samples < 1:
            raise ConfigurationError(
                f"num_samples must be >= 1 samples per evaluation (PacGAN uses 2500), got {num_samples}."
            )
        if not threshold > 0:
            raise ConfigurationError(f"threshold must be > 0 standard deviations (3 is usual), got {threshold}.")
        super().__init__(every_n_batches)
        self.num_samples = num_samples
        self.threshold = threshold
        self.plot = plot
        self.mixture = mixture
        self.seed = seed
        self.history: list[tuple[int, ModeStatistics]] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.mixture is None:
            self.mixture = getattr(datamodule_of(trainer), "mixture", None)
        if self.mixture is None:
            raise ConfigurationError(
                "ModeCoverage needs a Gaussian mixture: use lightning_gans.ToyDataModule or pass mixture=..."
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        super().on_train_end(trainer, pl_module)
        if self.history and trainer.is_global_zero:
            step, stats = self.history[-1]
            rank_zero_info(
                f"ModeCoverage after {step} generator steps: {stats.modes}/{stats.num_modes} modes, "
                f"high-quality {stats.hq_fraction:.1%}, reverse KL {stats.reverse_kl:.3f}."
            )

    def evaluate(self, trainer: L.Trainer, pl_module: Any) -> ModeStatistics | None:
        """Measure (and plot) the current samples; runs on global rank 0 only, once a step."""
        return self.maybe_run(trainer, pl_module)

    @torch.no_grad()
    def run(self, trainer: L.Trainer, pl_module: Any) -> ModeStatistics:
        step = pl_module.generator_steps
        ((samples, _),) = iter_samples(pl_module, self.num_samples, seed=self.seed, batch_size=self.num_samples)
        assert self.mixture is not None  # found in setup
        stats = mode_statistics(samples, self.mixture.means, self.mixture.std, self.threshold)
        self.history.append((step, stats))
        self.log_metrics(
            trainer,
            pl_module,
            {"toy/modes": stats.modes, "toy/hq_fraction": stats.hq_fraction, "toy/reverse_kl": stats.reverse_kl},
        )
        message = (
            f"{stats.modes}/{stats.num_modes} modes, high-quality {stats.hq_fraction:.1%}, "
            f"reverse KL {stats.reverse_kl:.3f}"
        )
        if self.plot:
            where = log_image(trainer, "toy/samples", self.scatter(samples, stats, step), file_step=step)
            message += f"; plot -> {', '.join(where)}"
        self.info(pl_module, message)
        return stats

    def scatter(self, samples: torch.Tensor, stats: ModeStatistics, step: int) -> Any:
        """A scatter plot of ``samples`` over the mixture's means, as an image array."""
        from matplotlib.figure import Figure

        assert self.mixture is not None  # found in setup
        means = self.mixture.means
        # Show the whole mixture, and samples that stray from it (up to 4 times as far).
        span = float(means.abs().max()) + 10 * self.mixture.std + 0.5
        span = min(max(span, float(samples.abs().quantile(0.99)) * 1.1), 4 * span)
        fig = Figure(figsize=(4, 4), dpi=100)
        ax = fig.add_subplot()
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
        ax.scatter(means[:, 0], means[:, 1], s=30, marker="x", color="tab:red", label="modes")
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_aspect("equal")
        ax.set_title(f"step {step}: {stats.modes}/{stats.num_modes} modes, hq {stats.hq_fraction:.0%}", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
        fig.tight_layout()
        return figure_to_array(fig)
