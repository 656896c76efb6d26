"""Cost of one FidelityMetrics evaluation with the packaged digit classifier (offline MNIST metrics).

Runs the user's path: ``trainer.validate`` of a DCGAN (``configs/dcgan_mnist.yaml``'s networks)
with ``FidelityMetrics(feature_extractor="mnist")`` computing FID, KID, the classifier IS,
precision, recall, density and coverage of ``--num-samples`` generated against ``--num-real``
real images. The first validation also embeds the real images (once per run; cached on disk
in a user's run); the later ones show the cost of each evaluation. Prints seconds and the
cost per 1,000 generated images.

    python benchmarks/digit_metrics_speed.py                       # 10,000 vs 10,000, the configs' sizes
    python benchmarks/digit_metrics_speed.py --num-samples 2000 --num-real 2000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import torch

import lightning_gans as lg
from lightning_gans.callbacks import FidelityMetrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--num-real", type=int, default=10_000)
    parser.add_argument("--root", type=Path, default=SHARED, help="MNIST as image folders 0/ ... 9/")
    parser.add_argument("--evaluations", type=int, default=2, help="evaluations after the first")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    data = lg.ImageFolderDataModule(root=str(args.root), image_size=28, channels=1, batch_size=64, num_workers=0)
    model = lg.DCGAN(data_shape=(1, 28, 28), latent_dim=100, g_channels=64, d_channels=64)
    callback = FidelityMetrics(
        feature_extractor="mnist", num_samples=args.num_samples, num_real=args.num_real, cache_dir=None, batch_size=500
    )
    trainer = L.Trainer(
        accelerator="cpu", logger=False, callbacks=[callback], enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=1,
    )  # fmt: skip
    times = []
    for _ in range(1 + args.evaluations):
        start = time.perf_counter()
        trainer.validate(model, data, verbose=False)
        times.append(time.perf_counter() - start)
    each = min(times[1:])
    print(
        f"digit-classifier metrics (FID, KID, IS, precision, recall, density, coverage), "
        f"{args.num_samples:,} generated vs {args.num_real:,} real 28x28 images, "
        f"{torch.get_num_threads()} threads"
    )
    print("| pass | seconds | per 1,000 generated images |")
    print("| --- | --- | --- |")
    print(f"| first evaluation (embeds the real images too) | {times[0]:.1f} | |")
    print(
        f"| each later evaluation (best of {args.evaluations}) | {each:.1f} | {each / args.num_samples * 1000:.2f} s |"
    )
    results = ", ".join(f"{name.split('/')[1]} {value:.4g}" for name, value in callback.last.items())
    print(f"last results (an untrained generator): {results}")


if __name__ == "__main__":
    main()
