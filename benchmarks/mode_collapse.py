"""Mode collapse on the 2-D ring and grid: PacGAN's Table 1 (Lin et al. 2018, Sec. 5.1).

Trains each variant on the 2-D ring (8 Gaussians on the unit circle, std 0.01) and the 2-D
grid (25 Gaussians at {-4,-2,0,2,4}^2, std 0.05) for ``--seeds`` seeds at a fixed budget of
``--steps`` generator steps, then draws 2,500 samples from each trained generator and
reports, as mean +- standard error over seeds:

* modes: modes with at least one high-quality sample (within 3 std of its mean);
* high-quality: fraction of samples within 3 std of their nearest mean;
* reverse KL: ``KL(p || uniform)`` of the high-quality samples' mode histogram, as PacGAN
  counts it (``ModeStatistics.reverse_kl``).

PacGAN's own numbers (Table 1, mean over 10 runs) are printed beside ours.

    python benchmarks/mode_collapse.py                                 # the study (README table)
    python benchmarks/mode_collapse.py --mixtures ring --runs-log ring.jsonl &   # or one process
    python benchmarks/mode_collapse.py --mixtures grid --runs-log grid.jsonl     # per mixture,
    python benchmarks/mode_collapse.py --summarise ring.jsonl grid.jsonl        # then one table
    python benchmarks/mode_collapse.py --quick                         # smoke check (1 seed, 20 steps)
    python benchmarks/mode_collapse.py --variants gan pacgan4 --mixtures ring --seeds 3 --steps 2000
    python benchmarks/mode_collapse.py --variants recipe recipe_no_r1 recipe_ema --steps 4000 --seeds 5  # ablations
    python benchmarks/mode_collapse.py --output mode_collapse.md       # also write the markdown table
    python benchmarks/mode_collapse.py --runs-log runs.jsonl           # and keep every run's numbers

The seeds of a GAN-based variant train together as one :class:`~lightning_gans.GANEnsemble`
(10 seeds = one model with 10 independent members, each following exactly the updates of its
own run), so Python's and Lightning's per-step overhead is paid once for all seeds;
``--separate-runs`` trains them one by one.

Variants, all built from the library (``lightning_gans.GAN`` or ``BaseGAN`` with its MLPs),
all with G and D MLPs of ``--num-layers`` hidden layers x ``--hidden-dim`` units (default
4 x 128; PacGAN's are 4 x 400) and a 2-d latent space:

* ``gan``: GAN with the non-saturating loss, PacGAN's baseline;
* ``pacgan2``, ``pacgan4``: the same GAN with ``pack=2`` / ``pack=4``;
* ``gan_r1``: GAN + R1 penalty (gamma 0.1), the recipe of ``configs/gan_ring.yaml``;
* ``lsgan``: ``BaseGAN`` with the least-squares loss (Mao et al. 2017) on the same MLPs;
* ``wgan_gp``: ``BaseGAN`` with the Wasserstein loss, ``GradientPenalty(10)`` and
  ``n_critic=5`` (Gulrajani et al. 2017) on the same MLPs (opt in: ``--variants ... wgan_gp``;
  each step costs ~6x a GAN step).
* ``recipe``: GAN + R1 (gamma 0.1) + both learning rates decayed linearly to 1% over the
  run; ``recipe_rpgan`` swaps in R3GAN's loss (the relativistic pairing loss with R1 + R2 of
  the same gamma, Huang et al. 2024); ``recipe_*`` change one lever each (``recipe_no_decay``, ``recipe_no_r1``,
  ``recipe_r1_1``, ``recipe_r1_001``, ``recipe_ema``, ``recipe_pack4``, ``recipe_n_critic2``,
  ``recipe_pacgan_nets``).

``--rejection-quantile Q`` also evaluates every unpacked variant's trained runs on samples drawn
by discriminator rejection sampling (Azadi et al. 2019, :mod:`lightning_gans.rejection`), as
extra rows ``<variant>+drs``: the same generators, a sampler that acts on the trained model.

Protocol and its deviations from PacGAN's (github.com/fjxmlzn/PacGAN,
``synthetic_data_experiments/2D*_GAN&PacGAN/config.py``):

* same: the mixtures; the non-saturating loss of PacGAN's baseline (its generator minimises
  ``softplus(-D(G(z)))``); latent dim 2, z ~ N(0, I); one Adam for both networks and every
  variant, so only the loss / packing / penalty differs (WGAN-GP's usual Adam(1e-4, betas
  (0, 0.9)) is not used); batch size 100 (D sees 100 inputs per step; for PacGAN-m, G makes
  m x 100 samples and D sees 100 packed inputs, as in PacGAN); 10 runs per setting; 2,500
  samples evaluated; 3-std high-quality threshold; fresh training data per seed (its points
  drawn with seed ``DATA_SEED_OFFSET + seed``, so the weights and the data never share a
  random stream).
* step budget and learning rate: PacGAN trains 400 epochs of 100,000 points at batch 100,
  i.e. 400,000 generator steps, with Adam(1e-4, beta1 0.8). On a CPU this script's default is
  about 17x fewer steps (``--steps``, default 24,000) with a 10x larger learning rate,
  Adam(1e-3, beta1 0.5) (``--lr``, ``--beta1``); the recipe rows decay it linearly to 1e-5.
  ``--steps 400000 --lr 1e-4 --beta1 0.8`` is PacGAN's schedule, for a GPU.
* networks: PacGAN's generator has BatchNorm in each of its 4 x 400 ReLU layers, its
  discriminator 3 hidden LinearMaxout layers (200 units, 5 pieces) with N(0, 0.02) init. Here
  (``--protocol short``, the default) G is the library's MLP (4 x 128 ReLU, no BatchNorm) and D
  is 4 x 128 LeakyReLU(0.2), both with PyTorch's default init; ``--hidden-dim 400`` gives
  PacGAN's widths at about 7x the cost per step.

``--protocol pacgan`` runs PacGAN's own setting: its networks (``GAN(g_batch_norm=True,
d_hidden_dim=200, d_num_layers=3, d_maxout_pieces=5)``), Adam(1e-4, beta1 0.8), batch 100,
100,000 training points and 400,000 steps (400 epochs); it keeps PyTorch's default init. It
is GPU work (days of CPU) and has not been run on this project's machines yet.

Progress (variant, mixture, seed, seconds, result) goes to stderr; the table to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch

from lightning_gans import GAN, BaseGAN, GANEnsemble, ToyDataModule
from lightning_gans.base import packed_shape
from lightning_gans.ema import rampup_half_life_steps
from lightning_gans.errors import GANError
from lightning_gans.metrics.mode_coverage import mode_statistics
from lightning_gans.nets import MLPDiscriminator, MLPGenerator
from lightning_gans.penalties import GradientPenalty, R1Penalty, R1R2Penalty
from lightning_gans.progress import format_duration
from lightning_gans.rejection import rejection_sample
from lightning_gans.schedules import Schedule

MIXTURES = ("ring", "grid")
NUM_EVAL_SAMPLES = 2_500

# PacGAN, Table 1 (Lin et al. 2018): (modes, high-quality fraction, reverse KL), mean of 10 runs.
PAPER = {
    "gan": {"ring": (6.3, 0.982, 0.45), "grid": (17.3, 0.948, 0.70)},
    "pacgan4": {"ring": (7.8, 0.959, 0.07), "grid": (24.8, 0.936, 0.04)},
}


@dataclass(frozen=True)
class Settings:
    latent_dim: int = 2
    hidden_dim: int = 400
    num_layers: int = 4
    lr: float = 1e-3
    beta1: float = 0.5
    g_batch_norm: bool = False
    d_hidden_dim: int | None = None  # hidden_dim when None
    d_num_layers: int | None = None  # num_layers when None
    d_maxout_pieces: int = 1


# PacGAN's synthetic-data networks (its config.py and Appendix D): G 4 x 400 ReLU with
# BatchNorm, D 3 x 200 maxout with 5 pieces; Adam(1e-4, beta1 0.8); 400,000 steps of batch 100.
PACGAN_PROTOCOL = {
    "settings": dict(lr=1e-4, beta1=0.8, g_batch_norm=True, d_hidden_dim=200, d_num_layers=3, d_maxout_pieces=5),
    "steps": 400_000,
    "batch_size": 100,
}


def _networks(settings: Settings) -> str:
    """The networks of ``settings`` in words, for the table's caption."""
    g = f"G {settings.num_layers} x {settings.hidden_dim} ReLU" + (" + BatchNorm" if settings.g_batch_norm else "")
    d_layers, d_units = settings.d_num_layers or settings.num_layers, settings.d_hidden_dim or settings.hidden_dim
    pieces = settings.d_maxout_pieces
    d = f"D {d_layers} x {d_units} " + (f"maxout ({pieces} pieces)" if pieces > 1 else "LeakyReLU(0.2)")
    return f"{g}, {d}"


