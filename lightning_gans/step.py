"""The adversarial update, Goodfellow et al. 2014, Algorithm 1, with the networks passed in.

One training batch of real samples ``x`` is one generator step::

    repeat n_critic times:                                          # discriminator_step
        x_fake = G(z),  z ~ N(0, I)
        ascend  E[log D(x)] + E[log(1 - D(x_fake))]   (the variant's loss, plus its penalty)
    descend E[log(1 - D(x_fake))] on the last x_fake, with its graph  # generator_step

Nothing here knows Lightning. The caller passes the networks to run (the data-parallel
wrappers in training, each synchronising only its own update), the variant as ``hooks`` (its
losses, penalty and after-step hooks) and, per network, an :class:`Update` that turns a loss
into an optimizer step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError
from lightning_gans.losses import AdversarialLoss, Critic


class Hooks(Protocol):
    """What a variant supplies to the update (:class:`~lightning_gans.BaseGAN` implements it)."""

    adversarial_loss: AdversarialLoss

    @property
    def generator_sees_real(self) -> bool: ...

    def discriminator_loss(self, real_outputs: Tensor, fake_outputs: Tensor) -> Tensor: ...
    def generator_loss(self, fake_outputs: Tensor, real_outputs: Tensor | None = None) -> Tensor: ...
    def discriminator_penalty(self, critic: Critic, real: Tensor, fake: Tensor) -> Tensor | None: ...
    def generator_penalty(self, generator: nn.Module, fake: Tensor, labels: Tensor | None) -> Tensor | None: ...
    def augment_inputs(self, x: Tensor) -> Tensor: ...
    def observe_real_outputs(self, real_outputs: Tensor, images: int) -> None: ...
    def after_discriminator_step(self) -> None: ...
    def after_generator_step(self) -> None: ...


class Update(Protocol):
    """How a loss becomes one optimizer step of one network (BaseGAN builds it from Lightning)."""

    def training(self) -> AbstractContextManager[object]:
        """While the loss is built, the other network's parameters collect no gradients."""
        ...

    def step(self, loss: Tensor) -> None:
        """Zero the gradients, backpropagate ``loss`` and step the optimizer."""
        ...


@dataclass(frozen=True)
class Networks:
    """The networks one training step runs."""

    generator: nn.Module
    """Makes the training fakes; under DDP, its wrapper synchronises the generator update."""
    discriminator: nn.Module
    """Trained by the discriminator update; under DDP, its wrapper synchronises that update."""
    frozen_discriminator: nn.Module
    """Judges the fakes in the generator update, where its parameters are frozen (plain, never synchronised)."""


def packed_shape(data_shape: Sequence[int], pack: int = 1) -> tuple[int, ...]:
    """The discriminator's input shape under PacGAN packing: the first dimension times ``pack``."""
    if not isinstance(pack, int) or pack < 1:
        raise ConfigurationError(f"pack must be an integer >= 1 (1 turns packing off), got {pack!r}.")
    data_shape = tuple(data_shape)
    return (pack * data_shape[0], *data_shape[1:])


