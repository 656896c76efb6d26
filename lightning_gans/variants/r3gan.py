"""R3GAN (Huang, Gokaslan, Kuleshov, Tompkin, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS 2024): the relativistic pairing loss with R1 and R2 on a modernised ResNet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch.optim import Optimizer

from lightning_gans.base import BaseGAN, Role, packed_shape
from lightning_gans.nets.r3gan import R3GANDiscriminator, R3GANGenerator
from lightning_gans.penalties import R1Penalty, R1R2Penalty
from lightning_gans.schedules import Schedule
from lightning_gans.settings import refuse_networks

PAPER_SCHEDULES: dict[str, Schedule] = {
    "lr": Schedule("cosine", start=1.0, end=0.25),  # 2e-4 -> 5e-5
    "penalty_weight": Schedule("cosine", start=1.0, end=0.1),  # gamma -> gamma / 10
    "beta2": Schedule("cosine", start=1.0, end=1.1),  # Adam's beta2 0.9 -> 0.99
    "ema_half_life": Schedule("cosine", start=0.0, end=1.0),  # no averaging -> the configured half-life
}
"""R3GAN's schedules (``training/training_loop.py``'s cosine decays, every preset), as factors of
the configured values; over the whole run unless a schedule's ``steps`` says otherwise."""


