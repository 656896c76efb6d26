"""``GANDDPStrategy``: data-parallel training with the generator and discriminator wrapped
in separate ``DistributedDataParallel`` modules.

Lightning's ``DDPStrategy`` wraps the whole ``LightningModule`` in one DDP module. A GAN
update trains one network at a time, so the other one never receives gradients and DDP
stops with "Expected to have finished reduction in the prior iteration" (the crash of
Lightning's own GAN example); ``find_unused_parameters=True`` avoids it by walking the
autograd graph after every forward and still all-reduces the idle network's buckets.

This strategy wraps each network on its own (as mmgeneration's ``DistributedDataParallelWrapper``
does), so each backward synchronises exactly the gradients it produced, with DDP's bucketing
and overlap of communication with computation:

* the discriminator's wrapper is used only inside the discriminator update (several forwards
  such as real, fake and a gradient penalty's interpolates, then one backward, which DDP
  allows);
* the generator's wrapper only for the training batch's fakes, whose one backward happens in
  the generator update; the generator update calls the discriminator *unwrapped*, as its
  parameters are frozen there;
* sampling, validation and callbacks use the plain networks, so no rank-0-only code path
  ever enters a collective.

Importing :mod:`lightning_gans` registers this class under Lightning's names ``"ddp"``,
``"ddp_spawn"``, ``"ddp_fork"`` and ``"ddp_notebook"``, so ``--trainer.strategy ddp`` (and
``devices > 1`` with the default ``strategy="auto"``) uses it. For modules that are not
:class:`~lightning_gans.BaseGAN` it behaves exactly like ``DDPStrategy``. Checkpoints keep
plain parameter names (``generator.…``) and load with any strategy or none.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.overrides.distributed import _register_ddp_comm_hook
from lightning.pytorch.strategies import StrategyRegistry
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lightning_gans.base import BaseGAN


class GANDDPStrategy(DDPStrategy):
    """``DDPStrategy`` that wraps a :class:`~lightning_gans.BaseGAN`'s generator and
    discriminator in two ``DistributedDataParallel`` modules instead of wrapping the module.

    Takes every argument of ``DDPStrategy`` (``process_group_backend``, ``timeout``,
    ``static_graph``, ``ddp_comm_hook``…); the DDP keyword arguments apply to both wrappers.
    """

    def _setup_model(self, model: nn.Module) -> nn.Module:
        if not isinstance(model, BaseGAN):
            return super()._setup_model(model)
        model._distributed = {
            "generator": super()._setup_model(model.generator),
            "discriminator": super()._setup_model(model.discriminator),
        }
        # DDP broadcasts rank 0's networks; the EMA copy must match them too.
        if model.generator_ema is not None:
            for tensor in model.generator_ema.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)
        return model

    def _register_ddp_hooks(self) -> None:
        if isinstance(self.model, DistributedDataParallel):
            super()._register_ddp_hooks()
            return
        module = self.lightning_module
        if self.root_device.type == "cuda" and isinstance(module, BaseGAN):
            for wrapper in module._distributed.values():
                _register_ddp_comm_hook(
                    model=wrapper,
                    ddp_comm_state=self._ddp_comm_state,
                    ddp_comm_hook=self._ddp_comm_hook,
                    ddp_comm_wrapper=self._ddp_comm_wrapper,
                )

    def teardown(self) -> None:
        module = self.lightning_module
        if isinstance(module, BaseGAN):
            module._distributed = {}
        super().teardown()


def register_gan_ddp(registry: Any = StrategyRegistry) -> None:
    """Make Lightning's DDP strategy names build :class:`GANDDPStrategy`."""
    for name, start_method in (("ddp", "popen"), ("ddp_spawn", "spawn"), ("ddp_fork", "fork"), ("ddp_notebook", "fork")):
        registry.register(
            name,
            GANDDPStrategy,
            description=f"lightning_gans: DDP with separate generator/discriminator wrappers, start_method {start_method!r}",
            override=True,
            start_method=start_method,
        )
