"""``BaseGAN``: the one adversarial training loop that every variant shares.

The generator minimises, and the discriminator maximises, a two-sample-test objective
(Goodfellow et al. 2014, Eq. 1, or the divergence a variant swaps in). Each training
batch runs, with Lightning's manual optimisation:

1. ``n_critic`` discriminator updates on the batch's real samples, each against a fresh
   fake batch (``G`` runs under ``no_grad`` for all but the last);
2. one generator update that reuses the last fake batch *with* its graph, so every update
   costs exactly one generator forward.

So one batch is one generator step, and every step count of the trainer counts generator
steps: ``trainer.global_step``, ``trainer.max_steps``, ``limit_train_batches``,
``ModelCheckpoint(every_n_train_steps=...)``, the loggers' x-axis and the callbacks'
``every_n_batches``. (Discriminator updates go through the strategy and precision plugin
like any optimizer step, but are not counted as trainer steps; :attr:`discriminator_steps`
counts them.)

Training noise comes from the module's own random stream, reseeded every batch from the
run's seed, the process rank and the generator step, so a resumed run draws exactly the
noise the uninterrupted run would have drawn, and every DDP rank draws different noise.

A variant overrides only what differs: :meth:`discriminator_loss`,
:meth:`generator_loss`, :meth:`discriminator_penalty`, :meth:`after_discriminator_step`,
:meth:`configure_default_optimizer`, or the networks it builds.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.optimizer import do_nothing_closure as _no_closure
from torch import Tensor, nn
from torch.optim import Optimizer

from lightning_gans import _compat
from lightning_gans.errors import ConfigurationError, NonFiniteLossError
from lightning_gans.losses import AdversarialLoss, get_adversarial_loss
from lightning_gans.penalties import DiscriminatorPenalty
from lightning_gans.utils import eval_mode


def packed_shape(data_shape: Sequence[int], pack: int) -> tuple[int, ...]:
    """The discriminator's input shape under PacGAN packing: the first dimension times ``pack``."""
    data_shape = tuple(data_shape)
    return (pack * data_shape[0], *data_shape[1:])


def _check_strategy(strategy: Any) -> None:
    """Stop a DDP strategy that wraps the whole module without unused-parameter detection:
    it fails at the first update with "Expected to have finished reduction" otherwise."""
    from lightning.pytorch.strategies import DDPStrategy

    from lightning_gans.strategies import GANDDPStrategy

    if isinstance(strategy, DDPStrategy) and not isinstance(strategy, GANDDPStrategy):
        if not strategy._ddp_kwargs.get("find_unused_parameters", False):
            raise ConfigurationError(
                f"{type(strategy).__name__} wraps the generator and discriminator in one DistributedDataParallel "
                "module, which cannot train a GAN (each update leaves the other network without gradients). "
                "Use strategy='ddp' (lightning_gans registers its GANDDPStrategy under that name) or "
                "lightning_gans.GANDDPStrategy(...) with the same arguments."
            )


def _package_version() -> str:
    from lightning_gans import __version__

    return __version__


