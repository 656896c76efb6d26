"""Discriminator regularisers that a config can attach to any variant (``model.penalty``).

Each is a callable ``penalty(critic, real, fake, step, rng, grad_scale) -> Tensor | None``
that returns the weighted term to add to the discriminator loss (or ``None`` on updates it
skips). The arithmetic lives in :mod:`lightning_gans.losses`; these objects hold the weight
and the schedule, and know nothing of the GAN they regularise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lightning_gans.losses import Critic, gradient_penalty, r1_penalty, r2_penalty


class DiscriminatorPenalty:
    """Base class: ``weight * term(...)`` every ``every`` discriminator updates, times ``every``.

    Lazy regularisation (Karras et al. 2020, StyleGAN2 Sec. 3.1): computing the penalty only
    every ``every`` updates and multiplying it by ``every`` keeps its expected gradient and
    saves most of its cost.

    Example:
        R1 on a linear critic ``D(x) = w . x`` is ``gamma / 2 * ||w||^2`` (here 125); applied
        every 4 updates, it counts 4 times:

        >>> import torch
        >>> w = torch.tensor([3.0, 4.0])
        >>> real, fake = torch.zeros(8, 2), torch.ones(8, 2)
        >>> penalty = R1Penalty(gamma=10.0, every=4)
        >>> [penalty(lambda x: x @ w, real, fake, step=step) for step in range(5)]
        [tensor(500.), None, None, None, tensor(500.)]
        >>> R1Penalty(gamma=10.0, every=4)(lambda x: x @ w, real, fake, step=6) is None
        True
    """

    def __init__(self, weight: float, every: int = 1) -> None:
        if weight < 0:
            raise ValueError(f"A penalty weight must be >= 0, got {weight}.")
        if every < 1:
            raise ValueError(f"every must be >= 1 (1 applies the penalty at every update), got {every}.")
        self.weight = weight
        self.every = every
        self.weight_factor = 1.0
        """Scales ``weight`` (a schedule's factor, target ``penalty_weight``)."""

    def __call__(
        self,
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        step: int = 0,
        rng: torch.Generator | None = None,
        grad_scale: Tensor | None = None,
    ) -> Tensor | None:
        """The weighted term at discriminator update ``step`` (the model's checkpointed count,
        so the schedule survives a resume), or ``None`` when the schedule skips it.

        Args:
            critic: ``x -> D(x)``, the discriminator being trained (labels bound in).
            real: the discriminator's real inputs: samples, or packs of ``pack`` samples
                (PacGAN), so interpolates and gradient norms are per packed input.
            fake: the (detached) fake inputs of this update, packed as ``real``.
            step: the number of discriminator updates before this one.
            rng: the training step's random stream, for any sampling (interpolates).
            grad_scale: the AMP loss scale under ``16-mixed``, to differentiate through.
        """
        if self.weight == 0 or step % self.every:
            return None
        return (
            self.every
            * self.weight
            * self.weight_factor
            * self.term(critic, real, fake, grad_scale=grad_scale, rng=rng)
        )

    def term(
        self,
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        grad_scale: Tensor | None = None,
        rng: torch.Generator | None = None,
    ) -> Tensor:
        """The unweighted penalty."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight}, every={self.every})"


class GradientPenalty(DiscriminatorPenalty):
    """WGAN-GP: ``lambda * E[(||grad D(x_hat)|| - 1)^2]`` (Gulrajani et al. 2017, Eq. 3; lambda=10).

    Example:
        A linear critic ``D(x) = w . x`` has gradient ``w`` at every interpolate, so the
        penalty is ``10 * (||w|| - 1)^2``: 160 for ``||w|| = 5``, 0 for a 1-Lipschitz ``w``:

        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> real, fake = torch.randn(8, 2), torch.randn(8, 2)
        >>> penalty = GradientPenalty()
        >>> penalty
        GradientPenalty(weight=10.0, every=1)
        >>> round(float(penalty(lambda x: x @ torch.tensor([3.0, 4.0]), real, fake)), 4)
        160.0
        >>> round(float(penalty(lambda x: x @ torch.tensor([0.6, 0.8]), real, fake)), 4)
        0.0
    """

    def __init__(self, weight: float = 10.0, every: int = 1) -> None:
        super().__init__(weight, every)

    def term(
        self,
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        grad_scale: Tensor | None = None,
        rng: torch.Generator | None = None,
    ) -> Tensor:
        return gradient_penalty(critic, real, fake, grad_scale=grad_scale, generator=rng)


class R1Penalty(DiscriminatorPenalty):
    """R1: ``gamma / 2 * E_data[||grad D(x)||^2]`` (Mescheder et al. 2018, Eq. 9).

    Example:
        On a linear critic ``D(x) = w . x`` the penalty is ``gamma / 2 * ||w||^2``, and its
        gradient, which shrinks the critic, ``gamma * w``:

        >>> import torch
        >>> critic = torch.nn.Linear(2, 1, bias=False)
        >>> critic.weight = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
        >>> _ = torch.manual_seed(0)
        >>> real, fake = torch.randn(8, 2), torch.randn(8, 2)
        >>> penalty = R1Penalty(gamma=10.0)(critic, real, fake)
        >>> penalty.detach()  # 10 / 2 * (9 + 16)
        tensor(125.)
        >>> penalty.backward()
        >>> critic.weight.grad
        tensor([[30., 40.]])
    """

    def __init__(self, gamma: float = 10.0, every: int = 1) -> None:
        super().__init__(gamma / 2, every)
        self.gamma = gamma

    def term(
        self,
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        grad_scale: Tensor | None = None,
        rng: torch.Generator | None = None,
    ) -> Tensor:
        return r1_penalty(critic, real, grad_scale)

    def __repr__(self) -> str:
        return f"R1Penalty(gamma={self.gamma}, every={self.every})"


class R2Penalty(R1Penalty):
    """R2: ``gamma / 2 * E_G[||grad D(x)||^2]`` on fake samples (Mescheder et al. 2018, Eq. 10).

    Example:
        The critic ``D(x) = ||x||^2 / 2`` has gradient ``x``: flat at the fake samples (0),
        steep at the real ones, which only R1 sees:

        >>> import torch
        >>> critic = lambda x: x.pow(2).sum(dim=1) / 2
        >>> real, fake = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.zeros(2, 2)
        >>> R2Penalty(gamma=2.0)(critic, real, fake).detach(), R1Penalty(gamma=2.0)(critic, real, fake).detach()
        (tensor(0.), tensor(2.5000))
        >>> R2Penalty(gamma=0.1, every=16)
        R2Penalty(gamma=0.1, every=16)
    """

    def term(
        self,
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        grad_scale: Tensor | None = None,
        rng: torch.Generator | None = None,
    ) -> Tensor:
        return r2_penalty(critic, fake, grad_scale)

    def __repr__(self) -> str:
        return f"R2Penalty(gamma={self.gamma}, every={self.every})"


class R1R2Penalty(R1Penalty):
    """R1 and R2 together: ``gamma / 2 * (E_data[||grad D(x)||^2] + E_G[||grad D(x)||^2])``
    (Mescheder et al. 2018, Eqs. 9-10), the zero-centred penalty of both distributions that
    makes RpGAN converge locally (Huang et al. 2024, Sec. 2.3 and Eq. 3; R3GAN's ``gamma``).

    Example:
        On a linear critic ``D(x) = w . x`` both terms are ``||w||^2``, so the penalty is
        ``gamma * ||w||^2`` and its gradient ``2 gamma w``:

        >>> import torch
        >>> critic = torch.nn.Linear(2, 1, bias=False)
        >>> critic.weight = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
        >>> real, fake = torch.randn(8, 2), torch.randn(8, 2)
        >>> penalty = R1R2Penalty(gamma=0.1)(critic, real, fake)
        >>> round(float(penalty.detach()), 4)  # 0.1 / 2 * (25 + 25)
        2.5
        >>> penalty.backward()
        >>> critic.weight.grad
        tensor([[0.6000, 0.8000]])
    """

    def term(
        self,
        critic: Critic,
        real: Tensor,
        fake: Tensor,
        grad_scale: Tensor | None = None,
        rng: torch.Generator | None = None,
    ) -> Tensor:
        return r1_penalty(critic, real, grad_scale) + r2_penalty(critic, fake, grad_scale)

    def __repr__(self) -> str:
        return f"R1R2Penalty(gamma={self.gamma}, every={self.every})"
