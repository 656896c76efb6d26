"""The EMA generator: an exponential moving average of the generator's weights, sampled from
instead of the generator (Karras et al. 2018, "Progressive Growing of GANs", Sec. 4; Yazici
et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training").

After every generator update ``ema <- decay * ema + (1 - decay) * generator`` for the weights,
and the buffers (BatchNorm statistics) are copied. ``decay`` follows from a half-life ``h`` in
generator steps, ``decay = 0.5 ** (1 / h)``; StyleGAN2-ADA's ramp-up (Karras et al. 2020,
``ema_rampup``) caps it at ``rampup * t`` at step ``t``, so the first, poor weights are
forgotten quickly. Here that cap is a schedule of the half-life (target ``ema_half_life`` in
:mod:`lightning_gans.schedules`): :attr:`ExponentialMovingAverage.half_life_factor`.

The training loop (:class:`~lightning_gans.BaseGAN`) calls :meth:`ExponentialMovingAverage.update`
itself after each generator update, not from an overridable hook, so no variant can lose it.
The average's weights are the model's ``generator_ema`` submodule: checkpointed with it.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from lightning_gans.ema import ExponentialMovingAverage
    >>> generator = nn.Linear(1, 1, bias=False)
    >>> _ = generator.weight.data.fill_(0.0)
    >>> ema = ExponentialMovingAverage(generator, decay=0.5)
    >>> _ = generator.weight.data.fill_(1.0)
    >>> ema.update(generator, step=0)
    >>> ema.network.weight.item()
    0.5
    >>> round(ema.half_life, 3)
    1.0
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from lightning_gans.errors import ConfigurationError


class ExponentialMovingAverage:
    """Keeps :attr:`network`, a frozen copy of a generator, at the moving average of its weights.

    Args:
        generator: the network to average; copied now.
        decay: the decay per generator update, in ``(0, 1)`` (e.g. 0.999).

    Example:
        >>> from torch import nn
        >>> from lightning_gans.ema import ExponentialMovingAverage
        >>> ema = ExponentialMovingAverage(nn.Linear(2, 2), decay=0.999)
        >>> round(ema.half_life)  # generator steps
        693
        >>> ema.half_life_factor = 0.5  # e.g. by an ema_half_life schedule
        >>> round(ema.decay_now(), 5)
        0.998
    """

    def __init__(self, generator: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigurationError(f"ema_decay must lie in (0, 1), e.g. 0.999, or be None; got {decay}.")
        self.decay = decay
        self.network: nn.Module = copy.deepcopy(generator).requires_grad_(False)
        self.half_life_factor = 1.0
        """Scales :attr:`half_life` (a schedule's factor; 1 keeps :attr:`decay` exactly)."""

    @property
    def half_life(self) -> float:
        """The half-life of :attr:`decay`, in generator steps."""
        return math.log(0.5) / math.log(self.decay)

    def decay_now(self) -> float:
        """The decay of the next update: :attr:`decay`, or that of the scaled half-life (0, a
        plain copy, when the scaled half-life is 0)."""
        if self.half_life_factor == 1.0:
            return self.decay
        half_life = self.half_life * self.half_life_factor
        return 0.5 ** (1.0 / half_life) if half_life > 0 else 0.0

    @torch.no_grad()
    def update(self, generator: nn.Module, step: int) -> None:
        """Move the average toward ``generator`` (after its update at generator step ``step``)."""
        del step  # the decay's schedule is set by the loop; kept for subclasses that use the step
        # torch's public EMA step: one fused (foreach) lerp over all weights, not one kernel each.
        ema_step = get_ema_multi_avg_fn(self.decay_now())
        ema_step(list(self.network.parameters()), [p.detach() for p in generator.parameters()], None)
        for average, buffer in zip(self.network.buffers(), generator.buffers()):
            average.copy_(buffer)


def rampup_half_life_steps(decay: float, rampup: float) -> float:
    """The generator steps over which StyleGAN2-ADA's ramp-up (half-life at most ``rampup * t``)
    reaches the half-life of ``decay``: a linear ``ema_half_life`` schedule from 0 to 1 over
    these steps is the same ramp."""
    if rampup <= 0:
        raise ConfigurationError(f"ema_rampup must be > 0 (e.g. 0.05), got {rampup}.")
    return (math.log(0.5) / math.log(decay)) / rampup
