"""The losses against the math they implement."""

import math

import pytest
import torch

from lightning_gans import losses
from lightning_gans.errors import ConfigurationError
from lightning_gans.losses import F_DIVERGENCES, get_adversarial_loss
from lightning_gans.penalties import R1R2Penalty


@pytest.fixture(autouse=True)
def float64():
    """The math is checked in double precision; the default dtype is restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _jsd(p: torch.Tensor, q: torch.Tensor) -> float:
    m = (p + q) / 2
    return float(0.5 * torch.xlogy(p, p / m).sum() + 0.5 * torch.xlogy(q, q / m).sum())


def _weighted_samples(p: torch.Tensor, q: torch.Tensor, n: int = 1000):
    """Samples of two discrete distributions on {0..K-1} with counts exactly n * p and n * q."""
    xs_p = torch.repeat_interleave(torch.arange(len(p)), (p * n).round().long())
    xs_q = torch.repeat_interleave(torch.arange(len(q)), (q * n).round().long())
    return xs_p, xs_q


def test_optimal_discriminator_value_is_2jsd_minus_log4_discrete():
    p = torch.tensor([0.5, 0.25, 0.125, 0.125, 0.0])
    q = torch.tensor([0.125, 0.125, 0.25, 0.25, 0.25])
    xs_p, xs_q = _weighted_samples(p, q)
    optimal_logit = torch.log(p) - torch.log(q)  # D* = p / (p + q)  <=>  logit = log p - log q
    value = -losses.minimax_discriminator_loss(optimal_logit[xs_p], optimal_logit[xs_q])
    assert value.item() == pytest.approx(2 * _jsd(p, q) - math.log(4), abs=1e-9)
    assert losses.jsd_estimate(optimal_logit[xs_p], optimal_logit[xs_q]).item() == pytest.approx(_jsd(p, q), abs=1e-9)


def test_optimal_discriminator_value_is_2jsd_minus_log4_gaussians():
    # p = N(0, 1), q = N(1.5, 1): log p - log q is linear in x.
    torch.manual_seed(0)
    x_p = torch.randn(400_000)
    x_q = torch.randn(400_000) + 1.5
    logit = lambda x: -0.5 * x**2 + 0.5 * (x - 1.5) ** 2  # noqa: E731
    value = -losses.minimax_discriminator_loss(logit(x_p), logit(x_q)).item()
    grid = torch.linspace(-12, 14, 200_001)
    p = torch.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    q = torch.exp(-0.5 * (grid - 1.5) ** 2) / math.sqrt(2 * math.pi)
    m = (p + q) / 2
    jsd = float(torch.trapezoid(0.5 * p * (p / m).log() + 0.5 * q * (q / m).log(), grid))
    assert value == pytest.approx(2 * jsd - math.log(4), abs=5e-3)
    # Any other discriminator does worse (the optimum is a maximum).
    assert -losses.minimax_discriminator_loss(0.8 * logit(x_p), 0.8 * logit(x_q)).item() < value


def test_losses_are_stable_for_extreme_logits():
    logits = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4])
    for name in ("minimax", "non_saturating"):
        loss = get_adversarial_loss(name)
        assert torch.isfinite(loss.discriminator(logits, logits))
        assert torch.isfinite(loss.generator(logits))


def test_generator_losses_match_their_definitions():
    logits = torch.tensor([-2.0, 0.3, 1.7])
    d = torch.sigmoid(logits)
    assert losses.minimax_generator_loss(logits).item() == pytest.approx(torch.log(1 - d).mean().item())
    assert losses.non_saturating_generator_loss(logits).item() == pytest.approx(-torch.log(d).mean().item())
    assert losses.hinge_discriminator_loss(torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.0])).item() == pytest.approx(
        (0.5 + 0.0) / 2 + (0.0 + 1.0) / 2
    )
    assert losses.least_squares_generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(1.0)


# Ranges of t where sup_u (u t - f(u)) over u > 0 is attained, per divergence.
CONJUGATE_RANGES = {
    "kl": (-2.0, 2.0),
    "reverse_kl": (-3.0, -0.2),
    "pearson": (-1.5, 3.0),
    "squared_hellinger": (-3.0, 0.7),
    "jensen_shannon": (-3.0, 0.6),
    "gan": (-3.0, -0.1),
    "total_variation": (-0.5, 0.5),
}


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_conjugate_is_the_fenchel_conjugate(name):
    div = F_DIVERGENCES[name]
    u = torch.logspace(-6, 2, 400_001)
    t = torch.linspace(*CONJUGATE_RANGES[name], 41)
    numeric = (u[None, :] * t[:, None] - div.f(u)[None, :]).max(dim=1).values
    torch.testing.assert_close(div.conjugate(t), numeric, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_stable_conjugate_of_activation_matches_composition(name):
    div = F_DIVERGENCES[name]
    v = torch.linspace(-4, 4, 81)
    torch.testing.assert_close(div.conjugate_of_activation(v), div.conjugate(div.activation(v)), atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(F_DIVERGENCES))
def test_bound_is_tight_at_the_optimal_critic(name):
    div = F_DIVERGENCES[name]
    p = torch.tensor([0.4, 0.3, 0.2, 0.1])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    ratio = (p / q).requires_grad_(True)
    (t_star,) = torch.autograd.grad(div.f(ratio).sum(), ratio)  # T*(x) = f'(p(x) / q(x))
    true = float((q * div.f(p / q)).sum())
    bound = float((p * t_star).sum() - (q * div.conjugate(t_star)).sum())
    assert bound == pytest.approx(true, abs=1e-9)
    # A perturbed critic gives a smaller value: the bound is a supremum over critics.
    worse = t_star * 0.9 if name != "total_variation" else t_star * 0.5
    assert float((p * worse).sum() - (q * div.conjugate(worse)).sum()) < true


def test_f_gan_gan_divergence_is_the_minimax_game():
    real, fake = torch.randn(64), torch.randn(64)
    fgan = get_adversarial_loss("f_gan_gan")
    assert fgan.discriminator(real, fake).item() == pytest.approx(losses.minimax_discriminator_loss(real, fake).item())


def test_unknown_loss_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="Valid names: .*non_saturating.*f_gan_kl"):
        get_adversarial_loss("wassersteen")
    with pytest.raises(ValueError, match="Valid names: .*jensen_shannon"):
        losses.get_f_divergence("js")


def test_gradient_penalty_zero_for_unit_gradient_critic_and_positive_otherwise():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 3, 4, 4), torch.randn(16, 3, 4, 4)
    w = torch.randn(48)
    unit = lambda x: x.flatten(1) @ (w / w.norm())  # noqa: E731
    double = lambda x: x.flatten(1) @ (2 * w / w.norm())  # noqa: E731
    assert losses.gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.gradient_penalty(double, real, fake).item() == pytest.approx(1.0)


def test_gradient_penalty_uses_one_coefficient_per_sample():
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return x.flatten(1).sum(1)

    real, fake = torch.ones(8, 3, 5, 5), torch.zeros(8, 3, 5, 5)
    losses.gradient_penalty(critic, real, fake)
    interpolates = seen[0].flatten(1)
    # Each sample is eps * 1 + (1 - eps) * 0 = eps everywhere: one eps per sample ...
    assert torch.all(interpolates == interpolates[:, :1])
    # ... and different samples draw different eps.
    assert interpolates[:, 0].unique().numel() == 8


def test_r1_and_r2_match_hand_computed_values():
    a = torch.tensor([1.0, -2.0, 0.5])
    critic = lambda x: (a * x**2).sum(1)  # noqa: E731  grad = 2 a x
    x = torch.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, -2.0]])
    expected = ((2 * a * x) ** 2).sum(1).mean().item()  # (4 + 16 + 1 + 0 + 64 + 4) / 2 = 44.5
    assert expected == pytest.approx(44.5)
    assert losses.r1_penalty(critic, x).item() == pytest.approx(44.5)
    assert losses.r2_penalty(critic, x).item() == pytest.approx(44.5)


def test_penalties_are_differentiable_in_the_critic_parameters():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    critic = lambda x: x @ w  # noqa: E731  ||grad_x|| = ||w|| = 5
    gp = losses.gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2))
    (grad,) = torch.autograd.grad(gp, w)
    torch.testing.assert_close(grad, 2 * (5 - 1) * w.detach() / 5)


def test_the_f_divergence_names_are_one_list():
    """FGAN's ``divergence`` is typed by ``FDivergenceName``; it must name exactly the rows of
    ``F_DIVERGENCES`` (Nowozin et al. 2016, Table 6)."""
    from typing import get_args

    assert set(get_args(losses.FDivergenceName)) == set(losses.F_DIVERGENCES)
    assert all(name == div.name for name, div in losses.F_DIVERGENCES.items())


def test_the_jsd_estimate_and_the_fgan_jensen_shannon_bound_differ_by_their_scale_and_their_names():
    """At the optimal discriminators of the same P, Q, the minimax loss estimates JSD and f-GAN's
    Jensen-Shannon row bounds Nowozin's D_f = 2 JSD; their logged names differ."""
    p, q = torch.tensor([0.7, 0.3]), torch.tensor([0.2, 0.8])
    m = (p + q) / 2
    jsd = float((p * (p / m).log()).sum() / 2 + (q * (q / m).log()).sum() / 2)
    # Samples of P and Q with exact proportions; optimal logits log(p/q) (minimax) and
    # v = log(2p/(p+q)) through g_f = log 2 - softplus(-v), i.e. T* = f'(p/q) (f-GAN).
    real = torch.tensor([0] * 70 + [1] * 30)
    fake = torch.tensor([0] * 20 + [1] * 80)
    logits = (p / q).log()
    minimax = losses.ADVERSARIAL_LOSSES["minimax"]
    assert float(minimax.estimate(logits[real], logits[fake])) == pytest.approx(jsd, rel=1e-5)
    fgan = losses.f_gan_loss("jensen_shannon")
    v = (p / q).log()  # g_f(v) = log 2 - softplus(-v) = log(2p/(p+q)) = f'(p/q)
    assert float(fgan.estimate(v[real], v[fake])) == pytest.approx(2 * jsd, rel=1e-5)
    assert (minimax.estimate_name, fgan.estimate_name) == ("jsd_estimate", "fgan_jensen_shannon_bound")


