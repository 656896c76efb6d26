"""What the tests share: the repository's paths, the one launcher of subprocesses
(:func:`run_cli`), the one Trainer factory (:func:`trainer`) and small builders.

Import from here (``from helpers import REPO, run_cli, trainer``); never recompute the
repository root in a test file.
"""

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import lightning as L
import torch

from lightning_gans import GAN, ToyDataModule

# --- the repository's paths ---

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
PACKAGE = REPO / "lightning_gans"
CONFIGS = REPO / "configs"
BENCHMARKS = REPO / "benchmarks"
NOTEBOOKS = REPO / "notebooks"
README = REPO / "README.md"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist-test"  # the real MNIST test images, where present


# --- subprocesses ---


def run_cli(
    args: Sequence[str | os.PathLike],
    *,
    cwd: str | os.PathLike,
    script: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    launcher: Sequence[str] | None = None,
) -> subprocess.CompletedProcess:
    """Runs ``python -m lightning_gans *args`` in a subprocess, as users run it (or, with
    ``script``, ``python <script> *args``), in ``cwd``, and returns the finished process with
    its output as text.

    The subprocess imports this checkout's package and ``tests/`` (``PYTHONPATH``), logs to
    W&B offline and quietly; ``env`` adds or overrides variables; ``launcher`` replaces
    ``-m lightning_gans`` (e.g. ``-m torch.distributed.run ... -m lightning_gans``). With
    ``check`` (the default) a non-zero exit or a timeout fails the test with the command and the tails of its stdout
    and stderr; pass ``check=False`` to assert on a failing run yourself.
    """
    command, environment = _command(args, script, env, launcher)
    shown = " ".join(command[1:])
    try:
        result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{shown} ran past {timeout} s in {cwd}\n{_tails(error.stdout, error.stderr)}") from None
    if check and result.returncode != 0:
        raise AssertionError(
            f"{shown} exited with {result.returncode} in {cwd}\n{_tails(result.stdout, result.stderr)}"
        )
    return result


def run_in_process(args: Sequence[str | os.PathLike], *, cwd: str | os.PathLike) -> subprocess.CompletedProcess:
    """Runs the command line's entry point (``lightning_gans.cli.main``) in this process, in ``cwd``,
    and returns what :func:`run_cli` returns: the exit status and the printed output.

    For tests of what the CLI prints (help, one-line errors) that need no fresh interpreter: a
    subprocess spends about 6 s importing Lightning. An exception the CLI does not turn into a
    one-line error propagates (where a subprocess would print a traceback)."""
    import contextlib
    import io

    from lightning_gans.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main([str(arg) for arg in args])
        except SystemExit as exit:
            code = exit.code
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(list(map(str, args)), returncode, stdout.getvalue(), stderr.getvalue())


def start_cli(
    args: Sequence[str | os.PathLike],
    *,
    cwd: str | os.PathLike,
    script: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Starts what :func:`run_cli` runs, without waiting: for tests that signal or kill it.
    Its stdout and stderr are pipes of text."""
    command, environment = _command(args, script, env)
    return subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _command(
    args: Sequence[str | os.PathLike],
    script: str | os.PathLike | None,
    env: Mapping[str, str] | None,
    launcher: Sequence[str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    program = list(launcher) if launcher else [str(script)] if script is not None else ["-m", "lightning_gans"]
    command = [sys.executable, *program, *(str(arg) for arg in args)]
    # A user's shell has none of what this process's earlier tests left in its environment:
    # an in-process W&B run's service (a subprocess would join it, and resuming a run it
    # still holds fails with "run ID ... is in use"), seed_everything's seed.
    inherited = {k: v for k, v in os.environ.items() if k not in _LEFT_BY_EARLIER_TESTS}
    environment = {**inherited, "WANDB_MODE": "offline", "WANDB_SILENT": "true", **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS)])
    return command, environment


_LEFT_BY_EARLIER_TESTS = {"WANDB_SERVICE", "PL_GLOBAL_SEED", "PL_SEED_WORKERS"}


def _tails(stdout: str | bytes | None, stderr: str | bytes | None) -> str:
    def text(output: str | bytes | None) -> str:
        return output.decode(errors="replace") if isinstance(output, bytes) else output or ""

    return f"--- stdout (tail) ---\n{text(stdout)[-3000:]}\n--- stderr (tail) ---\n{text(stderr)[-5000:]}"


# --- builders ---


def tiny_gan(**kwargs) -> GAN:
    kwargs.setdefault("hidden_dim", 32)
    kwargs.setdefault("num_layers", 2)
    return GAN(**kwargs)


def tiny_toy(**kwargs) -> ToyDataModule:
    kwargs.setdefault("num_samples", 640)
    kwargs.setdefault("num_val_samples", 128)
    kwargs.setdefault("batch_size", 64)
    return ToyDataModule(**kwargs)


def trainer(**overrides) -> L.Trainer:
    """The tests' Trainer: one CPU device, one epoch, no logger, checkpoints, progress bar,
    model summary or validation; ``overrides`` change any of these or add others
    (``max_steps=N, max_epochs=-1`` for a run of N steps; ``limit_val_batches=None`` for
    Lightning's default validation; ``enable_checkpointing=True`` with a ModelCheckpoint)."""
    options = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        max_epochs=1,
    )
    options.update(overrides)
    return L.Trainer(**options)


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


@contextmanager
def benchmark_script(name: str) -> Iterator[ModuleType]:
    """``benchmarks/<name>.py`` imported as a module (its folder on ``sys.path``, as when run)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        sys.path.remove(str(BENCHMARKS))
