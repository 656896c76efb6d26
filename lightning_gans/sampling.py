"""Drawing samples from a model for evaluation and for ``generate``, without the command line.

The noise of ``num_samples`` samples is drawn on the CPU from a seed, indexed by sample, so any
device, batch size and process count sample the same noise (:func:`iter_samples`); under DDP
each process draws its contiguous share (:func:`samples_of_rank`), and a callback gathers or
reduces what it computed from them. Conditional models get every class in turn
(:func:`resolve_labels`). The callbacks and ``python -m lightning_gans generate`` all sample here.

Example:
    >>> import torch
    >>> from lightning_gans import GAN
    >>> from lightning_gans.sampling import iter_samples
    >>> _ = torch.manual_seed(0)
    >>> gan = GAN(hidden_dim=8, num_layers=1)
    >>> batches = list(iter_samples(gan, 10, seed=3, batch_size=4))
    >>> [tuple(samples.shape) for samples, _ in batches]
    [(4, 2), (4, 2), (2, 2)]
    >>> whole = next(iter_samples(gan, 10, seed=3, batch_size=10))[0]
    >>> torch.equal(torch.cat([s for s, _ in batches]), whole)  # the same noise, any batch size
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError
from lightning_gans.progress import Progress
from lightning_gans.utils import eval_mode, shard


class BaseGAN(Protocol):
    """What sampling needs of a :class:`lightning_gans.BaseGAN` (which imports this module)."""

    conditional: ClassVar[bool]
    num_classes: int | None
    generator: nn.Module
    generator_ema: nn.Module | None

    @property
    def device(self) -> torch.device: ...
    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...
    def generate(
        self, z: Tensor, labels: Tensor | None = None, ema: bool = False, truncation_psi: float | None = None
    ) -> Tensor: ...
    def sample(self, *args: Any, **kwargs: Any) -> Tensor: ...


@torch.no_grad()
def sample(
    gan: BaseGAN,
    n: int | None = None,
    labels: Tensor | Sequence[int] | None = None,
    noise: Tensor | None = None,
    use_ema: bool = True,
    truncation_psi: float | None = None,
) -> Tensor:
    """:meth:`BaseGAN.sample <lightning_gans.BaseGAN.sample>`: ``gan``'s generator (its EMA copy
    when it has one and ``use_ema``) in eval mode, without gradients; each module's mode is
    restored afterwards."""
    if labels is not None and not gan.conditional:
        raise ConfigurationError(
            f"{type(gan).__name__} is unconditional; labels only apply to conditional variants such as CGAN."
        )
    if labels is not None:
        labels = torch.as_tensor(labels, device=gan.device, dtype=torch.long)
    if noise is None:
        if n is None:
            if labels is None:
                raise ValueError("sample() needs n, labels or noise to know how many samples to draw.")
            n = len(labels)
        noise = gan.sample_noise(n)
    noise = noise.to(gan.device)
    if gan.conditional and labels is None:
        assert gan.num_classes  # conditional variants need it (checked when the model was built)
        labels = torch.randint(gan.num_classes, (noise.shape[0],), device=gan.device)
    if labels is not None and len(labels) != noise.shape[0]:
        raise ValueError(f"Got {len(labels)} labels for {noise.shape[0]} samples.")
    ema = use_ema and gan.generator_ema is not None
    with eval_mode(gan.generator_ema if ema else gan.generator):
        return gan.generate(noise, labels, ema=ema, truncation_psi=truncation_psi)


def resolve_labels(gan: BaseGAN, num_samples: int, labels: Sequence[int] | None) -> Tensor | None:
    """One label per sample: ``labels`` repeated in turn, or every class in turn by default."""
    if not gan.conditional:
        if labels:
            raise ConfigurationError(
                f"{type(gan).__name__} is unconditional, so --labels does not apply; drop it (labels need a "
                "conditional variant such as CGAN)."
            )
        return None
    num_classes = gan.num_classes or 0  # a conditional model has them (checked when it was built)
    classes = list(labels) if labels else list(range(num_classes))
    bad = [label for label in classes if not 0 <= label < num_classes]
    if bad:
        raise ConfigurationError(f"Labels {bad} are not classes of this model: use 0 to {num_classes - 1}.")
    return torch.tensor(classes, dtype=torch.long).repeat(math.ceil(num_samples / len(classes)))[:num_samples]


def iter_samples(
    gan: BaseGAN,
    num_samples: int,
    labels: Tensor | None = None,
    seed: int = 0,
    batch_size: int = 256,
    use_ema: bool = True,
    *,
    start: int = 0,
    stop: int | None = None,
    device: torch.device | str | None = "cpu",
    progress: Progress | None = None,
    truncation_psi: float | None = None,
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """Yield ``(samples, labels)`` batches (samples as float32). The noise of all ``num_samples``
    is drawn on the CPU from ``seed``, so any device, batch size and share sample the same noise
    (and the same samples, up to floating-point rounding).

    Args:
        labels: one label per sample (see :func:`resolve_labels`), for conditional models.
        start, stop: yield only samples ``start`` to ``stop - 1`` (e.g. one process's share).
        device: where the samples go; ``None`` leaves them where the generator made them.
        progress: counts the samples as they come.
        truncation_psi: truncation of StyleGAN2's ``w`` (see :meth:`BaseGAN.sample`).
    """
    noise = gan.sample_noise(num_samples, torch.Generator().manual_seed(seed)).cpu()
    stop = num_samples if stop is None else min(stop, num_samples)
    for first in range(start, stop, batch_size):
        chunk = slice(first, min(first + batch_size, stop))
        batch_labels = None if labels is None else labels[chunk]
        # truncation_psi only when asked for: models whose sample() predates it keep working
        extra: dict[str, Any] = {} if truncation_psi is None else {"truncation_psi": truncation_psi}
        samples = gan.sample(noise=noise[chunk], labels=batch_labels, use_ema=use_ema, **extra).float()
        if device is not None:
            samples = samples.to(device)
        if progress is not None:
            progress.update(len(samples))
        yield samples, batch_labels


def samples_of_rank(
    trainer: Any,
    gan: BaseGAN,
    num_samples: int,
    seed: int,
    batch_size: int,
    labels: Tensor | None = None,
    progress: Progress | None = None,
) -> Iterator[Tensor]:
    """This process's share of ``num_samples`` samples (:func:`~lightning_gans.utils.shard` of
    the global rank), on the module's device, from the same index-addressed noise as
    :func:`iter_samples`: all processes together draw exactly the samples one process would."""
    share = shard(num_samples, trainer.global_rank, trainer.world_size)
    batches = iter_samples(
        gan, num_samples, labels, seed, batch_size, start=share.start, stop=share.stop, device=None, progress=progress
    )
    yield from (samples for samples, _ in batches)