def test_relativistic_pairing_loss_value_and_gradients_on_known_logits():
    """RpGAN (Huang et al. 2024, Eq. 2): ``L_D = mean_i softplus(D(G(z_i)) - D(x_i))`` and ``L_G``
    the same with the roles swapped; d L_D / d D(x_i) = -sigmoid(f_i - r_i) / N."""
    real = torch.tensor([2.0, -1.0, 0.0, 5.0], requires_grad=True)
    fake = torch.tensor([0.0, 1.0, 0.0, -5.0], requires_grad=True)
    loss = get_adversarial_loss("relativistic_pairing")
    d_loss = loss.discriminator(real, fake)
    diff = (fake - real).detach()
    expected = torch.log1p(torch.exp(diff)).mean()  # softplus by hand
    assert d_loss.item() == pytest.approx(expected.item(), rel=1e-6)
    d_real, d_fake = torch.autograd.grad(d_loss, (real, fake))
    torch.testing.assert_close(d_real, -torch.sigmoid(diff) / 4)
    torch.testing.assert_close(d_fake, torch.sigmoid(diff) / 4)

    g_loss = loss.generator(fake, real)  # the roles swapped
    assert g_loss.item() == pytest.approx(torch.log1p(torch.exp(-diff)).mean().item(), rel=1e-6)
    (g_fake,) = torch.autograd.grad(g_loss, fake)
    torch.testing.assert_close(g_fake, -torch.sigmoid(-diff) / 4)
    assert loss.relativistic and loss.estimate is None


