"""The loop's settings checked (:func:`check_settings`), and settings of earlier releases
translated (:func:`upgrade_settings`): old checkpoints and Python code keep working, and an old
config gets one line that says how to write it now.

lightning_gans 0.2.0 replaced ``lr_decay``/``lr_decay_steps``, ``ema_rampup`` and the LR
scheduler arguments with :mod:`lightning_gans.schedules`, and ``ada_target``/``ada_kimg``/``ada_p``
with an :class:`~lightning_gans.augment.AdaptiveAugment` passed as ``augment``.

Example:
    >>> from lightning_gans.settings import upgrade_settings
    >>> upgrade_settings({"lr_decay": 0.01, "lr_decay_steps": 1000, "scheduler_interval": "epoch"})
    {'schedules': {'lr': Schedule(kind='linear', start=1.0, end=0.01, steps=1000, warmup=0)}}
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from lightning_gans.augment import AdaptiveAugment
from lightning_gans.ema import rampup_half_life_steps
from lightning_gans.errors import ConfigurationError
from lightning_gans.schedules import Schedule

NOW: dict[str, str] = {
    "lr_decay": "schedules: {lr: {kind: linear, end: <lr_decay>, steps: <lr_decay_steps, or null for the run>}}",
    "lr_decay_steps": "schedules: {lr: {kind: linear, end: <lr_decay>, steps: <lr_decay_steps>}}",
    "ema_rampup": "schedules: {ema_half_life: {kind: linear, start: 0.0, end: 1.0, steps: <half-life / ema_rampup>}}",
    "ada_target": "augment: {class_path: lightning_gans.augment.AdaptiveAugment, init_args: {target: 0.6, kimg: 500}}",
    "ada_kimg": "augment: {class_path: lightning_gans.augment.AdaptiveAugment, init_args: {target: 0.6, kimg: 500}}",
    "ada_p": "augment: {class_path: lightning_gans.augment.AdaptiveAugment, init_args: {p: 0.0}}",
    "g_scheduler": "schedules: {g_lr: {kind: linear|cosine|constant, start: 1.0, end: ..., steps: ..., warmup: ...}}",
    "d_scheduler": "schedules: {d_lr: {kind: linear|cosine|constant, start: 1.0, end: ..., steps: ..., warmup: ...}}",
    "scheduler_interval": "schedules (stepped every generator step)",
}
"""Each removed setting, and how a config writes it now."""

_DEFAULTS = {
    "lr_decay": None,
    "lr_decay_steps": None,
    "ema_rampup": None,
    "ada_target": 0.6,
    "ada_kimg": 500.0,
    "ada_p": 0.0,
    "g_scheduler": None,
    "d_scheduler": None,
    "scheduler_interval": "epoch",
}


def removed_setting_message(name: str) -> str:
    """One line: ``name`` was removed, and how to write it now."""
    return f"model setting {name!r} was replaced in lightning_gans 0.2.0; write it as `{NOW[name]}`."


def upgrade_settings(legacy: dict[str, Any], ema_decay: float | None = None, augment: Any = None) -> dict[str, Any]:
    """The current settings (``schedules``, ``augment``) for the removed settings in ``legacy``.

    Settings at their old defaults (which every checkpoint of 0.1.x holds) translate to nothing.
    A setting that cannot be translated (an LR scheduler object) raises a
    :class:`~lightning_gans.errors.ConfigurationError` that says how to write it now.
    """
    unknown = sorted(set(legacy) - set(NOW))
    if unknown:
        raise ConfigurationError(f"Unknown model setting {unknown[0]!r}; see the model's signature for its settings.")
    given = {k: v for k, v in legacy.items() if v != _DEFAULTS[k]}
    for name in ("g_scheduler", "d_scheduler"):
        if name in given:
            raise ConfigurationError(removed_setting_message(name))
    if given.get("scheduler_interval") not in (None, "batch"):
        raise ConfigurationError(removed_setting_message("scheduler_interval"))
    upgraded: dict[str, Any] = {}
    schedules: dict[str, Schedule] = {}
    if given.get("lr_decay") is not None:
        schedules["lr"] = Schedule("linear", start=1.0, end=float(given["lr_decay"]), steps=given.get("lr_decay_steps"))
    elif given.get("lr_decay_steps") is not None:
        raise ConfigurationError(removed_setting_message("lr_decay_steps"))
    if given.get("ema_rampup") is not None:
        if ema_decay is None:
            raise ConfigurationError(
                "ema_rampup needs ema_decay (e.g. 0.999); " + removed_setting_message("ema_rampup")
            )
        steps = rampup_half_life_steps(ema_decay, float(given["ema_rampup"]))
        schedules["ema_half_life"] = Schedule("linear", start=0.0, end=1.0, steps=steps)
    if schedules:
        upgraded["schedules"] = schedules
    ada = {k: legacy[k] for k in ("ada_target", "ada_kimg", "ada_p") if k in legacy}
    if isinstance(augment, str) and augment.strip().lower() == "ada":
        upgraded["augment"] = AdaptiveAugment(
            target=ada.get("ada_target", 0.6), kimg=ada.get("ada_kimg", 500.0), p=ada.get("ada_p", 0.0)
        )
    if given:
        names = ", ".join(sorted(given))
        warnings.warn(f"{names}: {removed_setting_message(sorted(given)[0])} (translated)", FutureWarning, stacklevel=3)
    return upgraded


def check_settings(
    model: Any,
    latent_dim: int | None,
    n_critic: int,
    pack: int,
    num_classes: int | None,
    gradient_clip_val: float | None,
    augment: Any,
    data_shape: Sequence[int] | None,
) -> None:
    """Raise one :class:`~lightning_gans.errors.ConfigurationError` naming the first bad setting
    of ``model`` (a :class:`~lightning_gans.BaseGAN` being built) and its fix."""
    name = type(model).__name__
    if latent_dim is None:
        raise ConfigurationError(f"{name} needs latent_dim, the size of the noise vector.")
    if not isinstance(pack, int) or pack < 1:
        raise ConfigurationError(f"pack must be an integer >= 1 (1 turns packing off), got {pack!r}.")
    if n_critic < 1:
        raise ConfigurationError(f"n_critic must be >= 1 discriminator updates per generator update, got {n_critic}.")
    if pack > 1 and model.conditional:
        raise ConfigurationError("pack > 1 is not supported by conditional variants; use pack=1.")
    if gradient_clip_val is not None and gradient_clip_val <= 0:
        raise ConfigurationError(f"gradient_clip_val must be > 0 or None (no clipping), got {gradient_clip_val}.")
    if model.conditional and not num_classes:
        raise ConfigurationError(
            f"{name} is conditional and needs num_classes > 0: use a labelled datamodule "
            "(the CLI links data.num_classes) or pass model.num_classes."
        )
    if augment is not None and data_shape is not None and len(tuple(data_shape)) != 3:
        raise ConfigurationError(
            f"augment={augment!r} transforms images (channels, height, width), but the data has shape "
            f"{tuple(data_shape)}; use augment=None for vector data."
        )


def missing_networks_message(name: str, generator: Any, discriminator: Any) -> str:
    """What to say when a :class:`~lightning_gans.BaseGAN` gets one network or none."""
    if generator is None and discriminator is None:
        return f"{name} needs generator= and discriminator=, or a variant that builds them in its constructor."
    return "Pass both generator and discriminator (or use a variant that builds them)."


def refuse_networks(name: str, settings: dict[str, Any]) -> None:
    """Stop ``generator=``/``discriminator=`` given to a variant that builds its own networks."""
    if "generator" in settings or "discriminator" in settings:
        raise ConfigurationError(
            f"{name} builds its own generator and discriminator from data_shape and its width settings; for "
            "networks of your own use lightning_gans.BaseGAN(generator=..., discriminator=..., latent_dim=...) "
            "or subclass it."
        )
