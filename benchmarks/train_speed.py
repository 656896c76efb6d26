"""Training speed of lightning_gans against a plain PyTorch loop doing the same work.

Both train the same networks from the same initial weights on the same in-memory data with
the same Adam optimizers and losses: per step one discriminator update (real and fake batch)
and one generator update that reuses the fake batch. The plain loop freezes the discriminator
during the generator update as ``toggle_optimizer`` does. Timing starts after ``--warmup``
steps (allocator, cuDNN autotuning, compilation). Two workloads:

* ``dcgan`` (default): DCGAN on 32x32 images, batch 64, where the networks dominate;
* ``toy``: the ``GAN`` of the mode-collapse study (MLPs of ``--layers`` x ``--hidden`` units,
  latent 2) on 2-D points, where each step is short and the loop's per-step overhead shows.

    python benchmarks/train_speed.py                       # CPU, fp32
    python benchmarks/train_speed.py --workload toy --hidden 400 --layers 4 --batch-size 100 --steps 1000 --threads 1
    python benchmarks/train_speed.py --workload toy --hidden 128 --layers 4 --batch-size 500 --steps 1000 --threads 1
    python benchmarks/train_speed.py --device cuda --precision bf16-mixed --compile --channels-last

Prints steps/s and images/s (generated images per second) of the steady state, from each run's
median step, and steps/s over all timed steps (the steps that log or check for NaN included);
each the median of ``--repeats`` runs, the loops interleaved so that drift hits all alike, for the
plain loop, the same updates as the smallest manual-optimisation ``LightningModule`` (Lightning's
own per-step cost, the floor under any library built on it) and ``lightning_gans``, with their
ratios to the plain loop.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg


def make_model(args: argparse.Namespace) -> lg.BaseGAN:
    torch.manual_seed(0)
    if args.workload == "toy":
        return lg.GAN(
            data_shape=(2,),
            latent_dim=2,
            hidden_dim=args.hidden,
            num_layers=args.layers,
            torch_compile=args.compile,
            check_finite_every_n_batches=100,
        )
    return lg.DCGAN(
        data_shape=(3, args.image_size, args.image_size),
        latent_dim=100,
        g_channels=args.channels,
        d_channels=args.channels,
        channels_last=args.channels_last,
        torch_compile=args.compile,
        check_finite_every_n_batches=100,
    )


def make_loader(args: argparse.Namespace) -> DataLoader:
    if args.workload == "toy":
        # PacGAN's 100,000 training points: an epoch is many steps, as in a user's run
        points = torch.randn(max(16 * args.batch_size, 100_000), 2, generator=torch.Generator().manual_seed(0))
        return DataLoader(TensorDataset(points), batch_size=args.batch_size, shuffle=True, drop_last=True)
    images = torch.rand(
        args.batch_size * 16, 3, args.image_size, args.image_size, generator=torch.Generator().manual_seed(0)
    )
    return DataLoader(TensorDataset(images * 2 - 1), batch_size=args.batch_size, shuffle=True, drop_last=True)


@dataclass(frozen=True)
class Timing:
    """One run: its total wall time over the timed steps, and its median step (the steady state:
    the steps that also log or check for NaN, one in ``log_every_n_steps``, are not the median)."""

    total: float
    median_step: float

    @staticmethod
    def of(starts: list[float]) -> Timing:
        """From the start time of every timed step and the end time of the last one."""
        steps = [b - a for a, b in zip(starts, starts[1:])]
        return Timing(total=starts[-1] - starts[0], median_step=statistics.median(steps))


class Timer(L.Callback):
    """The start time of every batch from batch ``warmup`` on, and the end of training."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.batches, self.starts = warmup, 0, []  # type: ignore[var-annotated]

    def _sync(self, trainer: L.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if self.batches >= self.warmup:
            self._sync(trainer)
            self.starts.append(time.perf_counter())
        self.batches += 1

    def on_train_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._sync(trainer)
        self.starts.append(time.perf_counter())

    def timing(self) -> Timing:
        return Timing.of(self.starts)


class BareLightningGAN(L.LightningModule):
    """The plain loop's updates written as the smallest manual-optimisation LightningModule:
    Lightning's own per-step cost, the floor under any library built on it."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        template = make_model(args)
        self.generator, self.discriminator = template.generator, template.discriminator
        self.adversarial_loss, self.latent_dim = template.adversarial_loss, template.latent_dim
        self.channels_last = args.channels_last
        if args.channels_last:
            self.to(memory_format=torch.channels_last)
        if args.compile:
            self.generator.compile()
            self.discriminator.compile()
        self.automatic_optimization = False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
            torch.optim.Adam(self.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        ]

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        (real,) = batch
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        g_opt, d_opt = self.optimizers()  # type: ignore[misc]
        fake = self.generator(torch.randn(real.shape[0], self.latent_dim, device=real.device))
        d_loss = self.adversarial_loss.discriminator(self.discriminator(real), self.discriminator(fake.detach()))
        d_opt.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        d_opt.step()
        self.discriminator.requires_grad_(False)
        g_loss = self.adversarial_loss.generator(self.discriminator(fake))
        g_opt.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        g_opt.step()
        self.discriminator.requires_grad_(True)


def run_lightning(args: argparse.Namespace, extras: bool, bare: bool = False) -> Timing:
    """Seconds for the timed steps through ``Trainer.fit``; ``extras`` adds the progress
    bar and a CSV logger, as a user's run has; ``bare`` trains :class:`BareLightningGAN`."""
    timer = Timer(args.warmup)
    trainer = L.Trainer(
        accelerator=args.device,
        devices=1,
        precision=args.precision,
        # Lightning counts every optimizer step of a manual-optimisation module; BaseGAN only
        # the generator's.
        max_steps=(args.warmup + args.steps) * (2 if bare else 1),
        logger=L.pytorch.loggers.CSVLogger(args.log_dir) if extras else False,
        enable_progress_bar=extras,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[timer],
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(BareLightningGAN(args) if bare else make_model(args), make_loader(args))
    return timer.timing()


def run_plain(args: argparse.Namespace) -> Timing:
    """The same updates in a hand-written loop."""
    device = torch.device(args.device)
    template = make_model(args)
    generator, discriminator = (
        copy.deepcopy(template.generator).to(device),
        copy.deepcopy(template.discriminator).to(device),
    )
    if args.channels_last:
        generator.to(memory_format=torch.channels_last)
        discriminator.to(memory_format=torch.channels_last)
    if args.compile:
        generator.compile()
        discriminator.compile()
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = template.adversarial_loss
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16-mixed" else nullcontext()
    step, starts = 0, []
    while True:
        for (real,) in make_loader(args):
            if step >= args.warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                starts.append(time.perf_counter())
            if step == args.warmup + args.steps:
                return Timing.of(starts)
            real = real.to(device, non_blocking=True)
            if args.channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            with autocast:
                fake = generator(torch.randn(real.shape[0], template.latent_dim, device=device))
                d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            discriminator.requires_grad_(False)
            with autocast:
                g_loss = loss.generator(discriminator(fake))
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
            discriminator.requires_grad_(True)
            step += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed generator steps")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many interleaved runs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=64, help="DCGAN width (g_channels = d_channels)")
    parser.add_argument("--workload", choices=["dcgan", "toy"], default="dcgan")
    parser.add_argument("--hidden", type=int, default=400, help="toy: units per hidden layer")
    parser.add_argument("--layers", type=int, default=4, help="toy: hidden layers")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--log-dir", default="lightning_logs/benchmark")
    parser.add_argument(
        "--loops",
        nargs="+",
        choices=["plain", "bare", "library", "extras"],
        default=["plain", "bare", "library", "extras"],
        help="which loops to time (in this order); the first is the table's baseline",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 is the least noisy")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    loops = {
        "plain": ("plain PyTorch loop", lambda: run_plain(args)),
        "bare": ("bare LightningModule (same updates)", lambda: run_lightning(args, extras=False, bare=True)),
        "library": ("lightning_gans (bare Trainer)", lambda: run_lightning(args, extras=False)),
        "extras": ("lightning_gans (progress bar, CSV)", lambda: run_lightning(args, extras=True)),
    }
    runs = {loops[key][0]: loops[key][1] for key in loops if key in args.loops}
    timings: dict[str, list[Timing]] = {name: [] for name in runs}
    for repeat in range(args.repeats):  # alternate, so drift (thermal, other load) hits all alike
        for name, fn in runs.items():
            timings[name].append(fn())
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    options = (
        [args.device, args.precision]
        + (["compile"] if args.compile else [])
        + (["channels_last"] if args.channels_last else [])
    )
    if args.workload == "toy":
        workload = f"toy GAN on 2-D points, MLPs {args.layers} x {args.hidden}"
    else:
        workload = f"DCGAN {args.image_size}x{args.image_size}, width {args.channels}"
    print(
        f"{workload}, batch {args.batch_size}, {args.steps} timed steps, median of {args.repeats} interleaved runs; "
        f"{', '.join(options)}, {torch.get_num_threads()} threads"
    )
    step = {name: statistics.median(t.median_step for t in ts) for name, ts in timings.items()}
    total = {name: statistics.median(t.total for t in ts) for name, ts in timings.items()}
    base, short = next(iter(timings)), next(key for key in loops if key in args.loops)
    print(
        f"| {'loop':<36} | {'steps/s':>8} | {'images/s':>9} | {'step / ' + short:>{len(short) + 7}} "
        f"| {'all steps/s':>11} | {'all / ' + short:>{len(short) + 6}} |"
    )
    print(f"| {'-' * 36} | {'-' * 8} | {'-' * 9} | {'-' * (len(short) + 7)} | {'-' * 11} | {'-' * (len(short) + 6)} |")
    for name in timings:
        print(
            f"| {name:<36} | {1 / step[name]:>8.2f} | {args.batch_size / step[name]:>9.0f} "
            f"| {step[name] / step[base]:>{len(short) + 7}.3f} | {args.steps / total[name]:>11.2f} "
            f"| {total[name] / total[base]:>{len(short) + 6}.3f} |"
        )
    print(
        "steps/s: from the median step of each run (the steady state); all steps/s: timed steps over their "
        "total time, the steps that log and check for NaN included"
    )
    pairs = [
        (loops[a][0], loops[b][0], label)
        for a, b, label in (
            ("library", "plain", "lightning_gans over the plain loop"),
            ("bare", "plain", "Lightning's own (bare LightningModule) over the plain loop"),
            ("library", "bare", "lightning_gans over the bare LightningModule"),
        )
        if a in args.loops and b in args.loops
    ]
    for label, key in (("per steady-state step", "median_step"), ("over all timed steps", "total")):
        print(f"{label} (median of the {args.repeats} runs' ratios, each to the run just before or after it):")
        for numerator, denominator, text in pairs:
            ratios = [getattr(a, key) / getattr(b, key) for a, b in zip(timings[numerator], timings[denominator])]
            low, high = min(ratios), max(ratios)
            print(
                f"  {text}: {100 * (statistics.median(ratios) - 1):+.1f}% "
                f"(runs from {100 * (low - 1):+.1f}% to {100 * (high - 1):+.1f}%)"
            )


if __name__ == "__main__":
    main()
