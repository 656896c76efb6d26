"""Mode-coverage arithmetic for Gaussian mixtures (VEEGAN, Srivastava et al. 2017;
PacGAN, Lin et al. 2018, Section 5.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_gans.errors import ConfigurationError, NonFiniteSamplesError


@dataclass(frozen=True)
class ModeStatistics:
    """How well samples cover the modes of a mixture of isotropic Gaussians.

    Attributes:
        modes: modes with at least one high-quality sample.
        num_modes: modes of the mixture.
        hq_fraction: fraction of samples within ``threshold`` standard deviations of
            their nearest mean ("high-quality" samples).
        reverse_kl: ``KL(p || uniform)`` of the mode histogram of the *high-quality* samples,
            as PacGAN counts it (Lin et al. 2018, Table 1, and its reference code): 0 when
            they split evenly across the modes, ``log K`` when they all fall on one (and when
            there is none). The number the study compares with Table 1.
        reverse_kl_all: the same over *all* samples, each assigned to its nearest mode (poor
            samples included), which makes a collapsed generator look better: 500
            high-quality samples on one mode of the ring and 500 poor ones nearest another
            give ``log 4`` here and ``log 8`` in :attr:`reverse_kl`.
        counts: samples per mode, each sample at its nearest mode (where the samples are).
        hq_counts: high-quality samples per mode (the histogram of :attr:`reverse_kl`).

    Example:
        The collapsed generator above: 500 samples on mode 0 of the ring, 500 poor ones
        (20 standard deviations out) nearest mode 1:

        >>> import torch
        >>> from lightning_gans.data import ring
        >>> mixture = ring()
        >>> samples = torch.cat([mixture.means[0].expand(500, 2), 1.2 * mixture.means[1].expand(500, 2)])
        >>> stats = mode_statistics(samples, mixture.means, mixture.std)
        >>> stats.modes, stats.hq_fraction, stats.counts[:3], stats.hq_counts[:3]
        (1, 0.5, [500, 500, 0], [500, 0, 0])
        >>> round(stats.reverse_kl, 4), round(stats.reverse_kl_all, 4)  # log 8 and log 4
        (2.0794, 1.3863)
    """

    modes: int
    num_modes: int
    hq_fraction: float
    reverse_kl: float
    counts: list[int]
    reverse_kl_all: float = math.nan
    hq_counts: list[int] | None = None


def mode_statistics(samples: Tensor, means: Tensor, std: float, threshold: float = 3.0) -> ModeStatistics:
    """Modes captured, high-quality fraction and reverse KL of ``samples`` (``(N, d)``).

    Raises :class:`~lightning_gans.errors.NonFiniteSamplesError` when a sample is NaN or
    infinite, and :class:`~lightning_gans.errors.ConfigurationError` for other bad inputs.

    Example:
        >>> import torch
        >>> from lightning_gans.data import ring
        >>> mixture = ring()  # 8 modes, std 0.01
        >>> samples, _ = mixture.sample(2500, generator=torch.Generator().manual_seed(0))
        >>> stats = mode_statistics(samples, mixture.means, mixture.std)  # the data itself
        >>> stats.modes, stats.num_modes, round(stats.hq_fraction, 3), round(stats.reverse_kl, 3)
        (8, 8, 0.986, 0.001)
        >>> collapsed = mixture.means[0] + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
        >>> stats = mode_statistics(collapsed, mixture.means, mixture.std)
        >>> stats.modes, round(stats.reverse_kl, 3)  # one mode: reverse KL log 8
        (1, 2.079)
    """
    samples, means = torch.as_tensor(samples), torch.as_tensor(means)
    if means.dim() != 2 or means.shape[0] < 1:
        raise ConfigurationError(
            f"mode_statistics needs the mixture's means as a (K, d) tensor with K >= 1, got shape {tuple(means.shape)}."
        )
    d = means.shape[1]
    if samples.dim() != 2 or samples.shape[1] != d or samples.shape[0] < 1:
        raise ConfigurationError(
            f"mode_statistics needs samples of shape (N, {d}) with N >= 1, like the mixture's means; got shape "
            f"{tuple(samples.shape)}. Pass the generator's samples of this mixture (e.g. model.sample(2500))."
        )
    if not std > 0 or not threshold > 0:
        raise ConfigurationError(
            f"mode_statistics needs std > 0 and threshold > 0, got std={std} and threshold={threshold}."
        )
    bad = int((~torch.isfinite(samples)).any(dim=1).sum())
    if bad:
        raise NonFiniteSamplesError(
            f"mode_statistics got {bad} non-finite samples (NaN/inf) of {samples.shape[0]}: the generator diverged; "
            "lower the learning rate, try another loss or a penalty, or resume from an earlier checkpoint."
        )
    samples = samples.detach().to(device="cpu", dtype=torch.float64)
    means = means.detach().to(device="cpu", dtype=torch.float64)
    distances = torch.cdist(samples, means)
    nearest_distance, nearest = distances.min(dim=1)
    high_quality = nearest_distance <= threshold * std
    num_modes = means.shape[0]
    hq_counts = torch.bincount(nearest[high_quality], minlength=num_modes)
    counts = torch.bincount(nearest, minlength=num_modes)
    return ModeStatistics(
        modes=int((hq_counts > 0).sum()),
        num_modes=num_modes,
        hq_fraction=float(high_quality.double().mean()),
        reverse_kl=_kl_to_uniform(hq_counts),
        counts=counts.tolist(),
        reverse_kl_all=_kl_to_uniform(counts),
        hq_counts=hq_counts.tolist(),
    )


def _kl_to_uniform(counts: Tensor) -> float:
    """``KL(counts / sum || uniform)``; ``log K`` (total collapse) for an empty histogram."""
    total = counts.sum()
    if total == 0:
        return math.log(counts.numel())
    p = counts / total
    return max(float(torch.xlogy(p, p).sum() + math.log(counts.numel())), 0.0)
