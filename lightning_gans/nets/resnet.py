"""ResNet generator and discriminator of SNGAN (Miyato et al. 2018, Appendix B.4) and of the
projection discriminator (Miyato & Koyama 2018), for 32 and 64 pixel images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.nets.layers import (
    ConditionalBlock,
    ProjectionHead,
    batch_norm,
    check_sizes,
    image_shape,
    maybe_spectral_norm,
    run_layers,
)

SIZES = (32, 64)


def _apply_norm(norm: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    return norm(x) if labels is None or isinstance(norm, nn.BatchNorm2d) else norm(x, labels)


class GeneratorBlock(ConditionalBlock):
    """BN-ReLU-up-conv3-BN-ReLU-conv3 with a 1x1 up-sampled shortcut (conditional BN if classes)."""

    def __init__(self, in_channels: int, out_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.bn1 = batch_norm(in_channels, num_classes)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.bn2 = batch_norm(out_channels, num_classes)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.conv1(F.interpolate(F.relu(_apply_norm(self.bn1, x, labels)), scale_factor=2))
        h = self.conv2(F.relu(_apply_norm(self.bn2, h, labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DiscriminatorBlock(nn.Module):
    """(ReLU)-conv3-ReLU-conv3-(avgpool) with a 1x1 shortcut; ``first`` is SNGAN's
    "optimized" first block, which sees raw pixels and so starts without a ReLU."""

    def __init__(self, in_channels: int, out_channels: int, down: bool, first: bool, spectral: bool) -> None:
        super().__init__()
        self.conv1 = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, 3, 1, 1), spectral)
        self.conv2 = maybe_spectral_norm(nn.Conv2d(out_channels, out_channels, 3, 1, 1), spectral)
        self.learnable_shortcut = down or in_channels != out_channels
        if self.learnable_shortcut:
            self.shortcut = maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, 1), spectral)
        self.down, self.first = down, first

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.learnable_shortcut:
            # The first block pools before its 1x1 conv, the others after (as in SNGAN).
            s = self.shortcut(F.avg_pool2d(s, 2)) if self.first else self.shortcut(s)
            if self.down and not self.first:
                s = F.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator(nn.Module):
    """``z -> image``: linear to 4x4, up-sampling residual blocks to 32 or 64 pixels.

    Args:
        latent_dim: size of ``z`` (128 in SNGAN).
        data_shape: ``(C, S, S)`` with S in 32, 64.
        channels: width of every block (256 in SNGAN's CIFAR-10 generator).
        num_classes: > 0 makes the blocks' BatchNorm class-conditional; call ``G(z, labels)``.
    """

    def __init__(self, latent_dim: int, data_shape: Sequence[int], channels: int = 256, num_classes: int = 0):
        super().__init__()
        out_channels, size, _ = image_shape(data_shape, SIZES, "ResNetGenerator")
        check_sizes("ResNetGenerator", latent_dim=latent_dim, channels=channels)
        self.latent_dim, self.channels = latent_dim, channels
        self.linear = nn.Linear(latent_dim, 4 * 4 * channels)
        ups = int(math.log2(size // 4))
        self.blocks = nn.ModuleList(GeneratorBlock(channels, channels, num_classes) for _ in range(ups))
        self.out = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(True), nn.Conv2d(channels, out_channels, 3, 1, 1), nn.Tanh()
        )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.linear(z).view(z.shape[0], self.channels, 4, 4)
        return self.out(run_layers(self.blocks, h, labels))


class ResNetDiscriminator(nn.Module):
    """``image -> score``: residual blocks down to 8x8, two more blocks, ReLU, global sum
    pooling, then a (projection) linear head.

    Args:
        data_shape: ``(C, S, S)`` with S in 32, 64 (with packing, ``C`` times ``pack``).
        channels: width of every block (128 in SNGAN's CIFAR-10 discriminator).
        spectral_norm: spectral normalisation of every weight (SNGAN).
        num_classes: > 0 adds the projection head; call ``D(x, labels)``.
    """

    def __init__(
        self, data_shape: Sequence[int], channels: int = 128, spectral_norm: bool = True, num_classes: int = 0
    ):
        super().__init__()
        in_channels, size, _ = image_shape(data_shape, SIZES, "ResNetDiscriminator")
        check_sizes("ResNetDiscriminator", channels=channels)
        downs = int(math.log2(size // 8))
        blocks = [DiscriminatorBlock(in_channels, channels, down=True, first=True, spectral=spectral_norm)]
        blocks += [
            DiscriminatorBlock(channels, channels, down=True, first=False, spectral=spectral_norm)
            for _ in range(downs - 1)
        ]
        blocks += [
            DiscriminatorBlock(channels, channels, down=False, first=False, spectral=spectral_norm) for _ in range(2)
        ]
        self.blocks = nn.Sequential(*blocks)
        self.head = ProjectionHead(channels, num_classes, spectral_norm)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        features = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.head(features, labels)
