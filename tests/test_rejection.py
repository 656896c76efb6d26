"""Discriminator rejection sampling (Azadi et al. 2019) against exact rejection sampling."""

import math

import pytest
import torch
from torch import nn

import lightning_gans as lg
from lightning_gans.rejection import acceptance_logit, rejection_sample


class _Affine(nn.Module):
    def __init__(self, shift: float, scale: float) -> None:
        super().__init__()
        self.shift, self.scale = shift, scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * z


class _OptimalLogit(nn.Module):
    """``log p_data(x) / p_G(x)`` for two 1-D Gaussians: the optimal discriminator's logit."""

    def __init__(self, data: tuple[float, float], model: tuple[float, float]) -> None:
        super().__init__()
        self.data, self.model = data, model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def log_density(mean: float, std: float) -> torch.Tensor:
            return -0.5 * ((x - mean) / std) ** 2 - math.log(std)

        return (log_density(*self.data) - log_density(*self.model)).flatten()


def test_with_the_optimal_discriminator_exact_rejection_turns_the_generator_into_the_data():
    """p_G = N(0, 1), p_data = N(0.5, 0.6^2): gamma = 0 accepts with p_data / (M p_G)."""
    gan = lg.BaseGAN(generator=_Affine(0.0, 1.0), discriminator=_OptimalLogit((0.5, 0.6), (0.0, 1.0)), latent_dim=1)
    result = rejection_sample(gan, 20_000, quantile=None, burn_in=50_000, generator=torch.Generator().manual_seed(0))
    x = result.samples.flatten()
    assert x.mean().item() == pytest.approx(0.5, abs=0.02)
    assert x.std().item() == pytest.approx(0.6, abs=0.02)
    # Acceptance rate of exact rejection sampling: 1 / M, M = max p_data / p_G.
    grid = torch.linspace(-5, 5, 100_001)
    bound = torch.exp(_OptimalLogit((0.5, 0.6), (0.0, 1.0))(grid)).max().item()
    assert result.acceptance_rate == pytest.approx(1 / bound, rel=0.05)


def test_a_higher_quantile_keeps_fewer_and_better_samples():
    gan = lg.BaseGAN(generator=_Affine(0.0, 1.0), discriminator=_OptimalLogit((0.0, 0.3), (0.0, 1.0)), latent_dim=1)
    rng = torch.Generator().manual_seed(1)
    loose, strict = (rejection_sample(gan, 5_000, quantile=q, generator=rng) for q in (0.2, 0.8))
    assert strict.acceptance_rate < loose.acceptance_rate
    assert strict.samples.std() < loose.samples.std()  # closer to the data's 0.3


def test_the_acceptance_logit_is_the_logit_of_the_exact_acceptance_probability():
    logits = torch.tensor([-3.0, -1.0, 0.5])
    expected = torch.logit(torch.exp(logits - 1.0))
    torch.testing.assert_close(acceptance_logit(logits, 1.0), expected, rtol=1e-4, atol=1e-4)


def test_rejection_sampling_refuses_packed_or_conditional_discriminators_in_one_line():
    with pytest.raises(lg.ConfigurationError, match="pack=1"):
        rejection_sample(lg.GAN(hidden_dim=8, num_layers=1, pack=2), 10)
    with pytest.raises(lg.ConfigurationError, match="0 <= quantile < 1"):
        rejection_sample(lg.GAN(hidden_dim=8, num_layers=1), 10, quantile=1.5)