def _default_seed() -> int:
    """The run's seed: ``seed_everything``'s (also under the CLI's ``seed_everything``), else
    torch's initial seed."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed is not None else torch.initial_seed()


def _all_finite(*modules: nn.Module | None) -> bool:
    """Whether every parameter and floating-point buffer of ``modules`` is finite (one host sync)."""
    tensors = [
        t.detach().isfinite().all()
        for module in modules
        if module is not None
        for t in (*module.parameters(), *module.buffers())
        if t.is_floating_point() and t.numel()
    ]
    return not tensors or bool(torch.stack(tensors).all())


class BaseGAN(L.LightningModule):
    """A generator, a discriminator and the alternating updates between them.

    Args:
        generator: maps noise ``(N, latent_dim)`` (and labels, if conditional) to samples.
        discriminator: maps samples (packed, if ``pack > 1``) to one output per input.
        latent_dim: size of the noise vector ``z ~ N(0, I)``.
        loss: adversarial loss by name, see :func:`lightning_gans.losses.get_adversarial_loss`.
        penalty: a discriminator regulariser from :mod:`lightning_gans.penalties` (gradient
            penalty, R1, R2), added by the default :meth:`discriminator_penalty`.
        g_optimizer: builds the generator's optimizer from its parameters; the variant's
            paper default (:meth:`configure_default_optimizer`) when ``None``.
        d_optimizer: the same for the discriminator.
        g_scheduler: optional LR scheduler of the generator's optimizer; stepped by the
            module (Lightning does not step schedulers under manual optimisation).
        d_scheduler: the same for the discriminator.
        scheduler_interval: step the schedulers every ``"epoch"`` or every ``"batch"``.
        n_critic: discriminator updates per generator update.
        pack: PacGAN packing (Lin et al. 2018): the discriminator sees ``pack`` samples
            concatenated along the first feature dimension, real with real and fake with
            fake; 1 turns it off. The batch size must be a multiple of ``pack``.
        ema_decay: keep an exponential moving average of the generator's weights with this
            decay (e.g. 0.999) and sample from it; ``None`` keeps none.
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

    Optimizers are returned by :meth:`configure_optimizers` in the fixed order
    ``[generator, discriminator]``.
    """

    conditional: ClassVar[bool] = False
    generator_sees_real: ClassVar[bool] = False
    """Whether :meth:`generator_loss` also gets the discriminator's outputs on the real batch
    (relativistic losses need them); costs one more discriminator forward per generator update."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int,
        loss: str = "non_saturating",
        penalty: DiscriminatorPenalty | None = None,
        g_optimizer: OptimizerCallable | None = None,
        d_optimizer: OptimizerCallable | None = None,
        g_scheduler: LRSchedulerCallable | None = None,
        d_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "batch"] = "epoch",
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
    ) -> None:
        super().__init__()
        if n_critic < 1:
            raise ConfigurationError(f"n_critic must be >= 1 discriminator updates per generator update, got {n_critic}.")
        if pack < 1:
            raise ConfigurationError(f"pack must be >= 1 (1 turns packing off), got {pack}.")
        if pack > 1 and self.conditional:
            raise ConfigurationError("pack > 1 is not supported by conditional variants; use pack=1.")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigurationError(f"ema_decay must lie in (0, 1), e.g. 0.999, or be None; got {ema_decay}.")
        if gradient_clip_val is not None and gradient_clip_val <= 0:
            raise ConfigurationError(f"gradient_clip_val must be > 0 or None (no clipping), got {gradient_clip_val}.")
        if self.conditional and not num_classes:
            raise ConfigurationError(
                f"{type(self).__name__} is conditional and needs num_classes > 0: use a labelled datamodule "
                "(the CLI links data.num_classes) or pass model.num_classes."
            )
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "penalty", "g_optimizer", "d_optimizer", "g_scheduler", "d_scheduler"]
        )
        self.automatic_optimization = False

        self.generator = generator
        self.discriminator = discriminator
        self.generator_ema: nn.Module | None = None
        if ema_decay is not None:
            self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
        self.latent_dim = latent_dim
        self.adversarial_loss: AdversarialLoss = get_adversarial_loss(loss)
        self.penalty = penalty
        self.n_critic = n_critic
        self.pack = pack
        self.ema_decay = ema_decay
        self.data_shape = tuple(data_shape) if data_shape is not None else None
        self.num_classes = num_classes
        self.check_finite_every_n_batches = check_finite_every_n_batches
        self._optimizer_factories = (g_optimizer, d_optimizer)
        self._scheduler_factories = (g_scheduler, d_scheduler)
        self.scheduler_interval = scheduler_interval
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.channels_last = channels_last
        self.torch_compile = torch_compile
        self.generator_steps = 0
        self.discriminator_steps = 0
        self.noise_seed: int | None = None  # set when fitting starts; checkpointed
        self._noise_rng: torch.Generator | None = None
        self._first_nonfinite: Tensor | None = None  # (generator step, *losses) of the first bad batch
        self._loss_names: list[str] = []
        self._epoch_ending = False
        # GANDDPStrategy's DistributedDataParallel wrappers of the two networks (not submodules,
        # so checkpoints keep plain names); used only inside the training updates.
        self._distributed: dict[str, nn.Module] = {}
        self._phase: Literal["generate", "discriminator", "generator"] | None = None

        fixed = torch.Generator().manual_seed(0)
        self.register_buffer("fixed_noise", torch.randn(num_fixed_samples, latent_dim, generator=fixed))
        if self.conditional:
            self.register_buffer("fixed_labels", torch.arange(num_fixed_samples) % num_classes)
        else:
            self.fixed_labels = None

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

    def discriminator_penalty(self, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        """A regulariser added to the discriminator loss (gradient penalty, R1), or ``None``.

        ``fake`` is detached. Use :meth:`discriminate` as the critic so packing and labels
        apply, e.g. ``r1_penalty(lambda x: self.discriminate(x, labels), real)``. By default
        the configured :attr:`penalty`, if any.
        """
        return None if self.penalty is None else self.penalty(self, real, fake, labels)

    def after_discriminator_step(self) -> None:
        """Runs after every discriminator update, e.g. weight clipping (WGAN)."""

    def after_generator_step(self) -> None:
        """Runs after every generator update; updates the EMA generator."""
        if self.generator_ema is not None:
            self.update_ema()

    def configure_default_optimizer(
        self, params: Any, role: Literal["generator", "discriminator"]
    ) -> Optimizer:
        """The optimizer used when none is injected: Adam(2e-4, betas=(0.5, 0.999)) (DCGAN)."""
        return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` latent vectors ``z ~ N(0, I)`` (from ``generator``'s stream if given)."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(self.device)

    # ------------------------------------------------------------------ forward passes

    def generate(self, z: Tensor, labels: Tensor | None = None, ema: bool = False) -> Tensor:
        """``G(z)`` (``G(z, y)`` for conditional variants); ``ema=True`` uses the EMA copy."""
        if ema and self.generator_ema is not None:
            net = self.generator_ema
        elif self._phase == "generate":
            net = self._distributed.get("generator", self.generator)
        else:
            net = self.generator
        return net(z) if labels is None else net(z, labels)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """``D(x)`` (``D(x, y)`` for conditional variants), packing samples when ``pack > 1``."""
        if self.pack > 1:
            x = self.pack_samples(x)
        if self._phase == "discriminator":  # synchronised only in its own update
            net = self._distributed.get("discriminator", self.discriminator)
        else:
            net = self.discriminator
        return net(x) if labels is None else net(x, labels)

    def pack_samples(self, x: Tensor) -> Tensor:
        """``(B, C, ...) -> (B / pack, pack * C, ...)``: consecutive samples become one input."""
        batch = x.shape[0]
        if batch % self.pack:
            raise ConfigurationError(
                f"A batch of {batch} samples cannot be packed in groups of pack={self.pack}; "
                f"use a batch size that is a multiple of {self.pack} (and drop_last=True)."
            )
        return x.reshape(batch // self.pack, self.pack * x.shape[1], *x.shape[2:])

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        labels: Tensor | Sequence[int] | None = None,
        noise: Tensor | None = None,
        use_ema: bool = True,
    ) -> Tensor:
        """Draw samples in data space (images: ``(n, C, H, W)`` in ``[-1, 1]``).

        Runs the generator (the EMA copy when there is one and ``use_ema``) in eval mode
        without gradients, and restores each module's mode afterwards.

        Args:
            n: number of samples; may be omitted when ``noise`` or ``labels`` is given.
            labels: class of each sample (conditional variants); random when omitted.
            noise: latent vectors to use instead of fresh noise, e.g. :attr:`fixed_noise`.
            use_ema: sample from the EMA generator when there is one.
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
            labels = torch.randint(self.num_classes, (noise.shape[0],), device=self.device)
        if labels is not None and len(labels) != noise.shape[0]:
            raise ValueError(f"Got {len(labels)} labels for {noise.shape[0]} samples.")
        ema = use_ema and self.generator_ema is not None
        with eval_mode(self.generator_ema if ema else self.generator):
            return self.generate(noise, labels, ema=ema)

    def sample_fixed(self, use_ema: bool = True) -> Tensor:
        """Samples from :attr:`fixed_noise` (and :attr:`fixed_labels`): comparable over training."""
        return self.sample(noise=self.fixed_noise, labels=self.fixed_labels, use_ema=use_ema)

    # ------------------------------------------------------------------ the training loop

    def training_step(self, batch: Any, batch_idx: int) -> None:
        real, labels = self.unpack_batch(batch)
        if self.channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        g_opt, d_opt = self.optimizers()
        n = real.shape[0]
        rng = self._reseed_noise()

        for i in range(self.n_critic):
            # Only the last fake batch keeps its graph: the generator update reuses it.
            with torch.set_grad_enabled(i == self.n_critic - 1), self._in_phase("generate"):
                fake = self.generate(self.sample_noise(n, rng), labels)
            if i == 0 and fake.shape != real.shape:
                raise ConfigurationError(
                    f"The generator makes samples of shape {tuple(fake.shape[1:])} but the data has shape "
                    f"{tuple(real.shape[1:])}; build the networks for the data's shape (model.data_shape)."
                )
            d_metrics = self._discriminator_update(d_opt, real, fake.detach(), labels)

        g_metrics = self._generator_update(g_opt, fake, labels, real)
        metrics = {**d_metrics, **g_metrics}
        self._track_finite(metrics, batch_idx)
        self.generator_steps += 1
        if self.scheduler_interval == "batch":
            self._step_schedulers()

        if self._logs_this_step():
            losses = {k: metrics.pop(k) for k in ("loss/d", "loss/g")}
            self.log_dict(losses, prog_bar=True, on_step=True, on_epoch=False, batch_size=n)
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=n)

    def _logs_this_step(self) -> bool:
        """Whether the trainer writes this batch's metrics to the loggers (every
        ``log_every_n_steps``). ``self.log`` costs ~1 ms of CPU per key, so the loop logs only
        the steps that reach a logger (and the progress bar) instead of every step."""
        trainer = self.trainer
        connector = getattr(trainer, "_logger_connector", None)
        if connector is None or not hasattr(connector, "should_update_logs"):
            return True
        return bool(trainer.fast_dev_run) or bool(connector.should_update_logs)

    def _discriminator_update(
        self, d_opt: Any, real: Tensor, fake: Tensor, labels: Tensor | None
    ) -> dict[str, Tensor]:
        with self.toggled_optimizer(d_opt), self._in_phase("discriminator"):
            real_out = self.discriminate(real, labels)
            fake_out = self.discriminate(fake, labels)
            loss = self.discriminator_loss(real_out, fake_out)
            penalty = self.discriminator_penalty(real, fake, labels)
            total = loss if penalty is None else loss + penalty
            d_opt.zero_grad(set_to_none=True)
            self.manual_backward(total)
            # Through the strategy and precision plugin (AMP unscaling, clipping hooks) like
            # any step, but not counted as a trainer step: global_step counts generator steps.
            self.trainer.strategy.optimizer_step(d_opt.optimizer, closure=_no_closure)
        self.discriminator_steps += 1
        self.after_discriminator_step()

        metrics = {"d/real": real_out.detach().float().mean(), "d/fake": fake_out.detach().float().mean()}
        if penalty is not None:
            metrics["loss/d_penalty"] = penalty.detach()
        if self.adversarial_loss.estimate is not None:
            estimate = self.adversarial_loss.estimate(real_out.detach().float(), fake_out.detach().float())
            metrics[f"divergence/{self.adversarial_loss.estimate_name}"] = estimate
        metrics["loss/d"] = loss.detach()
        return metrics

    def _generator_update(self, g_opt: Any, fake: Tensor, labels: Tensor | None, real: Tensor) -> dict[str, Tensor]:
        with self.toggled_optimizer(g_opt), self._in_phase("generator"):
            fake_out = self.discriminate(fake, labels)
            if self.generator_sees_real:
                with torch.no_grad():
                    real_out = self.discriminate(real, labels)
                loss = self.generator_loss(fake_out, real_out)
            else:
                loss = self.generator_loss(fake_out)
            g_opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            g_opt.step()
        self.after_generator_step()
        return {"loss/g": loss.detach()}

    @contextmanager
    def _in_phase(self, phase: Literal["generate", "discriminator", "generator"]) -> Iterator[None]:
        self._phase = phase
        try:
            yield
        finally:
            self._phase = None

    # ------------------------------------------------------------------ randomness

    @property
    def noise_generator(self) -> torch.Generator | None:
        """The random stream of the current training batch (noise, penalty interpolation):
        reseeded each batch from :attr:`noise_seed`, the global rank and the generator step."""
        return self._noise_rng

    def _reseed_noise(self) -> torch.Generator:
        if self.noise_seed is None:
            self.noise_seed = _default_seed()
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
        trainer = self._trainer
        scaler = getattr(trainer.precision_plugin, "scaler", None) if trainer is not None else None
        return scaler if scaler is not None and scaler.is_enabled() else None

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Clips gradients; Lightning calls this after AMP has unscaled them."""
        if self.gradient_clip_val is not None:
            self.clip_gradients(
                optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm=self.gradient_clip_algorithm
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

    def _track_finite(self, metrics: dict[str, Tensor], batch_idx: int) -> None:
        """Remember, on the device, the first batch with a non-finite loss; read it every
        ``check_finite_every_n_batches`` batches (one host sync) and at the end of an epoch."""
        every = self.check_finite_every_n_batches
        if not every:
            return
        names = ["loss/d", "loss/g", "loss/d_penalty"]
        zero = torch.zeros_like(metrics["loss/d"])
        if self._grad_scaler() is not None:
            # A float16 loss scaler starts high and backs off: a penalty that overflows on such
            # a step is expected, and the scaler skips that step. Check only the losses then.
            names = names[:2]
        values = [metrics.get(k, zero) for k in names]
        record = torch.stack([torch.full_like(zero, self.generator_steps), *values]).float()
        if self._first_nonfinite is None or self._first_nonfinite.shape != record.shape:
            self._first_nonfinite = torch.full_like(record, float("nan"))
            self._first_nonfinite[0] = -1
        first_bad = ~record[1:].isfinite().all() & (self._first_nonfinite[0] < 0)
        self._first_nonfinite = torch.where(first_bad, record, self._first_nonfinite)
        self._loss_names = names
        if (batch_idx + 1) % every == 0:
            self._raise_if_nonfinite()

    def _raise_if_nonfinite(self) -> None:
        if self._first_nonfinite is None:
            return
        step, *values = self._first_nonfinite.tolist()
        if step < 0:
            return
        bad = ", ".join(f"{k} = {v}" for k, v in zip(self._loss_names, values) if not math.isfinite(v))
        raise NonFiniteLossError(
            f"Non-finite loss at generator step {int(step)} (epoch {self.current_epoch}): {bad}. "
            "Training stopped so it does not run on NaNs. Try lower learning rates, a gradient penalty "
            "(WGANGP, R1GAN) or spectral normalisation (SNGAN), check that the data is finite and scaled "
            "to [-1, 1], or train in precision 32 if this happened under 16-mixed."
        )

    def on_train_epoch_start(self) -> None:
        self._epoch_ending = False

    def on_train_epoch_end(self) -> None:
        # Lightning calls this before ModelCheckpoint's epoch-end save: that save is not mid-epoch.
        self._epoch_ending = True
        self._raise_if_nonfinite()
        if self.scheduler_interval == "epoch":
            self._step_schedulers()

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema <- decay * ema + (1 - decay) * generator`` for weights; buffers are copied."""
        assert self.generator_ema is not None and self.ema_decay is not None
        ema_params = list(self.generator_ema.parameters())
        params = [p.detach() for p in self.generator.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.ema_decay)
        for ema_buffer, buffer in zip(self.generator_ema.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    # ------------------------------------------------------------------ set-up

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        _check_strategy(self.trainer.strategy)
        if self.channels_last:
            for net in (self.generator, self.discriminator, self.generator_ema):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        if self.torch_compile:
            # nn.Module.compile compiles in place: parameter names (and checkpoints) are unchanged.
            self.generator.compile()
            if not self._discriminator_needs_double_backward():
                self.discriminator.compile()

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
        for factory, net, role in zip(
            self._optimizer_factories, (self.generator, self.discriminator), ("generator", "discriminator")
        ):
            params = [p for p in net.parameters() if p.requires_grad]
            optimizers.append(factory(params) if factory else self.configure_default_optimizer(params, role))
        schedulers = [factory(opt) for factory, opt in zip(self._scheduler_factories, optimizers) if factory]
        return (optimizers, schedulers) if schedulers else optimizers

    def _step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Never write non-finite weights: a NaN loss that the periodic check has not read yet
        # stops training here, before the file (e.g. last.ckpt) is replaced.
        kept = "the checkpoint was not written, so the last one saved keeps the last finite model"
        try:
            self._raise_if_nonfinite()
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error} At generator step {self.generator_steps} {kept}.") from None
        if not _all_finite(self.generator, self.discriminator, self.generator_ema):
            raise NonFiniteLossError(
                f"Non-finite weights at generator step {self.generator_steps}: {kept}. Try lower learning rates, a "
                "gradient penalty (WGANGP, R1GAN) or spectral normalisation (SNGAN), and resume from the last "
                "checkpoint with --ckpt_path."
            )
        # Exact resumes from checkpoints taken at an epoch's end or after its last batch.
        _compat.finish_spent_loader_iterators(checkpoint)
        if not self._epoch_ending:  # a mid-epoch checkpoint (a step cadence, after validation)
            _compat.repair_mid_epoch_state(checkpoint)
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
