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
        reverse_kl: ``KL(p_samples || uniform)`` of the histogram that assigns each sample
            to its nearest mode; 0 when the samples split evenly across modes, ``log K``
            when they all fall on one.
        counts: samples per mode (nearest-mean assignment).
    """

    modes: int
    num_modes: int
    hq_fraction: float
    reverse_kl: float
    counts: list[int]


def mode_statistics(samples: Tensor, means: Tensor, std: float, threshold: float = 3.0) -> ModeStatistics:
    """Modes captured, high-quality fraction and reverse KL of ``samples`` (``(N, d)``).

    Raises :class:`~lightning_gans.errors.NonFiniteSamplesError` when a sample is NaN or
    infinite, and :class:`~lightning_gans.errors.ConfigurationError` for other bad inputs.
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
    captured = torch.bincount(nearest[high_quality], minlength=num_modes) > 0
    counts = torch.bincount(nearest, minlength=num_modes)
    p = counts / counts.sum()
    reverse_kl = float((torch.xlogy(p, p)).sum() + math.log(num_modes))
    return ModeStatistics(
        modes=int(captured.sum()),
        num_modes=num_modes,
        hq_fraction=float(high_quality.double().mean()),
        reverse_kl=max(reverse_kl, 0.0),
        counts=counts.tolist(),
    )
