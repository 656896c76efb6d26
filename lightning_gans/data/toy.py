"""Synthetic 2-D Gaussian mixtures: the mode-collapse benchmarks of VEEGAN and PacGAN."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from lightning_gans.data._loading import resumable_loader
from lightning_gans.errors import ConfigurationError


@dataclass(frozen=True)
class GaussianMixture:
    """An equal-weight mixture of isotropic Gaussians with means ``means`` (``(K, d)``).

    Example:
        >>> import torch
        >>> mixture = GaussianMixture(torch.tensor([[0.0, 0.0], [10.0, 10.0]]), std=0.1)
        >>> mixture.num_modes
        2
        >>> points, modes = mixture.sample(5, generator=torch.Generator().manual_seed(0))
        >>> points.shape, modes.tolist()
        (torch.Size([5, 2]), [0, 1, 1, 0, 1])
        >>> bool((points - mixture.means[modes]).norm(dim=1).max() < 1)  # each point near its mode
        True
    """

    means: Tensor
    std: float

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` points and the index of the mode each was drawn from."""
        modes = torch.randint(self.num_modes, (n,), generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator)
        return self.means[modes] + self.std * noise, modes


def ring(num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture:
    """``num_modes`` Gaussians evenly spaced on a circle (VEEGAN/PacGAN "2D-ring").

    The angles are ``2 pi k / num_modes`` for ``k < num_modes``; ``linspace(0, 2 pi, 8)``
    would put the first and last mean on the same point and give 7 modes.

    Example:
        >>> mixture = ring()
        >>> mixture.num_modes, mixture.std
        (8, 0.01)
        >>> mixture.means[:2].round(decimals=3)  # the first two of the 8 means, 45 degrees apart
        tensor([[1.0000, 0.0000],
                [0.7070, 0.7070]])
        >>> ring(num_modes=3, radius=2.0).means.norm(dim=1)
        tensor([2., 2., 2.])
    """
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float32) / num_modes
    return GaussianMixture(radius * torch.stack([angles.cos(), angles.sin()], dim=1), std)


def grid(size: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """``size x size`` Gaussians on a grid centred at 0 (PacGAN "2D-grid": {-4,-2,0,2,4}^2).

    Example:
        >>> mixture = grid()
        >>> mixture.num_modes, mixture.std
        (25, 0.05)
        >>> mixture.means[[0, 1, -1]]  # corner, its neighbour on the grid, the opposite corner
        tensor([[-4., -4.],
                [-4., -2.],
                [ 4.,  4.]])
    """
    axis = spacing * (torch.arange(size, dtype=torch.float32) - (size - 1) / 2)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return GaussianMixture(torch.stack([xs.flatten(), ys.flatten()], dim=1), std)


MIXTURES = {"ring": ring, "grid": grid}


class ToyDataModule(L.LightningDataModule):
    """Samples of a 2-D Gaussian mixture; batches are ``(points, mode_index)``.

    Args:
        name: ``"ring"`` (8 Gaussians on the unit circle, std 0.01) or ``"grid"``
            (25 Gaussians at {-4,-2,0,2,4}^2, std 0.05).
        num_samples: training points (one epoch).
        num_val_samples: held-out points for validation.
        batch_size: points per batch (PacGAN packing needs a multiple of ``pack``).
        seed: seed of the points, so every run sees the same data.
        num_workers: DataLoader workers (0 is fastest for in-memory points).

    Example:
        >>> datamodule = ToyDataModule("grid", num_samples=1_000, num_val_samples=100, batch_size=100)
        >>> datamodule.data_shape, datamodule.num_classes  # 2-D points, one class per mode
        ((2,), 25)
        >>> datamodule.setup()
        >>> len(datamodule.train_set), len(datamodule.val_set)
        (1000, 100)
        >>> points, modes = next(iter(datamodule.train_dataloader()))
        >>> points.shape, modes.shape, int(modes.max()) < 25
        (torch.Size([100, 2]), torch.Size([100]), True)
        >>> len(datamodule.train_dataloader())  # full batches per epoch
        10
    """

    def __init__(
        self,
        name: Literal["ring", "grid"] = "ring",
        num_samples: int = 100_000,
        num_val_samples: int = 2_500,
        batch_size: int = 500,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if name not in MIXTURES:
            raise ConfigurationError(f"Unknown mixture {name!r}; choose one of {', '.join(sorted(MIXTURES))}.")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}.")
        if num_samples < batch_size:
            raise ConfigurationError(
                f"num_samples ({num_samples}) must be at least batch_size ({batch_size}): the last incomplete "
                "batch is dropped, so an epoch would have no batches; raise num_samples or lower batch_size."
            )
        if num_val_samples < 0 or num_workers < 0:
            raise ConfigurationError(
                f"num_val_samples and num_workers must be >= 0, got {num_val_samples} and {num_workers}."
            )
        self.save_hyperparameters()
        self.name = name
        self.mixture: GaussianMixture = MIXTURES[name]()
        self.num_samples = num_samples
        self.num_val_samples = num_val_samples
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def num_classes(self) -> int:
        return self.mixture.num_modes

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        self.train_set = TensorDataset(*self.mixture.sample(self.num_samples, generator))
        self.val_set = TensorDataset(*self.mixture.sample(self.num_val_samples, generator))

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup()
        assert self.train_set is not None
        return resumable_loader(
            self, self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True, num_workers=self.num_workers
        )

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None:
            self.setup()
        assert self.val_set is not None
        return DataLoader(self.val_set, batch_size=self.batch_size, drop_last=True, num_workers=self.num_workers)
