"""``BaseGAN``: the Lightning side of the adversarial training that every variant shares.

The update itself (Goodfellow et al. 2014, Algorithm 1: ``n_critic`` discriminator updates,
then one generator update reusing the last fakes) is :mod:`lightning_gans.step`, which gets
the networks as arguments. This module wires it to Lightning: manual optimisation, the
optimizers, schedulers and precision plugin, logging, the random stream and checkpoint state.

One batch is one generator step, and every step count of the trainer counts generator
steps: ``trainer.global_step``, ``trainer.max_steps``, ``limit_train_batches``,
``ModelCheckpoint(every_n_train_steps=...)``, the loggers' x-axis and the callbacks'
``every_n_batches``. (Discriminator updates go through the strategy and precision plugin
like any optimizer step, but are not counted as trainer steps; :attr:`discriminator_steps`
counts them.)

Training noise comes from the module's own random stream, reseeded every batch from the
run's seed, the process rank and the generator step, so a resumed run draws exactly the
noise the uninterrupted run would have drawn, and every DDP rank draws different noise.

A variant declares what differs, each once: its networks (:meth:`build_networks`), its
defaults in its signature (``loss``, ``n_critic``…), :meth:`default_penalty`,
:meth:`configure_default_optimizer`, and any of the hooks :meth:`discriminator_loss`,
:meth:`generator_loss` (with :attr:`generator_sees_real`), :meth:`discriminator_penalty`,
:meth:`generator_penalty`, :meth:`augment_inputs`, :meth:`observe_real_outputs`,
:meth:`training_randomness`, :meth:`after_discriminator_step` and :meth:`after_generator_step`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.optimizer import LightningOptimizer, do_nothing_closure
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LinearLR, LRScheduler
from torch.optim.swa_utils import get_ema_multi_avg_fn

from lightning_gans import _compat, step
from lightning_gans.augment import AdaptiveAugment, build_augment
from lightning_gans.errors import ConfigurationError, NonFiniteLossError
from lightning_gans.finite import NonFiniteWatch, all_finite
from lightning_gans.losses import AdversarialLoss, get_adversarial_loss
from lightning_gans.penalties import DiscriminatorPenalty
from lightning_gans.utils import eval_mode, run_seed

Role = Literal["generator", "discriminator"]


def packed_shape(data_shape: Sequence[int], pack: int) -> tuple[int, ...]:
    """The discriminator's input shape under PacGAN packing: the first dimension times ``pack``."""
    data_shape = tuple(data_shape)
    return (pack * data_shape[0], *data_shape[1:])


def _check_data_parallel(model: Any) -> None:
    """Stop a DDP wrapper of the whole module without unused-parameter detection (Lightning's
    ``DDPStrategy``): it fails at the first update with "Expected to have finished reduction"."""
    if isinstance(model, DistributedDataParallel) and not model.find_unused_parameters:
        raise ConfigurationError(
            "Lightning's DDPStrategy wraps the generator and discriminator in one DistributedDataParallel module, "
            "which cannot train a GAN (each update leaves the other network without gradients). Use "
            "strategy='gan_ddp' (or 'gan_ddp_spawn', 'gan_ddp_fork', 'gan_ddp_notebook'; the CLI picks it for "
            "'ddp'), or lightning_gans.GANDDPStrategy(...) with the same arguments."
        )


@dataclass(frozen=True)
class _LightningUpdate:
    """:class:`lightning_gans.step.Update` through Lightning: backward through the precision
    plugin, the step through the strategy (AMP, clipping hooks)."""

    module: BaseGAN
    optimizer: LightningOptimizer
    counted: bool
    """Whether the step counts as a trainer step: ``global_step`` counts generator steps only;
    :attr:`BaseGAN.discriminator_steps` counts the others."""
    frozen: nn.Module | None = None
    """The network whose parameters must not collect gradients while the loss is built (the
    discriminator, in the generator update). The discriminator update needs none: its fakes are
    detached. This is what ``toggled_optimizer`` achieves, without visiting every parameter of
    both optimizers twice per update."""

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


def _package_version() -> str:
    from lightning_gans.version import __version__

    return __version__


