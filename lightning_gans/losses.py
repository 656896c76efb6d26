"""Adversarial losses and discriminator penalties as plain functions.

Every loss takes raw discriminator outputs (logits or critic values, any shape; they are
averaged) and returns a scalar to *minimise*. Nothing here knows about networks or
training: the only exceptions are the gradient penalties, which take the discriminator
as a callable ``critic(x) -> output`` because they differentiate through it.

Numerical stability: probabilities never appear explicitly. ``log D(x)`` with
``D = sigmoid(logit)`` is ``-softplus(-logit)`` and ``log(1 - D(x))`` is
``-softplus(logit)``, which stay finite for any logit (``BCELoss`` on a sigmoid does not).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_gans.errors import ConfigurationError

LOG_4 = math.log(4.0)

Critic = Callable[[Tensor], Tensor]
"""``x -> D(x)``: the discriminator as a function of its input, which penalties differentiate."""

# --------------------------------------------------------------------------------------
# Classic GAN objective (Goodfellow et al. 2014, Eq. 1):
#   min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
# --------------------------------------------------------------------------------------


def minimax_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``-V(D, G)``: binary cross-entropy of real (label 1) against fake (label 0).

    Minimising it maximises ``E[log D(x)] + E[log(1 - D(G(z)))]``; the optimum is
    ``D*(x) = p_data / (p_data + p_G)`` with value ``-(2 JSD(p_data, p_G) - log 4)``.

    Example:
        >>> import torch
        >>> zeros = torch.zeros(4)  # D = 1/2 everywhere: log 4
        >>> round(float(minimax_discriminator_loss(zeros, zeros)), 4)
        1.3863
        >>> round(float(minimax_discriminator_loss(torch.full((4,), 20.0), torch.full((4,), -20.0))), 4)  # right
        0.0
        >>> float(minimax_discriminator_loss(torch.tensor([1000.0]), torch.tensor([-1000.0])))  # no overflow
        0.0
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """``E[log(1 - D(G(z)))]``, the generator's side of the minimax game (saturating).

    Its gradient vanishes when the discriminator rejects the samples confidently, which is
    why Goodfellow et al. recommend :func:`non_saturating_generator_loss` in practice.

    Example:
        Where the discriminator rejects a sample (logit -10), this loss barely moves the
        generator; the non-saturating one pushes with a slope of about -1:

        >>> import torch
        >>> logit = torch.tensor([-10.0], requires_grad=True)
        >>> (saturating,) = torch.autograd.grad(minimax_generator_loss(logit), logit)
        >>> (non_saturating,) = torch.autograd.grad(non_saturating_generator_loss(logit), logit)
        >>> f"{float(saturating):.1e}", round(float(non_saturating), 4)
        ('-4.5e-05', -1.0)
    """
    return -F.softplus(fake_logits).mean()


def non_saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """``-E[log D(G(z))]``: the "-log D trick" of Goodfellow et al. 2014, Section 3.

    Example:
        >>> import torch
        >>> round(float(non_saturating_generator_loss(torch.zeros(4))), 4)  # -log(1/2)
        0.6931
        >>> round(float(non_saturating_generator_loss(torch.full((4,), 20.0))), 4)  # samples taken for real
        0.0
    """
    return F.softplus(-fake_logits).mean()


def jsd_estimate(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Estimate ``(V + log 4) / 2`` of ``JSD(p_data, p_G)`` from a minimax discriminator.

    Exact when the discriminator is optimal (Goodfellow et al. 2014, Theorem 1); for a
    sub-optimal discriminator it is a lower bound in expectation. Natural log: ``JSD`` lies in
    ``[0, log 2]``, but a finite-sample estimate from a poor discriminator can be negative
    (-2.355 for logits -3 on real and 3 on fake samples). Under PacGAN packing it estimates the
    JSD of the distributions of *packs*, not ``JSD(p_data, p_G)``.

    Example:
        >>> import math
        >>> import torch
        >>> float(jsd_estimate(torch.zeros(4), torch.zeros(4)))  # D = 1/2: cannot tell them apart
        0.0
        >>> estimate = jsd_estimate(torch.full((4,), 20.0), torch.full((4,), -20.0))  # told apart: log 2
        >>> round(float(estimate), 4), round(math.log(2), 4)
        (0.6931, 0.6931)
        >>> round(float(jsd_estimate(torch.full((4,), -3.0), torch.full((4,), 3.0))), 3)  # a poor discriminator
        -2.355
    """
    value = -minimax_discriminator_loss(real_logits, fake_logits)
    return (value + LOG_4) / 2


