"""Write metrics and images to whichever loggers a trainer has."""

from __future__ import annotations

import os
import re
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from PIL import Image

from lightning_gans._compat import logger_step, set_callback_metrics


def log_metrics(trainer: L.Trainer, metrics: dict[str, float], pl_module: L.LightningModule | None = None) -> None:
    """Log ``metrics`` to every logger at the current batch, whatever ``log_every_n_steps`` says,
    and expose them in ``trainer.callback_metrics`` for ``ModelCheckpoint(monitor=...)`` and
    others: through ``pl_module.log_dict`` when given (a hook that allows logging, e.g.
    ``on_train_batch_end``), else directly (e.g. ``on_train_end``, where logging is refused)."""
    step = logger_step(trainer)  # the x-axis of Lightning's own self.log: batches
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)
    if pl_module is not None:
        pl_module.log_dict({k: float(v) for k, v in metrics.items()}, on_step=True, on_epoch=False, logger=False)
    else:
        set_callback_metrics(trainer, metrics)


def image_dir(trainer: L.Trainer) -> str:
    """The folder where images go when no logger takes them: ``<log_dir>/images``.

    Resolved without ``trainer.log_dir``, which is a collective (a broadcast) and would hang
    or desynchronise DDP when only rank 0 logs images.
    """
    logger = trainer.logger
    root = getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None) or trainer.default_root_dir
    return os.path.join(root, "images")


def log_image(trainer: L.Trainer, key: str, image: np.ndarray, file_step: int | None = None, **extra: Any) -> list[str]:
    """Log one ``(H, W, 3)`` uint8 image under ``key`` at the current batch.

    W&B gets ``log_image``, TensorBoard ``add_image``; when no attached logger takes
    images, the image is written as a PNG file under :func:`image_dir`, named by
    ``file_step`` (default: the logger step). Returns where it went, for messages.
    """
    step = logger_step(trainer)  # the x-axis of Lightning's own self.log: batches
    destinations: list[str] = []
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[image], step=step, **extra)
            destinations.append(f"W&B run {logger.experiment.dir if logger.experiment else ''}".strip())
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, global_step=step, dataformats="HWC")
            destinations.append(f"TensorBoard {logger.log_dir}")
    if not destinations:
        folder = image_dir(trainer)
        os.makedirs(folder, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
        path = os.path.join(folder, f"{name}_{step if file_step is None else file_step:07d}.png")
        Image.fromarray(image).save(path)
        destinations.append(path)
    return destinations


def figure_to_array(figure: Any) -> np.ndarray:
    """Render a matplotlib ``Figure`` to an ``(H, W, 3)`` uint8 array (no pyplot, no GUI)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
