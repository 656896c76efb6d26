"""One folder per run: where the CLI puts a run's logs, config and checkpoints, and which
run ``--ckpt_path last`` resumes.

Every ``fit`` gets its own folder ``<save_dir>/<name>/version_<N>`` (``save_dir`` and
``name`` from the config's logger, e.g. ``lightning_logs/gan_ring/version_3``) holding
``config.yaml``, ``checkpoints/`` and the logger's files (CSV/TensorBoard files, or the
offline W&B run under ``wandb/``). A fresh run takes the next free ``N`` and never writes
into an earlier run's folder. ``--ckpt_path last`` resumes, in its own folder, the newest
run of that config that has a ``checkpoints/last.ckpt``; ``--ckpt_path PATH`` starts a new
folder from that checkpoint (so the run it came from keeps its files).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_gans.errors import ConfigurationError

RUN_DIR_ENV = "LIGHTNING_GANS_RUN_DIR"
"""Set by global rank 0 for the processes it launches (DDP), so every rank uses its run folder."""
RUN_FILE = "run.json"
_VERSION = re.compile(r"^version_(\d+)$")


@dataclass
class RunPlan:
    """Where a ``fit`` writes, and what it resumes from."""

    run_dir: Path
    ckpt_path: str | None = None  # the checkpoint to resume from, resolved
    resumed_in_place: bool = False  # --ckpt_path last: continue the run in its own folder
    resumed_step: int | None = None  # generator steps in that checkpoint
    resumed_epoch: int | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def read_info(self) -> dict[str, Any]:
        """What an earlier session of this run recorded (e.g. its W&B run id)."""
        try:
            return json.loads((self.run_dir / RUN_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def write_info(self, **info: Any) -> None:
        path = self.run_dir / RUN_FILE
        path.write_text(json.dumps({**self.read_info(), **info}, indent=2) + "\n")


def versions(root: Path) -> list[int]:
    """The ``N`` of every ``root/version_N`` folder, ascending."""
    if not root.is_dir():
        return []
    found = (_VERSION.match(entry.name) for entry in root.iterdir() if entry.is_dir())
    return sorted(int(match.group(1)) for match in found if match)


def claim_new_run_dir(root: Path) -> Path:
    """Create and return ``root/version_<N>`` for the next free ``N`` (atomically: two runs
    started at once get different folders)."""
    root.mkdir(parents=True, exist_ok=True)
    number = (versions(root) or [-1])[-1] + 1
    while True:
        candidate = root / f"version_{number}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1


def latest_resumable_run(root: Path) -> Path:
    """The newest ``root/version_N`` with ``checkpoints/last.ckpt``."""
    for number in reversed(versions(root)):
        if (root / f"version_{number}" / "checkpoints" / "last.ckpt").is_file():
            return root / f"version_{number}"
    raise ConfigurationError(
        f"--ckpt_path last: no run under {root} has checkpoints/last.ckpt to resume (runs: "
        f"{', '.join(f'version_{n}' for n in versions(root)) or 'none'}). Start a fresh run without --ckpt_path, "
        "or pass --ckpt_path PATH of a checkpoint (also for a ModelCheckpoint with its own dirpath)."
    )


def checkpoint_progress(path: str | os.PathLike) -> tuple[int, int]:
    """``(generator steps, epoch)`` recorded in a Lightning checkpoint."""
    from lightning_gans.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(path)
    return int(checkpoint.get("global_step", 0)), int(checkpoint.get("epoch", 0))


def plan_run(root: Path, ckpt_path: str | None, is_global_zero: bool) -> RunPlan:
    """Choose the run folder under ``root`` (``<save_dir>/<name>``) and resolve ``ckpt_path``.

    Processes other than global rank 0 never create folders: those launched by rank 0 are
    told its folder through :data:`RUN_DIR_ENV`; others (torchrun) compute a folder that
    Lightning's broadcast of the checkpoint folder overrides, and they write no files.
    """
    inherited = None if is_global_zero else os.environ.get(RUN_DIR_ENV)
    if ckpt_path == "last":
        run_dir = Path(inherited) if inherited else latest_resumable_run(root)
        resolved = str(run_dir / "checkpoints" / "last.ckpt")
        return RunPlan(run_dir, resolved, True, *checkpoint_progress(resolved))
    if ckpt_path in ("best", "hpc", "registry") or (ckpt_path or "").startswith("registry:"):
        raise ConfigurationError(
            f"--ckpt_path {ckpt_path} is not supported by lightning_gans' run folders; use --ckpt_path last (the "
            "newest run of this config) or --ckpt_path PATH."
        )
    step, epoch = checkpoint_progress(ckpt_path) if ckpt_path is not None else (None, None)
    if inherited:
        run_dir = Path(inherited)
    elif is_global_zero:
        run_dir = claim_new_run_dir(root)
    else:
        run_dir = root / f"version_{(versions(root) or [0])[-1]}"
    return RunPlan(run_dir, ckpt_path, False, step, epoch)
