"""Building blocks shared by the convolutional networks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from lightning_gans.errors import ConfigurationError


def maybe_spectral_norm(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018, Eq. 8): ``W / sigma(W)`` by power iteration."""
    return spectral_norm(module) if enabled else module


def check_sizes(network: str, **sizes: int) -> None:
    """Stop a width or size below 1: such a layer builds but holds nothing, or fails deep in torch."""
    for name, value in sizes.items():
        if value < 1:
            raise ConfigurationError(f"{network} needs {name} >= 1, got {value}.")


def image_shape(data_shape: Sequence[int], supported: Sequence[int], network: str) -> tuple[int, int, int]:
    """Check that ``data_shape`` is ``(C, S, S)`` with ``S`` in ``supported``; name the fix if not."""
    shape = tuple(data_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in supported:
        sizes = ", ".join(f"{s}x{s}" for s in supported)
        hint = ""
        if len(shape) == 3 and shape[0] == shape[1] in supported:
            hint = f" (channels come first: ({shape[2]}, {shape[0]}, {shape[1]}), not {shape})"
        raise ConfigurationError(
            f"{network} builds square images of {sizes} pixels (shape (channels, size, size)); "
            f"got shape {shape}{hint}. "
            f"Resize the data to a supported size (e.g. data.image_size) or choose another architecture."
        )
    if shape[0] < 1:
        raise ConfigurationError(f"{network} needs at least 1 image channel, got shape {shape} (channels, size, size).")
    return shape


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are looked up per class (de Vries et al. 2017;
    Miyato & Koyama 2018, the generator of the projection-discriminator paper)."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.scale = nn.Embedding(num_classes, num_features)
        self.shift = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.norm(x) * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


def batch_norm(num_features: int, num_classes: int) -> nn.Module:
    """Plain BatchNorm2d, or its class-conditional version when ``num_classes > 0``."""
    return ConditionalBatchNorm2d(num_features, num_classes) if num_classes else nn.BatchNorm2d(num_features)


def run_layers(layers: nn.ModuleList, x: Tensor, labels: Tensor | None) -> Tensor:
    """Apply ``layers`` in order, handing ``labels`` to the class-conditional ones."""
    for layer in layers:
        x = layer(x, labels) if isinstance(layer, (ConditionalBatchNorm2d, ConditionalBlock)) else layer(x)
    return x


class ConditionalBlock(nn.Module):
    """Marker base class for blocks whose forward takes ``(x, labels)``."""


class ProjectionHead(nn.Module):
    """``D(x, y) = w^T phi(x) + embed(y)^T phi(x)``: the projection discriminator's output
    layer (Miyato & Koyama 2018, Eq. 3); without classes just ``w^T phi(x)``."""

    def __init__(self, features: int, num_classes: int, spectral: bool) -> None:
        super().__init__()
        self.linear = maybe_spectral_norm(nn.Linear(features, 1), spectral)
        self.embed = maybe_spectral_norm(nn.Embedding(num_classes, features), spectral) if num_classes else None

    def forward(self, features: Tensor, labels: Tensor | None = None) -> Tensor:
        out = self.linear(features).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ConfigurationError("This discriminator is class-conditional: call it as D(x, labels).")
            out = out + (self.embed(labels) * features).sum(dim=1)
        return out