# --------------------------------------------------------------------------------------
# Wasserstein (Arjovsky et al. 2017, Eq. 3), hinge (Lim & Ye 2017; Miyato et al. 2018),
# least squares (Mao et al. 2017, Eq. 2 with a=0, b=c=1).
# --------------------------------------------------------------------------------------


def wasserstein_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[f(G(z))] - E[f(x)]``: the critic maximises the Kantorovich-Rubinstein dual."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """``-E[f(G(z))]``."""
    return -fake_scores.mean()


def wasserstein_estimate(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[f(x)] - E[f(G(z))]``: a Wasserstein-1 estimate if ``f`` is 1-Lipschitz.

    Example:
        ``f(x) = x`` is 1-Lipschitz and optimal for two point masses at 0 and 3 (W1 = 3):

        >>> import torch
        >>> real, fake = torch.full((4,), 3.0), torch.zeros(4)
        >>> wasserstein_estimate(real, fake), wasserstein_discriminator_loss(real, fake)
        (tensor(3.), tensor(-3.))
    """
    return real_scores.mean() - fake_scores.mean()


def hinge_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``.

    Example:
        Outputs beyond the margins (above 1 on real, below -1 on fake) cost nothing:

        >>> import torch
        >>> hinge_discriminator_loss(torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0]))  # (0 + 0.5) / 2 + (0 + 1) / 2
        tensor(0.7500)
    """
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: Tensor) -> Tensor:
    """``-E[D(G(z))]``."""
    return -fake_scores.mean()


def least_squares_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]`` (LSGAN, labels a=0, b=1).

    Example:
        >>> import torch
        >>> least_squares_discriminator_loss(torch.ones(4), torch.zeros(4))  # the labels exactly
        tensor(0.)
        >>> least_squares_discriminator_loss(torch.zeros(4), torch.ones(4))  # exactly wrong
        tensor(1.)
    """
    return 0.5 * (real_scores - 1.0).pow(2).mean() + 0.5 * fake_scores.pow(2).mean()


def least_squares_generator_loss(fake_scores: Tensor) -> Tensor:
    """``1/2 E[(D(G(z)) - 1)^2]`` (LSGAN, c=1)."""
    return 0.5 * (fake_scores - 1.0).pow(2).mean()


# --------------------------------------------------------------------------------------
# Relativistic pairing GAN (RpGAN; Jolicoeur-Martineau 2019, Eq. 7 with f = softplus(-.);
# Huang et al. 2024, "The GAN is dead; long live the GAN!", Eq. 2): each real sample is paired
# with one fake, and the discriminator is asked only which of the two is the real one.
# --------------------------------------------------------------------------------------


def _check_pairs(real_logits: Tensor, fake_logits: Tensor) -> None:
    if real_logits.shape != fake_logits.shape:
        raise ConfigurationError(
            f"The relativistic pairing loss pairs each real output with one fake output, but got "
            f"{tuple(real_logits.shape)} real and {tuple(fake_logits.shape)} fake outputs; use as many fakes as reals."
        )