class R3GAN(BaseGAN):
    """R3GAN: RpGAN + R1 + R2 (Sec. 2) on the networks of :mod:`lightning_gans.nets.r3gan` (Sec. 3).

    The paper's training setting, its CIFAR-10 preset unless an argument says otherwise:

    * the relativistic pairing loss (``loss="relativistic_pairing"``, Eq. 2) with
      ``gamma / 2 * (R1 + R2)`` (``penalties="r1_r2"``, Eq. 3; ``"r1"``: R1 alone, Table 1's
      ablation), ``gamma`` 0.05 (FFHQ-64: 2, ImageNet-32: 0.5);
    * Adam(lr 2e-4, betas (0, 0.9), eps 1e-8); widths 768 at every resolution, cardinality
      96, 2 blocks per stage, expansion 2, ``latent_dim`` 64;
    * cosine schedules (:data:`PAPER_SCHEDULES`): the learning rate to 1/4, ``gamma`` to 1/10,
      ``beta2`` to 0.99 and the EMA half-life from 0 to the configured one (``ema_decay``:
      0.99993, a half-life of 9,766 steps = 5 M images at the paper's batch of 512). A
      ``schedules`` argument replaces the paper's schedule of each target it names (a
      ``constant`` schedule turns one off) and adds others, e.g. the augmentation
      probability's ``augment_p_max``.

    Deviations from the paper's code (``train.py``, ``training/training_loop.py``):

    * the schedules span the whole run by default; the paper's decay over 20 M images and then
      holds (the GPU configs set their ``steps`` to 20 M images / batch 512 = 39,063);
    * schedules count generator steps, the paper's images (the same at a fixed batch size);
    * augmentation, when configured, is the library's ADA pipeline with a fixed ``p`` moved
      by a schedule (the paper's: its ADA pipeline, ``p`` from 0 to 0.55 on CIFAR-10);
    * the penalty runs the discriminator once more on the reals and the fakes (the paper's
      code reuses the loss's forward pass for R1 and R2): the same values, more compute;
    * the discriminator's output is ``(N, 1)`` and images may have any channel count.

    Args:
        data_shape: ``(C, S, S)``, ``S`` a power of 2 >= 8; the CLI links it from the datamodule.
        latent_dim: size of ``z``.
        widths: the generator's channels per resolution from 4x4 up; the discriminator's are
            the same from the top down (one number: every resolution).
        cardinality: groups of the grouped convolutions per resolution.
        blocks: residual blocks per resolution.
        expansion: the inverted bottleneck's width factor.
        kernel_size: of the grouped convolutions.
        gamma: the weight of R1 and R2 (``gamma / 2`` each).
        penalties: ``"r1_r2"`` (R3GAN) or ``"r1"`` (R1 alone).
        penalty_every: lazy regularisation (StyleGAN2, Sec. 3.1): the penalty every this many
            discriminator updates, times this many; 1 (the paper's) at every update.
        loss: adversarial loss by name (``"non_saturating"`` for Table 1's "GAN" rows).
        num_classes: classes to condition on (:class:`ConditionalR3GAN`).
        pack: PacGAN packing: the discriminator sees ``pack`` images at once (Lin et al. 2018).
        ema_decay: the EMA generator's decay per step at the end of its half-life schedule.
        schedules: schedules over generator steps, merged over :data:`PAPER_SCHEDULES`.
        **kwargs: the loop's settings of :class:`~lightning_gans.BaseGAN`.

    Example:
        >>> from lightning_gans import R3GAN
        >>> gan = R3GAN(data_shape=(3, 16, 16), latent_dim=8, widths=[16, 8, 8], cardinality=2, blocks=1)
        >>> gan.sample(2).shape, gan.adversarial_loss.name, gan.penalty
        (torch.Size([2, 3, 16, 16]), 'relativistic_pairing', R1R2Penalty(gamma=0.05, every=1))
        >>> sorted(gan.schedules.schedules)
        ['beta2', 'ema_half_life', 'lr', 'penalty_weight']
    """

    conditional: ClassVar[bool] = False

    def __init__(
        self,
        data_shape: Sequence[int] = (3, 32, 32),
        latent_dim: int = 64,
        widths: int | Sequence[int] = 768,
        cardinality: int | Sequence[int] = 96,
        blocks: int | Sequence[int] = 2,
        expansion: int = 2,
        kernel_size: int = 3,
        gamma: float = 0.05,
        penalties: Literal["r1_r2", "r1"] = "r1_r2",
        penalty_every: int = 1,
        loss: str = "relativistic_pairing",
        num_classes: int | None = None,
        pack: int = 1,
        ema_decay: float | None = 0.5 ** (1 / 9766),
        schedules: Mapping[str, Schedule] | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_networks(type(self).__name__, kwargs)
        data_shape = tuple(data_shape)
        classes = (num_classes or 0) if self.conditional else 0
        shape = dict(expansion=expansion, kernel_size=kernel_size, num_classes=classes)
        generator = R3GANGenerator(latent_dim, data_shape, widths, cardinality, blocks, **shape)
        top_down = [list(reversed(v)) if not isinstance(v, int) else v for v in (widths, cardinality, blocks)]
        discriminator = R3GANDiscriminator(packed_shape(data_shape, pack), *top_down, **shape)  # type: ignore[arg-type]
        penalty = (R1R2Penalty if penalties == "r1_r2" else R1Penalty)(gamma, every=penalty_every)
        super().__init__(
            generator,
            discriminator,
            data_shape=data_shape,
            latent_dim=latent_dim,
            loss=loss,
            penalty=penalty,
            num_classes=num_classes,
            pack=pack,
            ema_decay=ema_decay,
            schedules={**PAPER_SCHEDULES, **(schedules or {})},
            **kwargs,
        )

    def configure_default_optimizer(self, params: Any, role: Role) -> Optimizer:
        return torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.9), eps=1e-8)


class ConditionalR3GAN(R3GAN):
    """Class-conditional R3GAN as in the paper: the generator concatenates a class embedding
    (of ``latent_dim``) to ``z``; the discriminator projects its last features onto an
    embedding of the class (of the last stage's width). Needs labelled data (``num_classes``
    is linked from the datamodule).

    Example:
        >>> from lightning_gans import ConditionalR3GAN
        >>> gan = ConditionalR3GAN(data_shape=(3, 8, 8), latent_dim=8, widths=8, cardinality=2, num_classes=10)
        >>> gan.sample(labels=[3, 7]).shape
        torch.Size([2, 3, 8, 8])
    """

    conditional: ClassVar[bool] = True
