"""Faults to inject into real CLI runs (importable by the CLI's subprocesses: PYTHONPATH=tests)."""

from __future__ import annotations

import os
import signal
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from lightning_gans.data import DataError


class FailAt(Callback):
    """At generator step ``step`` on global rank ``rank``: ``kind`` ``"error"`` raises in this
    callback, ``"data"`` raises the DataError a broken image would, ``"nan"`` fills the
    discriminator's weights with NaN, ``"kill"`` sends this process SIGKILL, ``"hang"`` sleeps."""

    def __init__(self, step: int, rank: int = 0, kind: str = "error") -> None:
        self.step, self.rank, self.kind = step, rank, kind

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step != self.step or trainer.global_rank != self.rank:
            return
        if self.kind == "error":
            raise RuntimeError(f"injected failure on rank {self.rank} at step {self.step}")
        if self.kind == "data":
            raise DataError(f"Cannot read image file broken-on-rank-{self.rank}.png: injected. Replace or delete it.")
        if self.kind == "nan":
            with torch.no_grad():
                for parameter in pl_module.discriminator.parameters():
                    parameter.fill_(float("nan"))
        elif self.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.kind == "hang":
            time.sleep(3600)
