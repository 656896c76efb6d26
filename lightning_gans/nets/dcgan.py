"""DCGAN networks (Radford et al. 2015) for 28, 32 and 64 pixel images, 1 or 3 channels.

Generator: transposed convolutions with BatchNorm and ReLU, ``tanh`` output.
Discriminator: strided convolutions with LeakyReLU(0.2), no normalisation on the first
layer. Options cover the variants: the critic's normalisation (BatchNorm, layer norm for
WGAN-GP, none), spectral normalisation (SNGAN), and class conditioning (conditional
BatchNorm in G, a projection head in D).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError
from lightning_gans.nets.layers import (
    ProjectionHead,
    batch_norm,
    check_sizes,
    image_shape,
    maybe_spectral_norm,
    run_layers,
)

# image size -> (spatial size after the first generator layer, number of 2x up-samplings)
PLANS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


class DCGANGenerator(nn.Module):
    """``z -> image``: ``(N, latent_dim) -> (N, C, S, S)`` in ``[-1, 1]``, S in 28, 32, 64.

    Args:
        latent_dim: size of ``z``.
        data_shape: ``(C, S, S)`` of the images.
        base_channels: channels before the last layer (``ngf``); doubled per layer back.
        num_classes: > 0 makes BatchNorm class-conditional; call ``G(z, labels)``.
    """

    def __init__(self, latent_dim: int, data_shape: Sequence[int], base_channels: int = 64, num_classes: int = 0):
        super().__init__()
        channels, size, _ = image_shape(data_shape, tuple(PLANS), "DCGANGenerator")
        check_sizes("DCGANGenerator", latent_dim=latent_dim, base_channels=base_channels)
        start, ups = PLANS[size]
        width = base_channels * 2 ** (ups - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, start, 1, 0, bias=False),
            batch_norm(width, num_classes),
            nn.ReLU(True),
        ]
        for _ in range(ups - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                batch_norm(width // 2, num_classes),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.layers = nn.ModuleList(layers)
        self.latent_dim = latent_dim
        self.data_shape = (channels, size, size)
        init_dcgan_weights(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return run_layers(self.layers, z.view(z.shape[0], -1, 1, 1), labels)


class DCGANDiscriminator(nn.Module):
    """``image -> score``: ``(N, C, S, S) -> (N,)``, S in 28, 32, 64.

    Args:
        data_shape: ``(C, S, S)`` of the inputs (with PacGAN packing, ``C`` times ``pack``).
        base_channels: channels of the first layer (``ndf``), doubled per layer.
        norm: ``"batch"`` (DCGAN), ``"layer"`` (WGAN-GP, which forbids BatchNorm in the
            critic), or ``"none"``.
        spectral_norm: spectral normalisation of every weight (SNGAN).
        num_classes: > 0 adds a projection head; call ``D(x, labels)``.
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        base_channels: int = 64,
        norm: Literal["batch", "layer", "none"] = "batch",
        spectral_norm: bool = False,
        num_classes: int = 0,
    ):
        super().__init__()
        channels, size, _ = image_shape(data_shape, tuple(PLANS), "DCGANDiscriminator")
        check_sizes("DCGANDiscriminator", base_channels=base_channels)
        start, downs = PLANS[size]
        if norm not in ("batch", "layer", "none"):
            raise ConfigurationError(f"norm (d_norm of the variants) must be 'batch', 'layer' or 'none', got {norm!r}.")
        layers: list[nn.Module] = [maybe_spectral_norm(nn.Conv2d(channels, base_channels, 4, 2, 1), spectral_norm)]
        layers.append(nn.LeakyReLU(0.2, True))
        width = base_channels
        for _ in range(downs - 1):
            layers.append(maybe_spectral_norm(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm == "none"), spectral_norm))
            width *= 2
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, width))  # one group: layer norm over (C, H, W)
            layers.append(nn.LeakyReLU(0.2, True))
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        # DCGAN's last layer, a convolution over the whole start x start map, is a linear layer.
        self.head = ProjectionHead(width * start * start, num_classes, spectral_norm)
        init_dcgan_weights(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head(self.features(x), labels)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not hasattr(m, "parametrizations"):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
