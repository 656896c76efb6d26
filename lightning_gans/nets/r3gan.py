"""R3GAN's generator and discriminator (Huang, Gokaslan, Kuleshov, Tompkin, "The GAN is dead;
long live the GAN! A Modern GAN Baseline", NeurIPS 2024, Sec. 3 and Fig. 4).

A modernised ResNet without normalisation layers:

* each stage is residual blocks at one resolution; a block is an inverted bottleneck
  ``1x1 conv (C -> E C) -> bias + leaky ReLU -> k x k grouped conv (E C -> E C) -> bias + leaky
  ReLU -> 1x1 conv (E C -> C)``, added to its input (ResNeXt's grouped convolutions, the
  inverted bottleneck of MobileNetV2 and ConvNeXt);
* fix-up initialisation instead of normalisation: every convolution gets MSR (He) initial
  weights scaled by ``L^(-1/4)`` (``L`` the number of residual blocks, 3 layers per block), and
  each block's last layer starts at zero, so every block starts as the identity;
* resolution changes between stages by bilinear resampling (a ``[1, 3, 3, 1]`` low-pass
  filter with stride 2), with a 1x1 convolution where the width changes;
* the generator starts from a learned 4x4 basis modulated by a linear map of ``z`` (and the
  class embedding), and the discriminator ends with a depthwise 4x4 convolution and a linear
  map (and a projection onto the class embedding when conditional).

They know nothing of training. Deviations from the paper's code (``R3GAN/Networks.py``):

* plain PyTorch convolutions and resampling (the paper's custom CUDA kernels compute the
  same functions); the resampling filter is a non-persistent buffer (not in checkpoints);
* a class label is an index into an ``nn.Embedding`` initialised as the paper's bias-free
  linear map of a one-hot vector (the same function and initial distribution);
* the discriminator returns ``(N, 1)`` like the library's other discriminators (the paper's,
  ``(N,)``); image channels are any count (the paper's, 3); no float16 stages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError

LEAKY_RELU_GAIN = math.sqrt(2 / (1 + 0.2**2))
"""The gain that keeps the variance of a leaky ReLU (slope 0.2) layer's output (He et al. 2015)."""


def msr_init(layer: nn.Conv2d | nn.Linear | nn.Embedding, gain: float = 1.0) -> None:
    """MSR (He et al. 2015) initialisation: weights ``N(0, gain^2 / fan_in)``; an embedding as
    the bias-free linear map of a one-hot vector it computes (fan-in: the number of classes)."""
    weight = layer.weight
    fan_in = weight.shape[0] if isinstance(layer, nn.Embedding) else weight[0].numel()
    with torch.no_grad():
        weight.normal_(0.0, gain / math.sqrt(fan_in))


def conv(
    in_channels: int, out_channels: int, kernel_size: int, groups: int = 1, gain: float = 1.0, same: bool = True
) -> nn.Conv2d:
    """A bias-free, MSR-initialised convolution that keeps the resolution (``same``) or does not pad."""
    padding = (kernel_size - 1) // 2 if same else 0
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, groups=groups, bias=False)
    msr_init(layer, gain)
    return layer