def _adam(settings: Settings) -> Callable:
    return functools.partial(torch.optim.Adam, lr=settings.lr, betas=(settings.beta1, 0.999))


def _gan(settings: Settings, members: int = 1, **kwargs) -> BaseGAN:
    """The library's GAN on ``settings``' networks; ``members > 1`` trains that many seeds as one
    :class:`~lightning_gans.GANEnsemble`."""
    networks = dict(
        data_shape=(2,),
        latent_dim=settings.latent_dim,
        hidden_dim=settings.hidden_dim,
        num_layers=settings.num_layers,
        g_batch_norm=settings.g_batch_norm,
        d_hidden_dim=settings.d_hidden_dim,
        d_num_layers=settings.d_num_layers,
        d_maxout_pieces=settings.d_maxout_pieces,
        loss="non_saturating",
        g_optimizer=_adam(settings),
        d_optimizer=_adam(settings),
    )
    networks.update(kwargs)  # a variant may change the networks too
    if members > 1:
        return GANEnsemble(members=members, **networks)
    return GAN(**networks)


def _mlp_gan(settings: Settings, loss: str, pack: int = 1, **kwargs) -> BaseGAN:
    """``BaseGAN`` with GAN's MLPs and any loss by name (``GAN`` takes only minimax/non-saturating)."""
    return BaseGAN(
        generator=MLPGenerator(
            settings.latent_dim, (2,), settings.hidden_dim, settings.num_layers, batch_norm=settings.g_batch_norm
        ),
        discriminator=MLPDiscriminator(
            packed_shape((2,), pack),
            settings.d_hidden_dim or settings.hidden_dim,
            settings.d_num_layers or settings.num_layers,
            maxout_pieces=settings.d_maxout_pieces,
        ),
        latent_dim=settings.latent_dim,
        loss=loss,
        pack=pack,
        data_shape=(2,),
        g_optimizer=_adam(settings),
        d_optimizer=_adam(settings),
        **kwargs,
    )


