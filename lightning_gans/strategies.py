"""``GANDDPStrategy``: data-parallel training with the generator and discriminator wrapped
in separate ``DistributedDataParallel`` modules.

Lightning's ``DDPStrategy`` wraps the whole ``LightningModule`` in one DDP module. A GAN
update trains one network at a time, so the other one never receives gradients and DDP
stops with "Expected to have finished reduction in the prior iteration" (the crash of
Lightning's own GAN example); ``find_unused_parameters=True`` avoids it by walking the
autograd graph after every forward and still all-reduces the idle network's buckets.

This strategy wraps each network on its own (as mmgeneration's ``DistributedDataParallelWrapper``
does), so each backward synchronises exactly the gradients it produced, with DDP's bucketing
and overlap of communication with computation. The module decides what is wrapped
(:meth:`~lightning_gans.BaseGAN.distribute`) and which network each update runs
(:meth:`~lightning_gans.BaseGAN.training_networks`):

* the discriminator's wrapper only inside the discriminator update (several forwards such as
  real, fake and a gradient penalty's interpolates, then one backward, which DDP allows);
* the generator's wrapper only for the training batch's fakes, whose one backward happens in
  the generator update; the generator update calls the discriminator *unwrapped*, as its
  parameters are frozen there;
* sampling, validation and callbacks use the plain networks, so no rank-0-only code path
  ever enters a collective.

When one process fails, :class:`RankWatch` stops the others within a second, with one line
saying which process failed, instead of leaving them waiting in a collective.

Names: importing :mod:`lightning_gans` registers this class as ``"gan_ddp"``,
``"gan_ddp_spawn"``, ``"gan_ddp_fork"`` and ``"gan_ddp_notebook"``; Lightning's own
``"ddp"`` names are left as they are, so other modules in the process are not affected. The
CLI (``python -m lightning_gans``) turns ``ddp*`` (and ``auto`` on several devices) into
the ``gan_ddp*`` names; in Python, pass ``strategy="gan_ddp"``: a GAN under Lightning's
``DDPStrategy`` stops at the start with that advice. Checkpoints keep plain parameter names
(``generator.…``) and load with any strategy or none.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_gans import _compat
from lightning_gans.base import BaseGAN
from lightning_gans.preemption import PREEMPTED_EXIT_CODE

DDP_NAMES = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}
"""Lightning's DDP strategy names and their start methods; ``gan_<name>`` is ours."""


class GANDDPStrategy(DDPStrategy):
    """``DDPStrategy`` that wraps a :class:`~lightning_gans.BaseGAN`'s generator and
    discriminator in two ``DistributedDataParallel`` modules instead of wrapping the module.

    Takes every argument of ``DDPStrategy`` (``process_group_backend``, ``timeout``,
    ``static_graph``, ``ddp_comm_hook``…); the DDP keyword arguments apply to both wrappers.
    For modules that are not GANs it behaves exactly like ``DDPStrategy``.
    """

    rank_watch: RankWatch | None = None

    def setup_environment(self) -> None:
        super().setup_environment()
        self.rank_watch = RankWatch.for_launcher(self.launcher, self.node_rank, self.num_processes, self.local_rank)

    def on_exception(self, exception: BaseException) -> None:
        """When another process of the run failed (and this one's error is only the broken
        connection to it), stop with that process's one line instead of a second traceback."""
        super().on_exception(exception)
        if self.rank_watch is not None and not isinstance(exception, SIGTERMException):
            self.rank_watch.stop_if_another_failed(wait_seconds=3.0)

    def configure_ddp(self) -> None:
        module = self.model
        if not isinstance(module, BaseGAN):
            super().configure_ddp()
            return
        module.distribute(lambda network: _compat.wrap_in_ddp(self, network))
        # DDP broadcasts rank 0's networks; the EMA copy must match them too.
        if module.generator_ema is not None:
            for tensor in module.generator_ema.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)

    def teardown(self) -> None:
        if self.rank_watch is not None:
            self.rank_watch.stop()
            self.rank_watch = None
        module = self.lightning_module
        if isinstance(module, BaseGAN):
            module.distribute(None)
        super().teardown()


