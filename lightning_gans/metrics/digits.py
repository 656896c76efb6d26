"""A small MNIST digit classifier shipped with the package: offline features for FID/KID,
precision/recall/density/coverage, a classifier Inception Score, and Stacked MNIST modes.

torch-fidelity's InceptionV3 needs downloaded weights and embeds about 9 images/s on a CPU;
this network embeds thousands per second and its weights (``weights/digits.pt``, trained by
``benchmarks/train_digit_classifier.py``) are part of the package. Numbers computed with it
are comparable only among runs that use the same extractor (the same weights file): they are
not the FIDs of papers, which use InceptionV3.

The classifier sees one digit: a grayscale ``(N, 1, 28, 28)`` image in ``[-1, 1]``.
:class:`DigitFeatures` adapts it to :class:`~lightning_gans.callbacks.FidelityMetrics`'
``uint8`` input and to several channels: each channel of a Stacked MNIST image is one digit,
its features are concatenated and its logits combined into the joint class of the channels
(10 ** channels classes; the channels are classified independently).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError, GANError

WEIGHTS_PATH = Path(__file__).with_name("weights") / "digits.pt"
"""The packaged weights (float16 state dict plus how they were trained)."""

DIGIT_SIZE = 28


class DigitClassifier(nn.Module):
    """A 4-convolution MNIST classifier: ``(N, 1, 28, 28)`` in ``[-1, 1]`` -> 10 logits.

    :meth:`features` is the 128-d global-average-pooled output of the last convolution, the
    representation FID and precision/recall are computed in.

    Example:
        >>> import torch
        >>> model = DigitClassifier()  # untrained: load_digit_classifier() gives the trained one
        >>> images = torch.zeros(2, 1, 28, 28)
        >>> model(images).shape, model.features(images).shape
        (torch.Size([2, 10]), torch.Size([2, 128]))
    """

    num_features = 128
    num_classes = 10

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(
            *block(1, 32, 1),
            *block(32, 32, 2),  # 14 x 14
            *block(32, 64, 1),
            *block(64, 64, 2),  # 7 x 7
            *block(64, self.num_features, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.num_features, self.num_classes)

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(images)))


def load_digit_classifier(path: str | os.PathLike[str] | None = None) -> DigitClassifier:
    """The classifier with the packaged weights (or those at ``path``), in eval mode, on the CPU.

    Example:
        A "1" drawn as a vertical stroke, white on black:

        >>> import torch
        >>> model = load_digit_classifier()
        >>> model.training, next(model.parameters()).requires_grad
        (False, False)
        >>> one = -torch.ones(1, 1, 28, 28)
        >>> one[..., 5:23, 13:15] = 1
        >>> model(one).argmax(-1)
        tensor([1])
    """
    path = str(path or WEIGHTS_PATH)
    if not os.path.isfile(path):
        raise GANError(
            f"The digit classifier's weights are missing at {path}; reinstall lightning_gans or train them "
            "with `python benchmarks/train_digit_classifier.py`."
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitClassifier()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()})
    return model.eval().requires_grad_(False)


def digit_info(path: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """How the packaged weights were trained and their held-out accuracy."""
    checkpoint = torch.load(str(path or WEIGHTS_PATH), map_location="cpu", weights_only=True)
    return dict(checkpoint.get("info", {}))


def holdout_split(n: int, holdout: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Indices ``(train, held_out)`` of ``n`` images: a fixed random ``holdout`` of them held out.
    ``benchmarks/train_digit_classifier.py`` splits an image folder so (its ``info`` says which)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[holdout:], order[:holdout]


def to_digits(images: Tensor, channels: int) -> Tensor:
    """Images ``(N, C, H, W)`` (``uint8`` in [0, 255] or float in [-1, 1]) -> their first
    ``channels`` channels as single digits ``(N * channels, 1, 28, 28)`` in [-1, 1], image-major."""
    if images.dim() != 4 or images.shape[1] < channels:
        raise ValueError(f"Expected images (N, >= {channels} channels, H, W), got {tuple(images.shape)}.")
    digits = images[:, :channels]
    digits = digits.float() / 127.5 - 1 if images.dtype == torch.uint8 else digits.float()
    digits = digits.reshape(-1, 1, *images.shape[2:])
    if digits.shape[-2:] != (DIGIT_SIZE, DIGIT_SIZE):
        digits = F.interpolate(digits, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", antialias=True)
    return digits


def joint_log_probs(channel_logits: Tensor) -> Tensor:
    """Per-channel logits ``(N, C, 10)`` -> log-probabilities of the joint class ``(N, 10 ** C)``,
    class index ``sum_c digit_c * 10 ** (C - 1 - c)`` (channel 0 the most significant digit)."""
    log_probs = channel_logits.log_softmax(-1)
    joint = log_probs[:, 0]
    for c in range(1, log_probs.shape[1]):
        joint = (joint[:, :, None] + log_probs[:, c, None, :]).flatten(1)
    return joint


class DigitFeatures(nn.Module):
    """The digit classifier as a feature extractor: images ``(N, C', H, W)`` -> features
    ``(N, 128 * channels)`` (each of the first ``channels`` channels embedded as one digit)
    and, with :meth:`features_and_logits`, the joint class log-probabilities ``(N, 10 ** channels)``.

    ``channels=1`` reads grayscale MNIST (an RGB copy of a gray image has equal channels);
    ``channels=3`` reads Stacked MNIST (1,000 classes).

    Example:
        A Stacked MNIST image of a "1", a "0" and a "1", drawn by hand:

        >>> import torch
        >>> one = -torch.ones(1, 1, 28, 28)
        >>> one[..., 5:23, 13:15] = 1  # a vertical stroke
        >>> y, x = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        >>> radius = (((y - 14) / 9) ** 2 + ((x - 14) / 6) ** 2).sqrt()
        >>> zero = torch.where((radius > 0.75) & (radius < 1.15), 1.0, -1.0)[None, None]  # an ellipse
        >>> image = torch.cat([one, zero, one], dim=1)
        >>> digits = DigitFeatures(channels=3)
        >>> digits(image).shape  # 128 features per channel
        torch.Size([1, 384])
        >>> digits.classify(image)
        tensor([[1, 0, 1]])
        >>> features, log_probs = digits.features_and_logits(image)
        >>> log_probs.shape, log_probs.argmax(-1)  # the joint class 100 * 1 + 10 * 0 + 1
        (torch.Size([1, 1000]), tensor([101]))
        >>> uint8 = ((image + 1) * 127.5).round().to(torch.uint8)  # FidelityMetrics' input
        >>> digits.classify(uint8)
        tensor([[1, 0, 1]])
    """

    def __init__(self, channels: int = 1, weights_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if channels not in (1, 2, 3):
            raise ConfigurationError(f"DigitFeatures reads 1 to 3 digit channels, got channels={channels}.")
        self.channels = channels
        self.classifier = load_digit_classifier(weights_path)
        self.num_features = DigitClassifier.num_features * channels
        self.num_classes = DigitClassifier.num_classes**channels

    @torch.no_grad()
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        classifier = self.classifier.to(images.device).eval()
        digits = to_digits(images, self.channels)
        features = classifier.features(digits)
        logits = classifier.head(features).reshape(images.shape[0], self.channels, -1)
        return features.reshape(images.shape[0], -1), joint_log_probs(logits)

    def forward(self, images: Tensor) -> Tensor:
        return self.features_and_logits(images)[0]

    @torch.no_grad()
    def classify(self, images: Tensor) -> Tensor:
        """The predicted digit of each channel, ``(N, channels)``."""
        classifier = self.classifier.to(images.device).eval()
        logits = classifier(to_digits(images, self.channels))
        return logits.argmax(-1).reshape(images.shape[0], self.channels)