@dataclass(frozen=True)
class Variant:
    label: str
    build: Callable[[Settings, int, int], BaseGAN]
    """``(settings, steps, members) -> model``; ``members > 1`` only when :attr:`vectorised`."""
    vectorised: bool = True
    """Whether its seeds can train as one GANEnsemble (GAN-based variants)."""


def _separate_only(build: Callable[[Settings], BaseGAN]) -> Callable[[Settings, int, int], BaseGAN]:
    return lambda settings, steps, members: build(settings)


def _recipe(
    settings: Settings,
    steps: int,
    members: int,
    r1: float = 0.1,
    lr_decay: bool = True,
    ema: bool = False,
    r2: bool = False,
    **kwargs,
) -> BaseGAN:
    """The recipe: GAN + R1 (``r1``) + the learning rate decayed linearly to 1% over the run
    (both networks, every step); each keyword switches one lever (``r2``: R1 + R2 of weight ``r1``)."""
    if r1:
        kwargs["penalty"] = (R1R2Penalty if r2 else R1Penalty)(gamma=r1)
    schedules = {}
    if lr_decay:
        schedules["lr"] = Schedule("linear", end=0.01)  # over the run's max_steps (torch's LinearLR)
    if ema:  # StyleGAN2-ADA's ramp-up: half-life at most 0.05 t
        kwargs["ema_decay"] = 0.999
        schedules["ema_half_life"] = Schedule("linear", 0.0, 1.0, steps=rampup_half_life_steps(0.999, 0.05))
    if schedules:
        kwargs["schedules"] = schedules
    return _gan(settings, members, **kwargs)


