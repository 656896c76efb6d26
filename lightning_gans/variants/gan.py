"""The vanilla GAN of Goodfellow et al. 2014 with multilayer perceptrons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lightning_gans.base import BaseGAN, packed_shape
from lightning_gans.nets import MLPDiscriminator, MLPGenerator
from lightning_gans.settings import refuse_networks


class GAN(BaseGAN):
    """Generative Adversarial Nets (Goodfellow et al. 2014), MLP generator and discriminator.

    Implements ``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]`` (Eq. 1) with
    ``loss="minimax"``, or with the non-saturating generator loss ``-E[log D(G(z))]``
    (Section 3) with ``loss="non_saturating"``; ``loss="relativistic_pairing"`` swaps in the
    relativistic pairing game of RpGAN (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024,
    Eq. 2), which pairs each real sample with a generated one. Works on vectors (2-D mixtures) and on
    flattened images; image samples pass through ``tanh`` into ``[-1, 1]``.

    Args:
        data_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``; the CLI links it
            from the datamodule.
        latent_dim: size of the noise vector.
        hidden_dim: units per hidden layer, in both networks.
        num_layers: hidden layers, in both networks.
        loss: ``"minimax"`` (the saturating game of Eq. 1), ``"non_saturating"`` or
            ``"relativistic_pairing"`` (RpGAN).
        g_batch_norm: BatchNorm in the generator's hidden layers (PacGAN's generator).
        d_hidden_dim: units per hidden layer of the discriminator; ``hidden_dim`` when ``None``.
        d_num_layers: hidden layers of the discriminator; ``num_layers`` when ``None``.
        d_maxout_pieces: maxout discriminator with this many pieces per unit (PacGAN: 5);
            1 is linear + LeakyReLU(0.2).
        pack: PacGAN packing: the discriminator sees ``pack`` samples at once (Lin et al. 2018).
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN` (``n_critic``,
            ``ema_decay``, optimizers, ...).

    Example:
        >>> import torch
        >>> from lightning_gans import GAN
        >>> _ = torch.manual_seed(0)
        >>> gan = GAN(hidden_dim=16, num_layers=2, pack=2)
        >>> gan.sample(6).shape
        torch.Size([6, 2])
        >>> gan.discriminate(torch.zeros(6, 2)).shape  # one output per pack of 2 samples
        torch.Size([3])
    """

    members = 1
    """Independent networks per module (:class:`~lightning_gans.GANEnsemble` sets more)."""

    def __init__(
        self,
        data_shape: Sequence[int] = (2,),
        latent_dim: int = 2,
        hidden_dim: int = 400,
        num_layers: int = 4,
        loss: Literal["minimax", "non_saturating", "relativistic_pairing"] = "non_saturating",
        g_batch_norm: bool = False,
        d_hidden_dim: int | None = None,
        d_num_layers: int | None = None,
        d_maxout_pieces: int = 1,
        pack: int = 1,
        **kwargs: Any,
    ) -> None:
        refuse_networks(type(self).__name__, kwargs)
        data_shape = tuple(data_shape)
        activation = "tanh" if len(data_shape) > 1 else None  # images lie in [-1, 1]
        generator = MLPGenerator(latent_dim, data_shape, hidden_dim, num_layers, activation, g_batch_norm, self.members)
        discriminator = MLPDiscriminator(
            packed_shape(data_shape, pack),
            d_hidden_dim or hidden_dim,
            d_num_layers or num_layers,
            maxout_pieces=d_maxout_pieces,
            members=self.members,
        )
        super().__init__(
            generator, discriminator, data_shape=data_shape, latent_dim=latent_dim, loss=loss, pack=pack, **kwargs
        )
