"""Faults a long run meets, tried through the real CLI: every way a run stops resumes exactly;
SIGTERM/SIGUSR1 (preemption) save and exit 75; ``kill -9`` during a save, a full disk and an
unwritable folder leave the previous ``last.ckpt``; one failing DDP process stops them all.

The run is the 2-D ring config (``configs/gan_ring.yaml``) with 10 batches per epoch, small
networks and ``last.ckpt`` every 10 generator steps; its callbacks are replaced only where a
fault is injected (``tests/fault_helpers.py``, ``tests/fault_cli.py``).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import signal
import time
from pathlib import Path

import pytest
import torch
import yaml
from helpers import CONFIGS, TESTS, run_cli, run_in_process, start_cli

from lightning_gans.checkpoint_io import AtomicCheckpointIO, partial_path
from lightning_gans.cli import main as lightning_gans
from lightning_gans.preemption import PREEMPTED_EXIT_CODE

STEPS = 40  # generator steps of a whole run: 4 epochs of 10 batches
CADENCE = 10  # last.ckpt every this many steps


def ring_config(folder: Path) -> Path:
    """configs/gan_ring.yaml at a test's size: 10 batches per epoch, last.ckpt every 10 steps."""
    settings = yaml.safe_load((CONFIGS / "gan_ring.yaml").read_text())
    trainer = settings["trainer"]
    trainer.update(max_epochs=1000, enable_progress_bar=False, log_every_n_steps=5)
    trainer["callbacks"] = [
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {"every_n_train_steps": CADENCE, "save_top_k": 0, "save_last": True},
        }
    ]
    settings["model"]["init_args"].update(hidden_dim=16, num_layers=2)
    settings["data"]["init_args"].update(num_samples=1000, num_val_samples=100)
    path = folder / "ring.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def run_folder(work: Path, version: int = 0) -> Path:
    return work / "lightning_logs" / "gan_ring" / f"version_{version}"


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def assert_same_training_state(a: Path, b: Path) -> None:
    """Weights, optimizer states and step counts of two checkpoints are identical."""
    first, second = load(a), load(b)
    assert first["global_step"] == second["global_step"]
    for key, value in first["state_dict"].items():
        assert torch.equal(value, second["state_dict"][key]), f"{key} differs"
    for one, other in zip(first["optimizer_states"], second["optimizer_states"], strict=True):
        for index, state in one["state"].items():
            for name, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other["state"][index][name])), name