# name -> the row's label and builder
VARIANTS: dict[str, Variant] = {
    # The recipe and its ablations: one lever changed per row.
    "recipe": Variant("**Recipe**: GAN + R1 0.1 + LR decay", _recipe),
    "recipe_rpgan": Variant(
        "Recipe with R3GAN's loss: RpGAN + R1 + R2 0.1 + LR decay",
        functools.partial(_recipe, loss="relativistic_pairing", r2=True),
    ),
    "recipe_no_decay": Variant("Recipe, constant LR", functools.partial(_recipe, lr_decay=False)),
    "recipe_no_r1": Variant("Recipe without R1", functools.partial(_recipe, r1=0.0)),
    "recipe_r1_1": Variant("Recipe, R1 gamma 1", functools.partial(_recipe, r1=1.0)),
    "recipe_r1_001": Variant("Recipe, R1 gamma 0.01", functools.partial(_recipe, r1=0.01)),
    "recipe_ema": Variant("Recipe + EMA (0.999, ramp-up 0.05)", functools.partial(_recipe, ema=True)),
    "recipe_pack4": Variant("Recipe + packing 4", functools.partial(_recipe, pack=4)),
    "recipe_n_critic2": Variant("Recipe, n_critic 2", functools.partial(_recipe, n_critic=2)),
    "recipe_pacgan_nets": Variant(
        "Recipe on PacGAN's networks (BatchNorm G, maxout D 3 x 200 x 5)",
        functools.partial(_recipe, g_batch_norm=True, d_hidden_dim=200, d_num_layers=3, d_maxout_pieces=5),
    ),
    "gan": Variant("GAN", lambda s, steps, k: _gan(s, k)),
    "pacgan2": Variant("PacGAN2", lambda s, steps, k: _gan(s, k, pack=2)),
    "pacgan4": Variant("PacGAN4", lambda s, steps, k: _gan(s, k, pack=4)),
    "gan_r1": Variant("GAN + R1 (gamma 0.1)", lambda s, steps, k: _gan(s, k, penalty=R1Penalty(gamma=0.1))),
    "lsgan": Variant("LSGAN", _separate_only(lambda s: _mlp_gan(s, "least_squares")), vectorised=False),
    "wgan_gp": Variant(
        "WGAN-GP (n_critic 5)",
        _separate_only(lambda s: _mlp_gan(s, "wasserstein", penalty=GradientPenalty(10.0), n_critic=5)),
        vectorised=False,
    ),
}
DRS = "+drs"


def label_of(name: str, rejection_quantile: float | None = None) -> str:
    """A row's label; ``<variant>+drs`` rows name the sampler."""
    if name.endswith(DRS):
        quantile = "" if rejection_quantile is None else f", quantile {rejection_quantile:g}"
        return f"{VARIANTS[name.removesuffix(DRS)].label} + rejection sampling (DRS{quantile})"
    return VARIANTS[name].label


DEFAULT_VARIANTS = ("recipe", "gan", "pacgan4")


@dataclass
class RunResult:
    variant: str
    mixture: str
    seed: int
    seconds: float
    modes: float = math.nan
    num_modes: int = 0
    hq_fraction: float = math.nan
    reverse_kl: float = math.nan
    error: str | None = None
    members: int = 1
    """Seeds trained together in one GANEnsemble (``seconds`` is then the ensemble's time / members)."""
    rejection_quantile: float | None = None
    """For ``<variant>+drs`` rows: the quantile of the rejection sampling that drew the samples."""


def _trainer(steps: int) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )


DATA_SEED_OFFSET = 1_000_003
"""Run ``seed`` draws its training points with seed ``DATA_SEED_OFFSET + seed``: seeding the
weights and the data alike would give both the same random stream."""