class RankWatch:
    """Stops every process of a DDP run, with one line, soon after one of them fails.

    A process that raises, or is killed, leaves the others waiting in their next collective
    (with NCCL until the process group's timeout, 10 to 30 minutes). For processes started by
    Lightning's launcher (``python -m lightning_gans fit --trainer.devices N``) a daemon thread
    in each process watches the others every ``poll_seconds``:

    * local rank 0 watches the processes it launched: when one exits with an error status or is
      killed, it prints which one and how, kills the others and exits with that status;
    * every other process watches its launcher: when local rank 0 is gone, it exits too.

    A process that stops on SIGTERM with its checkpoint saved (:data:`PREEMPTED_EXIT_CODE`) is not
    a failure. Under torchrun or SLURM's ``srun`` the launcher does this itself (torchrun stops
    every worker when one fails; ``srun --kill-on-bad-exit=1`` likewise).
    """

    def __init__(
        self, children: list[Any] | None, parent_pid: int | None, first_global_rank: int, poll_seconds: float = 0.5
    ) -> None:
        self.children = children or []
        self.parent_pid = parent_pid
        self.first_global_rank = first_global_rank  # of the first child: the launcher's global rank + 1
        self.poll_seconds = poll_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lightning_gans-rank-watch", daemon=True)
        self._thread.start()

    @classmethod
    def for_launcher(cls, launcher: Any, node_rank: int, num_processes: int, local_rank: int) -> RankWatch | None:
        """The watch of this process when Lightning's launcher started the run's processes, else ``None``."""
        children = _compat.launched_processes(launcher)
        if children is None:
            return None  # torchrun, SLURM, spawn: the launcher watches its workers
        first = node_rank * num_processes + 1
        if local_rank == 0:
            return cls(children, None, first) if children else None
        return cls(None, os.getppid(), first)

    def stop(self) -> None:
        self._stopped.set()

    def failure(self) -> str | None:
        """What failed, in words, or ``None`` while every watched process runs (or ended well)."""
        for offset, process in enumerate(self.children):
            code = process.poll()
            if code is None or code in (0, PREEMPTED_EXIT_CODE):
                continue
            rank = self.first_global_rank + offset
            how = f"was killed by {_signal_name(-code)}" if code < 0 else f"failed with exit status {code}"
            return f"DDP process of global rank {rank} {how} (its error, if any, is above)"
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            return "the DDP process of local rank 0 (the launcher) has ended"
        return None

    def stop_if_another_failed(self, wait_seconds: float) -> None:
        """Called with this process's own error: if another process failed (now or within
        ``wait_seconds``), stop with that message instead."""
        deadline = time.monotonic() + wait_seconds
        while True:
            failure = self.failure()
            if failure is not None:
                self._stop_run(failure)
            if time.monotonic() >= deadline:
                return
            time.sleep(0.1)

    def _watch(self) -> None:
        while not self._stopped.wait(self.poll_seconds):
            failure = self.failure()
            if failure is not None:
                self._stop_run(failure)

    def _stop_run(self, failure: str) -> None:
        if self._stopped.is_set():
            return
        print(
            f"error: {failure}; stopping the other processes of this run. The last checkpoint saved is intact: "
            "fix the cause and continue with --ckpt_path last.",
            file=sys.stderr,
            flush=True,
        )
        for process in self.children:
            if process.poll() is None:
                process.kill()  # SIGTERM does not stop a process waiting in a collective
        os._exit(1)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def register_gan_ddp(registry: Any = StrategyRegistry) -> None:
    """Register :class:`GANDDPStrategy` as ``gan_ddp``, ``gan_ddp_spawn``, ``gan_ddp_fork``
    and ``gan_ddp_notebook`` (Lightning's ``ddp`` names are not touched)."""
    for name, start_method in DDP_NAMES.items():
        if f"gan_{name}" not in registry:
            registry.register(
                f"gan_{name}",
                GANDDPStrategy,
                description=f"lightning_gans: DDP with separate generator/discriminator wrappers ({start_method})",
                start_method=start_method,
            )


def gan_strategy_name(strategy: Any, devices: Any = 1, num_nodes: int = 1) -> Any:
    """The strategy a GAN should get for ``strategy`` as a user wrote it: Lightning's ``ddp``
    names become ``gan_ddp`` ones, and ``auto`` on several devices or nodes becomes
    ``gan_ddp``; anything else is returned as it is."""
    if isinstance(strategy, str) and strategy in DDP_NAMES:
        return f"gan_{strategy}"
    if strategy == "auto" and (num_nodes > 1 or _several(devices)):
        return "gan_ddp"
    return strategy


def _several(devices: Any) -> bool:
    """Whether a Trainer's ``devices`` asks for more than one device."""
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    if isinstance(devices, str):
        text = devices.strip()
        if text in ("auto", "-1"):
            return torch.cuda.device_count() > 1
        if "," in text:
            return len([d for d in text.split(",") if d.strip()]) > 1
        return text.isdigit() and int(text) > 1
    return isinstance(devices, int) and (devices > 1 or (devices == -1 and torch.cuda.device_count() > 1))
