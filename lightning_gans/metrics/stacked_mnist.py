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
    """Mode statistics of generated Stacked MNIST images."""

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
    ``(N, 3, H, W)`` or an iterable of batches (VEEGAN and PacGAN count 26,000 images)."""
    classifier = classifier or DigitFeatures(channels=3)
    batches = [images] if isinstance(images, Tensor) else images
    histogram = torch.zeros(NUM_MODES, dtype=torch.long)
    for batch in batches:
        histogram += mode_histogram(classify_modes(batch, classifier))
    return statistics_of_histogram(histogram)


MAX_KL = math.log(NUM_MODES)
"""The KL of a generator that puts every image in one mode."""
