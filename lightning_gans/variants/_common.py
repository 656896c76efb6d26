"""Small checks that the variants share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lightning_gans.base import packed_shape
from lightning_gans.errors import ConfigurationError

NETWORKS = (
    "(built from data_shape and the width settings); for networks of your own use "
    "lightning_gans.BaseGAN(generator=..., discriminator=..., latent_dim=...) or subclass it"
)
"""What to say when a variant is given ``generator=`` or ``discriminator=``."""


def reject_own_settings(variant: object, kwargs: Mapping[str, Any], **own: str) -> None:
    """Stop a keyword that ``variant`` passes to its parent itself (Python would raise
    "got multiple values for keyword argument"). ``own`` maps each such name to what the
    variant sets it to and what to use instead."""
    for name, advice in own.items():
        if name in kwargs:
            raise ConfigurationError(f"{type(variant).__name__} sets its own {name} {advice}.")


def discriminator_shape(data_shape: Sequence[int], pack: Any) -> tuple[int, ...]:
    """The discriminator's input shape under PacGAN packing; ``pack`` is checked here, as a
    bad one would fail inside the network's constructor before BaseGAN could name it."""
    if not isinstance(pack, int) or pack < 1:
        raise ConfigurationError(f"pack must be an integer >= 1 (1 turns packing off), got {pack!r}.")
    return packed_shape(data_shape, pack)
