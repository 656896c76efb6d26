"""The vanilla GAN of Goodfellow et al. 2014 with multilayer perceptrons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import nn

from lightning_gans.base import BaseGAN
from lightning_gans.nets import MLPDiscriminator, MLPGenerator


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
        g_batch_norm: BatchNorm in the generator's hidden layers (PacGAN's generator).
        d_hidden_dim: units per hidden layer of the discriminator; ``hidden_dim`` when ``None``.
        d_num_layers: hidden layers of the discriminator; ``num_layers`` when ``None``.
        d_maxout_pieces: maxout discriminator with this many pieces per unit (PacGAN: 5);
            1 is linear + LeakyReLU(0.2).
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN` (``n_critic``,
            ``pack``, ``ema_decay``, optimizers, ...).
    """

    members = 1
    """Independent networks per module (:class:`~lightning_gans.GANEnsemble` sets more)."""

    def __init__(
        self,
        data_shape: Sequence[int] = (2,),
        latent_dim: int = 2,
        hidden_dim: int = 400,
        num_layers: int = 4,
        loss: Literal["minimax", "non_saturating"] = "non_saturating",
        g_batch_norm: bool = False,
        d_hidden_dim: int | None = None,
        d_num_layers: int | None = None,
        d_maxout_pieces: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_shape=data_shape, latent_dim=latent_dim, loss=loss, **kwargs)

    def build_networks(
        self, data_shape: tuple[int, ...], discriminator_input_shape: tuple[int, ...]
    ) -> tuple[nn.Module, nn.Module]:
        h = self.hparams
        hidden, layers = h["hidden_dim"], h["num_layers"]
        activation = "tanh" if len(data_shape) > 1 else None  # images lie in [-1, 1]
        generator = MLPGenerator(
            self.latent_dim, data_shape, hidden, layers, activation, h["g_batch_norm"], self.members
        )
        discriminator = MLPDiscriminator(
            discriminator_input_shape,
            h["d_hidden_dim"] or hidden,
            h["d_num_layers"] or layers,
            maxout_pieces=h["d_maxout_pieces"],
            members=self.members,
        )
        return generator, discriminator
