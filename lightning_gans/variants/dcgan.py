"""DCGAN (Radford et al. 2015) and LSGAN (Mao et al. 2017), which differs only in its loss,
and R1GAN (Mescheder et al. 2018), which adds the R1 penalty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.optim import Optimizer

from lightning_gans.base import BaseGAN
from lightning_gans.nets import DCGANDiscriminator, DCGANGenerator
from lightning_gans.penalties import DiscriminatorPenalty, R1Penalty


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
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN`.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(data_shape=data_shape, latent_dim=latent_dim, loss=loss, **kwargs)

    def build_networks(
        self, data_shape: tuple[int, ...], discriminator_input_shape: tuple[int, ...]
    ) -> tuple[nn.Module, nn.Module]:
        h = self.hparams
        return (
            DCGANGenerator(self.latent_dim, data_shape, h["g_channels"]),
            DCGANDiscriminator(discriminator_input_shape, h["d_channels"], h["d_norm"], h["spectral_norm"]),
        )


class LSGAN(DCGAN):
    """Least Squares GAN (Mao et al. 2017): DCGAN networks with the least-squares loss,
    ``min_D 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]``, ``min_G 1/2 E[(D(G(z)) - 1)^2]``
    (Eq. 2 with a=0, b=c=1), which minimises a Pearson chi-squared divergence, and
    Adam(2e-4, betas=(0.5, 0.999)) (Sec. 4)."""

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
    """

    def __init__(
        self, gamma: float = 10.0, r1_every: int = 1, d_norm: Literal["batch", "layer", "none"] = "none", **kwargs: Any
    ) -> None:
        super().__init__(d_norm=d_norm, **kwargs)

    def default_penalty(self) -> DiscriminatorPenalty | None:
        return R1Penalty(self.hparams["gamma"], self.hparams["r1_every"])

    def configure_default_optimizer(self, params: Any, role: str) -> Optimizer:
        return torch.optim.RMSprop(params, lr=1e-4)
