"""How :mod:`lightning_gans.step`'s updates run through Lightning: each loss backpropagated by
the precision plugin (AMP's loss scaling) and each optimizer stepped through the strategy
(unscaling, clipping hooks), with only the generator's steps counted as trainer steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from lightning.pytorch.core.optimizer import LightningOptimizer, do_nothing_closure
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from lightning_gans.errors import ConfigurationError


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``module``'s parameters do not require gradients inside the block; restored after it."""
    params = [p for p in module.parameters() if p.requires_grad]
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in params:
            param.requires_grad_(True)


@dataclass(frozen=True)
class LightningUpdate:
    """:class:`lightning_gans.step.Update` through Lightning.

    Args:
        module: the LightningModule whose trainer runs the step.
        optimizer: the network's optimizer, as ``self.optimizers()`` returns it.
        counted: whether the step counts as a trainer step (``global_step`` counts generator
            steps only); an uncounted step adds one to ``module.discriminator_steps``.
        frozen: the network whose parameters must not collect gradients while the loss is built
            (the discriminator, in the generator update); ``toggled_optimizer`` does this by
            visiting every parameter of both optimizers twice per update.
    """

    module: Any  # a BaseGAN (not imported: it imports this module)
    optimizer: LightningOptimizer
    counted: bool
    frozen: nn.Module | None = None

    def training(self) -> AbstractContextManager[object]:
        return nullcontext() if self.frozen is None else frozen(self.frozen)

    def step(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.module.manual_backward(loss)
        if self.counted:
            self.optimizer.step()
        else:  # the strategy's (public) step: AMP and clipping as usual, but no trainer step counted
            self.module.trainer.strategy.optimizer_step(self.optimizer.optimizer, closure=do_nothing_closure)
            self.module.discriminator_steps += 1


def check_data_parallel(model: Any) -> None:
    """Stop a DDP wrapper of the whole module without unused-parameter detection (Lightning's
    ``DDPStrategy``): it fails at the first update with "Expected to have finished reduction"."""
    if isinstance(model, DistributedDataParallel) and not model.find_unused_parameters:
        raise ConfigurationError(
            "Lightning's DDPStrategy wraps the generator and discriminator in one DistributedDataParallel module, "
            "which cannot train a GAN (each update leaves the other network without gradients). Use "
            "strategy='gan_ddp' (or 'gan_ddp_spawn', 'gan_ddp_fork', 'gan_ddp_notebook'; the CLI picks it for "
            "'ddp'), or lightning_gans.GANDDPStrategy(...) with the same arguments."
        )


def active_grad_scaler(trainer: Any) -> torch.amp.GradScaler | None:
    """The enabled AMP grad scaler of ``trainer``'s precision plugin (``16-mixed``), else ``None``
    (also without a trainer)."""
    scaler = getattr(getattr(trainer, "precision_plugin", None), "scaler", None)
    return scaler if scaler is not None and scaler.is_enabled() else None
