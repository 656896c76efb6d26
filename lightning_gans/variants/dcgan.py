"""DCGAN (Radford et al. 2015) and LSGAN (Mao et al. 2017), which differs only in its loss,
and R1GAN (Mescheder et al. 2018), which adds the R1 penalty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch.optim import Optimizer

from lightning_gans.base import BaseGAN, packed_shape
from lightning_gans.nets import DCGANDiscriminator, DCGANGenerator
from lightning_gans.penalties import DiscriminatorPenalty, R1Penalty
from lightning_gans.settings import refuse_networks


class DCGAN(BaseGAN):
    """Deep Convolutional GAN (Radford et al. 2015).

    Transposed-convolution generator with BatchNorm and ReLU, strided-convolution
    discriminator with LeakyReLU(0.2), weights ~ N(0, 0.02), the non-saturating loss
    ``-E[log D(G(z))]`` (Goodfellow et al. 2014, Sec. 3) and Adam(2e-4, betas=(0.5, 0.999)),
    all as in the paper (Sec. 4). Images of 28, 32 or 64 pixels with 1 or 3 channels.

    Args:
        data_shape: ``(C, S, S)``; the CLI links it from the datamodule.
        latent_dim: size of ``z`` (100 in the paper).
        g_channels: generator width (``ngf``).
        d_channels: discriminator width (``ndf``).
        loss: adversarial loss by name (:func:`lightning_gans.losses.get_adversarial_loss`).
        d_norm: the discriminator's normalisation: ``"batch"``, ``"layer"`` or ``"none"``.
        spectral_norm: spectral normalisation in the discriminator.
        pack: PacGAN packing: the discriminator sees ``pack`` images at once (Lin et al. 2018).
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN`.

    Example:
        >>> from lightning_gans import DCGAN
        >>> gan = DCGAN(data_shape=(1, 28, 28), latent_dim=16, g_channels=8, d_channels=8)
        >>> gan.sample(2).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        data_shape: Sequence[int] = (3, 64, 64),
        latent_dim: int = 100,
        g_channels: int = 64,
        d_channels: int = 64,
        loss: str = "non_saturating",
        d_norm: Literal["batch", "layer", "none"] = "batch",
        spectral_norm: bool = False,
        pack: int = 1,
        **kwargs: Any,
    ) -> None:
        refuse_networks(type(self).__name__, kwargs)
        data_shape = tuple(data_shape)
        generator = DCGANGenerator(latent_dim, data_shape, g_channels)
        discriminator = DCGANDiscriminator(packed_shape(data_shape, pack), d_channels, d_norm, spectral_norm)
        super().__init__(
            generator, discriminator, data_shape=data_shape, latent_dim=latent_dim, loss=loss, pack=pack, **kwargs
        )


class LSGAN(DCGAN):
    """Least Squares GAN (Mao et al. 2017): DCGAN networks with the least-squares loss,
    ``min_D 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]``, ``min_G 1/2 E[(D(G(z)) - 1)^2]``
    (Eq. 2 with a=0, b=c=1), which minimises a Pearson chi-squared divergence, and
    Adam(2e-4, betas=(0.5, 0.999)) (Sec. 4).

    Example:
        >>> from lightning_gans import LSGAN
        >>> import torch
        >>> gan = LSGAN(data_shape=(1, 28, 28), latent_dim=8, g_channels=4, d_channels=4)
        >>> gan.discriminator_loss(torch.ones(4), torch.zeros(4))  # D(x) = 1, D(G(z)) = 0: the optimum
        tensor(0.)
        >>> gan.generator_loss(torch.zeros(4))  # 1/2 E[(D(G(z)) - 1)^2]
        tensor(0.5000)"""

    def __init__(self, loss: str = "least_squares", **kwargs: Any) -> None:
        super().__init__(loss=loss, **kwargs)


class R1GAN(DCGAN):
    """GAN with the R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do
    actually Converge?"): non-saturating loss plus ``gamma / 2 * E_data[||grad D(x)||^2]``
    (Eq. 9), which makes the training dynamics locally convergent.

    The discriminator has no normalisation (a batch statistic would couple the samples'
    gradients), and the optimizer is RMSprop(1e-4) as in the paper's experiments.
    ``r1_every=k`` applies the penalty only every k discriminator updates with weight
    ``k * gamma / 2`` (lazy regularisation, StyleGAN2 Sec. 3.1). A ``penalty=`` given
    replaces R1 (``gamma`` and ``r1_every`` then do nothing).

    Example:
        >>> from lightning_gans import R1GAN
        >>> R1GAN(data_shape=(1, 28, 28), latent_dim=8, g_channels=4, d_channels=4, gamma=0.1, r1_every=4).penalty
        R1Penalty(gamma=0.1, every=4)
    """

    def __init__(
        self,
        gamma: float = 10.0,
        r1_every: int = 1,
        d_norm: Literal["batch", "layer", "none"] = "none",
        penalty: DiscriminatorPenalty | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            d_norm=d_norm, penalty=penalty if penalty is not None else R1Penalty(gamma, r1_every), **kwargs
        )

    def configure_default_optimizer(self, params: Any, role: str) -> Optimizer:
        return torch.optim.RMSprop(params, lr=1e-4)
