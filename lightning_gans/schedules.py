"""Schedules of hyperparameters over generator steps: learning rates, Adam's betas, a penalty's
weight, the EMA half-life and the augmentation probability's ceiling.

A :class:`Schedule` scales a hyperparameter's configured value by a factor that depends on the
generator step ``t`` (the trainer's ``global_step``), as torch's ``LinearLR`` scales a learning
rate: ``value(t) = configured * factor(t)``. The shapes:

* ``constant``: ``factor(t) = start``;
* ``linear``: from ``start`` at ``t = 0`` to ``end`` at ``t = steps``, then ``end``;
* ``cosine``: ``end + (start - end) * (1 + cos(pi * t / steps)) / 2``, then ``end``
  (Loshchilov & Hutter 2017, SGDR, without restarts);

each optionally after a linear warm-up from 0 over ``warmup`` steps (Goyal et al. 2017), after
which the shape starts. ``steps=None`` stretches the shape over the whole run as first started
(the trainer's ``max_steps``, or ``max_epochs`` of batches), and a resumed run keeps it.

:class:`Schedules` holds one schedule per target name (:data:`TARGETS`) and applies them: the
learning rates through torch's LR schedulers (``LinearLR`` for a plain linear shape, so the
old ``lr_decay`` trains bit for bit as before; ``LambdaLR`` for the rest), which Lightning
checkpoints; every other target by setting its value before each generator step. What a
schedule needs to be resumed (its resolved length and the configured values it scales) is
part of the module's checkpoint, so a resume continues on the same curve.

Example:
    >>> from lightning_gans.schedules import Schedule
    >>> decay = Schedule("linear", start=1.0, end=0.01, steps=100)
    >>> [round(decay.factor(t), 4) for t in (0, 50, 100, 200)]
    [1.0, 0.505, 0.01, 0.01]
    >>> warm = Schedule("cosine", end=0.0, steps=15, warmup=5)
    >>> [round(warm.factor(t), 3) for t in (0, 1, 5, 10, 15)]
    [0.0, 0.2, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LinearLR, LRScheduler

from lightning_gans.errors import ConfigurationError

Shape = Literal["constant", "linear", "cosine"]

TARGETS: dict[str, str] = {
    "lr": "both networks' learning rates",
    "g_lr": "the generator's learning rate",
    "d_lr": "the discriminator's learning rate",
    "beta1": "Adam's beta1 of both optimizers",
    "beta2": "Adam's beta2 of both optimizers",
    "g_beta2": "the generator optimizer's beta2",
    "d_beta2": "the discriminator optimizer's beta2",
    "penalty_weight": "the discriminator penalty's weight (gamma of R1/R2, lambda of the gradient penalty)",
    "ema_half_life": "the EMA generator's half-life (in generator steps; configured by ema_decay)",
    "augment_p_max": "the ceiling of ADA's augmentation probability p (configured 1.0)",
}
"""What a schedule can drive, and what its factor scales."""


@dataclass(frozen=True)
class Schedule:
    """``factor(t)`` of a hyperparameter's configured value at generator step ``t``.

    Args:
        kind: ``"constant"``, ``"linear"`` or ``"cosine"``.
        start: the factor where the shape starts (after any warm-up).
        end: the factor at ``steps`` and after (``linear``, ``cosine``).
        steps: the shape's length in generator steps, warm-up included; ``None``: the whole run.
        warmup: generator steps of a linear warm-up from 0 to ``start``.

    Example:
        >>> from lightning_gans.schedules import Schedule
        >>> gamma = Schedule("cosine", start=1.0, end=0.1, steps=1000)  # R3GAN-style penalty decay
        >>> [round(0.05 * gamma.factor(t), 4) for t in (0, 500, 1000)]  # gamma configured 0.05
        [0.05, 0.0275, 0.005]
    """

    kind: Shape = "linear"
    start: float = 1.0
    end: float = 1.0
    steps: float | None = None
    warmup: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "linear", "cosine"):
            raise ConfigurationError(f"A schedule's kind is 'constant', 'linear' or 'cosine', got {self.kind!r}.")
        if self.steps is not None and self.steps <= 0:
            raise ConfigurationError(
                f"A schedule's steps must be > 0 generator steps or None (the run), not {self.steps}."
            )
        if self.warmup < 0 or (self.steps is not None and self.warmup >= self.steps):
            raise ConfigurationError(f"A schedule's warmup must be >= 0 and below its steps; got {self.warmup}.")

    def factor(self, step: int, total: float | None = None) -> float:
        """The factor at generator step ``step``; ``total`` replaces ``steps=None``."""
        steps = self.steps if self.steps is not None else total
        if self.warmup and step < self.warmup:
            return self.start * step / self.warmup
        if self.kind == "constant" or steps is None:
            return self.start
        progress = min(max(step - self.warmup, 0) / (steps - self.warmup), 1.0)
        if self.kind == "linear":
            return self.start + (self.end - self.start) * progress
        return self.end + (self.start - self.end) * (1 + math.cos(math.pi * progress)) / 2

    def lr_scheduler(self, optimizer: Optimizer, total: float | None) -> LRScheduler:
        """A torch LR scheduler, stepped once per generator step, that follows this schedule."""
        steps = self.steps if self.steps is not None else total
        plain = self.kind == "linear" and not self.warmup and 0 < self.start <= 1 and 0 <= self.end <= 1
        if plain and steps is not None and float(steps).is_integer():
            return LinearLR(optimizer, start_factor=self.start, end_factor=self.end, total_iters=int(steps))
        return LambdaLR(optimizer, lambda step: self.factor(step, total))


Setter = Callable[[float], None]
"""Sets a target to ``configured * factor`` (it keeps the configured value)."""


class Schedules:
    """One :class:`Schedule` per target (:data:`TARGETS`), applied every generator step.

    Args:
        schedules: target name -> schedule.
        setters: target name -> how to set it from a factor, for the targets a model has
            (learning rates excepted: see :meth:`lr_schedulers`).
    """

    def __init__(self, schedules: Mapping[str, Schedule | Mapping[str, Any]] | None) -> None:
        # Mappings are what checkpoints hold (their hyperparameters keep plain data; see as_data).
        self.schedules = {k: Schedule(**v) if isinstance(v, Mapping) else v for k, v in (schedules or {}).items()}
        unknown = sorted(set(self.schedules) - set(TARGETS))
        if unknown:
            raise ConfigurationError(
                f"No hyperparameter {unknown[0]!r} to schedule; schedulable: {', '.join(TARGETS)}."
            )
        for name, schedule in self.schedules.items():
            if not isinstance(schedule, Schedule):
                raise ConfigurationError(
                    f"schedules[{name!r}] must be a lightning_gans.schedules.Schedule (in a config: a mapping such as "
                    f"{{kind: linear, end: 0.01, steps: 10000}}), got {type(schedule).__name__}."
                )
        both = [(a, b) for a, b in (("lr", "g_lr"), ("lr", "d_lr"), ("beta2", "g_beta2"), ("beta2", "d_beta2"))]
        for shared, own in both:
            if shared in self.schedules and own in self.schedules:
                raise ConfigurationError(f"Schedule {shared!r} (both networks) or {own!r}, not both.")
        self.total: float | None = None
        """The run's length in generator steps, for schedules with ``steps=None``; set once."""

    def as_data(self) -> dict[str, dict[str, Any]] | None:
        """The schedules as plain data, for the hyperparameters a checkpoint keeps (a checkpoint
        that holds only plain data loads with ``torch.load(weights_only=True)``)."""
        return {name: dataclasses.asdict(schedule) for name, schedule in self.schedules.items()} or None

    def __bool__(self) -> bool:
        return bool(self.schedules)

    def __contains__(self, name: str) -> bool:
        return name in self.schedules

    def resolve_total(self, estimate: Callable[[], float]) -> None:
        """Fix the length of ``steps=None`` schedules from ``estimate()`` (the trainer's
        estimated stepping batches) the first time; a resumed run keeps the restored one."""
        if self.total is not None or all(s.steps is not None for s in self.schedules.values()):
            return
        total = estimate()
        if not math.isfinite(total):
            raise ConfigurationError(
                "A schedule with steps=None spans the whole run, which has no end here: set the trainer's max_steps "
                "or max_epochs, or the schedule's steps."
            )
        self.total = float(max(total, 1))

    def lr_schedulers(self, optimizers: dict[str, Optimizer]) -> list[LRScheduler]:
        """LR schedulers for ``{"g": ..., "d": ...}`` following ``lr``/``g_lr``/``d_lr``."""
        schedulers = []
        for role, optimizer in optimizers.items():
            schedule = self.schedules.get(f"{role}_lr", self.schedules.get("lr"))
            if schedule is not None:
                schedulers.append(schedule.lr_scheduler(optimizer, self.total))
        return schedulers

    def apply(self, step: int, setters: Mapping[str, Setter]) -> None:
        """Set every scheduled target other than the learning rates to its value at ``step``."""
        for name, schedule in self.schedules.items():
            if name.endswith("lr"):
                continue
            setter = setters.get(name)
            if setter is None:
                raise ConfigurationError(f"Schedule {name!r}: this model has no {TARGETS[name]} to schedule.")
            setter(schedule.factor(step, self.total))

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.total = state.get("total")