def train_and_evaluate(
    variant: str,
    mixture: str,
    seeds: Sequence[int],
    steps: int,
    batch_size: int,
    settings: Settings,
    rejection_quantile: float | None = None,
) -> list[RunResult]:
    """Train ``seeds`` runs of ``variant`` for ``steps`` generator steps (as one GANEnsemble when
    there are several seeds), then mode statistics of 2,500 samples of each run (and, with
    ``rejection_quantile``, of 2,500 samples by rejection sampling, as variant ``<variant>+drs``)."""
    members = len(seeds)
    L.seed_everything(seeds[0], verbose=False)  # the initial weights (and torch's global stream)
    model = VARIANTS[variant].build(settings, steps, members)
    # PacGAN's D sees `batch_size` packed inputs per step, so G makes pack x batch_size samples.
    datamodule = ToyDataModule(
        name=mixture,
        batch_size=batch_size * model.pack * members,
        num_samples=100_000 * members,
        seed=DATA_SEED_OFFSET + seeds[0],
    )
    mixture_ = datamodule.mixture
    start = time.perf_counter()

    def failed(error: str) -> list[RunResult]:
        seconds = (time.perf_counter() - start) / members
        return [
            RunResult(variant, mixture, seed, seconds, num_modes=mixture_.num_modes, error=error, members=members)
            for seed in seeds
        ]

    try:
        _trainer(steps).fit(model, datamodule=datamodule)
    except GANError as err:  # e.g. NonFiniteLossError: the run diverged
        return failed(type(err).__name__)
    noise = torch.cat([
        torch.randn(NUM_EVAL_SAMPLES, settings.latent_dim, generator=torch.Generator().manual_seed(10_000 + seed))
        for seed in seeds
    ])  # fmt: skip
    samples = {variant: model.sample(noise=noise).view(members, NUM_EVAL_SAMPLES, -1)}  # member k: chunk k
    if rejection_quantile is not None and model.pack == 1:
        runs = [model.member(k) for k in range(members)] if isinstance(model, GANEnsemble) else [model]
        streams = [torch.Generator().manual_seed(10_000 + seed) for seed in seeds]
        samples[f"{variant}{DRS}"] = torch.stack([
            rejection_sample(run, NUM_EVAL_SAMPLES, rejection_quantile, generator=stream).samples
            for run, stream in zip(runs, streams)
        ])  # fmt: skip
    seconds = (time.perf_counter() - start) / members
    if not all(torch.isfinite(s).all() for s in samples.values()):
        return failed("non-finite samples")
    results = []
    for name, per_run in samples.items():
        for seed, run_samples in zip(seeds, per_run):
            stats = mode_statistics(run_samples, mixture_.means, mixture_.std, threshold=3.0)
            results.append(
                RunResult(
                    name,
                    mixture,
                    seed,
                    seconds,
                    stats.modes,
                    stats.num_modes,
                    stats.hq_fraction,
                    stats.reverse_kl,
                    members=members,
                )  # fmt: skip
            )
    return results


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return statistics.fmean(values), se


def _fmt(mean: float, se: float, percent: bool = False, digits: int = 2) -> str:
    if math.isnan(mean):
        return "—"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    digits = 1 if percent else digits
    text = f"{mean * scale:.{digits}f}{unit}"
    return text if math.isnan(se) else f"{text} ± {se * scale:.{digits}f}{unit}"


