"""How fast the fault handling is: the image-file check, and the time to stop a failed DDP run.

    python benchmarks/faults.py --images ../shared/data/mnist-test     # both tables
    python benchmarks/faults.py --skip-ddp --images DIR                 # the data check only

The data check builds ``ImageFolderDataModule`` on ``--images`` with an empty cache folder and
times ``setup()`` twice (the first checks every file, the second reads the cache). The DDP
rows train ``configs/gan_ring.yaml`` (small) with two CPU processes through the CLI, inject
one fault at generator step 15 (``tests/fault_helpers.py``: an exception, a data error, a NaN
or SIGKILL, on rank 1 or rank 0) and measure the seconds from the fault until every process
of the run has ended.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FAULTS = [(1, "error"), (1, "data"), (1, "nan"), (1, "kill"), (0, "error"), (0, "kill")]


def data_check(root: str, repeats: int) -> list[tuple[str, float]]:
    from lightning_gans import ImageFolderDataModule

    rows = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            for label in ("first run (checks every file)", "second run (cached)"):
                datamodule = ImageFolderDataModule(root, image_size=28, channels=1, num_workers=0, cache_dir=cache)
                start = time.perf_counter()
                datamodule.setup("fit")
                rows.append((label, time.perf_counter() - start))
    return rows


def ring_config(folder: Path) -> Path:
    settings = yaml.safe_load((REPO / "configs" / "gan_ring.yaml").read_text())
    settings["trainer"].update(max_epochs=1000, enable_progress_bar=False)
    settings["trainer"]["callbacks"] = [
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {"every_n_train_steps": 10, "save_top_k": 0, "save_last": True},
        }
    ]
    settings["model"]["init_args"].update(hidden_dim=16, num_layers=2, check_finite_every_n_batches=1)
    settings["data"]["init_args"].update(num_samples=1000, num_val_samples=100)
    path = folder / "ring.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def stop_time(rank: int, kind: str) -> tuple[float, int, str]:
    """Seconds from the fault until every process ended, the CLI's exit status, its last line."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        command = [
            sys.executable, "-m", "lightning_gans", "fit", "--config", str(ring_config(work)),
            "--trainer.max_steps", "40", "--trainer.devices", "2", "--trainer.strategy", "ddp",
            "--trainer.callbacks+=fault_helpers.FailAt", "--trainer.callbacks.step", "15",
            "--trainer.callbacks.rank", str(rank), "--trainer.callbacks.kind", kind,
            "--trainer.callbacks.pid_file", "pids",
        ]  # fmt: skip
        env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
        result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        pids = [int(pid) for pid in (work / "pids").read_text().split()]
        while any(_alive(pid) for pid in pids):
            time.sleep(0.05)
        ended = time.time()
        failed_at = float((work / "failed_at").read_text())
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        return ended - failed_at, result.returncode, (lines[-1] if lines else result.stderr.splitlines()[-1])[:90]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", help="an image folder for the data check (e.g. ../shared/data/mnist-test)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the data check")
    parser.add_argument("--skip-ddp", action="store_true", help="only the data check")
    args = parser.parse_args()
    if args.images:
        rows = data_check(args.images, args.repeats)
        print(f"Image-file check of {args.images} ({args.repeats} repeats, fresh cache each)")
        print("| run | seconds (each repeat) |\n| --- | --- |")
        for label in dict(rows):
            print(f"| {label} | {', '.join(f'{t:.2f}' for name, t in rows if name == label)} |")
    if not args.skip_ddp:
        print("\nTime to stop a 2-process gan_ddp run (CPU, gloo) after one fault at generator step 15")
        print("| fault | seconds until every process ended | exit status | last error line |")
        print("| --- | --- | --- | --- |")
        for rank, kind in FAULTS:
            seconds, status, line = stop_time(rank, kind)
            print(f"| rank {rank}: {kind} | {seconds:.1f} | {status} | `{line}` |", flush=True)


if __name__ == "__main__":
    main()