def beta_setter(optimizer: Optimizer, index: int) -> Setter:
    """Sets ``betas[index]`` of every parameter group of ``optimizer`` to its value at creation
    times the factor (the values are read now, before training changes them)."""
    configured = [group["betas"][index] for group in optimizer.param_groups if "betas" in group]
    if not configured:
        raise ConfigurationError(f"{type(optimizer).__name__} has no betas to schedule; use Adam or AdamW.")

    def set_beta(factor: float) -> None:
        for group, value in zip(optimizer.param_groups, configured):
            betas = list(group["betas"])
            betas[index] = value * factor
            group["betas"] = tuple(betas)

    return set_beta


def schedule_setters(
    schedules: Schedules, g_opt: Optimizer, d_opt: Optimizer, penalty: Any, ema: Any, augment: Any
) -> dict[str, Setter]:
    """How each target a model has (other than the learning rates) is set from its factor:
    the optimizers' betas, ``penalty.weight_factor``, ``ema.half_life_factor`` and ``augment.p_max``."""
    betas = {"beta1": ([g_opt, d_opt], 0), "beta2": ([g_opt, d_opt], 1), "g_beta2": ([g_opt], 1)}
    betas["d_beta2"] = ([d_opt], 1)
    found = {
        name: _each([beta_setter(opt, index) for opt in opts])
        for name, (opts, index) in betas.items()
        if name in schedules
    }
    owners = (("penalty_weight", penalty, "weight_factor"), ("ema_half_life", ema, "half_life_factor"))
    for name, owner, attribute in (*owners, ("augment_p_max", augment, "p_max")):
        if owner is not None and hasattr(owner, attribute):
            found[name] = functools.partial(setattr, owner, attribute)
    return found


def _each(each: list[Setter]) -> Setter:
    def set_each(factor: float) -> None:
        for setter in each:
            setter(factor)

    return set_each
