"""StyleGAN2 networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), for square images of 8 to 1024 pixels with any channel count.

* Generator: a mapping network ``z -> w`` (8 layers, learning rate x0.01, StyleGAN Sec. 2),
  a learned 4x4 constant, modulated/demodulated 3x3 convolutions (StyleGAN2 Sec. 2.2,
  Eq. 1-3), per-pixel noise with learned strength, and the "skip" output: every resolution
  adds its ``toRGB`` to the upsampled image (Sec. 4.1, Fig. 7). Style mixing (StyleGAN
  Sec. 3.1) switches to a second ``w`` at a random layer in training; ``psi`` truncates ``w``
  toward its running mean (StyleGAN Sec. 3.1, Eq. 3).
* Discriminator: the residual design (Sec. 4.1, Fig. 7c) with minibatch standard deviation
  (Karras et al. 2018, ProGAN Sec. 3) before its last convolution.
* Every layer uses the equalised learning rate (ProGAN Sec. 4.1): weights drawn ``N(0, 1)``,
  scaled by ``1 / sqrt(fan_in)`` at run time.

Differences from the paper's code, for a readable implementation: resampling is bilinear
upsampling before, and 2x2 average pooling after, a 3x3 convolution, in place of the
``[1, 3, 3, 1]`` FIR filter fused with (transposed) strided convolutions; no output clamping
for float16. Noise inputs are random in training (from :func:`random_stream`'s generator,
so a resumed run draws the same), and fixed per layer in eval mode, so samples from given
``z`` are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError

SQRT2 = math.sqrt(2.0)
"""Gain after leaky ReLU(0.2) that keeps the signal's magnitude (the paper's ``def_gain``)."""

_stream: ContextVar[torch.Generator | None] = ContextVar("stylegan2_random_stream", default=None)


@contextmanager
def random_stream(generator: torch.Generator | None) -> Iterator[None]:
    """Inside the block, the networks' random draws (noise inputs, style mixing) come from
    ``generator`` (the training step's stream) instead of torch's global generator."""
    token = _stream.set(generator)
    try:
        yield
    finally:
        _stream.reset(token)


def _randn(shape: tuple[int, ...], like: Tensor) -> Tensor:
    rng = _stream.get()
    device = rng.device if rng is not None else like.device
    return torch.randn(shape, generator=rng, device=device).to(device=like.device, dtype=like.dtype)


def _rand(shape: tuple[int, ...], like: Tensor) -> Tensor:
    rng = _stream.get()
    device = rng.device if rng is not None else like.device
    return torch.rand(shape, generator=rng, device=device).to(device=like.device)


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at ``resolution``: ``min(channel_base / resolution, channel_max)`` (config F:
    ``channel_base`` 32768 and ``channel_max`` 512 give 512 up to 64 pixels, then halve)."""
    return max(1, min(channel_base // resolution, channel_max))


class EqualLinear(nn.Module):
    """A fully connected layer with the equalised learning rate; ``lr_mul`` scales its
    effective learning rate (0.01 in the mapping network)."""

    def __init__(
        self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


class EqualConv2d(nn.Module):
    """A convolution with the equalised learning rate, optional bias, leaky ReLU and 2x
    downsampling (2x2 average pooling after the convolution)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activate: bool = True,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.activate = activate
        self.down = down

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight * self.weight_gain, padding=self.weight.shape[-1] // 2)
        if self.down:
            x = F.avg_pool2d(x, 2)
        if self.bias is not None:
            x = x + self.bias.view(1, -1, 1, 1)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


class MappingNetwork(nn.Module):
    """``z -> w``: normalise ``z`` to unit second moment, then ``num_layers`` fully connected
    layers at ``lr_mul`` (StyleGAN Sec. 2). In training it tracks ``w``'s mean (``w_avg``,
    decay 0.995), which truncation pulls toward."""

    w_avg: Tensor

    def __init__(
        self, latent_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01, w_avg_beta: float = 0.995
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ConfigurationError(f"The mapping network needs num_layers >= 1 (8 in the paper), got {num_layers}.")
        dims = [latent_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(
            *(EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activate=True) for i in range(num_layers))
        )
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, psi: float = 1.0, track: bool = True) -> Tensor:
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        w = self.layers(z)
        if self.training and track:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if psi != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, psi)
        return w


class ModulatedConv2d(nn.Module):
    """StyleGAN2's convolution (Sec. 2.2): the style ``s = A(w)`` scales the weights per input
    channel, ``w'_ijk = s_i w_ijk`` (Eq. 1), and demodulation divides each output channel by
    ``sqrt(sum_ik w'_ijk^2 + eps)`` (Eq. 3), so unit-variance inputs give unit-variance outputs
    without normalising activations."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        demodulate: bool = True,
        up: bool = False,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # styles start at 1
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.up = up

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        # Computed as StyleGAN2's code does in training: scale the input channels by the
        # styles, convolve with the shared weights, scale the output channels by the
        # demodulation coefficients (equal to convolving with Eq. 1-3's per-sample weights,
        # and far faster than a grouped convolution on CPUs).
        styles = self.affine(w)  # (N, in)
        weight = self.weight * self.weight_gain
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:  # sigma_j = sqrt(sum_{i,k} (s_i w_ijk)^2), Eq. 3
            coefficients = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).T + 1e-8)
            x = x * coefficients[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution, per-pixel noise times a learned strength (initially 0),
    bias and leaky ReLU (Fig. 2c)."""

    noise_const: Tensor

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(x, w)
        noise = _randn((x.shape[0], 1, *x.shape[2:]), x) if self.training else self.noise_const.to(x.dtype)
        return F.leaky_relu(x + noise * self.noise_strength + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class ToImage(nn.Module):
    """``toRGB``: a modulated 1x1 convolution without demodulation, plus bias."""

    def __init__(self, in_channels: int, image_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, image_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(image_channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (upsample and) two synthesis layers (one, on the
    4x4 constant), then its ``toRGB`` added to the upsampled image of the resolution below."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, image_channels: int) -> None:
        super().__init__()
        self.first = resolution == 4
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution)
        self.to_image = ToImage(out_channels, image_channels, w_dim)
        self.num_conv = 1 if self.first else 2

    def forward(self, x: Tensor | None, image: Tensor | None, ws: Tensor) -> tuple[Tensor, Tensor]:
        """``ws``: ``(N, num_conv + 1, w_dim)``, one ``w`` per layer and one for ``toRGB``."""
        if self.first:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        else:
            assert x is not None
            x = self.conv0(x, ws[:, 0])
        x = self.conv1(x, ws[:, self.num_conv - 1])
        out = self.to_image(x, ws[:, self.num_conv])
        if image is not None:
            out = out + F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
        return x, out


def _resolution(data_shape: tuple[int, ...], network: str) -> int:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ConfigurationError(
            f"{network} builds square images (channels, size, size); got shape {tuple(data_shape)}."
        )
    size = data_shape[1]
    if size < 8 or size & (size - 1):
        raise ConfigurationError(
            f"{network} builds images whose side is a power of 2 from 8 (e.g. 32 or 64), got {size}; resize the "
            "data (e.g. data.image_size: 32 for MNIST)."
        )
    return size


class StyleGAN2Generator(nn.Module):
    """The StyleGAN2 generator (config F, skip architecture) for images of ``data_shape``.

    Args:
        latent_dim: size of ``z`` (512).
        data_shape: ``(C, S, S)``, ``S`` a power of 2 >= 8.
        w_dim: size of ``w`` (512).
        mapping_layers: layers of the mapping network (8).
        channel_base, channel_max: feature maps per resolution, see :func:`channels_at`.
        mixing_prob: probability of style mixing per training batch (0.9).
    """

    def __init__(
        self,
        latent_dim: int,
        data_shape: tuple[int, ...],
        w_dim: int = 512,
        mapping_layers: int = 8,
        channel_base: int = 32768,
        channel_max: int = 512,
        mixing_prob: float = 0.9,
    ) -> None:
        super().__init__()
        size = _resolution(data_shape, "StyleGAN2Generator")
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers)
        resolutions = [2**i for i in range(2, int(math.log2(size)) + 1)]
        blocks: list[SynthesisBlock] = []
        in_channels = 0
        for resolution in resolutions:
            out_channels = channels_at(resolution, channel_base, channel_max)
            blocks.append(SynthesisBlock(in_channels, out_channels, w_dim, resolution, data_shape[0]))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(block.num_conv for block in blocks) + 1  # each toRGB shares its w with the next conv
        self.mixing_prob = mixing_prob

    def forward(self, z: Tensor, psi: float = 1.0, return_ws: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """``G(z)``; ``psi < 1`` truncates ``w``. ``return_ws=True`` also returns the
        per-layer ``w`` (``(N, num_ws, w_dim)``), for the path-length regulariser."""
        ws = self.mapping(z, psi).unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.training and self.mixing_prob > 0:
            # One crossover layer per batch, drawn in [1, num_ws); no mixing with 1 - mixing_prob.
            other = self.mapping(_randn(tuple(z.shape), z), psi, track=False).unsqueeze(1)
            cutoff = torch.floor(_rand((), z) * (self.num_ws - 1)) + 1
            cutoff = torch.where(_rand((), z) < self.mixing_prob, cutoff, torch.full_like(cutoff, self.num_ws))
            layer = torch.arange(self.num_ws, device=z.device).view(1, -1, 1)
            ws = torch.where(layer >= cutoff, other, ws)
        x, image, index = None, None, 0
        for block in self.blocks:
            assert isinstance(block, SynthesisBlock)
            x, image = block(x, image, ws[:, index : index + block.num_conv + 1])
            index += block.num_conv
        assert image is not None
        return (image, ws) if return_ws else image


def minibatch_stddev(x: Tensor, group_size: int = 4, num_channels: int = 1) -> Tensor:
    """ProGAN's minibatch standard deviation (Sec. 3): the standard deviation of each feature
    over groups of ``group_size`` samples, averaged, appended as ``num_channels`` feature maps.
    The group is the largest divisor of the batch not above ``group_size``."""
    batch, channels, height, width = x.shape
    group = max(g for g in range(1, min(group_size, batch) + 1) if batch % g == 0)
    y = x.reshape(group, -1, num_channels, channels // num_channels, height, width)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # (N/G, F, C/F, H, W)
    y = y.mean(dim=(2, 3, 4)).reshape(-1, num_channels, 1, 1).repeat(group, 1, height, width)
    return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual block (Fig. 7c): two 3x3 convolutions, the second downsampling, plus a
    downsampled 1x1 skip; the sum is scaled by ``1 / sqrt(2)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activate=False, down=True)

    def forward(self, x: Tensor) -> Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / SQRT2


class StyleGAN2Discriminator(nn.Module):
    """The StyleGAN2 discriminator (residual architecture) for inputs of ``input_shape``.

    Args:
        input_shape: ``(C, S, S)`` (``C`` multiplied by PacGAN's ``pack``).
        channel_base, channel_max: feature maps per resolution, see :func:`channels_at`.
        mbstd_group_size: samples per minibatch-standard-deviation group (4).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
    ) -> None:
        super().__init__()
        size = _resolution(input_shape, "StyleGAN2Discriminator")
        width = [channels_at(2**i, channel_base, channel_max) for i in range(int(math.log2(size)) + 1)]
        self.from_image = EqualConv2d(input_shape[0], width[-1], 1)
        self.blocks = nn.Sequential(
            *(DiscriminatorBlock(width[i], width[i - 1]) for i in range(int(math.log2(size)), 2, -1))
        )
        self.mbstd_group_size = mbstd_group_size
        self.conv = EqualConv2d(width[2] + 1, width[2], 3)
        self.fc = EqualLinear(width[2] * 16, width[2], activate=True)
        self.out = EqualLinear(width[2], 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.from_image(x))
        x = self.conv(minibatch_stddev(x, self.mbstd_group_size))
        return self.out(self.fc(x.flatten(1))).squeeze(1)