def logged_steps(run: Path) -> list[int]:
    with open(run / "metrics.csv") as file:
        return [int(row["step"]) for row in csv.DictReader(file)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted run of STEPS generator steps: its run folder."""
    work = tmp_path_factory.mktemp("straight")
    config = ring_config(work)
    with contextlib.chdir(work):
        lightning_gans(["fit", "--config", str(config), "--trainer.max_steps", str(STEPS)])
    return run_folder(work)


# --- goal 0: every stop resumes exactly ---


@pytest.mark.parametrize(
    ("stop", "stopped_at"),
    [
        (["--trainer.max_steps", "15"], 15),  # inside an epoch
        (["--trainer.max_steps", "20"], 20),  # at an epoch's end
        pytest.param(["--trainer.max_epochs", "1"], 10, marks=pytest.mark.slow),  # also in every config's journey
        # 1 s of 0.1 s batches: Lightning's Timer stops within the second epoch
        (["--trainer.max_time", "00:00:00:01", "--trainer.callbacks+=fault_helpers.SlowBatches"], None),
    ],
    ids=["max_steps_mid_epoch", "max_steps_epoch_end", "max_epochs", "max_time"],
)
def test_every_stop_resumes_to_the_uninterrupted_run(tmp_path, straight, stop, stopped_at):
    config = ring_config(tmp_path)
    fit = ["fit", "--config", str(config)]
    with contextlib.chdir(tmp_path):
        lightning_gans([*fit, *stop])
        last = run_folder(tmp_path) / "checkpoints" / "last.ckpt"
        steps = load(last)["global_step"]  # last.ckpt holds the final model
        assert steps == stopped_at if stopped_at is not None else 1 <= steps < STEPS
        lightning_gans([*fit, "--trainer.max_steps", str(STEPS), "--trainer.max_time", "null", "--ckpt_path", "last"])
        assert_same_training_state(last, straight / "checkpoints" / "last.ckpt")
        logged, expected = logged_steps(run_folder(tmp_path)), logged_steps(straight)
        if stopped_at is not None:
            assert logged == expected  # no gaps, no duplicates
        else:  # Lightning logs once more when its Timer stops a run: that row (at the stop step) is extra
            assert [s for s in logged if s > steps] == [s for s in expected if s > steps]
            assert set(expected) <= set(logged)
        # ... and with a path: a new run folder from the same checkpoint
        lightning_gans([*fit, *stop, "--ckpt_path", "null"])
        path = run_folder(tmp_path, 1) / "checkpoints" / "last.ckpt"
        resume = ["--trainer.max_steps", str(STEPS), "--trainer.max_time", "null", "--ckpt_path", str(path)]
        lightning_gans([*fit, *resume])
    final = straight / "checkpoints" / "last.ckpt"
    assert_same_training_state(run_folder(tmp_path, 2) / "checkpoints" / "last.ckpt", final)


# --- goal 1: preemption ---


@pytest.mark.parametrize("signal_name", ["SIGTERM", pytest.param("SIGUSR1", marks=pytest.mark.slow)])
def test_a_preempted_run_saves_exits_75_and_resumes_bit_exactly(tmp_path, straight, signal_name):
    config = ring_config(tmp_path)
    fit = ["fit", "--config", str(config)]
    out = run_cli(
        [*fit, "--trainer.max_steps", STEPS, "--trainer.callbacks+=fault_helpers.SignalAt",
         "--trainer.callbacks.step", "15", "--trainer.callbacks.signal_name", signal_name],
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert out.returncode == PREEMPTED_EXIT_CODE, out.stderr[-3000:]
    last = run_folder(tmp_path) / "checkpoints" / "last.ckpt"
    line = (
        f"lightning_gans: {signal_name} received: stopped after generator step 16, saved "
        f"{Path('lightning_logs/gan_ring/version_0/checkpoints/last.ckpt')}; continue with --ckpt_path last "
        f"(exit status {PREEMPTED_EXIT_CODE})"
    )
    assert line in out.stderr
    assert load(last)["global_step"] == 16  # the batch in progress finished: its generator step included
    with contextlib.chdir(tmp_path):
        lightning_gans([*fit, "--trainer.max_steps", str(STEPS), "--ckpt_path", "last"])
    assert_same_training_state(last, straight / "checkpoints" / "last.ckpt")
    assert logged_steps(run_folder(tmp_path)) == logged_steps(straight)


# --- goal 2: kills and failed writes never cost more than the cadence ---


def test_kill_9_while_last_ckpt_is_written_leaves_the_previous_one(tmp_path, straight):
    """The second save (step 20) writes half its bytes and stalls; kill -9 then. last.ckpt is
    still step 10's, whole, and --ckpt_path last continues from it to the uninterrupted model."""
    config = ring_config(tmp_path)
    last = run_folder(tmp_path) / "checkpoints" / "last.ckpt"
    process = start_cli(
        ["fit", "--config", config, "--trainer.max_steps", STEPS],
        cwd=tmp_path, script=TESTS / "fault_cli.py", env={"FAULT": "slow_save"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (partial_path(last).exists() and partial_path(last).stat().st_size > 0):
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the second save never started"
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert load(last)["global_step"] == CADENCE
    with contextlib.chdir(tmp_path):
        lightning_gans(["fit", "--config", str(config), "--trainer.max_steps", str(STEPS), "--ckpt_path", "last"])
    assert_same_training_state(last, straight / "checkpoints" / "last.ckpt")
    assert not partial_path(last).exists()  # the next save replaced the stale partial file


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "No space left on device"),
        pytest.param(errno.EACCES, "Permission denied", marks=pytest.mark.slow),
    ],
)
def test_a_full_disk_or_unwritable_folder_is_one_line_and_keeps_the_previous_checkpoint(
    tmp_path, monkeypatch, code, reason
):
    """The second save fails as the writer fails on a full disk / an unwritable folder (in this
    process: the CLI's entry point, with the OSError injected into the checkpoint writer)."""
    writes = []

    def failing_write(self, checkpoint, file):
        writes.append(1)
        if len(writes) == 2:
            file.write(b"partial")
            raise OSError(code, os.strerror(code))
        original(self, checkpoint, file)

    original = AtomicCheckpointIO.write
    monkeypatch.setattr(AtomicCheckpointIO, "write", failing_write)
    config = ring_config(tmp_path)
    out = run_in_process(["fit", "--config", config, "--trainer.max_steps", STEPS], cwd=tmp_path)
    last = run_folder(tmp_path) / "checkpoints" / "last.ckpt"
    assert out.returncode == 1
    error = out.stderr.strip().splitlines()[-1]
    assert error == (
        f"error: Could not write checkpoint {Path('lightning_logs/gan_ring/version_0/checkpoints/last.ckpt')}: "
        f"{reason}; the previous last.ckpt is intact. Free disk space or make "
        f"{Path('lightning_logs/gan_ring/version_0/checkpoints')} writable (or set the checkpoint callback's "
        "dirpath elsewhere), then resume with --ckpt_path last."
    )
    assert load(last)["global_step"] == CADENCE
    assert not partial_path(last).exists()