def pack_samples(x: Tensor, pack: int) -> Tensor:
    """PacGAN packing (Lin et al. 2018): ``(B, C, ...) -> (B / pack, pack * C, ...)``."""
    if pack == 1:
        return x
    batch = x.shape[0]
    if batch % pack:
        raise ConfigurationError(
            f"A batch of {batch} samples cannot be packed in groups of pack={pack}; "
            f"use a batch size that is a multiple of {pack} (and drop_last=True)."
        )
    return x.reshape(batch // pack, pack * x.shape[1], *x.shape[2:])


def split_batch(batch: Any, conditional: bool, model_name: str = "The model") -> tuple[Tensor, Tensor | None]:
    """``(samples, labels)`` of a batch (a tensor, or a ``(samples, labels, ...)`` sequence);
    ``labels`` is ``None`` unless ``conditional``, which requires them."""
    if isinstance(batch, Tensor):
        real, labels = batch, None
    elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        real = batch[0]
        labels = batch[1] if len(batch) > 1 and isinstance(batch[1], Tensor) else None
    else:
        raise TypeError(f"A batch must be a tensor of samples or a (samples, labels) pair, got {type(batch).__name__}.")
    if conditional and labels is None:
        raise ConfigurationError(
            f"{model_name} is conditional but the data has no labels; use a labelled dataset "
            "(e.g. an image folder with one sub-folder per class)."
        )
    return real, labels if conditional else None


def critic_of(discriminator: nn.Module, labels: Tensor | None) -> Critic:
    """``x -> D(x)`` (``D(x, y)`` when conditional) on the discriminator's inputs."""
    if labels is None:
        return discriminator
    return lambda x: discriminator(x, labels)


def augmented(critic: Critic, augment: Callable[[Tensor], Tensor], pack: int) -> Critic:
    """``x -> D(A(x))``: ``critic`` behind the differentiable augmentation ``A`` of each sample
    (the packs of ``pack`` samples are unpacked for it). Every penalty then differentiates
    through ``A`` to the discriminator's un-augmented inputs, as ADA's R1 does."""

    def critic_of_augmented(x: Tensor) -> Tensor:
        if pack == 1:
            return critic(augment(x))
        samples = augment(x.reshape(x.shape[0] * pack, x.shape[1] // pack, *x.shape[2:]))
        return critic(samples.reshape(x.shape))

    return critic_of_augmented


def make_fakes(generator: nn.Module, noise: Tensor, labels: Tensor | None, keep_graph: bool) -> Tensor:
    """``G(z)`` (``G(z, y)``), with its graph only when the generator update will reuse it."""
    with torch.set_grad_enabled(keep_graph):
        return generator(noise) if labels is None else generator(noise, labels)


def discriminator_step(
    hooks: Hooks,
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    labels: Tensor | None,
    pack: int,
    update: Update,
    summaries: bool = True,
) -> dict[str, Tensor]:
    """One discriminator update on ``real`` against (detached) ``fake``; returns its loss (and
    penalty), and with ``summaries`` the mean outputs and the divergence estimate too.

    The penalty sees what the discriminator sees: packed inputs when ``pack > 1``, so a gradient
    penalty interpolates and takes norms per packed input (one input is one pack). Inputs pass
    through ``hooks.augment_inputs`` (the identity unless the model augments), penalties included."""
    critic = augmented(critic_of(discriminator, labels), hooks.augment_inputs, pack)
    images = real.shape[0]
    real, fake = pack_samples(real, pack), pack_samples(fake, pack)
    with update.training():
        real_out, fake_out = critic(real), critic(fake)
        hooks.observe_real_outputs(real_out, images)
        loss = hooks.discriminator_loss(real_out, fake_out)
        penalty = hooks.discriminator_penalty(critic, real, fake)
        update.step(loss if penalty is None else loss + penalty)
    hooks.after_discriminator_step()

    metrics = {"loss/d": loss.detach()}
    if penalty is not None:
        metrics["loss/d_penalty"] = penalty.detach()
    if summaries:
        real_out, fake_out = real_out.detach().float(), fake_out.detach().float()
        metrics["d/real"], metrics["d/fake"] = real_out.mean(), fake_out.mean()
        estimate = hooks.adversarial_loss.estimate
        if estimate is not None:
            metrics[f"divergence/{hooks.adversarial_loss.estimate_name}"] = estimate(real_out, fake_out)
    return metrics


def generator_step(
    hooks: Hooks,
    discriminator: nn.Module,
    fake: Tensor,
    real: Tensor,
    labels: Tensor | None,
    pack: int,
    update: Update,
    generator: nn.Module | None = None,
) -> dict[str, Tensor]:
    """One generator update through ``fake``'s graph; ``discriminator``'s parameters stay fixed.
    ``generator`` (the network that made ``fake``) is passed to ``hooks.generator_penalty``,
    e.g. StyleGAN2's path-length regulariser, whose term is added to the loss."""
    critic = augmented(critic_of(discriminator, labels), hooks.augment_inputs, pack)
    penalty = None
    with update.training():
        fake_out = critic(pack_samples(fake, pack))
        if hooks.generator_sees_real:  # relativistic losses compare with D on the real batch
            with torch.no_grad():
                real_out = critic(pack_samples(real, pack))
            loss = hooks.generator_loss(fake_out, real_out)
        else:
            loss = hooks.generator_loss(fake_out)
        if generator is not None:
            penalty = hooks.generator_penalty(generator, fake, labels)
        update.step(loss if penalty is None else loss + penalty)
    hooks.after_generator_step()
    metrics = {"loss/g": loss.detach()}
    if penalty is not None:
        metrics["loss/g_penalty"] = penalty.detach()
    return metrics


def adversarial_step(
    hooks: Hooks,
    networks: Networks,
    real: Tensor,
    labels: Tensor | None,
    noise: Callable[[], Tensor],
    n_critic: int,
    pack: int,
    update_discriminator: Update,
    update_generator: Update,
    summaries: bool = True,
) -> dict[str, Tensor]:
    """Algorithm 1 for one batch: ``n_critic`` discriminator updates, each against fresh fakes,
    then one generator update that reuses the last fakes (one generator forward per update).

    Returns the last updates' losses, and with ``summaries`` the discriminator's mean outputs
    and divergence estimate (a few small ops, worth skipping on the steps nobody logs)."""
    for i in range(n_critic):
        last = i == n_critic - 1
        fake = make_fakes(networks.generator, noise(), labels, keep_graph=last)
        if i == 0 and fake.shape != real.shape:
            raise ConfigurationError(
                f"The generator makes samples of shape {tuple(fake.shape[1:])} but the data has shape "
                f"{tuple(real.shape[1:])}; build the networks for the data's shape (model.data_shape)."
            )
        metrics = discriminator_step(
            hooks, networks.discriminator, real, fake.detach(), labels, pack, update_discriminator, summaries and last
        )
    return {
        **metrics,
        **generator_step(
            hooks, networks.frozen_discriminator, fake, real, labels, pack, update_generator, networks.generator
        ),
    }
