"""What differentiable augmentation buys on small data: one config, 1k / 2k / 10k training
images, without augmentation, with DiffAugment and with ADA.

Every run is the user's command, ``python -m lightning_gans fit --config CONFIG`` (in this
process, through :func:`lightning_gans.cli.cli_main`), with only ``--data.num_train_images``,
``--model.init_args.augment`` and the budget changed, the logger off and each run in its own
folder. The config's ``FidelityMetrics`` scores the generator at its last validation against
all images of the folder (``real_split: val``), with the digit classifier's features (MNIST
FID, classifier IS, precision, recall).

    python benchmarks/data_efficiency.py --runs-log efficiency.jsonl       # 9 runs, ~2-3 min each on 2 cores
    python benchmarks/data_efficiency.py --summarise efficiency.jsonl

Finished runs are appended to ``--runs-log`` (JSON lines) and skipped when it is given again,
so an interrupted study continues where it stopped. Prints one Markdown table row per
(images, augmentation): FID, IS, precision, recall at the last evaluation, the best FID of
the run's evaluations, ADA's final ``p``, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "mnist-test"
AUGMENTATIONS = {"none": "null", "diffaugment": "color,translation,cutout", "ada": "ada"}
LABELS = {"none": "none", "diffaugment": "DiffAugment (color, translation, cutout)", "ada": "ADA"}


def run_one(args: argparse.Namespace, images: int, augmentation: str, seed: int, folder: Path) -> dict[str, Any]:
    from lightning_gans.callbacks import FidelityMetrics
    from lightning_gans.cli import cli_main

    start = time.perf_counter()
    cli = cli_main(
        [
            "fit", "--config", str(args.config),
            "--seed_everything", str(seed),
            "--data.root", str(args.root),
            "--data.num_train_images", str(images),
            "--model.init_args.augment", AUGMENTATIONS[augmentation],
            "--trainer.max_steps", str(args.steps),
            "--trainer.val_check_interval", str(args.eval_every),
            "--trainer.logger", "false",
            "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(folder),
        ]
    )  # fmt: skip
    seconds = time.perf_counter() - start
    fidelity = next(c for c in cli.trainer.callbacks if isinstance(c, FidelityMetrics))
    pipe = getattr(cli.model, "augment_pipe", None)
    record = {
        "images": images,
        "augment": augmentation,
        "seed": seed,
        "steps": cli.trainer.global_step,
        "seconds": seconds,
        "metrics": {k.split("/")[1]: float(v) for k, v in fidelity.last.items()},
        "fid_history": [results["metrics/fid"] for _, results in fidelity.history],
        "ada_p": float(pipe.p) if pipe is not None and hasattr(pipe, "p") else None,
    }
    return record


def summarise(records: list[dict[str, Any]]) -> None:
    print("| training images | augmentation | MNIST FID | best FID | IS | precision | recall | ADA p | runs | time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["images"], record["augment"]), []).append(record)
    order = list(AUGMENTATIONS)
    for (images, augmentation), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):

        def mean(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return sum(r["metrics"][key] for r in runs) / len(runs)

        best = sum(min(r["fid_history"]) for r in runs) / len(runs)
        p = [r["ada_p"] for r in runs if r["ada_p"] is not None and r["augment"] == "ada"]
        p_text = f"{sum(p) / len(p):.2f}" if p else "-"
        minutes = sum(r["seconds"] for r in runs) / len(runs) / 60
        print(
            f"| {images:,} | {LABELS[augmentation]} | {mean('fid'):.2f} | {best:.2f} | {mean('is'):.2f} "
            f"| {mean('precision'):.2f} | {mean('recall'):.2f} | {p_text} | {len(runs)} | {minutes:.1f} min |"
        )
    steps = {r["steps"] for r in records}
    print(f"\n{', '.join(map(str, sorted(steps)))} generator steps per run; values are means over the runs.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "dcgan_mnist1k_ada.yaml")
    parser.add_argument("--root", type=Path, default=SHARED, help="the image folder (MNIST as 0/ ... 9/)")
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 2000, 10000])
    parser.add_argument("--augment", nargs="+", choices=list(AUGMENTATIONS), default=list(AUGMENTATIONS))
    parser.add_argument("--seeds", type=int, default=1, help="runs per cell (seeds 0, 1, ...)")
    parser.add_argument("--steps", type=int, default=3000, help="generator steps per run")
    parser.add_argument("--eval-every", type=int, default=1000, help="generator steps between evaluations")
    parser.add_argument("--runs-log", type=Path, help="append finished runs here (JSON lines); skip those in it")
    parser.add_argument("--summarise", type=Path, nargs="*", help="print the table of these run logs and exit")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.summarise:
        summarise([json.loads(line) for path in args.summarise for line in path.read_text().splitlines() if line])
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    done: list[dict[str, Any]] = []
    if args.runs_log is not None and args.runs_log.exists():
        done = [json.loads(line) for line in args.runs_log.read_text().splitlines() if line]
    finished = {(r["images"], r["augment"], r["seed"], r["steps"]) for r in done}
    cells = [(n, a, s) for n in args.images for a in args.augment for s in range(args.seeds)]
    records = [r for r in done if (r["images"], r["augment"], r["seed"]) in {c for c in cells}]
    with tempfile.TemporaryDirectory(prefix="data_efficiency_") as work:
        for index, (images, augmentation, seed) in enumerate(cells):
            if (images, augmentation, seed, args.steps) in finished:
                continue
            print(f"[data_efficiency] run {index + 1}/{len(cells)}: {images} images, augment {augmentation}, "
                  f"seed {seed}", flush=True)  # fmt: skip
            record = run_one(args, images, augmentation, seed, Path(work) / f"{images}-{augmentation}-{seed}")
            records.append(record)
            if args.runs_log is not None:
                with args.runs_log.open("a") as log:
                    log.write(json.dumps(record) + "\n")
    summarise(records)


if __name__ == "__main__":
    main()
