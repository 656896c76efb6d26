"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from lightning_gans.base import BaseGAN, Role, packed_shape
from lightning_gans.ema import rampup_half_life_steps
from lightning_gans.errors import ConfigurationError
from lightning_gans.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, random_stream
from lightning_gans.penalties import DiscriminatorPenalty, R1Penalty
from lightning_gans.schedules import Schedule
from lightning_gans.settings import refuse_networks


class StyleGAN2(BaseGAN):
    """StyleGAN2 (config F) on the library's loop: the networks of
    :mod:`lightning_gans.nets.stylegan2`, the non-saturating loss, lazy R1 on the
    discriminator and lazy path-length regularisation on the generator, an EMA generator and
    truncation at sampling time. Unconditional.

    Defaults are the paper's (Appendix B and Sec. 3), sized down only by arguments:

    * ``latent_dim`` and ``w_dim`` 512, ``mapping_layers`` 8 (StyleGAN Sec. 2);
    * ``r1_gamma`` 10 every ``r1_every`` 16 discriminator updates, path length weight
      ``pl_weight`` 2 every ``pl_every`` 4 generator updates on half the batch
      (``pl_batch_shrink`` 2) with the running mean's decay 0.01 (Sec. 3.1-3.2; a lazy term
      is multiplied by its interval);
    * Adam(lr 0.002, betas (0, 0.99), eps 1e-8), with lr and betas adjusted for the lazy
      terms, ``lr * c`` and ``beta ** c``, ``c = every / (every + 1)`` (Appendix B);
    * style mixing with probability 0.9 (StyleGAN Sec. 3.1); EMA of the generator with a
      half-life of 10k images (``ema_decay`` 0.999 at batch 32, here with StyleGAN2-ADA's
      ``ema_rampup`` 0.05); ``w_avg`` for truncation tracked with decay 0.995.

    For small images and data sets, StyleGAN2-ADA's "auto" setting is ``r1_gamma = 0.0002
    * resolution^2 / batch`` and two mapping layers (Karras et al. 2020b, Appendix D).

    Args:
        data_shape: ``(C, S, S)`` with ``S`` a power of 2 >= 8 (32, 64...).
        latent_dim: size of ``z``.
        w_dim: size of ``w``.
        mapping_layers: layers of the mapping network.
        g_channels: the generator's most feature maps per layer (``channel_max``, 512).
        d_channels: the discriminator's (512).
        channel_base: feature maps at resolution ``r`` are ``min(channel_base / r,
            *_channels)`` (32768 in config F: 512 up to 64 pixels).
        mixing_prob: style mixing probability in training.
        r1_gamma: R1 weight ``gamma`` (``gamma / 2 * E||grad D(x)||^2``).
        r1_every: lazy R1 interval in discriminator updates.
        pl_weight: path length weight; 0 turns the regulariser off.
        pl_every: lazy path length interval in generator updates.
        pl_batch_shrink: the path length batch is the batch divided by this.
        pl_decay: decay of the path lengths' running mean ``a``.
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN` (``augment``,
            ``ema_decay``...).

    Example:
        >>> from lightning_gans import StyleGAN2
        >>> gan = StyleGAN2(data_shape=(1, 16, 16), latent_dim=16, w_dim=16, mapping_layers=2, g_channels=16,
        ...                 d_channels=16, channel_base=64)
        >>> gan.sample(2, truncation_psi=0.7).shape
        torch.Size([2, 1, 16, 16])
        >>> sorted(gan.schedules.schedules)  # StyleGAN2-ADA's EMA ramp-up, as a schedule
        ['ema_half_life']
    """

    supports_truncation = True
    pl_mean: Tensor

    def __init__(
        self,
        data_shape: Sequence[int] = (3, 64, 64),
        latent_dim: int = 512,
        w_dim: int = 512,
        mapping_layers: int = 8,
        g_channels: int = 512,
        d_channels: int = 512,
        channel_base: int = 32768,
        mixing_prob: float = 0.9,
        r1_gamma: float = 10.0,
        r1_every: int = 16,
        pl_weight: float = 2.0,
        pl_every: int = 4,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        loss: str = "non_saturating",
        ema_decay: float | None = 0.999,
        ema_rampup: float | None = 0.05,
        schedules: dict[str, Schedule] | None = None,
        penalty: DiscriminatorPenalty | None = None,
        pack: int = 1,
        **kwargs: Any,
    ) -> None:
        if pl_every < 1 or pl_batch_shrink < 1 or pl_weight < 0:
            raise ConfigurationError(
                f"StyleGAN2 needs pl_weight >= 0, pl_every >= 1 and pl_batch_shrink >= 1; got {pl_weight}, "
                f"{pl_every}, {pl_batch_shrink}."
            )
        refuse_networks(type(self).__name__, kwargs)
        data_shape = tuple(data_shape)
        generator = StyleGAN2Generator(
            latent_dim, data_shape, w_dim, mapping_layers, channel_base, g_channels, mixing_prob
        )
        discriminator = StyleGAN2Discriminator(packed_shape(data_shape, pack), channel_base, d_channels)
        schedules_with_ramp = schedules
        if ema_rampup is not None and ema_decay is not None:  # StyleGAN2-ADA's ramp-up, as a schedule
            ramp = Schedule("linear", start=0.0, end=1.0, steps=rampup_half_life_steps(ema_decay, ema_rampup))
            schedules_with_ramp = {"ema_half_life": ramp, **(schedules or {})}
        super().__init__(
            generator,
            discriminator,
            data_shape=data_shape,
            latent_dim=latent_dim,
            loss=loss,
            ema_decay=ema_decay,
            schedules=schedules_with_ramp,
            pack=pack,
            penalty=penalty if penalty is not None else R1Penalty(r1_gamma, every=r1_every),
            **kwargs,
        )
        self.r1_every, self.pl_weight, self.pl_every = r1_every, pl_weight, pl_every
        self.pl_batch_shrink, self.pl_decay = pl_batch_shrink, pl_decay
        self.register_buffer("pl_mean", torch.zeros(()))  # checkpointed: a resume keeps the running mean

    def configure_default_optimizer(self, params: Any, role: Role) -> Optimizer:
        """Adam(0.002, (0, 0.99), eps 1e-8), adjusted for the lazy regulariser of ``role``."""
        every = self.r1_every if role == "discriminator" else (self.pl_every if self.pl_weight > 0 else 0)
        ratio = every / (every + 1) if every else 1.0
        return torch.optim.Adam(params, lr=0.002 * ratio, betas=(0.0, 0.99**ratio), eps=1e-8)

    def training_randomness(self, rng: torch.Generator) -> AbstractContextManager[object]:
        return random_stream(rng)

    def _mean_over_processes(self, value: Tensor) -> Tensor:
        try:
            return self.trainer.strategy.reduce(value, reduce_op="mean")
        except RuntimeError:  # not attached to a Trainer: one process
            return value

    def generator_penalty(self, generator: nn.Module, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        """Lazy path length regularisation (Sec. 3.2, Eq. 4): ``E[(||J_w^T y||_2 - a)^2]`` with
        ``y ~ N(0, I) / sqrt(H W)``, ``a`` the running mean of the lengths, every
        ``pl_every`` generator updates, times ``pl_weight * pl_every``."""
        if self.pl_weight == 0 or self.generator_steps % self.pl_every:
            return None
        batch = max(fake.shape[0] // self.pl_batch_shrink, 1)
        images, ws = generator(self.sample_noise(batch, self.noise_generator), return_ws=True)
        rng = self.noise_generator
        device = rng.device if rng is not None else images.device
        y = torch.randn(images.shape, generator=rng, device=device).to(images) / math.sqrt(images[0, 0].numel())
        (gradient,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
        lengths = gradient.square().sum(dim=2).mean(dim=1).sqrt()
        with torch.no_grad():
            mean_length = lengths.detach().float().mean()
            mean_length = self._mean_over_processes(mean_length)  # the same running mean on every rank
            self.pl_mean.copy_(self.pl_mean.lerp(mean_length, self.pl_decay))
        return (lengths - self.pl_mean).square().mean() * (self.pl_weight * self.pl_every)
