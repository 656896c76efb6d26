"""Discriminator rejection sampling (Azadi et al. 2019): keep the samples the discriminator
finds likely under the data.

For a discriminator trained to optimality with the (non-saturating) GAN loss, its logit is
``D~(x) = log p_data(x) / p_G(x)``, so accepting a generator sample with probability
``exp(D~(x) - D~_M)`` (``D~_M`` the largest logit) turns ``p_G`` into ``p_data``: textbook
rejection sampling. DRS (Algorithm 1) uses the logit of that probability,

    F(x) = D~(x) - D~_M - log(1 - exp(D~(x) - D~_M - eps)),

shifted by ``gamma``, the ``quantile``-th quantile of ``F`` over a burn-in batch, and accepts
with probability ``sigmoid(F(x) - gamma)``: a higher quantile rejects more; ``gamma = 0``
(``quantile=None``) is exact rejection sampling. ``D~_M`` is the largest logit seen so far
(burn-in included), as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lightning_gans.base import BaseGAN
from lightning_gans.errors import ConfigurationError
from lightning_gans.utils import eval_mode

_EPS = 1e-6  # the paper's epsilon: keeps log(1 - exp(.)) finite at the largest logit


@dataclass
class RejectionSamples:
    """What :func:`rejection_sample` returns."""

    samples: Tensor
    """The accepted samples, ``(n, *data_shape)``."""
    acceptance_rate: float
    """Accepted / drawn, burn-in excluded: the generator calls per sample kept is its inverse."""
    gamma: float
    """The shift ``gamma`` used (the ``quantile`` of ``F`` over the burn-in)."""


def acceptance_logit(logits: Tensor, max_logit: float) -> Tensor:
    """``F(x)`` of Azadi et al. 2019, Eq. 8: the logit of ``exp(D~(x) - D~_M)``."""
    shifted = logits - max_logit
    return shifted - torch.log1p(-torch.exp(shifted - _EPS))


@torch.no_grad()
def rejection_sample(
    model: BaseGAN,
    n: int,
    quantile: float | None = 0.5,
    burn_in: int = 10_000,
    batch_size: int = 2_500,
    generator: torch.Generator | None = None,
    use_ema: bool = True,
    max_draws: int | None = None,
) -> RejectionSamples:
    """``n`` samples of ``model`` by discriminator rejection sampling (Azadi et al. 2019, Alg. 1).

    Args:
        model: a trained unconditional GAN whose discriminator scores one sample per input
            (``pack=1``) with a logit.
        n: samples to return.
        quantile: ``gamma`` is this quantile of ``F`` over the burn-in samples; 0 accepts
            almost every sample, 0.5 about half, higher values keep only the best. ``None``:
            ``gamma = 0``, exact rejection sampling of ``p_data`` when ``D`` is optimal.
        burn_in: samples drawn first to estimate the largest logit and ``gamma``.
        batch_size: samples per generator and discriminator call.
        generator: random stream of the noise and of the accept draws.
        use_ema: draw from the EMA generator when there is one (the discriminator was
            trained against the raw one; its logit still ranks samples by closeness to the data).
        max_draws: stop with an error after this many draws (default ``100 * n``).
    """
    if model.conditional or model.pack != 1:
        raise ConfigurationError(
            "Rejection sampling needs an unconditional model whose discriminator scores single samples "
            f"(pack=1); {type(model).__name__} has conditional={model.conditional}, pack={model.pack}."
        )
    if not (quantile is None or 0.0 <= quantile < 1.0) or n < 1 or burn_in < 1 or batch_size < 1:
        raise ConfigurationError(
            f"rejection_sample needs 0 <= quantile < 1, n >= 1, burn_in >= 1 and batch_size >= 1; got "
            f"quantile={quantile}, n={n}, burn_in={burn_in}, batch_size={batch_size}."
        )
    max_draws = 100 * n if max_draws is None else max_draws

    def draw(count: int) -> tuple[Tensor, Tensor]:
        samples = model.sample(noise=model.sample_noise(count, generator), use_ema=use_ema)
        with eval_mode(model.discriminator):
            return samples, model.discriminate(samples).float().flatten()

    _, burn_logits = draw(burn_in)
    max_logit = burn_logits.max().item()
    gamma = 0.0 if quantile is None else torch.quantile(acceptance_logit(burn_logits, max_logit), quantile).item()
    kept: list[Tensor] = []
    accepted = drawn = 0
    while accepted < n:
        if drawn >= max_draws:
            raise ConfigurationError(
                f"Rejection sampling accepted {accepted} of {drawn} samples, short of n={n}; lower quantile "
                f"({quantile}) or raise max_draws."
            )
        samples, logits = draw(batch_size)
        max_logit = max(max_logit, logits.max().item())
        accept_prob = torch.sigmoid(acceptance_logit(logits, max_logit) - gamma)
        device = generator.device if generator is not None else accept_prob.device
        uniform = torch.rand(accept_prob.shape, generator=generator, device=device).to(accept_prob.device)
        keep = uniform < accept_prob
        kept.append(samples[keep])
        accepted += int(keep.sum())
        drawn += batch_size
    return RejectionSamples(torch.cat(kept)[:n], accepted / drawn, gamma)
