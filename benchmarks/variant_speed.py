"""Training step time of the image variants at one image size, side by side with DCGAN.

Every row trains through Lightning exactly as ``fit`` does (same loop, regularisers on their
lazy schedules, augmentation), on in-memory random images, and times ``--steps`` generator
steps after ``--warmup``. Widths are the configs' (``configs/dcgan_mnist.yaml``,
``configs/stylegan2_mnist.yaml``) unless overridden.

    python benchmarks/variant_speed.py                        # 32x32, 1 channel, batch 32, CPU
    python benchmarks/variant_speed.py --image-size 64 --channels 3 --device cuda

Prints a table: seconds per generator step, generated images per second, parameters, and the
time relative to DCGAN (the baseline row).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset
from train_speed import Timer  # the same timing as the loop benchmark (this script's folder is on sys.path)

import lightning_gans as lg
from lightning_gans.augment import AdaptiveAugment


def variants(shape: tuple[int, int, int]) -> dict[str, Callable[[], lg.BaseGAN]]:
    stylegan2 = dict(data_shape=shape, latent_dim=128, w_dim=128, mapping_layers=2, channel_base=4096)
    return {
        "DCGAN (64 channels, baseline)": lambda: lg.DCGAN(data_shape=shape, g_channels=64, d_channels=64),
        "DCGAN + ADA": lambda: lg.DCGAN(data_shape=shape, g_channels=64, d_channels=64, augment=AdaptiveAugment(p=0.5)),
        "DCGAN + DiffAugment": lambda: lg.DCGAN(
            data_shape=shape, g_channels=64, d_channels=64, augment="color,translation,cutout"
        ),
        "StyleGAN2 (128 channels, R1/16, no path length)": lambda: lg.StyleGAN2(
            **stylegan2, g_channels=128, d_channels=128, r1_gamma=0.01, pl_weight=0.0
        ),
        "StyleGAN2 + path length/4 + mixing": lambda: lg.StyleGAN2(
            **stylegan2, g_channels=128, d_channels=128, r1_gamma=0.01
        ),
        "StyleGAN2 + ADA": lambda: lg.StyleGAN2(
            **stylegan2, g_channels=128, d_channels=128, r1_gamma=0.01, pl_weight=0.0, augment=AdaptiveAugment(p=0.5)
        ),
        "R3GAN (r3gan_stacked_mnist.yaml's networks)": lambda: lg.R3GAN(
            data_shape=shape, widths=[64, 64, 32, 16], cardinality=8, blocks=[2, 2, 1, 0], penalty_every=4
        ),
        "R3GAN, R1 + R2 at every update (the paper's)": lambda: lg.R3GAN(
            data_shape=shape, widths=[64, 64, 32, 16], cardinality=8, blocks=[2, 2, 1, 0]
        ),
    }


def time_variant(make: Callable[[], lg.BaseGAN], args: argparse.Namespace) -> tuple[float, int]:
    torch.manual_seed(0)
    model = make()
    shape = (args.channels, args.image_size, args.image_size)
    images = torch.rand(args.batch_size * 8, *shape) * 2 - 1
    loader = DataLoader(TensorDataset(images), batch_size=args.batch_size, shuffle=True, drop_last=True)
    timer = Timer(args.warmup)
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=args.precision,
        max_steps=args.warmup + args.steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
        callbacks=[timer],
    )
    trainer.fit(model, loader)
    params = sum(p.numel() for p in model.generator.parameters()) + sum(
        p.numel() for p in model.discriminator.parameters()
    )
    return timer.timing().total / args.steps, params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1, help="image channels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=32, help="timed generator steps (a multiple of 16)")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed", "16-mixed"])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", nargs="*", help="rows whose name starts with one of these")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = (args.channels, args.image_size, args.image_size)
    rows = []
    for name, make in variants(shape).items():
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        seconds, params = time_variant(make, args)
        rows.append((name, seconds, params))
        print(f"[variant_speed] {name}: {seconds * 1000:.0f} ms/step", flush=True)
    baseline = rows[0][1]
    print(
        f"\n{args.image_size}x{args.image_size}x{args.channels}, batch {args.batch_size}, {args.device}, "
        f"{args.precision}, {args.steps} timed steps after {args.warmup}\n"
    )
    print("| variant | ms / step | images / s | parameters (G + D) | time vs first row |")
    print("|---|---|---|---|---|")
    for name, seconds, params in rows:
        print(
            f"| {name} | {seconds * 1000:.0f} | {args.batch_size / seconds:.0f} | {params / 1e6:.2f} M "
            f"| {seconds / baseline:.2f}x |"
        )


if __name__ == "__main__":
    main()