class BiasedLeakyReLU(nn.Module):
    """``leaky_relu(x + b, 0.2)`` with a learned bias ``b`` per channel (zero at first)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, *([1] * (x.dim() - 2))), 0.2)


class ResidualBlock(nn.Module):
    """``x + conv1x1(act(grouped_conv(act(conv1x1(x)))))``, the inverted bottleneck of R3GAN
    (Fig. 4), with fix-up initialisation for a network of ``total_blocks`` blocks.

    Example:
        The last layer starts at zero: a new block is the identity.

        >>> import torch
        >>> block = ResidualBlock(8, cardinality=2, expansion=2, kernel_size=3, total_blocks=4)
        >>> x = torch.randn(2, 8, 5, 5)
        >>> torch.equal(block(x), x)
        True
    """

    def __init__(self, channels: int, cardinality: int, expansion: int, kernel_size: int, total_blocks: int) -> None:
        super().__init__()
        expanded = channels * expansion
        if expanded % cardinality:
            raise ConfigurationError(
                f"R3GAN's grouped convolution splits {expanded} channels (width {channels} x expansion {expansion}) "
                f"into {cardinality} groups; choose a cardinality that divides {expanded}."
            )
        # Fix-up: a branch of m = 3 layers in a network of L blocks scales by L^(-1 / (2m - 2)).
        gain = LEAKY_RELU_GAIN * total_blocks ** (-1 / 4)
        self.expand = conv(channels, expanded, 1, gain=gain)
        self.act1 = BiasedLeakyReLU(expanded)
        self.grouped = conv(expanded, expanded, kernel_size, groups=cardinality, gain=gain)
        self.act2 = BiasedLeakyReLU(expanded)
        self.project = conv(expanded, channels, 1, gain=0.0)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.project(self.act2(self.grouped(self.act1(self.expand(x)))))


class Resample(nn.Module):
    """Bilinear 2x up- or downsampling of each channel: the separable ``[1, 3, 3, 1]`` low-pass
    filter, stride 2 (as a transposed convolution when up); a 1x1 convolution changes the
    width (before upsampling, after downsampling, where there are fewer channels).

    Example:
        A constant image stays constant inside (the borders see zero padding), and the
        resolution doubles or halves:

        >>> import torch
        >>> up, down = Resample(2, 2, up=True), Resample(2, 2, up=False)
        >>> x = torch.ones(1, 2, 8, 8)
        >>> up(x).shape, down(x).shape
        (torch.Size([1, 2, 16, 16]), torch.Size([1, 2, 4, 4]))
        >>> float(up(x)[0, 0, 4, 4]), float(down(x)[0, 0, 2, 2])
        (1.0, 1.0)
    """

    def __init__(self, in_channels: int, out_channels: int, up: bool) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.kernel: Tensor
        self.register_buffer("kernel", torch.outer(taps, taps) / taps.sum() ** 2, persistent=False)
        self.up = up
        self.linear: nn.Conv2d | None = conv(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        if self.up and self.linear is not None:
            x = self.linear(x)
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 4, 4)
        if self.up:  # each input pixel spreads over 4x4 outputs, each output gathers a quarter of the taps
            return F.conv_transpose2d(x, 4 * kernel, stride=2, padding=1, groups=channels)
        x = F.conv2d(x, kernel, stride=2, padding=1, groups=channels)
        return self.linear(x) if self.linear is not None else x


def _per_stage(value: int | Sequence[int], stages: int, name: str) -> list[int]:
    values = [value] * stages if isinstance(value, int) else list(value)
    if len(values) != stages:
        raise ConfigurationError(
            f"R3GAN's {name} has one value per resolution, {stages} here (4x4 up to the image size); "
            f"got {len(values)}: {values}. Give one number for all stages or a list of {stages}."
        )
    return values


def _stage_settings(
    data_shape: Sequence[int],
    widths: int | Sequence[int],
    cardinality: int | Sequence[int],
    blocks: int | Sequence[int],
) -> tuple[int, list[int], list[int], list[int]]:
    """The number of resolutions and the widths, groups and blocks of each."""
    stages = stages_for(data_shape)
    return (
        stages,
        _per_stage(widths, stages, "widths"),
        _per_stage(cardinality, stages, "cardinality"),
        _per_stage(blocks, stages, "blocks"),
    )


def stages_for(data_shape: Sequence[int]) -> int:
    """The number of resolutions from 4x4 to the image size, which must be a power of 2 >= 8.

    Example:
        >>> stages_for((3, 32, 32)), stages_for((1, 8, 8))
        (4, 2)
    """
    size = data_shape[-1]
    if len(data_shape) != 3 or data_shape[-2] != size or size < 8 or size & (size - 1):
        raise ConfigurationError(
            f"R3GAN builds square images of a power-of-2 size from 8 (8, 16, 32, 64...), got data_shape "
            f"{tuple(data_shape)}; resize the data (e.g. data.image_size: 32)."
        )
    return int(math.log2(size)) - 1


class R3GANGenerator(nn.Module):
    """R3GAN's generator: ``z`` (and a class embedding) -> a learned 4x4 basis -> stages of
    residual blocks, each after a bilinear 2x upsampling -> a 1x1 convolution to the image.

    Args:
        latent_dim: size of ``z`` (64 in the paper's CIFAR-10 setting).
        data_shape: ``(C, S, S)``, ``S`` a power of 2 >= 8.
        widths: channels per stage from 4x4 up (one number: every stage).
        cardinality: groups of each stage's grouped convolution.
        blocks: residual blocks per stage.
        expansion: the inverted bottleneck's width factor (2).
        kernel_size: of the grouped convolution (3).
        num_classes: classes to condition on (0: unconditional).
        embed_dim: size of the class embedding concatenated to ``z`` (default ``latent_dim``).

    Example:
        >>> import torch
        >>> generator = R3GANGenerator(16, (1, 16, 16), widths=[32, 16, 8], cardinality=[4, 2, 2], blocks=1)
        >>> generator(torch.randn(2, 16)).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        widths: int | Sequence[int] = 768,
        cardinality: int | Sequence[int] = 96,
        blocks: int | Sequence[int] = 2,
        expansion: int = 2,
        kernel_size: int = 3,
        num_classes: int = 0,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        stages, widths, groups, counts = _stage_settings(data_shape, widths, cardinality, blocks)
        total = sum(counts)
        self.embedding: nn.Embedding | None = None
        in_dim = latent_dim
        if num_classes:
            self.embedding = nn.Embedding(num_classes, embed_dim or latent_dim)
            msr_init(self.embedding)
            in_dim += self.embedding.embedding_dim
        self.basis = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.modulation = nn.Linear(in_dim, widths[0], bias=False)
        msr_init(self.modulation)
        layers: list[nn.Module] = []
        for i, (width, group, count) in enumerate(zip(widths, groups, counts)):
            if i:
                layers.append(Resample(widths[i - 1], width, up=True))
            layers += [ResidualBlock(width, group, expansion, kernel_size, total) for _ in range(count)]
        self.stages = nn.Sequential(*layers)
        self.to_image = conv(widths[-1], data_shape[0], 1)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embedding is not None:
            if labels is None:
                raise ValueError("This R3GAN generator is class-conditional: pass labels.")
            z = torch.cat([z, self.embedding(labels)], dim=1)
        x = self.basis.unsqueeze(0) * self.modulation(z)[:, :, None, None]
        return self.to_image(self.stages(x))


class R3GANDiscriminator(nn.Module):
    """R3GAN's discriminator: a 1x1 convolution from the image -> stages of residual blocks,
    each followed by a bilinear 2x downsampling -> a depthwise 4x4 convolution and a linear
    map to one output (or, conditional, to an embedding projected onto the class's).

    Args:
        data_shape: ``(C, S, S)`` of its inputs (``C`` times ``pack`` under PacGAN packing).
        widths: channels per stage from the image's resolution down to 4x4.
        cardinality: groups of each stage's grouped convolution.
        blocks: residual blocks per stage.
        expansion: the inverted bottleneck's width factor.
        kernel_size: of the grouped convolution.
        num_classes: classes to condition on (0: unconditional).
        embed_dim: size of the class embedding (default the last stage's width).

    Example:
        >>> import torch
        >>> critic = R3GANDiscriminator((1, 16, 16), widths=[8, 16, 32], cardinality=[2, 2, 4], blocks=1)
        >>> critic(torch.randn(2, 1, 16, 16)).shape
        torch.Size([2, 1])
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        widths: int | Sequence[int] = 768,
        cardinality: int | Sequence[int] = 96,
        blocks: int | Sequence[int] = 2,
        expansion: int = 2,
        kernel_size: int = 3,
        num_classes: int = 0,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        stages, widths, groups, counts = _stage_settings(data_shape, widths, cardinality, blocks)
        total = sum(counts)
        self.from_image = conv(data_shape[0], widths[0], 1)
        layers: list[nn.Module] = []
        for i, (width, group, count) in enumerate(zip(widths, groups, counts)):
            layers += [ResidualBlock(width, group, expansion, kernel_size, total) for _ in range(count)]
            if i + 1 < stages:
                layers.append(Resample(width, widths[i + 1], up=False))
        self.stages = nn.Sequential(*layers)
        out_dim = (embed_dim or widths[-1]) if num_classes else 1
        self.basis = conv(widths[-1], widths[-1], 4, groups=widths[-1], same=False)  # 4x4 -> 1x1, per channel
        self.head = nn.Linear(widths[-1], out_dim, bias=False)
        msr_init(self.head)
        self.embedding: nn.Embedding | None = None
        if num_classes:
            self.embedding = nn.Embedding(num_classes, out_dim)
            msr_init(self.embedding, gain=1 / math.sqrt(out_dim))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        features = self.head(self.basis(self.stages(self.from_image(x))).flatten(1))
        if self.embedding is None:
            return features
        if labels is None:
            raise ValueError("This R3GAN discriminator is class-conditional: pass labels.")
        return (features * self.embedding(labels)).sum(dim=1, keepdim=True)
