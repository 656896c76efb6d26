"""Importable by the CLI in the journey tests' subprocesses (PYTHONPATH=tests)."""

import json
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn


class PooledPixels(nn.Module):
    """A cheap feature extractor for FidelityMetrics: uint8 images -> 4x4 average-pooled
    pixels in [0, 1] (48 features), so FID's covariance is 48x48, not 2048x2048."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(images.float() / 255, 4)
        return pooled.flatten(1)


class CheckpointCensus(Callback):
    """At each epoch's start, records which generator step the run's ``last.ckpt`` holds (or
    ``None``) in ``census.json`` in the working folder: the journeys check that a config writes its
    checkpoint on its cadence, before the run ends."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        last = next((Path(c.dirpath) / "last.ckpt" for c in trainer.checkpoint_callbacks if c.save_last), None)
        step = torch.load(last, weights_only=False)["global_step"] if last and last.is_file() else None
        census = json.loads(Path("census.json").read_text()) if Path("census.json").is_file() else {}
        census[str(trainer.current_epoch)] = step
        Path("census.json").write_text(json.dumps(census))
