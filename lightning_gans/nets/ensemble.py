"""Layers of ``members`` independent networks run as one ("vectorised seeds").

A batch of ``members * B`` rows is ``members`` consecutive chunks of ``B`` rows: chunk ``k``
goes through member ``k``'s weights only. One batched matrix product replaces ``members``
small ones, so ``members`` independent MLPs cost one module call per layer instead of
``members``. Each member is initialised as the layer it stands for (``nn.Linear``,
``nn.BatchNorm1d``) and :meth:`member` gives that layer back with member ``k``'s weights.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError


def member_chunks(x: Tensor, members: int) -> Tensor:
    """``(members * B, ...) -> (members, B, ...)``, with one clear error when the rows do not split."""
    if x.shape[0] % members:
        raise ConfigurationError(
            f"An ensemble of {members} members got a batch of {x.shape[0]} rows; use a batch size that is a "
            f"multiple of {members} (each member gets its own consecutive chunk)."
        )
    return x.view(members, x.shape[0] // members, *x.shape[1:])


class BatchedLinear(nn.Module):
    """``members`` independent ``nn.Linear(in_features, out_features)`` maps; chunk ``k`` of
    the batch through member ``k``: ``y_k = x_k W_k + b_k`` in one ``torch.baddbmm``."""

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Linear``'s initialisation per member: ``U(-1/sqrt(in), 1/sqrt(in))`` for weights and bias."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        chunks = member_chunks(x, self.members)
        out = torch.bmm(chunks, self.weight) if self.bias is None else torch.baddbmm(self.bias, chunks, self.weight)
        return out.reshape(x.shape[0], self.out_features)

    def member(self, k: int) -> nn.Linear:
        """Member ``k`` as an ``nn.Linear`` (a copy of its weights)."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(self.weight[k].T)
            if self.bias is not None:
                linear.bias.copy_(self.bias[k, 0])
        return linear

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"


class MemberBatchNorm1d(nn.Module):
    """``members`` independent ``nn.BatchNorm1d(num_features)``: each normalises its own chunk
    with its own batch statistics, running statistics and affine parameters."""

    def __init__(self, members: int, num_features: int) -> None:
        super().__init__()
        self.members, self.num_features = members, num_features
        self.norm = nn.BatchNorm1d(members * num_features)  # features of member k at [k*F, (k+1)*F)

    def forward(self, x: Tensor) -> Tensor:
        chunks = member_chunks(x, self.members)  # (members, B, F)
        batch = chunks.shape[1]
        side_by_side = chunks.transpose(0, 1).reshape(batch, self.members * self.num_features)
        out = self.norm(side_by_side).view(batch, self.members, self.num_features)
        return out.transpose(0, 1).reshape(x.shape[0], self.num_features)

    def member(self, k: int) -> nn.BatchNorm1d:
        """Member ``k`` as an ``nn.BatchNorm1d`` (a copy of its parameters and running statistics)."""
        norm = nn.BatchNorm1d(self.num_features)
        features = slice(k * self.num_features, (k + 1) * self.num_features)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(norm, name).copy_(getattr(self.norm, name)[features])
            if norm.num_batches_tracked is not None and self.norm.num_batches_tracked is not None:
                norm.num_batches_tracked.copy_(self.norm.num_batches_tracked)
        return norm


def member_network(network: nn.Module, k: int) -> nn.Module:
    """A copy of ``network`` with every ensemble layer replaced by member ``k``'s plain layer:
    the network member ``k`` would have been, trained on its own."""
    network = copy.deepcopy(network)
    _take_member(network, k)
    return network


def _take_member(module: nn.Module, k: int) -> None:
    for name, child in module.named_children():
        if isinstance(child, (BatchedLinear, MemberBatchNorm1d)):
            setattr(module, name, child.member(k))
        else:
            _take_member(child, k)
