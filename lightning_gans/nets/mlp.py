"""Multilayer perceptrons for vectors and flattened images (Goodfellow et al. 2014)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError
from lightning_gans.nets.ensemble import BatchedLinear, MemberBatchNorm1d
from lightning_gans.nets.layers import check_sizes


def _sample_shape(data_shape: Sequence[int]) -> tuple[int, ...]:
    """``data_shape`` as a tuple, checked: sizes >= 1, e.g. ``(2,)`` or ``(1, 28, 28)``."""
    shape = tuple(data_shape)
    if not shape or min(shape) < 1:
        raise ConfigurationError(
            f"data_shape must be the sizes (>= 1) of one sample, e.g. (2,) or (1, 28, 28); got {shape}."
        )
    return shape


class Maxout(nn.Module):
    """A maxout layer (Goodfellow et al. 2013): each unit is the max of ``pieces`` linear maps
    of the input, ``h_i(x) = max_j (W_ij x + b_ij)``. PacGAN's synthetic-data discriminator
    uses 5 pieces (Lin et al. 2018, Appendix D)."""

    def __init__(self, in_features: int, out_features: int, pieces: int, members: int = 1) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = _linear(in_features, out_features * pieces, members)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(-1, (-1, self.pieces)).amax(-1)


def _linear(in_features: int, out_features: int, members: int, bias: bool = True) -> nn.Module:
    if members == 1:
        return nn.Linear(in_features, out_features, bias=bias)
    return BatchedLinear(members, in_features, out_features, bias=bias)


def _mlp(
    in_features: int,
    hidden_dim: int,
    num_layers: int,
    out_features: int,
    activation: nn.Module,
    batch_norm: bool,
    maxout_pieces: int = 1,
    members: int = 1,
) -> nn.Sequential:
    if num_layers < 1:
        raise ConfigurationError(f"An MLP needs num_layers >= 1 hidden layers, got {num_layers}.")
    check_sizes("An MLP", hidden_dim=hidden_dim, maxout_pieces=maxout_pieces, members=members)
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(num_layers):
        if maxout_pieces > 1:
            layers.append(Maxout(width, hidden_dim, maxout_pieces, members))
        else:
            layers.append(_linear(width, hidden_dim, members, bias=not batch_norm))  # BatchNorm's shift is the bias
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim) if members == 1 else MemberBatchNorm1d(members, hidden_dim))
            layers.append(activation)
        width = hidden_dim
    layers.append(_linear(width, out_features, members))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """``z -> x``: ``num_layers`` hidden layers of ``hidden_dim`` ReLU units.

    Args:
        latent_dim: size of the noise vector ``z``.
        data_shape: shape of one sample, e.g. ``(2,)`` or ``(1, 28, 28)``.
        hidden_dim: units per hidden layer.
        num_layers: number of hidden layers.
        output_activation: ``"tanh"`` for data in ``[-1, 1]`` (images), ``None`` for
            unbounded data (2-D mixtures).
        batch_norm: BatchNorm after each hidden linear layer (which then has no bias, as
            in PacGAN's generator).
        members: ``members`` independent generators in one module (see
            :mod:`lightning_gans.nets.ensemble`): row chunk ``k`` of ``z`` goes through member ``k``.
    """

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        hidden_dim: int = 400,
        num_layers: int = 4,
        output_activation: str | None = None,
        batch_norm: bool = False,
        members: int = 1,
    ) -> None:
        super().__init__()
        if output_activation not in (None, "tanh"):
            raise ConfigurationError(f"output_activation must be 'tanh' or None, got {output_activation!r}.")
        check_sizes("MLPGenerator", latent_dim=latent_dim)
        self.latent_dim = latent_dim
        self.data_shape = _sample_shape(data_shape)
        self.net = _mlp(
            latent_dim, hidden_dim, num_layers, math.prod(self.data_shape), nn.ReLU(), batch_norm, members=members
        )
        self.output_activation = nn.Tanh() if output_activation == "tanh" else nn.Identity()

    def forward(self, z: Tensor) -> Tensor:
        return self.output_activation(self.net(z)).view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    """``x -> logit``: ``num_layers`` hidden layers of ``hidden_dim`` LeakyReLU(0.2) units.

    Args:
        data_shape: shape of one discriminator input. With PacGAN packing of ``m``
            samples, pass the packed shape (the first dimension times ``m``).
        hidden_dim: units per hidden layer.
        num_layers: number of hidden layers.
        maxout_pieces: with more than 1, each hidden layer is a :class:`Maxout` of this many
            pieces instead of linear + LeakyReLU (PacGAN: 3 layers x 200 units, 5 pieces).
        members: ``members`` independent discriminators in one module (see
            :mod:`lightning_gans.nets.ensemble`): row chunk ``k`` of ``x`` goes through member ``k``.
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        hidden_dim: int = 400,
        num_layers: int = 4,
        maxout_pieces: int = 1,
        members: int = 1,
    ) -> None:
        super().__init__()
        self.data_shape = _sample_shape(data_shape)
        self.net = _mlp(
            math.prod(self.data_shape), hidden_dim, num_layers, 1, nn.LeakyReLU(0.2), False, maxout_pieces, members
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.flatten(x, 1)).squeeze(1)
