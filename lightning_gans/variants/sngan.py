"""SNGAN (Miyato et al. 2018) and its class-conditional form with a projection
discriminator (Miyato & Koyama 2018), which differs only in conditioning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch.optim import Optimizer

from lightning_gans.base import BaseGAN, packed_shape
from lightning_gans.errors import ConfigurationError
from lightning_gans.nets import DCGANDiscriminator, DCGANGenerator, ResNetDiscriminator, ResNetGenerator
from lightning_gans.settings import refuse_networks


class SNGAN(BaseGAN):
    """Spectrally normalised GAN (Miyato et al. 2018): every discriminator weight is divided
    by its largest singular value (Eq. 8), making D (about) 1-Lipschitz layer by layer.
    Hinge loss, ``n_critic=5``, Adam(2e-4, betas=(0, 0.9)) and the ResNet networks of
    Appendix B.4 for 32x32 (and 64x64) images; ``architecture="dcgan"`` uses the paper's
    "standard CNN" instead, which also builds 28x28 images.

    Args:
        data_shape: ``(C, S, S)``; the CLI links it from the datamodule.
        latent_dim: size of ``z`` (128 in the paper).
        architecture: ``"resnet"`` (32, 64 pixels) or ``"dcgan"`` (28, 32, 64 pixels).
        g_channels: generator width (256 for the ResNet, ``ngf`` 64 for DCGAN).
        d_channels: discriminator width (128 for the ResNet, ``ndf`` 64 for DCGAN).
        loss: adversarial loss by name (hinge in the paper).
        n_critic: discriminator updates per generator update.
        num_classes: classes of the data (:class:`CGAN`; the CLI links it from the datamodule).
        pack: PacGAN packing: the discriminator sees ``pack`` images at once (Lin et al. 2018).
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN`.

    Example:
        >>> from lightning_gans import SNGAN
        >>> gan = SNGAN(data_shape=(3, 32, 32), latent_dim=16, g_channels=16, d_channels=16)
        >>> gan.sample(2).shape, gan.n_critic
        (torch.Size([2, 3, 32, 32]), 5)
    """

    conditional: ClassVar[bool] = False

    def __init__(
        self,
        data_shape: Sequence[int] = (3, 32, 32),
        latent_dim: int = 128,
        architecture: Literal["resnet", "dcgan"] = "resnet",
        g_channels: int | None = None,
        d_channels: int | None = None,
        loss: str = "hinge",
        n_critic: int = 5,
        num_classes: int | None = None,
        pack: int = 1,
        **kwargs: Any,
    ) -> None:
        refuse_networks(type(self).__name__, kwargs)
        data_shape = tuple(data_shape)
        classes = (num_classes or 0) if self.conditional else 0
        if architecture == "resnet":
            generator: nn.Module = ResNetGenerator(latent_dim, data_shape, g_channels or 256, num_classes=classes)
            discriminator: nn.Module = ResNetDiscriminator(
                packed_shape(data_shape, pack), d_channels or 128, spectral_norm=True, num_classes=classes
            )
        elif architecture == "dcgan":
            generator = DCGANGenerator(latent_dim, data_shape, g_channels or 64, num_classes=classes)
            discriminator = DCGANDiscriminator(
                packed_shape(data_shape, pack), d_channels or 64, "none", spectral_norm=True,
                num_classes=classes,
            )  # fmt: skip
        else:
            raise ConfigurationError(f"architecture must be 'resnet' or 'dcgan', got {architecture!r}.")
        super().__init__(
            generator,
            discriminator,
            data_shape=data_shape,
            latent_dim=latent_dim,
            loss=loss,
            n_critic=n_critic,
            num_classes=num_classes,
            pack=pack,
            **kwargs,
        )

    def configure_default_optimizer(self, params: Any, role: str) -> Optimizer:
        return torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.9))


class CGAN(SNGAN):
    """Class-conditional GAN with conditional BatchNorm in the generator and a projection
    discriminator ``D(x, y) = psi(phi(x)) + embed(y)^T phi(x)`` (Miyato & Koyama 2018,
    Eq. 3), on SNGAN's networks, loss and optimizer. Needs labelled data (``num_classes``
    is linked from the datamodule); ``sample(n, labels=[...])`` draws the requested classes.

    Example:
        >>> from lightning_gans import CGAN
        >>> gan = CGAN(data_shape=(3, 32, 32), latent_dim=16, g_channels=16, d_channels=16, num_classes=10)
        >>> gan.sample(labels=[3, 3, 7]).shape
        torch.Size([3, 3, 32, 32])
        >>> gan.fixed_labels[:12].tolist()  # the fixed samples cycle through the classes
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    """

    conditional: ClassVar[bool] = True