def relativistic_pairing_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``E[softplus(-(D(x_i) - D(G(z_i))))]``, sample ``i`` of the real batch paired with sample
    ``i`` of the fake one (Huang et al. 2024, Eq. 2).

    Only differences of outputs count, so the loss is unchanged when a constant is added to
    every output; it is ``log 2`` when the discriminator cannot tell the two apart.

    Example:
        >>> import torch
        >>> zeros = torch.zeros(4)
        >>> round(float(relativistic_pairing_discriminator_loss(zeros, zeros)), 4)  # log 2
        0.6931
        >>> real, fake = torch.tensor([3.0, 1.0]), torch.tensor([1.0, 3.0])  # softplus(-2), softplus(2)
        >>> round(float(relativistic_pairing_discriminator_loss(real, fake)), 4)
        1.1269
        >>> round(float(relativistic_pairing_discriminator_loss(real + 100, fake + 100)), 4)  # a shift changes nothing
        1.1269
    """
    _check_pairs(real_logits, fake_logits)
    return F.softplus(fake_logits - real_logits).mean()


def relativistic_pairing_generator_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    """``E[softplus(-(D(G(z_i)) - D(x_i)))]``: the discriminator's loss with the roles of real
    and fake swapped (Huang et al. 2024, Eq. 2); the generator wins a pair when its sample
    looks more real than the real one it is paired with.

    Example:
        >>> import torch
        >>> fake = torch.tensor([0.0, 2.0], requires_grad=True)
        >>> loss = relativistic_pairing_generator_loss(fake, torch.tensor([0.0, 0.0]))
        >>> (grad,) = torch.autograd.grad(loss, fake)  # -sigmoid(-(f - r)) / 2 per pair
        >>> [round(v, 4) for v in grad.tolist()]
        [-0.25, -0.0596]
    """
    _check_pairs(real_logits, fake_logits)
    return F.softplus(real_logits - fake_logits).mean()


# --------------------------------------------------------------------------------------
# f-GAN (Nowozin et al. 2016). The discriminator output v passes through an output
# activation g_f into the domain of the convex conjugate f*; Eq. 6:
#   F(theta, w) = E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))]  <=  D_f(P || Q),
# with equality at T*(x) = g_f(V(x)) = f'(p(x) / q(x)).
# --------------------------------------------------------------------------------------


FDivergenceName = Literal[
    "kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon", "gan", "total_variation"
]
"""The f-divergences of :data:`F_DIVERGENCES` (a test checks that the two agree)."""


@dataclass(frozen=True)
class FDivergence:
    """One row of Nowozin et al. 2016, Table 6 (generator ``f``, conjugate ``f*``, ``g_f``).

    ``conjugate_of_activation(v)`` is ``f*(g_f(v))`` written in a numerically stable closed
    form; ``conjugate`` and ``activation`` are kept separate for tests and plots.

    Example:
        KL's row: ``f(u) = u log u``, ``f*(t) = exp(t - 1)``, ``g_f(v) = v``. When
        ``P = Q`` the optimal ``T* = f'(1) = 1`` makes the bound ``1 - f*(1) = 0 = KL(P || P)``:

        >>> import torch
        >>> kl = get_f_divergence("kl")
        >>> kl.f(torch.tensor([1.0, 2.0]))
        tensor([0.0000, 1.3863])
        >>> kl.variational_bound(torch.ones(4), torch.ones(4))
        tensor(0.)
        >>> v = torch.linspace(-3, 3, 7)  # the stable closed form equals f* after g_f
        >>> torch.allclose(kl.conjugate_of_activation(v), kl.conjugate(kl.activation(v)))
        True
    """

    name: FDivergenceName
    f: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]
    conjugate_of_activation: Callable[[Tensor], Tensor]

    def variational_bound(self, real_outputs: Tensor, fake_outputs: Tensor) -> Tensor:
        """``E_P[g_f(v)] - E_Q[f*(g_f(v))]``, a lower bound on ``D_f(P || Q)``."""
        return self.activation(real_outputs).mean() - self.conjugate_of_activation(fake_outputs).mean()


def _xlogx(u: Tensor) -> Tensor:
    return torch.xlogy(u, u)


F_DIVERGENCES: dict[FDivergenceName, FDivergence] = {
    d.name: d
    for d in (
        FDivergence(
            "kl",
            f=_xlogx,
            conjugate=lambda t: torch.exp(t - 1.0),
            activation=lambda v: v,
            conjugate_of_activation=lambda v: torch.exp(v - 1.0),
        ),
        FDivergence(
            "reverse_kl",
            f=lambda u: -torch.log(u),
            conjugate=lambda t: -1.0 - torch.log(-t),
            activation=lambda v: -torch.exp(-v),
            conjugate_of_activation=lambda v: v - 1.0,
        ),
        FDivergence(
            "pearson",
            f=lambda u: (u - 1.0).pow(2),
            conjugate=lambda t: 0.25 * t.pow(2) + t,
            activation=lambda v: v,
            conjugate_of_activation=lambda v: 0.25 * v.pow(2) + v,
        ),
        FDivergence(
            "squared_hellinger",
            f=lambda u: (torch.sqrt(u) - 1.0).pow(2),
            conjugate=lambda t: t / (1.0 - t),
            activation=lambda v: 1.0 - torch.exp(-v),
            conjugate_of_activation=lambda v: torch.expm1(v),
        ),
        FDivergence(
            "jensen_shannon",
            f=lambda u: -(u + 1.0) * torch.log((1.0 + u) / 2.0) + _xlogx(u),
            conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),
            activation=lambda v: math.log(2.0) - F.softplus(-v),
            conjugate_of_activation=lambda v: F.softplus(v) - math.log(2.0),
        ),
        FDivergence(
            "gan",
            f=lambda u: _xlogx(u) - (u + 1.0) * torch.log(u + 1.0),
            conjugate=lambda t: -torch.log(1.0 - torch.exp(t)),
            activation=lambda v: -F.softplus(-v),
            conjugate_of_activation=lambda v: F.softplus(v),
        ),
        FDivergence(
            "total_variation",
            f=lambda u: 0.5 * (u - 1.0).abs(),
            conjugate=lambda t: t,
            activation=lambda v: 0.5 * torch.tanh(v),
            conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
        ),
    )
}


def _unknown(what: str, name: object, valid: Iterable[str]) -> ConfigurationError:
    """The error for an unknown name: the valid ones, and the closest when one is close."""
    valid = list(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigurationError(f"Unknown {what} {name!r}{guess}. Valid names: {', '.join(valid)}.")


def get_f_divergence(name: str) -> FDivergence:
    """Look up an f-divergence of :data:`F_DIVERGENCES` by name.

    Example:
        >>> sorted(F_DIVERGENCES)
        ['gan', 'jensen_shannon', 'kl', 'pearson', 'reverse_kl', 'squared_hellinger', 'total_variation']
        >>> get_f_divergence("pearson").name
        'pearson'
    """
    if name not in F_DIVERGENCES:
        raise _unknown("f-divergence", name, sorted(F_DIVERGENCES))
    return F_DIVERGENCES[name]


def f_gan_discriminator_loss(real_outputs: Tensor, fake_outputs: Tensor, divergence: str | FDivergence) -> Tensor:
    """``-(E_P[g_f(v)] - E_Q[f*(g_f(v))])`` (Nowozin et al. 2016, Eq. 6, negated)."""
    div = divergence if isinstance(divergence, FDivergence) else get_f_divergence(divergence)
    return -div.variational_bound(real_outputs, fake_outputs)


def f_gan_generator_loss(fake_outputs: Tensor, divergence: str | FDivergence) -> Tensor:
    """``-E_Q[g_f(v)]``: the generator update of Nowozin et al. 2016, Section 3.2.

    The paper's alternative to minimising ``-E_Q[f*(g_f(v))]`` directly, which gives
    stronger gradients early on (the f-GAN version of the non-saturating trick).
    """
    div = divergence if isinstance(divergence, FDivergence) else get_f_divergence(divergence)
    return -div.activation(fake_outputs).mean()


# --------------------------------------------------------------------------------------
# The registry of losses selectable by name.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdversarialLoss:
    """A discriminator loss, a generator loss and, where the theory gives one, an estimate
    of the divergence the discriminator measures (logged as ``divergence/<estimate_name>`` in
    training and ``val/<estimate_name>`` at validation). A ``relativistic`` loss's generator
    side is ``generator(fake_outputs, real_outputs)``: it also needs the discriminator's outputs
    on the real batch; every other generator side is ``generator(fake_outputs)``."""

    name: str
    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[..., Tensor]
    estimate_name: str | None = None
    estimate: Callable[[Tensor, Tensor], Tensor] | None = None
    relativistic: bool = False


ADVERSARIAL_LOSSES: dict[str, AdversarialLoss] = {
    loss.name: loss
    for loss in (
        AdversarialLoss("minimax", minimax_discriminator_loss, minimax_generator_loss, "jsd_estimate", jsd_estimate),
        AdversarialLoss(
            "non_saturating", minimax_discriminator_loss, non_saturating_generator_loss, "jsd_estimate", jsd_estimate
        ),
        AdversarialLoss(
            "wasserstein",
            wasserstein_discriminator_loss,
            wasserstein_generator_loss,
            "wasserstein_estimate",
            wasserstein_estimate,
        ),
        AdversarialLoss("hinge", hinge_discriminator_loss, hinge_generator_loss),
        AdversarialLoss("least_squares", least_squares_discriminator_loss, least_squares_generator_loss),
        AdversarialLoss(
            "relativistic_pairing",
            relativistic_pairing_discriminator_loss,
            relativistic_pairing_generator_loss,
            relativistic=True,
        ),
    )
}


def f_gan_loss(divergence: str) -> AdversarialLoss:
    """The :class:`AdversarialLoss` of the f-GAN family for ``divergence``.

    Example:
        >>> import torch
        >>> loss = f_gan_loss("kl")
        >>> loss.name, loss.estimate_name
        ('f_gan_kl', 'fgan_kl_bound')
        >>> ones = torch.ones(4)
        >>> loss.estimate(ones, ones), loss.generator(ones)  # Eq. 6's bound; -E[g_f(v)], g_f(v) = v
        (tensor(0.), tensor(-1.))
    """
    div = get_f_divergence(divergence)
    return AdversarialLoss(
        f"f_gan_{div.name}",
        discriminator=lambda real, fake: f_gan_discriminator_loss(real, fake, div),
        generator=lambda fake: f_gan_generator_loss(fake, div),
        # Nowozin's D_f, not JSD: the Jensen-Shannon row's f gives 2 JSD (and the GAN row's
        # 2 JSD - log 4), so the name says "fgan_..._bound", apart from divergence/jsd_estimate.
        estimate_name=f"fgan_{div.name}_bound",
        estimate=div.variational_bound,
    )


def get_adversarial_loss(name: str) -> AdversarialLoss:
    """Look up a loss by name: one of :data:`ADVERSARIAL_LOSSES` or ``f_gan_<divergence>``.

    Example:
        Logits of 0 (``D = 1/2``): the discriminator cannot tell real from fake.

        >>> import torch
        >>> list(ADVERSARIAL_LOSSES)
        ['minimax', 'non_saturating', 'wasserstein', 'hinge', 'least_squares', 'relativistic_pairing']
        >>> loss = get_adversarial_loss("non_saturating")
        >>> zeros = torch.zeros(4)
        >>> round(float(loss.discriminator(zeros, zeros)), 4), round(float(loss.generator(zeros)), 4)  # log 4, log 2
        (1.3863, 0.6931)
        >>> loss.estimate_name, float(loss.estimate(zeros, zeros))
        ('jsd_estimate', 0.0)
        >>> hinge = get_adversarial_loss("hinge")
        >>> float(hinge.discriminator(zeros, zeros)), hinge.estimate_name
        (2.0, None)
        >>> get_adversarial_loss("f_gan_pearson").name
        'f_gan_pearson'
        >>> get_adversarial_loss("hindge")
        Traceback (most recent call last):
            ...
        lightning_gans.errors.ConfigurationError: Unknown adversarial loss 'hindge' (did you mean 'hinge'?). ...
    """
    if name in ADVERSARIAL_LOSSES:
        return ADVERSARIAL_LOSSES[name]
    if isinstance(name, str) and name.startswith("f_gan_") and name[len("f_gan_") :] in F_DIVERGENCES:
        return f_gan_loss(name[len("f_gan_") :])
    raise _unknown("adversarial loss", name, [*ADVERSARIAL_LOSSES, *(f"f_gan_{d}" for d in F_DIVERGENCES)])


# --------------------------------------------------------------------------------------
# Penalties on the discriminator's input gradient. Each returns the unweighted term;
# lightning_gans.penalties holds the weights and schedules that multiply it.
# --------------------------------------------------------------------------------------


def _input_gradients(critic: Critic, inputs: Tensor, grad_scale: Tensor | float | None = None) -> Tensor:
    """``d critic(x) / dx`` per sample, with the graph kept so the penalty can be trained.

    Under 16-bit autocast with a loss scaler, pass the scaler's current scale as
    ``grad_scale``: the output is scaled before differentiating (so small gradients do not
    underflow in float16) and the gradients are unscaled after, as in PyTorch's AMP recipe for
    gradient penalties. Gradients come back in at least float32.
    """
    inputs = inputs.detach().requires_grad_(True)
    outputs = critic(inputs).sum()
    if grad_scale is not None:
        outputs = outputs * grad_scale
    (grads,) = torch.autograd.grad(outputs, inputs, create_graph=True)
    grads = grads.flatten(1).to(torch.promote_types(grads.dtype, torch.float32))
    return grads if grad_scale is None else grads / grad_scale


def gradient_penalty(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    target_norm: float = 1.0,
    grad_scale: Tensor | float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` (Gulrajani et al. 2017, Eq. 3).

    ``x_hat = eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per sample (not per
    pixel), so ``x_hat`` lies on the straight line between a real and a fake sample. ``eps`` is
    drawn from ``generator`` when given (the model passes its checkpoint-reproducible stream).

    Example:
        For ``D(x) = ||x||^2 / 2`` (gradient ``x``), real samples at ``(2, 0)`` and fake ones at
        0, ``||grad D(x_hat)|| = 2 eps``: the penalty is ``E[(2 eps - 1)^2] = 1/3`` for
        ``eps ~ U[0, 1]``:

        >>> import torch
        >>> critic = lambda x: x.pow(2).sum(dim=1) / 2
        >>> real, fake = torch.tensor([[2.0, 0.0]]).expand(10_000, 2), torch.zeros(10_000, 2)
        >>> penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
        >>> round(float(penalty.detach()), 2)
        0.33
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"gradient_penalty needs real and fake of one shape, got {tuple(real.shape)} and {tuple(fake.shape)}."
        )
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, generator=generator)
    dtype = torch.promote_types(real.dtype, fake.dtype)  # under autocast fakes may be 16-bit
    interpolates = torch.lerp(fake.detach().to(dtype), real.detach().to(dtype), eps.to(dtype))
    grads = _input_gradients(critic, interpolates, grad_scale)
    return (grads.norm(2, dim=1) - target_norm).pow(2).mean()


def r1_penalty(critic: Critic, real: Tensor, grad_scale: Tensor | float | None = None) -> Tensor:
    """R1: ``E_{p_data}[||grad_x D(x)||^2]`` (Mescheder et al. 2018, Eq. 9, without gamma/2).

    Example:
        ``D(x) = ||x||^2 / 2`` has gradient ``x``, so R1 is the mean squared norm of the samples:

        >>> import torch
        >>> critic = lambda x: x.pow(2).sum(dim=1) / 2
        >>> r1_penalty(critic, torch.tensor([[1.0, 0.0], [0.0, 2.0]])).detach()  # (1 + 4) / 2
        tensor(2.5000)
    """
    return _input_gradients(critic, real, grad_scale).pow(2).sum(dim=1).mean()


def r2_penalty(critic: Critic, fake: Tensor, grad_scale: Tensor | float | None = None) -> Tensor:
    """R2: ``E_{p_G}[||grad_x D(x)||^2]`` (Mescheder et al. 2018, Eq. 10, without gamma/2).

    Example:
        >>> import torch
        >>> r2_penalty(lambda x: 3 * x.sum(dim=1), torch.randn(5, 2))  # gradient (3, 3) everywhere
        tensor(18.)
    """
    return _input_gradients(critic, fake, grad_scale).pow(2).sum(dim=1).mean()
