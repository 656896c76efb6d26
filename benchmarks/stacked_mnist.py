"""Stacked MNIST mode collapse (VEEGAN's protocol, PacGAN's Table 2) at a CPU budget.

Trains DCGAN and PacDCGAN-m (the same DCGAN whose discriminator judges m packed samples), the
model of ``configs/dcgan_rpgan_stacked_mnist.yaml`` (DCGAN's networks with R3GAN's loss) and
R3GAN's Table 1 ablation on it and on ``configs/r3gan_stacked_mnist.yaml`` on
Stacked MNIST (three random MNIST digits per image, one per channel: 1,000 modes), then
classifies each channel of 26,000 generated images with the package's digit classifier and
reports the modes covered and the KL divergence of the mode histogram to uniform, as mean
+- standard error over ``--seeds``, beside PacGAN's Table 2 (italic rows).

    python benchmarks/stacked_mnist.py --root ../shared/data/mnist-test           # offline
    python benchmarks/stacked_mnist.py --variants dcgan pacdcgan2 --steps 500 --seeds 1
    python benchmarks/stacked_mnist.py --variants rpgan --steps 20000 --seeds 3 --threads 1 --floor  # the config
    python benchmarks/stacked_mnist.py --variants rpgan_gan_r1 rpgan_rpgan_r1 rpgan_gan_r1r2 --steps 20000  # ablation
    python benchmarks/stacked_mnist.py --variants r3gan --steps 4000 --seeds 3 --threads 1 --floor  # R3GAN
    python benchmarks/stacked_mnist.py --variants r3gan_gan_r1 --steps 4000 --first-seed 2 --seeds 1
    python benchmarks/stacked_mnist.py --quick                                    # smoke check
    python benchmarks/stacked_mnist.py --summarise runs.jsonl                     # table of logged runs
    python benchmarks/stacked_mnist.py --figure last.ckpt --figure-output samples.png   # real beside generated

Protocol and its deviations from the paper's (VEEGAN Sec. 5.2; PacGAN Sec. 5.2, "DCGAN
trained for 50 epochs of 128,000 images"):

* same: 28x28x3 images of three uniformly drawn digits, 128,000 training images, the
  non-saturating loss, Adam(2e-4, beta1 0.5), batch 64, 26,000 images counted, modes = digit
  triples found by a pretrained MNIST classifier, KL(generated modes || uniform);
* budget: ``--steps`` generator steps (default 2,000 = one epoch of 128,000 images at batch
  64) instead of 50 epochs: days of CPU otherwise;
* networks: the library's DCGAN for 28x28 (``--channels`` wide, default 32; the paper's
  DCGAN is 64 wide); the ``rpgan*`` and ``r3gan*`` rows build the model of their config
  through the CLI (its networks, loss, penalty, EMA), with one change per ablation row, and
  train it here at batch ``--batch-size`` for ``--steps``; the classifier is ours (held-out
  accuracy in the README), not theirs;
* digits: torchvision's MNIST training split when it can be downloaded, else the 10,000
  images of ``--root`` (the MNIST test split in ``../shared``): fewer distinct digits per
  mode, the same 1,000 modes.

Progress (variant, seed, seconds, result) goes to stderr; the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch

import lightning_gans as lg
from lightning_gans.cli import cli_main
from lightning_gans.errors import NonFiniteLossError
from lightning_gans.metrics import DigitFeatures, stacked_mnist_modes
from lightning_gans.metrics.stacked_mnist import StackedMNISTModes
from lightning_gans.progress import format_duration
from lightning_gans.sampling import iter_samples
from lightning_gans.schedules import Schedule

ROOT = Path(__file__).resolve().parents[1]
NUM_EVAL = 26_000


def _dcgan(pack: int = 1, **extra: object) -> Callable[[argparse.Namespace], lg.BaseGAN]:
    def build(args: argparse.Namespace) -> lg.BaseGAN:
        return lg.DCGAN(
            data_shape=(3, 28, 28), latent_dim=100, g_channels=args.channels, d_channels=args.channels, pack=pack,
            **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    return build


R3GAN_CONFIG = ROOT / "configs" / "r3gan_stacked_mnist.yaml"
RPGAN_CONFIG = ROOT / "configs" / "dcgan_rpgan_stacked_mnist.yaml"


def _penalty(name: str, gamma: float, every: int) -> str:
    return json.dumps({"class_path": f"lightning_gans.penalties.{name}", "init_args": {"gamma": gamma, "every": every}})


def _from_config(config: Path, **overrides: str) -> Callable[[argparse.Namespace], lg.BaseGAN]:
    """The model of ``config`` as the CLI builds it (one source for the config and the
    benchmark), with ``overrides`` of its ``model.init_args`` (one row of an ablation)."""

    def build(args: argparse.Namespace) -> lg.BaseGAN:
        given = dict(item.split("=", 1) for item in getattr(args, "set", None) or [])
        settings = [f"--model.init_args.{key}={value}" for key, value in {**overrides, **given}.items()]
        fixed = ["--seed_everything=false", "--trainer.logger=false", "--trainer.callbacks=[]"]  # the run seeds
        cli = cli_main(["--config", str(config), *fixed, *settings], run=False)
        return cli.model  # data_shape linked from the config's datamodule

    return build


VARIANTS: dict[str, tuple[str, Callable[[argparse.Namespace], lg.BaseGAN]]] = {
    "dcgan": ("DCGAN", _dcgan()),
    "pacdcgan2": ("PacDCGAN2", _dcgan(2)),
    "pacdcgan3": ("PacDCGAN3", _dcgan(3)),
    "pacdcgan4": ("PacDCGAN4", _dcgan(4)),
    "dcgan_decay": ("DCGAN + LR decay to 1%", _dcgan(schedules={"lr": Schedule("linear", end=0.01)})),
    "pacdcgan2_decay": ("PacDCGAN2 + LR decay to 1%", _dcgan(2, schedules={"lr": Schedule("linear", end=0.01)})),
    # configs/dcgan_rpgan_stacked_mnist.yaml (DCGAN networks, no BatchNorm in D, RpGAN + R1 + R2,
    # EMA) and R3GAN's Table 1 ablation on its networks: one change of loss or penalty per row.
    "rpgan": ("DCGAN networks: RpGAN + R1 + R2 (dcgan_rpgan_stacked_mnist.yaml)", _from_config(RPGAN_CONFIG)),
    "rpgan_gan_r1r2": ("DCGAN networks: GAN + R1 + R2", _from_config(RPGAN_CONFIG, loss="non_saturating")),
    "rpgan_rpgan_r1": ("DCGAN networks: RpGAN + R1", _from_config(RPGAN_CONFIG, penalty=_penalty("R1Penalty", 0.1, 4))),
    "rpgan_gan_r1": (
        "DCGAN networks: GAN + R1",
        _from_config(RPGAN_CONFIG, loss="non_saturating", penalty=_penalty("R1Penalty", 0.1, 4)),
    ),
    # the same ablation on the R3GAN networks of configs/r3gan_stacked_mnist.yaml:
    "r3gan": ("R3GAN: RpGAN + R1 + R2", _from_config(R3GAN_CONFIG)),
    "r3gan_gan_r1r2": ("R3GAN networks: GAN + R1 + R2", _from_config(R3GAN_CONFIG, loss="non_saturating")),
    "r3gan_rpgan_r1": ("R3GAN networks: RpGAN + R1", _from_config(R3GAN_CONFIG, penalties="r1")),
    "r3gan_gan_r1": ("R3GAN networks: GAN + R1", _from_config(R3GAN_CONFIG, loss="non_saturating", penalties="r1")),
}

CONFIG_ROWS = {name for name in VARIANTS if name.startswith(("rpgan", "r3gan"))}
"""The rows built from a config (``--set`` changes their settings)."""

PAPER = [  # PacGAN Table 2 (VEEGAN's protocol): modes (of 1000), KL
    ("DCGAN (VEEGAN's Table)", 99.0, 3.40),
    ("VEEGAN", 150.0, 2.95),
    ("DCGAN (PacGAN's run)", 78.9, 4.50),
    ("PacDCGAN2", 1000.0, 0.06),
    ("PacDCGAN3", 1000.0, 0.06),
    ("PacDCGAN4", 1000.0, 0.07),
]
R3GAN_PAPER: list[
    tuple[str, float | None, float | None]
] = [  # R3GAN (Huang et al. 2024): Table 1 (its small ResNet) and Table 3; modes, KL
    ("GAN + R1, R3GAN Table 1", None, None),
    ("RpGAN + R1, R3GAN Table 1", None, None),
    ("GAN + R1 + R2, R3GAN Table 1", 693.0, 0.9270),
    ("RpGAN + R1 + R2, R3GAN Table 1", 1000.0, 0.0781),
    ("StyleGAN2, R3GAN Table 3", 940.0, 0.4240),
    ("R3GAN, R3GAN Table 3", 1000.0, 0.0290),
]


@dataclass
class Result:
    variant: str
    seed: int
    steps: int
    seconds: float
    modes: int
    kl: float
    diverged: bool = False
    setting: str = ""
    """``--set`` overrides of the row's config, if any."""


