"""``GANDDPStrategy``: data-parallel training with the generator and discriminator wrapped
in separate ``DistributedDataParallel`` modules.

Lightning's ``DDPStrategy`` wraps the whole ``LightningModule`` in one DDP module. A GAN
update trains one network at a time, so the other one never receives gradients and DDP
stops with "Expected to have finished reduction in the prior iteration" (the crash of
Lightning's own GAN example); ``find_unused_parameters=True`` avoids it by walking the
autograd graph after every forward and still all-reduces the idle network's buckets.

This strategy wraps each network on its own (as mmgeneration's ``DistributedDataParallelWrapper``
does), so each backward synchronises exactly the gradients it produced, with DDP's bucketing
and overlap of communication with computation. The module decides what is wrapped
(:meth:`~lightning_gans.BaseGAN.distribute`) and which network each update runs
(:meth:`~lightning_gans.BaseGAN.training_networks`):

* the discriminator's wrapper only inside the discriminator update (several forwards such as
  real, fake and a gradient penalty's interpolates, then one backward, which DDP allows);
* the generator's wrapper only for the training batch's fakes, whose one backward happens in
  the generator update; the generator update calls the discriminator *unwrapped*, as its
  parameters are frozen there;
* sampling, validation and callbacks use the plain networks, so no rank-0-only code path
  ever enters a collective.

Names: importing :mod:`lightning_gans` registers this class as ``"gan_ddp"``,
``"gan_ddp_spawn"``, ``"gan_ddp_fork"`` and ``"gan_ddp_notebook"``; Lightning's own
``"ddp"`` names are left as they are, so other modules in the process are not affected. The
CLI (``python -m lightning_gans``) turns ``ddp*`` (and ``auto`` on several devices) into
the ``gan_ddp*`` names; in Python, pass ``strategy="gan_ddp"``: a GAN under Lightning's
``DDPStrategy`` stops at the start with that advice. Checkpoints keep plain parameter names
(``generator.…``) and load with any strategy or none.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry

from lightning_gans import _compat
from lightning_gans.base import BaseGAN

DDP_NAMES = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}
"""Lightning's DDP strategy names and their start methods; ``gan_<name>`` is ours."""


class GANDDPStrategy(DDPStrategy):
    """``DDPStrategy`` that wraps a :class:`~lightning_gans.BaseGAN`'s generator and
    discriminator in two ``DistributedDataParallel`` modules instead of wrapping the module.

    Takes every argument of ``DDPStrategy`` (``process_group_backend``, ``timeout``,
    ``static_graph``, ``ddp_comm_hook``…); the DDP keyword arguments apply to both wrappers.
    For modules that are not GANs it behaves exactly like ``DDPStrategy``.
    """

    def configure_ddp(self) -> None:
        module = self.model
        if not isinstance(module, BaseGAN):
            super().configure_ddp()
            return
        module.distribute(lambda network: _compat.wrap_in_ddp(self, network))
        # DDP broadcasts rank 0's networks; the EMA copy must match them too.
        if module.generator_ema is not None:
            for tensor in module.generator_ema.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)

    def teardown(self) -> None:
        module = self.lightning_module
        if isinstance(module, BaseGAN):
            module.distribute(None)
        super().teardown()


def register_gan_ddp(registry: Any = StrategyRegistry) -> None:
    """Register :class:`GANDDPStrategy` as ``gan_ddp``, ``gan_ddp_spawn``, ``gan_ddp_fork``
    and ``gan_ddp_notebook`` (Lightning's ``ddp`` names are not touched)."""
    for name, start_method in DDP_NAMES.items():
        if f"gan_{name}" not in registry:
            registry.register(
                f"gan_{name}",
                GANDDPStrategy,
                description=f"lightning_gans: DDP with separate generator/discriminator wrappers ({start_method})",
                start_method=start_method,
            )


def gan_strategy_name(strategy: Any, devices: Any = 1, num_nodes: int = 1) -> Any:
    """The strategy a GAN should get for ``strategy`` as a user wrote it: Lightning's ``ddp``
    names become ``gan_ddp`` ones, and ``auto`` on several devices or nodes becomes
    ``gan_ddp``; anything else is returned as it is."""
    if isinstance(strategy, str) and strategy in DDP_NAMES:
        return f"gan_{strategy}"
    if strategy == "auto" and (num_nodes > 1 or _several(devices)):
        return "gan_ddp"
    return strategy


def _several(devices: Any) -> bool:
    """Whether a Trainer's ``devices`` asks for more than one device."""
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return torch.cuda.device_count() > 1
        if "," in text:
            return len([d for d in text.split(",") if d.strip()]) > 1
        return text.isdigit() and int(text) > 1
    return isinstance(devices, int) and (devices > 1 or (devices == -1 and torch.cuda.device_count() > 1))
