"""Image grids of samples from fixed noise, logged as training goes."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from lightning_gans.callbacks._logging import log_image
from lightning_gans.callbacks._periodic import PeriodicCallback
from lightning_gans.errors import ConfigurationError
from lightning_gans.utils import to_uint8_grid

__all__ = ["SampleGrid", "slerp", "to_uint8_grid"]


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between latent vectors (White 2016, "Sampling Generative
    Networks"): stays in the shell where Gaussian latents live, unlike a straight line.

    Example:
        >>> import torch
        >>> a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
        >>> slerp(a, b, torch.tensor([[0.0], [0.5], [1.0]])).round(decimals=4)
        tensor([[1.0000, 0.0000],
                [0.7071, 0.7071],
                [0.0000, 1.0000]])
        >>> slerp(a, b, torch.tensor([0.5])).norm().round(decimals=4), torch.lerp(a, b, 0.5).norm().round(decimals=4)
        (tensor(1.), tensor(0.7071))
    """
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


class SampleGrid(PeriodicCallback):
    """Every ``every_n_batches`` generator steps, log a grid of samples from the model's
    fixed noise (``BaseGAN.fixed_noise``), so grids are comparable across training.

    For conditional models each column is one class (``fixed_labels`` cycle through the
    classes). Uses the EMA generator when the model keeps one; samples in eval mode and
    restores each module's mode. Runs on global rank 0 only. Images go to W&B
    (``log_image``) or TensorBoard (``add_image``) when attached, else PNG files in
    ``<log_dir>/images``.

    Args:
        every_n_batches: cadence in batches (= generator steps).
        num_samples: how many of the fixed noise vectors to show.
        nrow: images per grid row (default: the number of classes for conditional models,
            else the square root of ``num_samples``).
        key: the name the grid is logged under.
        interpolation_steps: > 0 also logs ``samples/interpolation``: rows that walk the
            latent space (spherically) between pairs of fixed noise vectors in this many steps.
        interpolation_rows: how many such rows.

    Example:
        >>> grid = SampleGrid(every_n_batches=200, num_samples=16, interpolation_steps=5, interpolation_rows=2)
        >>> grid.every_n_batches, grid.num_samples, grid.key
        (200, 16, 'samples/fixed_noise')

        The interpolation rows, for a stand-in model whose "samples" are its noise:

        >>> import torch
        >>> from types import SimpleNamespace
        >>> noise = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
        >>> model = SimpleNamespace(fixed_noise=noise, fixed_labels=None, sample=lambda noise, labels: noise)
        >>> walk = grid.interpolation(model)
        >>> walk.shape  # 2 rows of 5 steps
        torch.Size([10, 8])
        >>> torch.allclose(walk[0], noise[0]), torch.allclose(walk[4], noise[1])  # row 0: noise 0 to noise 1
        (True, True)
    """

    def __init__(
        self,
        every_n_batches: int = 500,
        num_samples: int = 64,
        nrow: int | None = None,
        key: str = "samples/fixed_noise",
        interpolation_steps: int = 0,
        interpolation_rows: int = 8,
    ) -> None:
        if every_n_batches < 1:
            raise ConfigurationError(
                f"every_n_batches must be >= 1 (the grid's cadence in generator steps), got {every_n_batches}."
            )
        if num_samples < 1:
            raise ConfigurationError(f"num_samples must be >= 1 images per grid, got {num_samples}.")
        if nrow is not None and nrow < 1:
            raise ConfigurationError(f"nrow must be >= 1 images per row, or None for the default, got {nrow}.")
        if interpolation_steps < 0 or (interpolation_steps > 0 and interpolation_rows < 1):
            raise ConfigurationError(
                f"interpolation_steps must be >= 0 (0 logs no interpolation) and interpolation_rows >= 1; "
                f"got {interpolation_steps} and {interpolation_rows}."
            )
        super().__init__(every_n_batches)
        self.num_samples = num_samples
        self.nrow = nrow
        self.key = key
        self.interpolation_steps = interpolation_steps
        self.interpolation_rows = interpolation_rows
        self.last_paths: list[str] = []

    def log_grid(self, trainer: L.Trainer, pl_module: Any) -> list[str]:
        """Log the grid(s) of this generator step, on global rank 0, once; where they went."""
        return self.maybe_run(trainer, pl_module) or []

    @torch.no_grad()
    def run(self, trainer: L.Trainer, pl_module: Any) -> list[str]:
        step = pl_module.generator_steps
        n = min(self.num_samples, pl_module.fixed_noise.shape[0])
        labels = pl_module.fixed_labels[:n] if pl_module.fixed_labels is not None else None
        images = pl_module.sample(noise=pl_module.fixed_noise[:n], labels=labels)
        if images.dim() != 4:
            raise ConfigurationError(
                f"SampleGrid needs image samples (N, C, H, W); got shape {tuple(images.shape)}. "
                "Use ModeCoverage for 2-D data."
            )
        nrow = self.nrow or (pl_module.num_classes if labels is not None else max(1, int(round(n**0.5))))
        self.last_paths = log_image(trainer, self.key, to_uint8_grid(images, nrow), file_step=step)
        if self.interpolation_steps > 0:
            walk = to_uint8_grid(self.interpolation(pl_module), self.interpolation_steps)
            self.last_paths += log_image(trainer, "samples/interpolation", walk, file_step=step)
        self.info(pl_module, f"samples -> {', '.join(self.last_paths)}")
        return self.last_paths

    @torch.no_grad()
    def interpolation(self, pl_module: Any) -> Tensor:
        """``rows * steps`` samples: row ``i`` walks from fixed noise ``2i`` to ``2i + 1``."""
        noise = pl_module.fixed_noise
        rows = min(self.interpolation_rows, noise.shape[0] // 2)
        start, end = noise[0 : 2 * rows : 2], noise[1 : 2 * rows : 2]
        t = torch.linspace(0, 1, self.interpolation_steps, device=noise.device)
        z = slerp(start[:, None, :], end[:, None, :], t[None, :, None]).reshape(-1, noise.shape[1])
        labels = None
        if pl_module.fixed_labels is not None:  # one class per row
            labels = pl_module.fixed_labels[0 : 2 * rows : 2].repeat_interleave(self.interpolation_steps)
        return pl_module.sample(noise=z, labels=labels)