class CountModes(L.Callback):
    """Counts the modes of ``args.num_eval`` samples every ``every`` generator steps of a run
    (not at its end: :func:`run` does), keeping the training time apart from the counting's."""

    def __init__(self, variant: str, seed: int, args: argparse.Namespace, classifier: DigitFeatures) -> None:
        self.variant, self.seed, self.args, self.classifier = variant, seed, args, classifier
        self.results: list[Result] = []
        self.start, self.counting = time.perf_counter(), 0.0

    def on_train_batch_end(self, trainer: L.Trainer, model: lg.BaseGAN, *unused: object) -> None:
        step = model.generator_steps
        if step % self.args.count_every or step >= self.args.steps:
            return
        began = time.perf_counter()
        seconds = began - self.start - self.counting  # training time so far
        stats = count(model, self.seed, self.args, self.classifier)
        self.counting += time.perf_counter() - began
        result = Result(self.variant, self.seed, step, seconds, stats.modes, stats.kl, setting=_setting(self.args))
        self.results.append(result)
        print(f"  {self.variant} seed {self.seed} step {step}: {stats.modes} modes, KL {stats.kl:.3f}", file=sys.stderr)


def count(model: lg.BaseGAN, seed: int, args: argparse.Namespace, classifier: DigitFeatures) -> StackedMNISTModes:
    """PacGAN's count of ``args.num_eval`` samples of ``model`` (its EMA generator when it has one)."""
    batches = (images for images, _ in iter_samples(model, args.num_eval, seed=10_000 + seed, batch_size=1000))
    return stacked_mnist_modes(batches, classifier)