# --- goal 5: one failing DDP process stops them all ---


@pytest.mark.parametrize(
    ("rank", "kind", "expected"),
    [
        (1, "kill", "error: DDP process of global rank 1 was killed by SIGKILL"),
        pytest.param(1, "error", "DDP process of global rank 1 failed with exit status 1", marks=pytest.mark.slow),
        pytest.param(1, "data", "error: Cannot read image file broken-on-rank-1.png", marks=pytest.mark.slow),
        pytest.param(1, "nan", "error: Non-finite loss at generator step 15", marks=pytest.mark.slow),
        pytest.param(0, "error", "RuntimeError: injected failure on rank 0", marks=pytest.mark.slow),
        pytest.param(0, "kill", None, marks=pytest.mark.slow),
    ],
)
def test_a_failing_ddp_process_stops_every_process_within_seconds(tmp_path, rank, kind, expected):
    config = ring_config(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["model"]["init_args"]["check_finite_every_n_batches"] = 1
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    started = time.monotonic()
    out = run_cli(
        ["fit", "--config", config, "--trainer.max_steps", STEPS, "--trainer.devices", "2",
         "--trainer.strategy", "ddp", "--trainer.callbacks+=fault_helpers.FailAt", "--trainer.callbacks.step", "15",
         "--trainer.callbacks.rank", rank, "--trainer.callbacks.kind", kind, "--trainer.callbacks.pid_file", "pids"],
        cwd=tmp_path, check=False, timeout=180,
    )  # fmt: skip
    failed_at = float((tmp_path / "failed_at").read_text())
    assert out.returncode != 0
    if expected is not None:
        assert expected in out.stderr, out.stderr[-3000:]
    # Every process has ended, within a bounded time of the failure (RankWatch polls every 0.5 s).
    pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids), "a DDP process is still running"
    assert time.monotonic() - started < 170
    assert time.time() - failed_at < 60
    # The checkpoint of step 10 (the cadence) survived and is whole.
    assert load(run_folder(tmp_path) / "checkpoints" / "last.ckpt")["global_step"] == CADENCE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, ValueError):
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return status != "Z"  # a zombie has ended; its parent (this test's runner) reaps it later
    return True


# --- torchrun: the launcher clusters use ---


TORCHRUN = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "lightning_gans"]


def _torchrun(config: Path, cwd: Path, *extra: str) -> None:
    fit = ["fit", "--config", config, "--trainer.devices", "2", "--trainer.strategy", "ddp", *extra]
    run_cli(fit, cwd=cwd, launcher=TORCHRUN, timeout=300)


def test_torchrun_trains_with_gan_ddp_in_one_run_folder(tmp_path):
    """``torchrun --nproc-per-node 2 -m lightning_gans fit ...`` (two CPU processes here, the same
    command with ``--nnodes N`` on a cluster): one run folder, written by rank 0 alone."""
    config = ring_config(tmp_path)
    _torchrun(config, tmp_path, "--trainer.max_steps", "20")
    assert [p.name for p in (tmp_path / "lightning_logs" / "gan_ring").iterdir()] == ["version_0"]
    assert load(run_folder(tmp_path) / "checkpoints" / "last.ckpt")["global_step"] == 20
    assert (run_folder(tmp_path) / "metrics.csv").is_file() and (run_folder(tmp_path) / "config.yaml").is_file()


@pytest.mark.slow
def test_torchrun_resumes_the_run_in_its_folder(tmp_path):
    config = ring_config(tmp_path)
    _torchrun(config, tmp_path, "--trainer.max_steps", "20")
    _torchrun(config, tmp_path, "--trainer.max_steps", "40", "--ckpt_path", "last")
    assert [p.name for p in (tmp_path / "lightning_logs" / "gan_ring").iterdir()] == ["version_0"]
    assert load(run_folder(tmp_path) / "checkpoints" / "last.ckpt")["global_step"] == 40
    assert logged_steps(run_folder(tmp_path))[-1] >= 35  # one CSV, continued