class BaseGAN(L.LightningModule):
    """A generator, a discriminator and the alternating updates between them.

    Args:
        generator: maps noise ``(N, latent_dim)`` (and labels, if conditional) to samples.
            Pass both networks, or subclass and build them in :meth:`build_networks`.
        discriminator: maps samples (packed, if ``pack > 1``) to one output per input.
        latent_dim: size of the noise vector ``z ~ N(0, I)``.
        loss: adversarial loss by name, see :func:`lightning_gans.losses.get_adversarial_loss`.
        penalty: a discriminator regulariser from :mod:`lightning_gans.penalties` (gradient
            penalty, R1, R2), added by the default :meth:`discriminator_penalty`; the
            variant's :meth:`default_penalty` when ``None``.
        g_optimizer: builds the generator's optimizer from its parameters; the variant's
            paper default (:meth:`configure_default_optimizer`) when ``None``.
        d_optimizer: the same for the discriminator.
        g_scheduler: optional LR scheduler of the generator's optimizer; stepped by the
            module (Lightning does not step schedulers under manual optimisation).
        d_scheduler: the same for the discriminator.
        scheduler_interval: step the schedulers every ``"epoch"`` or every ``"batch"``.
        lr_decay: decay both learning rates linearly, every generator step, from their
            initial values to ``lr_decay`` times them at generator step ``lr_decay_steps``,
            e.g. 0.01, and keep them there. ``None`` keeps them constant (or use
            ``g_scheduler`` / ``d_scheduler``).
        lr_decay_steps: where the decay ends; ``None``: the last step of the run as first
            started (the trainer's ``max_steps``, or ``max_epochs`` of batches; a resumed run
            keeps its schedule). Set it to extend runs with ``--ckpt_path`` on one schedule.
        n_critic: discriminator updates per generator update.
        pack: PacGAN packing (Lin et al. 2018): the discriminator sees ``pack`` samples
            concatenated along the first feature dimension, real with real and fake with
            fake; 1 turns it off. The batch size must be a multiple of ``pack``.
        ema_decay: keep an exponential moving average of the generator's weights with this
            decay (e.g. 0.999) and sample from it; ``None`` keeps none.
        ema_rampup: ramp the EMA's half-life up with training (StyleGAN2-ADA's ``ema_rampup``,
            Karras et al. 2020; 0.05 there): at generator step ``t`` it is at most
            ``ema_rampup * t`` steps, so the average forgets the first, poor weights quickly
            and a short run is not held back by them. ``None`` uses ``ema_decay`` throughout.
        num_fixed_samples: size of the fixed noise batch used for comparable samples.
        data_shape: shape of one sample; the CLI links it from the datamodule.
        num_classes: number of classes of the data; used by conditional variants.
        check_finite_every_n_batches: stop with :class:`NonFiniteLossError` when a loss is
            NaN/inf. Every batch's losses are checked on the device without a host sync; the
            result is read every this many batches and at the end of each epoch, and the
            error names the first bad batch. 0 turns the check off.
        gradient_clip_val: clip both networks' gradients to this norm (or value) before each
            update; ``None`` does not clip. Under ``16-mixed`` the gradients are unscaled
            first. (``trainer.gradient_clip_val`` does not apply to manual optimisation.)
        gradient_clip_algorithm: ``"norm"`` or ``"value"``.
        channels_last: keep image networks and batches in channels-last memory format
            (faster convolutions with cuDNN/oneDNN, above all under mixed precision).
        torch_compile: compile the generator (and the discriminator, unless a gradient
            penalty needs double backward, which ``torch.compile`` does not support) with
            ``torch.compile`` when fitting starts.
        augment: differentiable augmentation of every image the discriminator sees in
            training, real and fake, in both updates and inside penalties (see
            :mod:`lightning_gans.augment`): ``"ada"`` (adaptive, Karras et al. 2020) or
            DiffAugment policies (Zhao et al. 2020), e.g. ``"color,translation,cutout"``.
            ``None`` does not augment. Image data only.
        ada_target: ADA's target for ``r_t = E[sign(D(real))]`` (0.6); ``None`` keeps ``p``
            at ``ada_p``.
        ada_kimg: thousands of real images over which ADA's ``p`` can go from 0 to 1 (500 in
            the paper; smaller for short runs on little data).
        ada_p: ADA's initial (or fixed) augmentation probability.

    Optimizers are returned by :meth:`configure_optimizers` in the fixed order
    ``[generator, discriminator]``.
    """

    conditional: ClassVar[bool] = False
    generator_sees_real: ClassVar[bool] = False
    """Whether :meth:`generator_loss` also gets the discriminator's outputs on the real batch
    (relativistic losses need them); costs one more discriminator forward per generator update."""

    def __init__(
        self,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        latent_dim: int | None = None,
        loss: str = "non_saturating",
        penalty: DiscriminatorPenalty | None = None,
        g_optimizer: OptimizerCallable | None = None,
        d_optimizer: OptimizerCallable | None = None,
        g_scheduler: LRSchedulerCallable | None = None,
        d_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "batch"] = "epoch",
        lr_decay: float | None = None,
        lr_decay_steps: int | None = None,
        n_critic: int = 1,
        pack: int = 1,
        ema_decay: float | None = None,
        ema_rampup: float | None = None,
        num_fixed_samples: int = 64,
        data_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        check_finite_every_n_batches: int = 50,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: Literal["norm", "value"] = "norm",
        channels_last: bool = False,
        torch_compile: bool = False,
        augment: str | None = None,
        ada_target: float | None = 0.6,
        ada_kimg: float = 500.0,
        ada_p: float = 0.0,
    ) -> None:
        super().__init__()
        if latent_dim is None:
            raise ConfigurationError(f"{type(self).__name__} needs latent_dim, the size of the noise vector.")
        if not isinstance(pack, int) or pack < 1:
            raise ConfigurationError(f"pack must be an integer >= 1 (1 turns packing off), got {pack!r}.")
        if n_critic < 1:
            raise ConfigurationError(
                f"n_critic must be >= 1 discriminator updates per generator update, got {n_critic}."
            )
        if pack > 1 and self.conditional:
            raise ConfigurationError("pack > 1 is not supported by conditional variants; use pack=1.")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigurationError(f"ema_decay must lie in (0, 1), e.g. 0.999, or be None; got {ema_decay}.")
        if ema_rampup is not None and not (ema_rampup > 0 and ema_decay is not None):
            raise ConfigurationError(
                f"ema_rampup must be > 0 (e.g. 0.05) and needs ema_decay (e.g. 0.999); got ema_rampup={ema_rampup}, "
                f"ema_decay={ema_decay}."
            )
        if lr_decay is not None and not (0.0 <= lr_decay <= 1.0 and g_scheduler is None and d_scheduler is None):
            raise ConfigurationError(
                f"lr_decay is the final fraction of the learning rates, in [0, 1] (e.g. 0.01), and replaces "
                f"g_scheduler/d_scheduler: pass one or the other; got lr_decay={lr_decay} with schedulers "
                f"{g_scheduler is not None}/{d_scheduler is not None}."
            )
        if lr_decay_steps is not None and lr_decay_steps < 1:
            raise ConfigurationError(f"lr_decay_steps must be >= 1 generator steps or None, got {lr_decay_steps}.")
        if gradient_clip_val is not None and gradient_clip_val <= 0:
            raise ConfigurationError(f"gradient_clip_val must be > 0 or None (no clipping), got {gradient_clip_val}.")
        if self.conditional and not num_classes:
            raise ConfigurationError(
                f"{type(self).__name__} is conditional and needs num_classes > 0: use a labelled datamodule "
                "(the CLI links data.num_classes) or pass model.num_classes."
            )
        if augment is not None and data_shape is not None and len(tuple(data_shape)) != 3:
            raise ConfigurationError(
                f"augment={augment!r} transforms images (channels, height, width), but the data has shape "
                f"{tuple(data_shape)}; use augment=None for vector data."
            )
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "penalty", "g_optimizer", "d_optimizer", "g_scheduler", "d_scheduler"]
        )
        self.automatic_optimization = False

        self.latent_dim = latent_dim
        self.pack = pack
        self.data_shape = tuple(data_shape) if data_shape is not None else None
        self.num_classes = num_classes
        self.generator, self.discriminator = self._networks(generator, discriminator)
        self.generator_ema: nn.Module | None = None
        if ema_decay is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.adversarial_loss: AdversarialLoss = get_adversarial_loss(loss)
        self.penalty = penalty if penalty is not None else self.default_penalty()
        self.n_critic = n_critic
        self.ema_decay = ema_decay
        self.ema_rampup = ema_rampup
        self.check_finite_every_n_batches = check_finite_every_n_batches
        self._optimizer_factories = (g_optimizer, d_optimizer)
        self._scheduler_factories = (g_scheduler, d_scheduler)
        self.scheduler_interval: Literal["epoch", "batch"] = "batch" if lr_decay is not None else scheduler_interval
        self.lr_decay = lr_decay
        self.lr_decay_steps = lr_decay_steps
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.channels_last = channels_last
        self.torch_compile = torch_compile
        self.generator_steps = 0
        self.discriminator_steps = 0
        self.augment_pipe = build_augment(augment, target=ada_target, kimg=ada_kimg, p=ada_p)
        self.noise_seed: int | None = None  # set when fitting starts; checkpointed
        self._noise_rng: torch.Generator | None = None
        self._nonfinite = NonFiniteWatch(check_finite_every_n_batches)
        self._epoch_ending = False
        # A data-parallel strategy's wrappers of the networks (see distribute); not submodules,
        # so checkpoints keep plain names.
        self._wrapped: dict[str, nn.Module] = {}

        fixed = torch.Generator().manual_seed(0)
        self.register_buffer("fixed_noise", torch.randn(num_fixed_samples, latent_dim, generator=fixed))
        if self.conditional:
            assert num_classes  # checked above
            self.register_buffer("fixed_labels", torch.arange(num_fixed_samples) % num_classes)
        else:
            self.fixed_labels = None

    def _networks(self, generator: nn.Module | None, discriminator: nn.Module | None) -> tuple[nn.Module, nn.Module]:
        """The networks given, or the variant's :meth:`build_networks` (never both)."""
        builds = type(self).build_networks is not BaseGAN.build_networks
        if generator is not None or discriminator is not None:
            if builds:
                raise ConfigurationError(
                    f"{type(self).__name__} builds its own generator and discriminator from data_shape and its "
                    "width settings; for networks of your own use lightning_gans.BaseGAN(generator=..., "
                    "discriminator=..., latent_dim=...) or subclass it."
                )
            if generator is None or discriminator is None:
                raise ConfigurationError("Pass both generator and discriminator (or build them in build_networks).")
            return generator, discriminator
        if not builds:
            raise ConfigurationError(
                "BaseGAN needs generator= and discriminator=, or a subclass that builds them in build_networks."
            )
        if self.data_shape is None:
            raise ConfigurationError(f"{type(self).__name__} needs data_shape (the CLI links it from the data).")
        return self.build_networks(self.data_shape, packed_shape(self.data_shape, self.pack))

    # ------------------------------------------------------------------ what a variant declares

    def build_networks(
        self, data_shape: tuple[int, ...], discriminator_input_shape: tuple[int, ...]
    ) -> tuple[nn.Module, nn.Module]:
        """The variant's ``(generator, discriminator)`` for samples of ``data_shape``; the
        discriminator's input has ``discriminator_input_shape`` (PacGAN packing applied).
        Called once, from ``__init__``, after the loop's settings are checked; the variant's
        own settings are in :attr:`hparams`, and :attr:`latent_dim`, :attr:`num_classes` are set."""
        raise NotImplementedError

    def default_penalty(self) -> DiscriminatorPenalty | None:
        """The variant's discriminator regulariser when ``penalty`` is not given (none by default)."""
        return None

    # ------------------------------------------------------------------ variant hooks

    def discriminator_loss(self, real_outputs: Tensor, fake_outputs: Tensor) -> Tensor:
        """The discriminator's adversarial loss (to minimise) from its outputs."""
        return self.adversarial_loss.discriminator(real_outputs, fake_outputs)

    def generator_loss(self, fake_outputs: Tensor, real_outputs: Tensor | None = None) -> Tensor:
        """The generator's adversarial loss (to minimise) from the discriminator's outputs.

        ``real_outputs`` (``D`` on the batch's real samples, without gradient) is passed only
        when the class sets :attr:`generator_sees_real`; otherwise the call is
        ``generator_loss(fake_outputs)``.
        """
        return self.adversarial_loss.generator(fake_outputs)

    def discriminator_penalty(self, critic: step.Critic, real: Tensor, fake: Tensor) -> Tensor | None:
        """A regulariser added to the discriminator loss (gradient penalty, R1), or ``None``.

        ``critic(x)`` is the discriminator being trained (labels bound in), and ``real`` and
        ``fake`` (detached) are its inputs: packed, ``(B / pack, pack * C, ...)``, when
        ``pack > 1``, so a penalty's interpolates and gradient norms are per packed input.
        Differentiate through it, e.g. ``r1_penalty(critic, real)``. By default the configured
        :attr:`penalty`, if any, on this update's schedule and random stream.
        """
        if self.penalty is None:
            return None
        return self.penalty(
            critic,
            real,
            fake,
            step=self.discriminator_steps,
            rng=self.noise_generator,
            grad_scale=self.penalty_grad_scale(),
        )

    def generator_penalty(self, generator: nn.Module, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        """A regulariser added to the generator loss, or ``None`` (the default): e.g.
        StyleGAN2's path-length penalty. ``generator`` is the network being trained (its
        data-parallel wrapper under DDP) and ``fake`` this update's samples; draw any noise
        from :attr:`noise_generator`."""
        return None

    def training_randomness(self, rng: torch.Generator) -> AbstractContextManager[object]:
        """A context in which the training step runs, given its random stream: networks that
        draw random numbers themselves (StyleGAN2's noise inputs) take them from ``rng`` in it,
        so resumed runs stay exact. Nothing by default."""
        return nullcontext()

    def augment_inputs(self, x: Tensor) -> Tensor:
        """The differentiable augmentation of the discriminator's training inputs ``x``
        (``augment``), from the training step's random stream; ``x`` itself without one."""
        if self.augment_pipe is None:
            return x
        return self.augment_pipe(x, self.noise_generator)

    def observe_real_outputs(self, real_outputs: Tensor, images: int) -> None:
        """Sees ``D`` on the (augmented) real inputs of each discriminator update: ADA's ``r_t``."""
        if isinstance(self.augment_pipe, AdaptiveAugment):
            self.augment_pipe.accumulate(real_outputs, images)

    def after_discriminator_step(self) -> None:
        """Runs after every discriminator update, e.g. weight clipping (WGAN)."""

    def after_generator_step(self) -> None:
        """Runs after every generator update; updates the EMA generator."""
        if self.generator_ema is not None:
            self.update_ema()

    def configure_default_optimizer(self, params: Any, role: Role) -> Optimizer:
        """The optimizer used when none is injected: Adam(2e-4, betas=(0.5, 0.999)) (DCGAN)."""
        return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` latent vectors ``z ~ N(0, I)`` (from ``generator``'s stream if given)."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(self.device)

    # ------------------------------------------------------------------ forward passes

    supports_truncation: ClassVar[bool] = False
    """Whether the generator takes a truncation ``psi`` (StyleGAN2)."""

    def generate(
        self, z: Tensor, labels: Tensor | None = None, ema: bool = False, truncation_psi: float | None = None
    ) -> Tensor:
        """``G(z)`` (``G(z, y)`` for conditional variants); ``ema=True`` uses the EMA copy;
        ``truncation_psi`` truncates (variants with :attr:`supports_truncation`)."""
        net = self.generator_ema if ema and self.generator_ema is not None else self.generator
        if truncation_psi is not None and truncation_psi != 1.0:
            if not self.supports_truncation:
                raise ConfigurationError(
                    f"truncation_psi applies to generators with a style mapping (StyleGAN2); {type(self).__name__} "
                    "has none: leave it at 1."
                )
            return net(z, psi=truncation_psi)
        return net(z) if labels is None else net(z, labels)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """``D(x)`` (``D(x, y)`` for conditional variants), packing samples when ``pack > 1``."""
        return step.critic_of(self.discriminator, labels)(self.pack_samples(x))

    def pack_samples(self, x: Tensor) -> Tensor:
        """``(B, C, ...) -> (B / pack, pack * C, ...)``: consecutive samples become one input."""
        return step.pack_samples(x, self.pack)

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        labels: Tensor | Sequence[int] | None = None,
        noise: Tensor | None = None,
        use_ema: bool = True,
        truncation_psi: float | None = None,
    ) -> Tensor:
        """Draw samples in data space (images: ``(n, C, H, W)`` in ``[-1, 1]``).

        Runs the generator (the EMA copy when there is one and ``use_ema``) in eval mode
        without gradients, and restores each module's mode afterwards.

        Args:
            n: number of samples; may be omitted when ``noise`` or ``labels`` is given.
            labels: class of each sample (conditional variants); random when omitted.
            noise: latent vectors to use instead of fresh noise, e.g. :attr:`fixed_noise`.
            use_ema: sample from the EMA generator when there is one.
            truncation_psi: StyleGAN's truncation trick, ``w = w_avg + psi (w - w_avg)``
                (below 1: typical samples at the cost of variety); StyleGAN2 only.
        """
        if labels is not None and not self.conditional:
            raise ConfigurationError(
                f"{type(self).__name__} is unconditional; labels only apply to conditional variants such as CGAN."
            )
        if labels is not None:
            labels = torch.as_tensor(labels, device=self.device, dtype=torch.long)
        if noise is None:
            if n is None:
                if labels is None:
                    raise ValueError("sample() needs n, labels or noise to know how many samples to draw.")
                n = len(labels)
            noise = self.sample_noise(n)
        noise = noise.to(self.device)
        if self.conditional and labels is None:
            assert self.num_classes  # conditional variants need it (checked in __init__)
            labels = torch.randint(self.num_classes, (noise.shape[0],), device=self.device)
        if labels is not None and len(labels) != noise.shape[0]:
            raise ValueError(f"Got {len(labels)} labels for {noise.shape[0]} samples.")
        ema = use_ema and self.generator_ema is not None
        with eval_mode(self.generator_ema if ema else self.generator):
            return self.generate(noise, labels, ema=ema, truncation_psi=truncation_psi)

    def sample_fixed(self, use_ema: bool = True) -> Tensor:
        """Samples from :attr:`fixed_noise` (and :attr:`fixed_labels`): comparable over training."""
        fixed_noise, fixed_labels = self.get_buffer("fixed_noise"), self.fixed_labels
        return self.sample(noise=fixed_noise, labels=fixed_labels, use_ema=use_ema)

    # ------------------------------------------------------------------ the training loop

    def training_step(self, batch: Any, batch_idx: int) -> None:
        """One generator step: :func:`lightning_gans.step.adversarial_step` on this batch."""
        real, labels = self.unpack_batch(batch)
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        g_opt, d_opt = self.optimizers()  # type: ignore[attr-defined]  # a list here: there are two
        rng = self._reseed_noise()
        logs = self._logs_this_step()
        with self.training_randomness(rng):
            metrics = step.adversarial_step(
                self,
                self.training_networks(),
                real,
                labels,
                noise=lambda: self.sample_noise(real.shape[0], rng),
                n_critic=self.n_critic,
                pack=self.pack,
                update_discriminator=_LightningUpdate(self, d_opt, counted=False),
                update_generator=_LightningUpdate(self, g_opt, counted=True, frozen=self.discriminator),
                summaries=logs,
            )
        # A float16 loss scaler expects penalties to overflow while it backs off (and skips those updates).
        self._nonfinite.record(
            metrics, self.generator_steps, self.current_epoch, batch_idx, with_penalty=self._grad_scaler() is None
        )
        self.generator_steps += 1
        if self.scheduler_interval == "batch":
            self._step_schedulers()
        pipe = self.augment_pipe
        if isinstance(pipe, AdaptiveAugment):
            if self.generator_steps % pipe.interval == 0:
                pipe.adjust(reduce=lambda t: self.trainer.strategy.reduce(t, reduce_op="sum"))
            if logs:
                metrics.update({"augment/p": pipe.p.clone(), "augment/rt": pipe.rt.clone()})

        if logs:
            losses = {k: metrics.pop(k) for k in ("loss/d", "loss/g")}
            self.log_dict(losses, prog_bar=True, on_step=True, on_epoch=False, batch_size=real.shape[0])
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=real.shape[0])

    def training_networks(self) -> step.Networks:
        """The networks a training step runs: a data-parallel strategy's wrappers (see
        :meth:`distribute`) where it set them, else the networks themselves."""
        return step.Networks(
            generator=self._wrapped.get("generator", self.generator),
            discriminator=self._wrapped.get("discriminator", self.discriminator),
            frozen_discriminator=self.discriminator,
        )

    def distribute(self, wrap: Any) -> None:
        """Let a data-parallel strategy wrap the generator and the discriminator, each on its
        own, for the training updates (:class:`~lightning_gans.GANDDPStrategy` calls it);
        ``wrap`` maps a network to its wrapper. ``None`` drops the wrappers."""
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        self._wrapped = {} if wrap is None else {name: wrap(net) for name, net in nets.items()}

    def _logs_this_step(self) -> bool:
        """Whether the trainer writes the metrics of the step now running to the loggers: every
        ``log_every_n_steps`` generator steps, as Lightning does. ``self.log`` costs ~1 ms of
        CPU per key, so the loop logs only the steps that reach a logger and the progress bar."""
        every = int(getattr(self.trainer, "log_every_n_steps", 1))  # a Trainer argument, set at runtime
        return every > 0 and (self.generator_steps + 1) % every == 0

    # ------------------------------------------------------------------ randomness

    @property
    def noise_generator(self) -> torch.Generator | None:
        """The random stream of the current training batch (noise, penalty interpolation):
        reseeded each batch from :attr:`noise_seed`, the global rank and the generator step."""
        return self._noise_rng

    def _reseed_noise(self) -> torch.Generator:
        if self.noise_seed is None:
            seed = run_seed()
            self.noise_seed = seed if seed is not None else torch.initial_seed()
        if self._noise_rng is None or self._noise_rng.device != self.device:
            self._noise_rng = torch.Generator(device=self.device)
        seed = hash((self.noise_seed, self.global_rank, self.generator_steps)) & 0x7FFF_FFFF_FFFF_FFFF
        return self._noise_rng.manual_seed(seed)

    # ------------------------------------------------------------------ precision, clipping

    def penalty_grad_scale(self) -> Tensor | None:
        """The loss scale of an active AMP grad scaler (``16-mixed``), else ``None``.

        Penalties that differentiate ``D(x)`` with respect to ``x`` (gradient penalty, R1)
        scale ``D(x)`` by it before ``autograd.grad`` and unscale the result, so their inner
        backward does not underflow in float16 (PyTorch's AMP recipe for gradient penalties).
        """
        scaler = self._grad_scaler()
        if scaler is None:
            return None
        return scaler.scale(torch.ones((), device=self.device))  # the scale as a tensor: no host sync

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        try:
            precision = self.trainer.precision_plugin
        except RuntimeError:  # not attached to a Trainer: no AMP
            return None
        scaler = getattr(precision, "scaler", None)
        return scaler if scaler is not None and scaler.is_enabled() else None

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Clips gradients; Lightning calls this after AMP has unscaled them."""
        if self.gradient_clip_val is not None:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=self.gradient_clip_val,
                gradient_clip_algorithm=self.gradient_clip_algorithm,
            )

    def unpack_batch(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        """Split a batch into samples and labels; labels are dropped for unconditional variants."""
        if isinstance(batch, Tensor):
            real, labels = batch, None
        elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
            real = batch[0]
            labels = batch[1] if len(batch) > 1 and isinstance(batch[1], Tensor) else None
        else:
            raise TypeError(
                f"A batch must be a tensor of samples or a (samples, labels) pair, got {type(batch).__name__}."
            )
        if not self.conditional:
            return real, None
        if labels is None:
            raise ConfigurationError(
                f"{type(self).__name__} is conditional but the data has no labels; use a labelled dataset "
                "(e.g. an image folder with one sub-folder per class)."
            )
        return real, labels

    def on_train_epoch_start(self) -> None:
        self._epoch_ending = False

    def on_train_epoch_end(self) -> None:
        # Lightning calls this before ModelCheckpoint's epoch-end save: that save is not mid-epoch.
        self._epoch_ending = True
        self._nonfinite.raise_if_seen(self.current_epoch)
        if self.scheduler_interval == "epoch":
            self._step_schedulers()

    def ema_decay_at(self, step: int) -> float:
        """The EMA decay used after ``step`` earlier generator updates: :attr:`ema_decay`, or,
        with :attr:`ema_rampup`, the decay whose half-life is ``min(h, ema_rampup * step)``
        steps, ``h`` being :attr:`ema_decay`'s (so 0, a plain copy, at the first update)."""
        assert self.ema_decay is not None
        if self.ema_rampup is None:
            return self.ema_decay
        half_life = math.log(0.5) / math.log(self.ema_decay)
        ramped = min(half_life, self.ema_rampup * step)
        return 0.5 ** (1.0 / ramped) if ramped > 0 else 0.0

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema <- decay * ema + (1 - decay) * generator`` for weights; buffers are copied."""
        assert self.generator_ema is not None
        # torch's public EMA step: one fused (foreach) lerp over all weights, not one kernel each.
        ema_step = get_ema_multi_avg_fn(self.ema_decay_at(self.generator_steps))
        ema_step(list(self.generator_ema.parameters()), [p.detach() for p in self.generator.parameters()], None)
        for ema_buffer, buffer in zip(self.generator_ema.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    # ------------------------------------------------------------------ set-up

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        if self.channels_last:
            for net in (self.generator, self.discriminator, self.generator_ema):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        if self.torch_compile:
            # nn.Module.compile compiles in place: parameter names (and checkpoints) are unchanged.
            self.generator.compile()
            if not self._discriminator_needs_double_backward():
                self.discriminator.compile()

    def on_fit_start(self) -> None:
        _check_data_parallel(self.trainer.model)

    def _discriminator_needs_double_backward(self) -> bool:
        overridden = type(self).discriminator_penalty is not BaseGAN.discriminator_penalty
        return overridden or self.penalty is not None

    # ------------------------------------------------------------------ validation

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """How the discriminator rates held-out real data against fresh fakes."""
        real, labels = self.unpack_batch(batch)
        fake = self.generate(self.sample_noise(real.shape[0]), labels)
        real_out = self.discriminate(real, labels)
        fake_out = self.discriminate(fake, labels)
        metrics = {
            "val/loss_d": self.discriminator_loss(real_out, fake_out),
            "val/d_real": real_out.mean(),
            "val/d_fake": fake_out.mean(),
        }
        if self.adversarial_loss.estimate is not None:
            metrics[f"val/{self.adversarial_loss.estimate_name}"] = self.adversarial_loss.estimate(real_out, fake_out)
        self.log_dict(metrics, on_epoch=True, sync_dist=True, batch_size=real.shape[0])

    # ------------------------------------------------------------------ optimizers, state

    def configure_optimizers(self) -> Any:
        optimizers = []
        roles: tuple[Role, Role] = ("generator", "discriminator")
        for factory, net, role in zip(self._optimizer_factories, (self.generator, self.discriminator), roles):
            params = [p for p in net.parameters() if p.requires_grad]
            optimizers.append(factory(params) if factory else self.configure_default_optimizer(params, role))
        if self.lr_decay is not None:
            schedulers = [self._linear_decay(opt) for opt in optimizers]
        else:
            schedulers = [factory(opt) for factory, opt in zip(self._scheduler_factories, optimizers) if factory]
        return (optimizers, schedulers) if schedulers else optimizers

    def _linear_decay(self, optimizer: Optimizer) -> LRScheduler:
        total = self.lr_decay_steps or self.trainer.estimated_stepping_batches  # generator steps: one per batch
        if not math.isfinite(total):
            raise ConfigurationError(
                "lr_decay decays the learning rates over the whole run, which has no end here: set the trainer's "
                "max_steps or max_epochs, or lr_decay_steps."
            )
        assert self.lr_decay is not None
        return LinearLR(optimizer, start_factor=1.0, end_factor=self.lr_decay, total_iters=max(int(total), 1))

    def _step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()  # type: ignore[call-arg]  # ReduceLROnPlateau needs a monitor: not supported here

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Never write non-finite weights: a NaN loss that the periodic check has not read yet
        # stops training here, before the file (e.g. last.ckpt) is replaced.
        kept = "the checkpoint was not written, so the last one saved keeps the last finite model"
        try:
            self._nonfinite.raise_if_seen(self.current_epoch)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error} At generator step {self.generator_steps} {kept}.") from None
        if not all_finite(self.generator, self.discriminator, self.generator_ema):
            raise NonFiniteLossError(
                f"Non-finite weights at generator step {self.generator_steps}: {kept}. Try lower learning rates, a "
                "gradient penalty (WGANGP, R1GAN) or spectral normalisation (SNGAN), and resume from the last "
                "checkpoint with --ckpt_path."
            )
        # Exact resumes from checkpoints taken at an epoch's end or after its last batch.
        _compat.finish_spent_loader_iterators(checkpoint)
        if not self._epoch_ending:  # a mid-epoch checkpoint (a step cadence, after validation)
            _compat.repair_mid_epoch_state(checkpoint)
        else:  # e.g. the CLI's final last.ckpt after an epoch-end finish
            _compat.start_next_epoch_when_resumed(checkpoint)
        checkpoint["generator_steps"] = self.generator_steps
        checkpoint["discriminator_steps"] = self.discriminator_steps
        checkpoint["noise_seed"] = self.noise_seed
        # Which class to rebuild: lightning_gans.load_gan reads it (a Trainer in Python stores no class path).
        checkpoint["lightning_gans_class"] = f"{type(self).__module__}.{type(self).__qualname__}"
        checkpoint["lightning_gans_version"] = _package_version()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.generator_steps = checkpoint.get("generator_steps", 0)
        self.discriminator_steps = checkpoint.get("discriminator_steps", 0)
        self.noise_seed = checkpoint.get("noise_seed")
