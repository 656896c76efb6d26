"""Modes of Stacked MNIST covered by generated images (VEEGAN, Srivastava et al. 2017, Sec. 5.2;
PacGAN, Lin et al. 2018, Table 2).

Each channel of a generated image is classified as a digit by the package's digit classifier
(:mod:`lightning_gans.metrics.digits`); the triple of digits is the image's mode (of 1,000).
Reported: the number of modes with at least one image, and the KL divergence of the
generated mode histogram ``p`` to the data's uniform distribution,
``KL(p || U) = sum_m p_m log(1000 p_m)`` (0 when every mode is equally frequent; log 1000 =
6.91 when all images fall in one mode). VEEGAN and PacGAN count 26,000 images.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_gans.data.stacked import DIGIT_WEIGHTS
from lightning_gans.metrics.digits import DigitFeatures

NUM_MODES = 1000


@dataclass(frozen=True)
class StackedMNISTModes:
    """Mode statistics of generated Stacked MNIST images.

    Example:
        >>> import torch
        >>> histogram = torch.zeros(1000, dtype=torch.long)
        >>> histogram[[0, 101, 999]] = torch.tensor([2, 1, 1])
        >>> stats = statistics_of_histogram(histogram)
        >>> stats.modes, stats.num_images, round(stats.kl, 3)  # 4 images in 3 of 1,000 modes
        (3, 4, 5.868)
    """

    modes: int
    """Modes (digit triples) with at least one generated image, of 1,000."""
    kl: float
    """``KL(p || uniform)`` of the generated mode histogram, in nats."""
    histogram: Tensor
    """Generated images per mode, ``(1000,)``; mode ``100 d0 + 10 d1 + d2``."""

    @property
    def num_images(self) -> int:
        return int(self.histogram.sum())


def mode_histogram(modes: Tensor) -> Tensor:
    """Counts of the mode indices ``modes`` (values in 0..999), ``(1000,)``."""
    return torch.bincount(modes.flatten().long().cpu(), minlength=NUM_MODES)


def statistics_of_histogram(histogram: Tensor) -> StackedMNISTModes:
    """Modes covered and ``KL(p || uniform)`` of a mode histogram."""
    total = int(histogram.sum())
    if total == 0:
        raise ValueError("No images were counted: the histogram is empty.")
    p = histogram.double() / total
    nonzero = p[p > 0]
    kl = float((nonzero * (nonzero * NUM_MODES).log()).sum())
    return StackedMNISTModes(modes=int((histogram > 0).sum()), kl=max(kl, 0.0), histogram=histogram.cpu())


def classify_modes(images: Tensor, classifier: DigitFeatures | None = None) -> Tensor:
    """The mode index of each image ``(N, 3, H, W)`` (float in [-1, 1] or ``uint8``)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"Stacked MNIST images are (N, 3, H, W); got {tuple(images.shape)}.")
    classifier = classifier or DigitFeatures(channels=3)
    digits = classifier.classify(images)
    return (digits * DIGIT_WEIGHTS.to(digits.device)).sum(1)


def stacked_mnist_modes(
    images: Tensor | Iterable[Tensor], classifier: DigitFeatures | None = None
) -> StackedMNISTModes:
    """Modes covered and KL to uniform of generated Stacked MNIST ``images``: one tensor
    ``(N, 3, H, W)`` or an iterable of batches (VEEGAN and PacGAN count 26,000 images).

    Example:
        Hand-drawn stacks of "1"s and "0"s: three copies of (1, 0, 1) and one (0, 1, 1):

        >>> import torch
        >>> one = -torch.ones(1, 1, 28, 28)
        >>> one[..., 5:23, 13:15] = 1  # a vertical stroke
        >>> y, x = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        >>> radius = (((y - 14) / 9) ** 2 + ((x - 14) / 6) ** 2).sqrt()
        >>> zero = torch.where((radius > 0.75) & (radius < 1.15), 1.0, -1.0)[None, None]  # an ellipse
        >>> images = torch.cat([torch.cat([one, zero, one], dim=1)] * 3 + [torch.cat([zero, one, one], dim=1)])
        >>> stats = stacked_mnist_modes(images)
        >>> stats.modes, stats.num_images, stats.histogram[[101, 11]].tolist()
        (2, 4, [3, 1])
        >>> round(stats.kl, 2)  # 3/4 log(750) + 1/4 log(250); all in one mode would give MAX_KL
        6.35
        >>> stacked_mnist_modes([images[:2], images[2:]]).modes  # batches: the same count
        2
    """
    classifier = classifier or DigitFeatures(channels=3)
    batches = [images] if isinstance(images, Tensor) else images
    histogram = torch.zeros(NUM_MODES, dtype=torch.long)
    for batch in batches:
        histogram += mode_histogram(classify_modes(batch, classifier))
    return statistics_of_histogram(histogram)


MAX_KL = math.log(NUM_MODES)
"""The KL of a generator that puts every image in one mode."""
