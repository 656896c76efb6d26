"""Faults to inject into real CLI runs (importable by the CLI's subprocesses: PYTHONPATH=tests)."""

from __future__ import annotations

import os
import signal
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from lightning_gans.data import DataError
from lightning_gans.preemption import PREEMPTED_EXIT_CODE as PREEMPTED_EXIT_CODE


class FailAt(Callback):
    """At generator step ``step`` on global rank ``rank``: ``kind`` ``"error"`` raises in this
    callback, ``"data"`` raises the DataError a broken image would, ``"nan"`` fills the
    discriminator's weights with NaN, ``"kill"`` sends this process SIGKILL, ``"hang"`` sleeps.
    Each process appends its pid to ``pid_file``; the fault writes its time to ``failed_at``."""

    def __init__(self, step: int, rank: int = 0, kind: str = "error", pid_file: str | None = None) -> None:
        self.step, self.rank, self.kind, self.pid_file = step, rank, kind, pid_file

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.pid_file:  # every process of the run, for the test to check that all have ended
            with open(self.pid_file, "a") as file:
                file.write(f"{os.getpid()}\n")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step != self.step or trainer.global_rank != self.rank:
            return
        with open("failed_at", "w") as file:  # when the fault happened (time.time())
            file.write(str(time.time()))
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


class SignalAt(Callback):
    """Sends this process ``signal_name`` (``"SIGTERM"``, ``"SIGUSR1"``) at generator step ``step``,
    as a scheduler would: the run then ends the batch, saves, and exits."""

    def __init__(self, step: int, signal_name: str = "SIGTERM") -> None:
        self.step, self.signal_name = step, signal_name

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step and trainer.is_global_zero:
            os.kill(os.getpid(), getattr(signal, self.signal_name))


class SlowBatches(Callback):
    """Sleeps ``seconds`` after every batch: a run whose time limit falls within a few batches."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)
