"""Many seeds of one GAN as one model: ``members`` independent GANs trained side by side."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from lightning_gans.errors import ConfigurationError
from lightning_gans.nets.ensemble import member_network
from lightning_gans.variants.gan import GAN


class GANEnsemble(GAN):
    """``members`` independent :class:`GAN` s (say, the 10 seeds of a study) as one model.

    Every layer of both networks holds ``members`` sets of weights
    (:mod:`lightning_gans.nets.ensemble`); a batch of ``members * B`` rows is ``members``
    consecutive chunks, and chunk ``k`` (its real samples, its noise, its fakes) only ever
    meets member ``k``. The members share no parameter, no batch statistic and no
    optimizer state (Adam's moments are per element), so member ``k`` follows exactly the
    updates of a separate run on its chunks; the per-step overhead of Python, Lightning and
    the optimizers is paid once for all members.

    The losses and penalties average over all ``members * B`` rows, i.e. they are the mean
    of the members' own losses, so each member's gradient is ``1 / members`` of its own
    run's; :meth:`on_before_optimizer_step` multiplies the gradients back by ``members``.

    Differences from separate runs: all members stop when one of them produces a
    non-finite loss; gradient-norm clipping would couple the members and is refused
    (``gradient_clip_algorithm="value"`` is per element and allowed); members draw their
    initial weights, noise and data from one random stream rather than one seed each.

    Args:
        members: the number of independent GANs. The datamodule's batch size is the total,
            ``members`` times each member's batch (PacGAN's ``pack`` applies within a member).
        **kwargs: :class:`GAN`'s arguments, shared by every member.

    Example:
        >>> from lightning_gans import GANEnsemble
        >>> ensemble = GANEnsemble(members=3, hidden_dim=8, num_layers=1)
        >>> ensemble.member_samples(5).shape  # 5 samples of each member
        torch.Size([3, 5, 2])
        >>> type(ensemble.member(1)).__name__
        'GAN'
    """

    def __init__(self, members: int = 10, **kwargs: Any) -> None:
        if not isinstance(members, int) or members < 1:
            raise ConfigurationError(f"members must be an integer >= 1 (independent GANs), got {members!r}.")
        if kwargs.get("gradient_clip_val") is not None and kwargs.get("gradient_clip_algorithm", "norm") == "norm":
            raise ConfigurationError(
                "GANEnsemble cannot clip gradients by their norm: one norm over all members couples them. "
                "Use gradient_clip_algorithm='value' or no clipping."
            )
        self.members = members  # read by GAN.__init__ when it builds the networks
        super().__init__(**kwargs)

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Undo the ``1 / members`` of the averaged loss, so each member steps on its own
        gradient; then clip (by value) as :class:`BaseGAN` does."""
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.grad.mul_(self.members)
        super().on_before_optimizer_step(optimizer)

    def generate(
        self, z: Tensor, labels: Tensor | None = None, ema: bool = False, truncation_psi: float | None = None
    ) -> Tensor:
        """``G(z)`` for any number of rows: rows are split among the members in equal chunks,
        so the samples come from the members' mixture; see :meth:`member_samples` for each one's."""
        rows = z.shape[0]
        padding = -rows % self.members
        if padding:
            z = torch.cat([z, z.new_zeros(padding, *z.shape[1:])])
        return super().generate(z, labels, ema, truncation_psi)[:rows]

    @torch.no_grad()
    def member_samples(self, n: int, generator: torch.Generator | None = None, use_ema: bool = True) -> Tensor:
        """``n`` samples of every member: shape ``(members, n, *data_shape)``."""
        samples = self.sample(noise=self.sample_noise(self.members * n, generator), use_ema=use_ema)
        return samples.view(self.members, n, *samples.shape[1:])

    def member(self, k: int) -> GAN:
        """Member ``k`` as a plain :class:`GAN` (a copy of its weights, EMA included), with the
        same settings: sample from it, save it, or train it on."""
        if not 0 <= k < self.members:
            raise IndexError(f"member {k} does not exist; this ensemble has members 0..{self.members - 1}.")
        settings = {name: value for name, value in self.hparams.items() if name != "members"}
        g_optimizer, d_optimizer = self._optimizer_factories
        gan = GAN(**settings, penalty=self.penalty, g_optimizer=g_optimizer, d_optimizer=d_optimizer)
        gan.generator.load_state_dict(member_network(self.generator, k).state_dict())
        gan.discriminator.load_state_dict(member_network(self.discriminator, k).state_dict())
        if self.generator_ema is not None and gan.generator_ema is not None:
            gan.generator_ema.load_state_dict(member_network(self.generator_ema, k).state_dict())
        gan.generator_steps, gan.discriminator_steps = self.generator_steps, self.discriminator_steps
        return gan.to(self.device)
