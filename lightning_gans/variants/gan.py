"""The vanilla GAN of Goodfellow et al. 2014 with multilayer perceptrons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lightning_gans.base import BaseGAN
from lightning_gans.nets import MLPDiscriminator, MLPGenerator
from lightning_gans.variants._common import NETWORKS, discriminator_shape, reject_own_settings


class GAN(BaseGAN):
    """Generative Adversarial Nets (Goodfellow et al. 2014), MLP generator and discriminator.

    Implements ``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]`` (Eq. 1) with
    ``loss="minimax"``, or with the non-saturating generator loss ``-E[log D(G(z))]``
    (Section 3) with ``loss="non_saturating"``. Works on vectors (2-D mixtures) and on
    flattened images; image samples pass through ``tanh`` into ``[-1, 1]``.

    Args:
        data_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``; the CLI links it
            from the datamodule.
        latent_dim: size of the noise vector.
        hidden_dim: units per hidden layer, in both networks.
        num_layers: hidden layers, in both networks.
        loss: ``"minimax"`` (the saturating game of Eq. 1) or ``"non_saturating"``.
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN` (``n_critic``,
            ``pack``, ``ema_decay``, optimizers, ...).
    """

    def __init__(
        self,
        data_shape: Sequence[int] = (2,),
        latent_dim: int = 2,
        hidden_dim: int = 400,
        num_layers: int = 4,
        loss: Literal["minimax", "non_saturating"] = "non_saturating",
        **kwargs: Any,
    ) -> None:
        reject_own_settings(self, kwargs, generator=NETWORKS, discriminator=NETWORKS)
        data_shape = tuple(data_shape)
        super().__init__(
            generator=MLPGenerator(
                latent_dim, data_shape, hidden_dim, num_layers, output_activation="tanh" if len(data_shape) > 1 else None
            ),
            discriminator=MLPDiscriminator(discriminator_shape(data_shape, kwargs.get("pack", 1)), hidden_dim, num_layers),
            latent_dim=latent_dim,
            loss=loss,
            data_shape=data_shape,
            **kwargs,
        )