def summarise(
    results: Sequence[RunResult],
    variants: Sequence[str],
    mixtures: Sequence[str],
    rejection_quantile: float | None = None,
) -> list[dict]:
    """One row per variant: for each mixture, (mean, se) of the three metrics and the run counts."""
    rows = []
    for variant in variants:
        quantiles = {r.rejection_quantile for r in results if r.variant == variant} - {None}
        quantile = quantiles.pop() if len(quantiles) == 1 else rejection_quantile
        row: dict = {"variant": variant, "label": label_of(variant, quantile)}
        for mixture in mixtures:
            runs = [r for r in results if r.variant == variant and r.mixture == mixture]
            ok = [r for r in runs if r.error is None]
            row[mixture] = {
                "modes": _mean_se([r.modes for r in ok]),
                "hq_fraction": _mean_se([r.hq_fraction for r in ok]),
                "reverse_kl": _mean_se([r.reverse_kl for r in ok]),
                "runs": len(runs),
                "failed": len(runs) - len(ok),
                "num_modes": runs[0].num_modes if runs else 0,
            }
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict], mixtures: Sequence[str]) -> str:
    """Our rows (mean ± standard error) with PacGAN's Table 1 rows, one column group per mixture."""
    header = ["variant"]
    for mixture in mixtures:
        header += [f"{mixture}: modes", f"{mixture}: high-quality", f"{mixture}: reverse KL"]
    header.append("runs (failed)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["label"]]
        runs = []
        for mixture in mixtures:
            m = row[mixture]
            cells += [
                _fmt(*m["modes"], digits=1),
                _fmt(*m["hq_fraction"], percent=True),
                _fmt(*m["reverse_kl"], digits=3),
            ]
            runs.append(f"{m['runs']}" + (f" ({m['failed']})" if m["failed"] else ""))
        cells.append(" / ".join(runs))
        lines.append("| " + " | ".join(cells) + " |")
        paper = PAPER.get(row["variant"])
        if paper:
            cells = [f"*{row['label']}, PacGAN Table 1*"]
            for mixture in mixtures:
                modes, hq, kl = paper[mixture]
                cells += [f"*{modes:.1f}*", f"*{hq * 100:.1f}%*", f"*{kl:.2f}*"]
            cells.append("*10*")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", nargs="+", choices=MIXTURES, default=list(MIXTURES))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(DEFAULT_VARIANTS))
    parser.add_argument("--seeds", type=int, default=10, help="runs per (variant, mixture), seeds 0..N-1")
    parser.add_argument("--steps", type=int, default=24_000, help="generator steps per run (PacGAN: 400,000)")
    parser.add_argument("--batch-size", type=int, default=100, help="PacGAN: 100")
    parser.add_argument("--hidden-dim", type=int, default=128, help="units per hidden layer of G and D (PacGAN: 400)")
    parser.add_argument("--num-layers", type=int, default=4, help="hidden layers of G and D (PacGAN: 4)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of G and D (PacGAN: 1e-4)")
    parser.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 of G and D (PacGAN: 0.8)")
    parser.add_argument("--output", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--runs-log", type=Path, help="append each run's result to this JSON-lines file as it ends")
    parser.add_argument(
        "--summarise",
        nargs="+",
        type=Path,
        metavar="RUNS_LOG",
        help="train nothing: print the table of the runs in these --runs-log files",
    )
    parser.add_argument(
        "--protocol",
        choices=["short", "pacgan"],
        default="short",
        help="short: this CPU's 24,000-step protocol (the defaults above); pacgan: PacGAN's own networks, "
        "Adam(1e-4, 0.8), batch 100 and 400,000 steps (GPU work; --steps still overrides)",
    )
    parser.add_argument(
        "--separate-runs",
        action="store_true",
        help="train each seed on its own (default: the seeds of a GAN-based variant train as one GANEnsemble)",
    )
    parser.add_argument(
        "--rejection-quantile",
        type=float,
        help="also evaluate each unpacked variant on samples by discriminator rejection sampling with this quantile "
        "(rows <variant>+drs)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke check: 1 seed, 20 steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.protocol == "pacgan":
        if args.steps == parser.get_default("steps"):
            args.steps = PACGAN_PROTOCOL["steps"]
        if args.batch_size == parser.get_default("batch_size"):
            args.batch_size = PACGAN_PROTOCOL["batch_size"]
    if args.quick:
        args.seeds, args.steps = 1, 20
    if args.batch_size < 1 or args.steps < 1 or args.seeds < 1:
        parser.error("--batch-size, --steps and --seeds must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> str:
    """Run the study; print progress to stderr and the table to stdout; return the table."""
    args = parse_args(argv)
    threads = torch.get_num_threads()
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    torch.set_num_threads(args.threads)
    for logger in loggers:  # "GPU available", tips, "max_steps reached"
        logger.setLevel(logging.WARNING)
    try:
        return _run_study(args)
    finally:  # leave the process as it was (tests call main in-process)
        torch.set_num_threads(threads)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _jobs(args: argparse.Namespace) -> list[tuple[list[int], str, str]]:
    """(seeds, mixture, variant) to train: all seeds of a variant at once when it vectorises,
    else one seed at a time with seeds outermost (an interrupted study still covers every variant)."""
    seeds = list(range(args.seeds))
    together = [v for v in args.variants if VARIANTS[v].vectorised and not args.separate_runs]
    alone = [v for v in args.variants if v not in together]
    jobs = [(seeds, mixture, variant) for mixture in args.mixtures for variant in together]
    jobs += [([seed], mixture, variant) for seed in seeds for mixture in args.mixtures for variant in alone]
    return jobs


def _drs_rows(results: Sequence[RunResult]) -> list[str]:
    return sorted({r.variant for r in results if r.variant.endswith(DRS)})


def _rows(variants: Sequence[str], results: Sequence[RunResult]) -> list[str]:
    """``variants`` in order, each followed by its ``+drs`` row when there is one."""
    drs = set(_drs_rows(results))
    return [row for v in variants for row in (v, v + DRS) if row == v or row in drs]


def _outcome(job: Sequence[RunResult]) -> str:
    ok = [r for r in job if r.error is None]
    if not ok:
        return f"FAILED ({job[0].error})"
    modes, hq, kl = (statistics.fmean(getattr(r, key) for r in ok) for key in ("modes", "hq_fraction", "reverse_kl"))
    mean = "mean " if len(ok) > 1 else ""
    return f"{mean}modes {modes:.1f}/{ok[0].num_modes}  hq {hq:.3f}  rKL {kl:.3f}" + (
        f"  ({len(job) - len(ok)} failed)" if len(ok) < len(job) else ""
    )


def _load_runs(paths: Sequence[Path]) -> list[RunResult]:
    return [RunResult(**json.loads(line)) for path in paths for line in path.read_text().splitlines() if line.strip()]


def _run_study(args: argparse.Namespace) -> str:
    if args.protocol == "pacgan":
        settings = Settings(**PACGAN_PROTOCOL["settings"])
    else:
        settings = Settings(lr=args.lr, beta1=args.beta1, hidden_dim=args.hidden_dim, num_layers=args.num_layers)
    if args.summarise:  # tables of earlier runs (e.g. one process per mixture)
        results = _load_runs(args.summarise)
        seeds = sorted({r.seed for r in results})
        variants = _rows([v for v in VARIANTS if any(r.variant == v for r in results)], results)
        mixtures = [m for m in MIXTURES if any(r.mixture == m for r in results)]
        table = markdown_table(summarise(results, variants, mixtures), mixtures)
        text = f"{table}\n\nMean ± standard error over {len(seeds)} seed(s), from {len(results)} runs.\n"
        print(text)
        if args.output is not None:
            args.output.write_text(text)
        return text
    results: list[RunResult] = []
    total = len(args.variants) * len(args.mixtures) * args.seeds
    trained = 0
    study_start = time.perf_counter()
    for seeds, mixture, variant in _jobs(args):
        job = train_and_evaluate(
            variant, mixture, seeds, args.steps, args.batch_size, settings, args.rejection_quantile
        )
        results.extend(job)
        trained += len(seeds)
        if args.runs_log is not None:
            with args.runs_log.open("a") as log:
                log.writelines(json.dumps(dataclasses.asdict(result)) + "\n" for result in job)
        elapsed = time.perf_counter() - study_start
        left = elapsed / trained * (total - trained)
        seconds = sum(r.seconds for r in job if r.variant == variant)
        together = f"seeds {seeds[0]}-{seeds[-1]} as one model" if len(seeds) > 1 else f"seed {seeds[0]}"
        drs = "".join(f"; {name}: {_outcome([r for r in job if r.variant == name])}" for name in _drs_rows(job))
        print(
            f"[{trained}/{total}] {variant:8s} {mixture:4s} {together}: {seconds:6.1f} s "
            f"({args.steps / seconds:.1f} steps/s)  {_outcome([r for r in job if r.variant == variant])}{drs}"
            f"  ({format_duration(elapsed)} elapsed, ~{format_duration(left)} left)",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - study_start
    rows = summarise(results, _rows(args.variants, results), args.mixtures, args.rejection_quantile)
    table = markdown_table(rows, args.mixtures)
    caption = (
        f"Mean ± standard error over {args.seeds} seed(s); {args.steps:,} generator steps, batch {args.batch_size}, "
        f"Adam(lr {settings.lr:g}, beta1 {settings.beta1:g}), latent dim 2, {_networks(settings)}; "
        f"{NUM_EVAL_SAMPLES:,} samples evaluated, high quality = within 3 std. Italic rows: PacGAN's Table 1 "
        "(400,000 steps). "
        + (
            "Each seed trained on its own. "
            if args.separate_runs
            else "The seeds of each GAN-based row trained as one GANEnsemble. "
        )
        + f"Wall time {wall / 60:.1f} min."
    )
    text = f"{table}\n\n{caption}\n"
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return text


if __name__ == "__main__":
    main()
