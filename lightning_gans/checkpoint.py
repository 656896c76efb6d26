"""Load a trained GAN from a Lightning checkpoint in one call: :func:`load_gan`.

Works for checkpoints written by the CLI (``python -m lightning_gans fit``, where
LightningCLI's subclass mode stores how to rebuild the model) and by a ``Trainer`` in
Python (``BaseGAN.on_save_checkpoint`` stores the model's class). Every way a checkpoint
can fail to load ends in a :class:`CheckpointError` that says why and what to do.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch

from lightning_gans.base import BaseGAN
from lightning_gans.errors import GANError

CLASS_KEY = "lightning_gans_class"


class CheckpointError(GANError):
    """A checkpoint that is missing, unreadable, not a GAN's, or does not fit its model."""


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load`` a Lightning checkpoint, with an error that names the problem."""
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.rglob("*.ckpt"))
        hint = f" It holds {', '.join(str(c) for c in candidates[:3])}." if candidates else ""
        raise CheckpointError(f"{path} is a folder; pass the path of a .ckpt file inside it.{hint}")
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint at {path}. A fit writes them to <log_dir>/checkpoints/ (the CLI prints the log "
            "folder; configs keep last.ckpt there), e.g. lightning_logs/gan_ring/version_0/checkpoints/*.ckpt."
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # a truncated file, a text file, a pickle of something else
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {error})."
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint (no 'state_dict'); save one with Trainer.save_checkpoint "
            "or a ModelCheckpoint callback."
        )
    return checkpoint


def _version_note(checkpoint: dict[str, Any]) -> str:
    """Which lightning_gans version wrote the checkpoint, when it is not this one."""
    from lightning_gans.version import __version__

    written = checkpoint.get("lightning_gans_version")
    if written == __version__:
        return ""
    return f"; it was written by lightning_gans {written or 'before 0.1.0'}, this is {__version__}"


def checkpoint_class(checkpoint: dict[str, Any]) -> type[BaseGAN]:
    """The :class:`BaseGAN` subclass a checkpoint was written by."""
    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = checkpoint.get(CLASS_KEY) or hparams.get("_class_path")
    if not class_path:
        raise CheckpointError(
            "The checkpoint does not say which GAN class wrote it (it predates lightning_gans or was written by "
            "another LightningModule); load it with that class: MyGAN.load_from_checkpoint(path)."
        )
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise CheckpointError(
            f"The checkpoint was written by {class_path}, which cannot be imported here ({error}). Make its module "
            "importable (install it or add it to PYTHONPATH), or pass model_class=... to load_gan."
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, BaseGAN)):
        raise CheckpointError(f"The checkpoint was written by {class_path}, which is not a lightning_gans GAN.")
    return cls


def load_gan(
    checkpoint_path: str | os.PathLike,
    model_class: type[BaseGAN] | None = None,
    map_location: Any = "cpu",
    **overrides: Any,
) -> BaseGAN:
    """Rebuild the GAN a checkpoint was written by, load its weights, and return it in eval mode.

    Args:
        checkpoint_path: a ``.ckpt`` file from the CLI or a ``Trainer``.
        model_class: the class to build; by default the one recorded in the checkpoint.
        map_location: where to put the weights (``"cpu"``, ``"cuda"``, a device).
        **overrides: constructor arguments that replace the saved hyperparameters, e.g. the
            ``generator=``/``discriminator=`` of a :class:`BaseGAN` built from networks
            (those are not hyperparameters and cannot be saved as such).

    A checkpoint is a pickle: load only checkpoints you trust.

    Example:
        >>> import tempfile, lightning as L, torch
        >>> from lightning_gans import GAN, load_gan
        >>> gan = GAN(hidden_dim=8, num_layers=1, ema_decay=0.9)
        >>> trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        ...                     enable_model_summary=False)
        >>> trainer.fit(gan, torch.utils.data.DataLoader(torch.randn(64, 2), batch_size=32))
        >>> path = f"{tempfile.mkdtemp()}/gan.ckpt"
        >>> trainer.save_checkpoint(path)
        >>> loaded = load_gan(path)  # the class is read from the checkpoint
        >>> type(loaded).__name__, loaded.generator_steps, loaded.training
        ('GAN', 2, False)
        >>> torch.equal(loaded.sample_fixed(), gan.sample_fixed())  # EMA generator when the model has one
        True
    """
    return gan_from_checkpoint(read_checkpoint(checkpoint_path, map_location), model_class, map_location, **overrides)


def gan_from_checkpoint(
    checkpoint: dict[str, Any], model_class: type[BaseGAN] | None = None, map_location: Any = "cpu", **overrides: Any
) -> BaseGAN:
    """:func:`load_gan` of a checkpoint already read (:func:`read_checkpoint`)."""
    cls = model_class or checkpoint_class(checkpoint)
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    hparams.pop("_class_path", None)
    hparams.update(overrides)
    try:
        model = cls(**hparams)
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"Cannot rebuild {cls.__name__} from the checkpoint's hyperparameters "
            f"({error}){_version_note(checkpoint)}. "
            "A BaseGAN built from networks needs them again: load_gan(path, generator=..., discriminator=...); a "
            "renamed argument needs load_gan(path, new_name=...)."
        ) from None
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        first_line = str(error).splitlines()[1 if len(str(error).splitlines()) > 1 else 0].strip()
        raise CheckpointError(
            f"The checkpoint's weights do not fit {cls.__name__} as built from its hyperparameters "
            f"({first_line}){_version_note(checkpoint)}. Load it with the code and arguments that wrote it."
        ) from None
    model.on_load_checkpoint(checkpoint)
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    return model.eval()