def _setting(args: argparse.Namespace) -> str:
    return ", ".join(getattr(args, "set", None) or [])


def run(variant: str, seed: int, args: argparse.Namespace, classifier: DigitFeatures) -> list[Result]:
    """Train ``variant`` for ``args.steps`` from ``seed``; its count at the end (and every
    ``args.count_every`` steps before)."""
    L.seed_everything(seed, verbose=False)
    model = VARIANTS[variant][1](args)
    data = lg.StackedMNISTDataModule(
        data_dir=args.data_dir, root=args.root, download=args.root is None,
        image_size=(model.data_shape or (3, 28, 28))[-1], batch_size=args.batch_size * model.pack, num_workers=0,
        seed=1_000_003 + seed,
    )  # fmt: skip
    counter = CountModes(variant, seed, args, classifier)
    trainer = L.Trainer(
        max_steps=args.steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=[counter] if args.count_every else [],
    )  # fmt: skip
    try:
        trainer.fit(model, datamodule=data)
    except NonFiniteLossError as error:  # a diverged run is a result of the study, not its crash
        print(f"{variant} seed {seed} diverged: {error}", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - counter.start - counter.counting
        diverged = Result(variant, seed, args.steps, seconds, 0, math.nan, diverged=True, setting=_setting(args))
        return [*counter.results, diverged]
    seconds = time.perf_counter() - counter.start - counter.counting
    stats = count(model, seed, args, classifier)
    return [*counter.results, Result(variant, seed, args.steps, seconds, stats.modes, stats.kl, setting=_setting(args))]


def real_floor(args: argparse.Namespace, classifier: DigitFeatures) -> StackedMNISTModes:
    """Modes and KL of ``num_eval`` real Stacked MNIST images counted as generated ones are: the
    best a generator can score (sampling noise and the classifier's errors included)."""
    data = lg.StackedMNISTDataModule(
        data_dir=args.data_dir, root=args.root, download=args.root is None, num_samples=args.num_eval,
        num_workers=0, seed=2_000_003,
    )  # fmt: skip
    images = data.dataset("train")
    loader = torch.utils.data.DataLoader(images, batch_size=1000)
    batches = (batch for batch, _ in loader)
    return stacked_mnist_modes(batches, classifier)


def figure(args: argparse.Namespace) -> Path:
    """Real Stacked MNIST images (left) beside the samples of the checkpoint ``args.figure``
    (right; its EMA generator, seed 0), 8 x 8 each, as one PNG at ``args.figure_output``."""
    import numpy as np
    from PIL import Image

    from lightning_gans.utils import to_uint8_grid

    gan = lg.load_gan(args.figure, map_location="cpu")
    size = (gan.data_shape or (3, 28, 28))[-1]
    data = lg.StackedMNISTDataModule(
        data_dir=args.data_dir, root=args.root, download=args.root is None, image_size=size, num_samples=64,
        num_workers=0, seed=2_000_003,
    )  # fmt: skip
    real = torch.stack([data.dataset("train")[i][0] for i in range(64)])
    fake = next(iter_samples(gan, 64, seed=0, batch_size=64))[0]
    left, right = to_uint8_grid(real, nrow=8), to_uint8_grid(fake, nrow=8)
    gap = np.full((left.shape[0], 3 * size // 2, 3), 255, dtype=np.uint8)
    args.figure_output.parent.mkdir(parents=True, exist_ok=True)
    both = Image.fromarray(np.concatenate([left, gap, right], axis=1))
    both.resize((2 * both.width, 2 * both.height), Image.NEAREST).save(args.figure_output)  # 2x: visible digits
    return args.figure_output


def _mean_se(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def table(results: list[Result], args: argparse.Namespace, floor: StackedMNISTModes | None = None) -> str:
    lines = [
        "| variant | generator steps | modes (of 1000) | KL to uniform | runs (diverged) | minutes per run |",
        "|---|---|---|---|---|---|",
    ]
    for variant, setting, steps in dict.fromkeys((r.variant, r.setting, r.steps) for r in results):
        rows = [r for r in results if (r.variant, r.setting, r.steps) == (variant, setting, steps)]
        label = VARIANTS[variant][0] + (f", {setting}" if setting else "")
        kept = [r for r in rows if not r.diverged]
        modes = _mean_se([float(r.modes) for r in kept], 1) if kept else "diverged"
        kl = _mean_se([r.kl for r in kept], 3) if kept else "diverged"
        per_seed = ", ".join("diverged" if r.diverged else f"{r.modes}/{r.kl:.3f}" for r in rows)
        minutes = statistics.fmean(r.seconds for r in rows) / 60
        diverged = sum(r.diverged for r in rows)
        lines.append(f"| {label} | {steps:,} | {modes} | {kl} | {len(rows)} ({diverged}) | {minutes:.1f} |")
        lines.append(f"| &nbsp;&nbsp;per seed (modes/KL) | | {per_seed} | | | |")
    if floor is not None:
        lines.append(f"| real Stacked MNIST ({args.num_eval:,} draws) | | {floor.modes} | {floor.kl:.3f} | | |")
    for label, modes_, kl_ in PAPER:
        lines.append(f"| *{label}, PacGAN Table 2* | *100,000* | *{modes_:g}* | *{kl_:.2f}* | | |")
    for label, r3_modes, r3_kl in R3GAN_PAPER:
        shown = ("*diverged*", "*diverged*") if r3_modes is None else (f"*{r3_modes:g}*", f"*{r3_kl:.3f}*")
        lines.append(f"| *{label}* | | {shown[0]} | {shown[1]} | | |")
    return (
        "\n".join(lines)
        + f"\n\nBatch {args.batch_size} (PacDCGAN-m: m x {args.batch_size} samples per step), DCGAN width "
        f"{args.channels}, Adam(2e-4, beta1 0.5); DCGAN networks rows: {RPGAN_CONFIG.name}'s settings, R3GAN rows: "
        f"{R3GAN_CONFIG.name}'s, one change each; "
        f"{args.num_eval:,} images counted per run. Italic rows: PacGAN's Table 2 (50 epochs of 128,000 images at "
        "batch 64) and R3GAN's Tables 1 and 3.\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["dcgan", "pacdcgan2", "pacdcgan4"])
    parser.add_argument("--seeds", type=int, default=2, help="runs per variant (0: train nothing, e.g. with --floor)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed ... first-seed + seeds - 1")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32, help="DCGAN width (g_channels = d_channels)")
    parser.add_argument("--data-dir", default="data", help="torchvision MNIST location")
    parser.add_argument("--root", default=None, help="a folder of digit images 0/ ... 9/ instead of torchvision MNIST")
    parser.add_argument("--num-eval", type=int, default=NUM_EVAL, help="generated images counted per run")
    parser.add_argument("--runs-log", type=Path, help="append each run's result here (JSON lines)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="smoke check: 1 seed, 5 steps, 1 variant")
    parser.add_argument("--floor", action="store_true", help="also count real images: the best reachable score")
    parser.add_argument("--summarise", nargs="+", type=Path, help="print the table of these runs logs; train nothing")
    parser.add_argument(
        "--count-every", type=int, default=0, help="also count the modes every N generator steps of each run"
    )
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="override a model setting of the config rows (rpgan*, r3gan*), e.g. --set d_channels=16; repeatable",
    )  # fmt: skip
    parser.add_argument("--figure", type=Path, help="a checkpoint: draw real images beside its samples; train nothing")
    parser.add_argument("--figure-output", type=Path, default=Path("stacked_mnist_samples.png"))
    args = parser.parse_args(argv)
    if args.summarise:
        logged = [Result(**json.loads(line)) for path in args.summarise for line in path.read_text().splitlines()]
        print(table(logged, args))
        return
    if args.set and not set(args.variants) <= CONFIG_ROWS:
        parser.error(f"--set applies to the rows built from a config ({', '.join(sorted(CONFIG_ROWS))}), not to "
                     f"{', '.join(sorted(set(args.variants) - CONFIG_ROWS))}.")  # fmt: skip
    if args.figure:
        print(f"real (left) and generated (right) Stacked MNIST: {figure(args)}")
        return
    if args.quick:
        args.variants, args.seeds, args.steps = args.variants[:1], 1, 5
    if args.threads:
        torch.set_num_threads(args.threads)
    classifier = DigitFeatures(channels=3)
    results: list[Result] = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(variant, seed) for variant in args.variants for seed in seeds]
    start = time.perf_counter()
    for done, (variant, seed) in enumerate(jobs, 1):
        run_results = run(variant, seed, args, classifier)
        results += run_results
        result = run_results[-1]
        if args.runs_log:
            with open(args.runs_log, "a") as log:
                log.writelines(json.dumps(asdict(r)) + "\n" for r in run_results)
        elapsed = time.perf_counter() - start
        left = elapsed / done * (len(jobs) - done)
        print(
            f"[{done}/{len(jobs)}] {variant} seed {seed}: {result.seconds:.0f} s, {result.modes} modes, "
            f"KL {result.kl:.3f}  ({format_duration(elapsed)} elapsed, ~{format_duration(left)} left)",
            file=sys.stderr,
            flush=True,
        )
    floor = real_floor(args, classifier) if args.floor else None
    print(table(results, args, floor))


if __name__ == "__main__":
    main()
