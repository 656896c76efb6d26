"""``BaseGAN``: the Lightning side of the adversarial training that every variant shares.

The update (Goodfellow et al. 2014, Algorithm 1) is :mod:`lightning_gans.step`, which gets the
networks as arguments; this module wires it to Lightning (manual optimisation, optimizers,
precision, logging, the random stream) and calls each other concern's owner itself, so no
variant has to: :mod:`~lightning_gans.ema`, :mod:`~lightning_gans.schedules`, the augmentation
and ADA's controller (:mod:`~lightning_gans.augment`), :mod:`~lightning_gans.sampling`, exact
resume (:mod:`~lightning_gans.resume`), the NaN watch (:mod:`~lightning_gans.finite`) and the
settings of earlier releases (:mod:`~lightning_gans.settings`).

One batch is one generator step, and every step count counts generator steps:
``trainer.global_step``, ``max_steps``, ``limit_train_batches``, checkpoint cadences, the
loggers' x-axis, the schedules and the callbacks' ``every_n_batches``; :attr:`discriminator_steps`
counts the discriminator's updates. Training noise comes from the module's own stream, reseeded
every batch from the run's seed, the rank and the generator step: a resumed run draws exactly
the noise of the uninterrupted one, and every DDP rank draws its own.

A variant builds its networks in its constructor from its own arguments and passes them, with
its defaults, to ``BaseGAN.__init__``; it overrides only the hooks where it differs:
:meth:`discriminator_loss`, :meth:`generator_loss` (with :attr:`generator_sees_real`),
:meth:`discriminator_penalty`, :meth:`generator_penalty`, :meth:`configure_default_optimizer`,
:meth:`training_randomness`, :meth:`after_discriminator_step` and :meth:`after_generator_step`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from torch.optim import Optimizer

from lightning_gans import preemption, resume, sampling, step
from lightning_gans.augment import Augmentation, build_augment
from lightning_gans.ema import ExponentialMovingAverage
from lightning_gans.errors import ConfigurationError
from lightning_gans.finite import NonFiniteWatch
from lightning_gans.losses import AdversarialLoss, get_adversarial_loss
from lightning_gans.penalties import DiscriminatorPenalty
from lightning_gans.schedules import Schedule, Schedules, Setter, schedule_setters
from lightning_gans.settings import check_settings, missing_networks_message, upgrade_settings
from lightning_gans.step import packed_shape as packed_shape  # re-exported: variants use it
from lightning_gans.updates import LightningUpdate, active_grad_scaler, check_data_parallel
from lightning_gans.utils import run_seed

Role = Literal["generator", "discriminator"]


class BaseGAN(L.LightningModule):
    """A generator, a discriminator and the alternating updates between them.

    Args:
        generator: maps noise ``(N, latent_dim)`` (and labels, if conditional) to samples.
        discriminator: maps samples (packed, if ``pack > 1``) to one output per input.
        latent_dim: size of the noise vector ``z ~ N(0, I)``.
        loss: adversarial loss by name, see :func:`lightning_gans.losses.get_adversarial_loss`.
        penalty: a regulariser of :mod:`lightning_gans.penalties`, added by :meth:`discriminator_penalty`.
        g_optimizer: makes the generator's optimizer from its parameters (:meth:`configure_default_optimizer`).
        d_optimizer: the same for the discriminator.
        schedules: hyperparameter -> :class:`~lightning_gans.schedules.Schedule` over generator
            steps, e.g. ``{"lr": Schedule("linear", end=0.01)}`` (both learning rates fall to 1%
            over the run); the targets are listed in :data:`lightning_gans.schedules.TARGETS`.
        n_critic: discriminator updates per generator update.
        pack: PacGAN packing (Lin et al. 2018): the discriminator sees ``pack`` samples
            concatenated along the first feature dimension; 1 turns it off.
        ema_decay: sample from an EMA of the generator's weights with this decay (:mod:`lightning_gans.ema`).
        num_fixed_samples: size of the fixed noise batch used for comparable samples.
        data_shape: shape of one sample; the CLI links it from the datamodule.
        num_classes: number of classes of the data; used by conditional variants.
        check_finite_every_n_batches: stop with :class:`NonFiniteLossError` when a loss is
            NaN/inf, read every this many batches (no host sync in between); 0 turns it off.
        gradient_clip_val: clip both networks' gradients to this norm (or value) before each update.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``.
        channels_last: keep image networks and batches in channels-last memory format.
        torch_compile: ``torch.compile`` the networks (not a double-backward discriminator) at fit start.
        augment: augmentation of every image the discriminator sees in training: ``"ada"``,
            DiffAugment policies (``"color,translation,cutout"``) or an object such as
            ``AdaptiveAugment(target=0.6, kimg=100)`` (:mod:`lightning_gans.augment`).
        **legacy: settings of earlier releases (``lr_decay``, ``ema_rampup``, ``ada_kimg``…),
            translated by :mod:`lightning_gans.settings` (with a warning) or refused with the new spelling.

    Optimizers are returned by :meth:`configure_optimizers` in the fixed order ``[generator, discriminator]``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from lightning_gans import BaseGAN
        >>> gan = BaseGAN(generator=nn.Linear(4, 2), discriminator=nn.Linear(2, 1), latent_dim=4, ema_decay=0.99)
        >>> gan.sample(5).shape
        torch.Size([5, 2])
        >>> gan.discriminate(torch.zeros(3, 2)).shape
        torch.Size([3, 1])
    """

    conditional: ClassVar[bool] = False
    supports_truncation: ClassVar[bool] = False
    """Whether the generator takes a truncation ``psi`` (StyleGAN2)."""

    def __init__(
        self,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        latent_dim: int | None = None,
        loss: str = "non_saturating",
        penalty: DiscriminatorPenalty | None = None,
        g_optimizer: OptimizerCallable | None = None,
        d_optimizer: OptimizerCallable | None = None,
        schedules: Mapping[str, Schedule] | None = None,
        n_critic: int = 1,
        pack: int = 1,
        ema_decay: float | None = None,
        num_fixed_samples: int = 64,
        data_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        check_finite_every_n_batches: int = 50,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: Literal["norm", "value"] = "norm",
        channels_last: bool = False,
        torch_compile: bool = False,
        augment: str | Augmentation | None = None,
        **legacy: Any,
    ) -> None:
        super().__init__()
        upgraded = upgrade_settings(legacy, ema_decay, augment) if legacy else {}
        augment = upgraded.get("augment", augment)
        schedules = {**upgraded.get("schedules", {}), **(schedules or {})}
        if generator is None or discriminator is None:
            raise ConfigurationError(missing_networks_message(type(self).__name__, generator, discriminator))
        check_settings(self, latent_dim, n_critic, pack, num_classes, gradient_clip_val, augment, data_shape)
        ignore = ["generator", "discriminator", "penalty", "g_optimizer", "d_optimizer", *legacy]
        self.save_hyperparameters(ignore=ignore)
        self.automatic_optimization = False

        assert latent_dim is not None  # checked above
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.pack, self.n_critic = latent_dim, pack, n_critic
        self.data_shape = tuple(data_shape) if data_shape is not None else None
        self.num_classes = num_classes
        self.ema = ExponentialMovingAverage(generator, ema_decay) if ema_decay is not None else None
        self.generator_ema: nn.Module | None = self.ema.network if self.ema is not None else None
        self.adversarial_loss: AdversarialLoss = get_adversarial_loss(loss)
        self.penalty = penalty
        self.schedules = Schedules(schedules)
        self.augment_pipe = build_augment(augment)
        spec = augment if isinstance(augment, str) or self.augment_pipe is None else self.augment_pipe.spec()
        self.hparams.update(schedules=self.schedules.as_data(), augment=spec)  # plain data: weights_only loads
        self.check_finite_every_n_batches = check_finite_every_n_batches
        self.gradient_clip_val, self.gradient_clip_algorithm = gradient_clip_val, gradient_clip_algorithm
        self.channels_last, self.torch_compile = channels_last, torch_compile
        self.generator_steps = 0
        self.discriminator_steps = 0
        self.noise_seed: int | None = None  # set when fitting starts; checkpointed
        self._optimizer_factories = (g_optimizer, d_optimizer)
        self._schedule_setters: dict[str, Setter] = {}
        self._noise_rng: torch.Generator | None = None
        self._nonfinite = NonFiniteWatch(check_finite_every_n_batches)
        self._exact_resume = resume.ExactResume()
        # A data-parallel strategy's wrappers (see distribute); not submodules: checkpoints keep plain names.
        self._wrapped: dict[str, nn.Module] = {}

        fixed = torch.Generator().manual_seed(0)
        self.register_buffer("fixed_noise", torch.randn(num_fixed_samples, latent_dim, generator=fixed))
        if self.conditional:
            assert num_classes  # checked above
            self.register_buffer("fixed_labels", torch.arange(num_fixed_samples) % num_classes)
        else:
            self.fixed_labels: Tensor | None = None

    # ------------------------------------------------------------------ variant hooks

    def discriminator_loss(self, real_outputs: Tensor, fake_outputs: Tensor) -> Tensor:
        """The discriminator's adversarial loss (to minimise) from its outputs."""
        return self.adversarial_loss.discriminator(real_outputs, fake_outputs)

    @property
    def generator_sees_real(self) -> bool:
        """Whether :meth:`generator_loss` gets ``D`` on the real batch too (a relativistic loss)."""
        return self.adversarial_loss.relativistic

    def generator_loss(self, fake_outputs: Tensor, real_outputs: Tensor | None = None) -> Tensor:
        """The generator's adversarial loss (to minimise) from the discriminator's outputs;
        ``real_outputs`` (``D`` on the batch's reals, no gradient) only with :attr:`generator_sees_real`."""
        loss = self.adversarial_loss
        return loss.generator(fake_outputs, real_outputs) if loss.relativistic else loss.generator(fake_outputs)

    def discriminator_penalty(self, critic: step.Critic, real: Tensor, fake: Tensor) -> Tensor | None:
        """A regulariser added to the discriminator loss (gradient penalty, R1), or ``None``.

        ``critic(x)`` is the discriminator being trained (labels bound in, augmentation in
        front), and ``real`` and ``fake`` (detached) its inputs, packed when ``pack > 1``.
        By default the configured :attr:`penalty`, on this update's count and random stream.
        """
        if self.penalty is None:
            return None
        return self.penalty(
            critic, real, fake, step=self.discriminator_steps, rng=self._noise_rng, grad_scale=self.penalty_grad_scale()
        )

    def generator_penalty(self, generator: nn.Module, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        """A regulariser added to the generator loss (e.g. StyleGAN2's path length), or ``None``;
        ``generator`` is the network trained (its DDP wrapper), noise from :attr:`noise_generator`."""
        return None

    def training_randomness(self, rng: torch.Generator) -> AbstractContextManager[object]:
        """A context for the training step: networks that draw random numbers themselves
        (StyleGAN2's noise inputs) take them from ``rng`` in it, so resumes stay exact."""
        return nullcontext()

    def augment_inputs(self, x: Tensor) -> Tensor:
        """The augmentation of the discriminator's training inputs (``augment``), or ``x``."""
        return x if self.augment_pipe is None else self.augment_pipe(x, self._noise_rng)

    def observe_real_outputs(self, real_outputs: Tensor, images: int) -> None:
        """Passes ``D`` on the augmented reals of each discriminator update to the augmentation (ADA's ``r_t``)."""
        if self.augment_pipe is not None:
            self.augment_pipe.observe(real_outputs, images)

    def after_discriminator_step(self) -> None:
        """Runs after every discriminator update, e.g. weight clipping (WGAN)."""

    def after_generator_step(self) -> None:
        """Runs after every generator update (the loop updates the EMA generator itself)."""

    def configure_default_optimizer(self, params: Any, role: Role) -> Optimizer:
        """The optimizer used when none is injected: Adam(2e-4, betas=(0.5, 0.999)) (DCGAN)."""
        return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` latent vectors ``z ~ N(0, I)`` (from ``generator``'s stream if given)."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(self.device)

    # ------------------------------------------------------------------ forward passes

    def generate(
        self, z: Tensor, labels: Tensor | None = None, ema: bool = False, truncation_psi: float | None = None
    ) -> Tensor:
        """``G(z)`` (``G(z, y)``): ``ema=True`` uses the EMA copy; ``truncation_psi`` for StyleGAN2."""
        net = self.generator_ema if ema and self.generator_ema is not None else self.generator
        if truncation_psi is None or truncation_psi == 1.0:
            return net(z) if labels is None else net(z, labels)
        if not self.supports_truncation:
            name = type(self).__name__
            raise ConfigurationError(f"truncation_psi applies to StyleGAN2's style mapping; {name} has none: use 1.")
        return net(z, psi=truncation_psi)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """``D(x)`` (``D(x, y)`` for conditional variants), packing samples when ``pack > 1``."""
        return step.critic_of(self.discriminator, labels)(self.pack_samples(x))

    def pack_samples(self, x: Tensor) -> Tensor:
        """``(B, C, ...) -> (B / pack, pack * C, ...)``: consecutive samples become one input."""
        return step.pack_samples(x, self.pack)

    def sample(
        self,
        n: int | None = None,
        labels: Tensor | Sequence[int] | None = None,
        noise: Tensor | None = None,
        use_ema: bool = True,
        truncation_psi: float | None = None,
    ) -> Tensor:
        """``n`` samples in data space (images in ``[-1, 1]``), in eval mode without gradients:
        from ``noise`` if given, of ``labels`` (conditional variants; random if omitted), from
        the EMA generator when there is one and ``use_ema``, truncated by ``truncation_psi``
        (StyleGAN2's ``w = w_avg + psi (w - w_avg)``). See :func:`lightning_gans.sampling.sample`."""
        return sampling.sample(self, n, labels, noise, use_ema, truncation_psi)

    def sample_fixed(self, use_ema: bool = True) -> Tensor:
        """Samples from :attr:`fixed_noise` (and :attr:`fixed_labels`): comparable over training."""
        return self.sample(noise=self.get_buffer("fixed_noise"), labels=self.fixed_labels, use_ema=use_ema)

    # ------------------------------------------------------------------ the training loop

    def training_step(self, batch: Any, batch_idx: int) -> None:
        """One generator step: the schedules, :func:`lightning_gans.step.adversarial_step` on
        this batch, the EMA generator, the LR schedulers and the augmentation's controller."""
        real, labels = self.unpack_batch(batch)
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        g_opt, d_opt = self.optimizers()  # type: ignore[attr-defined]  # a list here: there are two
        self.schedules.apply(self.generator_steps, self._schedule_setters)
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
                update_discriminator=LightningUpdate(self, d_opt, counted=False),
                update_generator=LightningUpdate(self, g_opt, counted=True, frozen=self.discriminator),
                summaries=logs,
            )
        if self.ema is not None:
            self.ema.update(self.generator, self.generator_steps)
        # A float16 loss scaler expects penalties to overflow while it backs off (and skips those updates).
        self._nonfinite.record(
            metrics, self.generator_steps, self.current_epoch, batch_idx, with_penalty=self._grad_scaler() is None
        )
        self.generator_steps += 1
        schedulers = self.lr_schedulers()  # None, one, or a list
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()  # type: ignore[call-arg]  # ours: LambdaLR or LinearLR
        if self.augment_pipe is not None:
            self.augment_pipe.update(self.generator_steps, self._sum_over_processes)
            if logs:
                metrics.update(self.augment_pipe.metrics())
        if logs:
            losses = {k: metrics.pop(k) for k in ("loss/d", "loss/g")}
            self.log_dict(losses, prog_bar=True, on_step=True, on_epoch=False, batch_size=real.shape[0])
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=real.shape[0])

    def training_networks(self) -> step.Networks:
        """The networks a training step runs: the wrappers :meth:`distribute` set, else the networks."""
        return step.Networks(
            generator=self._wrapped.get("generator", self.generator),
            discriminator=self._wrapped.get("discriminator", self.discriminator),
            frozen_discriminator=self.discriminator,
        )

    def distribute(self, wrap: Callable[[nn.Module], nn.Module] | None) -> None:
        """Let a data-parallel strategy (:class:`~lightning_gans.GANDDPStrategy`) wrap each network
        on its own for the training updates; ``None`` drops the wrappers."""
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        self._wrapped = {} if wrap is None else {name: wrap(net) for name, net in nets.items()}

    def _logs_this_step(self) -> bool:
        """Whether the loggers get this step's metrics (``self.log`` costs ~1 ms of CPU per key)."""
        every = int(getattr(self.trainer, "log_every_n_steps", 1))  # a Trainer argument, set at runtime
        return every > 0 and (self.generator_steps + 1) % every == 0

    def _sum_over_processes(self, value: Tensor) -> Tensor:
        return self.trainer.strategy.reduce(value, reduce_op="sum")

    @property
    def noise_generator(self) -> torch.Generator | None:
        """The current batch's random stream: seeded from :attr:`noise_seed`, the rank and the step."""
        return self._noise_rng

    def _reseed_noise(self) -> torch.Generator:
        if self.noise_seed is None:
            seed = run_seed()
            self.noise_seed = seed if seed is not None else torch.initial_seed()
        if self._noise_rng is None or self._noise_rng.device != self.device:
            self._noise_rng = torch.Generator(device=self.device)
        seed = hash((self.noise_seed, self.global_rank, self.generator_steps)) & 0x7FFF_FFFF_FFFF_FFFF
        return self._noise_rng.manual_seed(seed)

    # ------------------------------------------------------------------ precision, clipping, batches

    def penalty_grad_scale(self) -> Tensor | None:
        """The active AMP loss scale (``16-mixed``) or ``None``: penalties that differentiate ``D(x)``
        by ``x`` scale by it against float16 underflow (PyTorch's AMP recipe for gradient penalties)."""
        scaler = self._grad_scaler()
        return None if scaler is None else scaler.scale(torch.ones((), device=self.device))

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        try:
            return active_grad_scaler(self.trainer)
        except RuntimeError:  # not attached to a Trainer: no AMP
            return None

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Clips gradients; Lightning calls this after AMP has unscaled them."""
        if self.gradient_clip_val is not None:
            self.clip_gradients(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)

    def unpack_batch(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        """Split a batch into samples and labels; labels are dropped for unconditional variants."""
        return step.split_batch(batch, self.conditional, type(self).__name__)

    def on_train_epoch_end(self) -> None:
        self._nonfinite.raise_if_seen(self.current_epoch)

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
        check_data_parallel(self.trainer.model)

    def configure_callbacks(self) -> list[Callback]:  # every fit resumes exactly, also after a SIGTERM
        return [self._exact_resume, preemption.PreemptionCheckpoint()]

    def on_train_end(self) -> None:  # after every callback's: the final last.ckpt is the last save
        self._exact_resume.save_final_checkpoint(self.trainer)

    def _discriminator_needs_double_backward(self) -> bool:
        overridden = type(self).discriminator_penalty is not BaseGAN.discriminator_penalty
        return overridden or self.penalty is not None

    # ------------------------------------------------------------------ validation

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """How the discriminator rates held-out real data against fresh fakes."""
        real, labels = self.unpack_batch(batch)
        fake = self.generate(self.sample_noise(real.shape[0]), labels)
        real_out, fake_out = self.discriminate(real, labels), self.discriminate(fake, labels)
        metrics = {"val/loss_d": self.discriminator_loss(real_out, fake_out)}
        metrics.update({"val/d_real": real_out.mean(), "val/d_fake": fake_out.mean()})
        if self.adversarial_loss.estimate is not None:
            metrics[f"val/{self.adversarial_loss.estimate_name}"] = self.adversarial_loss.estimate(real_out, fake_out)
        self.log_dict(metrics, on_epoch=True, sync_dist=True, batch_size=real.shape[0])

    # ------------------------------------------------------------------ optimizers, schedules, state

    def configure_optimizers(self) -> Any:
        roles: tuple[Role, Role] = ("generator", "discriminator")
        optimizers = []
        for factory, net, role in zip(self._optimizer_factories, (self.generator, self.discriminator), roles):
            params = [p for p in net.parameters() if p.requires_grad]
            optimizers.append(factory(params) if factory else self.configure_default_optimizer(params, role))
        self.schedules.resolve_total(lambda: self.trainer.estimated_stepping_batches)  # generator steps: one a batch
        g_opt, d_opt = optimizers
        self._schedule_setters = schedule_setters(
            self.schedules, g_opt, d_opt, self.penalty, self.ema, self.augment_pipe
        )
        schedulers = self.schedules.lr_schedulers({"g": g_opt, "d": d_opt})
        return (optimizers, schedulers) if schedulers else optimizers

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Never write non-finite weights: a NaN loss not read yet stops training before the file is replaced.
        self._nonfinite.check_before_checkpoint(
            self.generator_steps, self.current_epoch, self.generator, self.discriminator, self.generator_ema
        )
        resume.write_model_state(self, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        resume.read_model_state(self, checkpoint)