def test_relativistic_pairing_pairs_sample_by_sample_and_sees_only_differences():
    real, fake = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    paired = losses.relativistic_pairing_discriminator_loss(real, fake)
    swapped = losses.relativistic_pairing_discriminator_loss(real, fake.flip(0))  # other pairs, same means
    assert paired.item() == pytest.approx((math.log1p(math.exp(-3)) + math.log1p(math.exp(3))) / 2)
    assert swapped.item() == pytest.approx(math.log(2))  # each pair ties
    shifted = losses.relativistic_pairing_discriminator_loss(real + 50, fake + 50)
    assert shifted.item() == pytest.approx(paired.item())
    extreme = losses.relativistic_pairing_discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4]))
    assert extreme.item() == 0.0
    assert losses.relativistic_pairing_generator_loss(torch.tensor([-1e4]), torch.tensor([1e4])).item() == 2e4


def test_relativistic_pairing_refuses_unpaired_batches_in_one_line():
    with pytest.raises(ConfigurationError, match=r"pairs each real output with one fake.*\(4,\) real and \(3,\) fake"):
        losses.relativistic_pairing_discriminator_loss(torch.zeros(4), torch.zeros(3))


def test_r1r2_is_r1_plus_r2_and_both_differentiate_through_the_critic():
    """``gamma / 2 * (R1 + R2)`` on ``D(x) = sum a x^2`` (gradient ``2 a x``), and its gradient in
    the critic's parameters."""
    a = torch.tensor([1.0, -2.0], requires_grad=True)
    critic = lambda x: (a * x**2).sum(1)  # noqa: E731
    real, fake = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 3.0]])
    penalty = R1R2Penalty(gamma=0.2)(critic, real, fake)
    r1, r2 = 4 * 1 + 16 * 1, 0 + 16 * 9  # ||2 a x||^2
    assert penalty.item() == pytest.approx(0.1 * (r1 + r2))
    (grad,) = torch.autograd.grad(penalty, a)
    # d/da_j of 4 a_j^2 (x_real_j^2 + x_fake_j^2), times gamma / 2
    expected = 0.1 * 8 * a.detach() * (real[0] ** 2 + fake[0] ** 2)
    torch.testing.assert_close(grad, expected)
