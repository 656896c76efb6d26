"""Sample from a trained GAN: ``python -m lightning_gans generate --ckpt_path PATH ...``.

Images become one PNG per sample plus ``grid.png``; 2-D points (the toy mixtures) become
``samples.csv`` plus ``scatter.png``; other vectors become ``samples.csv``. Sampling uses
the EMA generator when the model has one, runs on a GPU when there is one, in batches,
and the same ``--seed`` draws the same noise on any device. ``--stacked_mnist_modes`` also
counts the modes of Stacked MNIST samples (``stacked_mnist.json``): with ``--num_samples 26000
--batch_size 500`` and the default seed, the images :class:`~lightning_gans.StackedMNISTCoverage`
counted at the checkpoint's step.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from lightning_gans.base import BaseGAN
from lightning_gans.checkpoint import load_gan
from lightning_gans.errors import ConfigurationError
from lightning_gans.export import from_pretrained, is_exported
from lightning_gans.metrics.digits import DigitFeatures
from lightning_gans.metrics.stacked_mnist import (
    NUM_MODES,
    StackedMNISTModes,
    classify_modes,
    mode_histogram,
    statistics_of_histogram,
)
from lightning_gans.progress import Progress
from lightning_gans.rejection import rejection_sample
from lightning_gans.sampling import iter_samples, resolve_labels
from lightning_gans.utils import to_uint8, to_uint8_grid


@dataclass
class GeneratedSamples:
    """What :func:`generate_samples` wrote."""

    output_dir: Path
    num_samples: int
    files: list[Path] = field(default_factory=list)
    preview: Path | None = None  # grid.png or scatter.png
    acceptance_rate: float | None = None  # with rejection sampling: accepted / drawn
    stacked_mnist: StackedMNISTModes | None = None  # with count_stacked_mnist_modes: the samples' modes


def to_uint8_images(images: Tensor) -> Tensor:
    """``(N, C, H, W)`` in ``[-1, 1]`` -> ``(N, H, W, C)`` uint8 (:func:`~lightning_gans.utils.to_uint8`)."""
    return to_uint8(images).permute(0, 2, 3, 1)


def generate_samples(
    gan: BaseGAN,
    output_dir: str | os.PathLike,
    num_samples: int = 64,
    labels: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    use_ema: bool = True,
    grid_size: int = 64,
    overwrite: bool = False,
    progress: bool = False,
    rejection_quantile: float | None = None,
    truncation_psi: float | None = None,
    count_stacked_mnist_modes: bool = False,
) -> GeneratedSamples:
    """Write ``num_samples`` samples of ``gan`` to ``output_dir`` (see the module docstring).

    Args:
        gan: a trained model, e.g. from :func:`lightning_gans.load_gan`.
        output_dir: created if needed; it must be empty (or not exist) unless ``overwrite``.
        num_samples: how many samples.
        labels: classes for a conditional model, used in turn; all classes in turn if ``None``.
        seed: seed of the noise.
        batch_size: samples per generator call.
        use_ema: sample from the EMA generator when the model has one.
        grid_size: how many of the first samples ``grid.png`` shows.
        overwrite: write into a non-empty ``output_dir``, first deleting the files an earlier
            ``generate`` wrote there (``sample_*.png``, ``grid.png``, ``samples.csv``,
            ``scatter.png``), so the folder never mixes two runs' samples.
        progress: print progress (counts, time left) for long runs.
        rejection_quantile: keep only the samples discriminator rejection sampling accepts
            (:func:`lightning_gans.rejection.rejection_sample` with this quantile; unconditional
            models without packing); the acceptance rate is in the result.
        truncation_psi: StyleGAN2's truncation trick (below 1: typical samples, less variety).
        count_stacked_mnist_modes: also classify each written Stacked MNIST image's channels
            with the package's digit classifier (:mod:`lightning_gans.metrics.stacked_mnist`) and
            write the modes covered and the KL to uniform to ``stacked_mnist.json`` (PacGAN
            counts 26,000 images).
    """
    from PIL import Image

    if num_samples < 1:
        raise ConfigurationError(f"num_samples must be >= 1, got {num_samples}.")
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}.")
    if truncation_psi is not None and rejection_quantile is not None:
        raise ConfigurationError("Use --truncation_psi or --rejection_quantile, not both.")
    if truncation_psi is not None and truncation_psi != 1.0 and not gan.supports_truncation:
        raise ConfigurationError(
            f"--truncation_psi applies to StyleGAN2 (a style mapping to truncate); {type(gan).__name__} has none."
        )
    if count_stacked_mnist_modes and (gan.data_shape is None or tuple(gan.data_shape)[:1] != (3,)):
        raise ConfigurationError(
            f"--stacked_mnist_modes counts 3-channel Stacked MNIST images; this {type(gan).__name__} makes "
            f"samples of shape {gan.data_shape}."
        )
    output_dir = Path(output_dir)
    _prepare_output_dir(output_dir, overwrite)
    classifier = DigitFeatures(channels=3) if count_stacked_mnist_modes else None
    histogram = torch.zeros(NUM_MODES, dtype=torch.long)
    label_tensor = resolve_labels(gan, num_samples, labels)
    result = GeneratedSamples(output_dir, num_samples)
    kept: list[Tensor] = []  # images for the grid, or every point
    index = 0
    counter = Progress(num_samples, f"[generate] {type(gan).__name__}", unit="samples", enabled=progress)
    batches: Iterator[tuple[Tensor, Tensor | None]]
    if rejection_quantile is None:
        batches = iter_samples(
            gan, num_samples, label_tensor, seed, batch_size, use_ema, progress=counter, truncation_psi=truncation_psi
        )
    else:
        drawn = rejection_sample(
            gan, num_samples, rejection_quantile, generator=torch.Generator().manual_seed(seed), use_ema=use_ema
        )
        result.acceptance_rate = drawn.acceptance_rate
        counter.update(num_samples)  # drawn in one go; the files are written below
        batches = ((chunk, None) for chunk in drawn.samples.float().cpu().split(batch_size))
    for samples, batch_labels in batches:
        if samples.dim() == 4:
            for image, label in zip(to_uint8_images(samples).numpy(), _labels_or_none(batch_labels, len(samples))):
                suffix = "" if label is None else f"_class{label}"
                path = output_dir / f"sample_{index:06d}{suffix}.png"
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
                result.files.append(path)
                index += 1
            if sum(len(k) for k in kept) < grid_size:
                kept.append(samples)
            if classifier is not None:
                histogram += mode_histogram(classify_modes(samples, classifier))
        else:
            kept.append(samples.flatten(1))
    counter.close()
    if kept[0].dim() == 2:
        points = torch.cat(kept)
        result.files.append(_write_csv(output_dir / "samples.csv", points, label_tensor))
        if points.shape[1] == 2:
            result.preview = _write_scatter(output_dir / "scatter.png", points, gan)
    else:
        classes = None if label_tensor is None else (len(labels) if labels else gan.num_classes)
        result.preview = _write_grid(output_dir / "grid.png", torch.cat(kept)[:grid_size], classes)
    if classifier is not None:
        result.stacked_mnist = statistics_of_histogram(histogram)
        counts = {"modes": result.stacked_mnist.modes, "kl": result.stacked_mnist.kl, "num_images": num_samples}
        (output_dir / "stacked_mnist.json").write_text(json.dumps(counts, indent=2) + "\n")
        result.files.append(output_dir / "stacked_mnist.json")
    return result


_OUTPUT_FILES = ("sample_*.png", "grid.png", "samples.csv", "scatter.png", "stacked_mnist.json")


def _prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigurationError(f"--output_dir {output_dir} is a file; pass a folder.")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise ConfigurationError(
                f"--output_dir {output_dir} is not empty; choose a new folder, or pass --overwrite to replace the "
                "samples an earlier generate wrote there."
            )
        for pattern in _OUTPUT_FILES:
            for old in output_dir.glob(pattern):
                old.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)


def _resolve_device(device: str) -> str:
    """``auto`` -> a GPU when there is one; an explicit device must exist on this machine."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ConfigurationError(f"--device {device!r} is not a device; use auto, cpu, cuda or cuda:N.") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigurationError(
                f"--device {device} was asked for, but this machine has no CUDA GPU; use --device cpu."
            )
        if parsed.index is not None and parsed.index >= count:
            raise ConfigurationError(
                f"--device {device} does not exist: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}."
            )
    elif parsed.type != "cpu":
        raise ConfigurationError(f"--device {device} is not supported; use auto, cpu, cuda or cuda:N.")
    return device


def _labels_or_none(labels: Tensor | None, n: int) -> list[int | None]:
    return [None] * n if labels is None else labels.tolist()


def _write_csv(path: Path, points: Tensor, labels: Tensor | None) -> Path:
    dim = points.shape[1]
    header = ["x", "y"] if dim == 2 else [f"x{i}" for i in range(dim)]
    rows = points.tolist()
    if labels is not None:
        rows = [[*row, label] for row, label in zip(rows, labels.tolist())]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header + (["label"] if labels is not None else []))
        writer.writerows(rows)
    return path


def _write_grid(path: Path, images: Tensor, classes: int | None) -> Path:
    """A grid of ``images``; samples of a conditional model cycle through ``classes`` labels
    (``--labels``, else every class), so each column shows one class."""
    from PIL import Image

    nrow = classes if classes is not None and classes <= 16 else math.ceil(math.sqrt(len(images)))
    Image.fromarray(to_uint8_grid(images, nrow=nrow)).save(path)
    return path


def _write_scatter(path: Path, points: Tensor, gan: BaseGAN) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4)
    ax.set_aspect("equal")
    ax.set_title(f"{len(points)} samples of {type(gan).__name__}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m lightning_gans generate",
        description="Sample from a trained GAN checkpoint: PNG files and grid.png for images, "
        "samples.csv and scatter.png for 2-D points.",
    )
    cli.add_argument(
        "--ckpt_path",
        required=True,
        help="a .ckpt file written by `fit` (e.g. .../checkpoints/last.ckpt), or a folder written by `export`",
    )
    cli.add_argument("--num_samples", type=int, default=64, help="how many samples (default 64)")
    cli.add_argument("--output_dir", default="samples", help="where to write them (default ./samples)")
    cli.add_argument(
        "--labels", type=int, nargs="+", help="classes of a conditional model, used in turn (default: all)"
    )
    cli.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    cli.add_argument("--batch_size", type=int, default=256, help="samples per generator call (default 256)")
    cli.add_argument("--device", default="auto", help="'auto' (a GPU when there is one), 'cpu', 'cuda', 'cuda:1', ...")
    cli.add_argument("--no_ema", action="store_true", help="sample from the trained generator, not its EMA copy")
    cli.add_argument(
        "--rejection_quantile",
        type=float,
        help="keep only samples that discriminator rejection sampling (Azadi et al. 2019) accepts; gamma is this "
        "quantile of the acceptance logits (0.5: about half accepted); unconditional models without packing",
    )
    cli.add_argument(
        "--truncation_psi",
        type=float,
        help="StyleGAN2's truncation trick: w = w_avg + psi (w - w_avg); below 1 (e.g. 0.7) gives typical samples at "
        "the cost of variety (default 1: none)",
    )
    cli.add_argument(
        "--stacked_mnist_modes",
        action="store_true",
        help="also count the Stacked MNIST modes of the samples and their KL to uniform (packaged digit classifier; "
        "PacGAN counts --num_samples 26000): printed and written to stacked_mnist.json",
    )
    cli.add_argument(
        "--overwrite", action="store_true", help="replace the samples in a non-empty --output_dir (refused otherwise)"
    )
    return cli


def main(args: Sequence[str] | None = None) -> GeneratedSamples:
    """The ``generate`` subcommand."""
    options = parser().parse_args(args)
    device = _resolve_device(options.device)
    if is_exported(options.ckpt_path):  # a folder written by `export` (or downloaded from the Hub)
        gan = from_pretrained(options.ckpt_path, map_location=device)
    else:
        gan = load_gan(options.ckpt_path, map_location=device)
    result = generate_samples(
        gan,
        options.output_dir,
        num_samples=options.num_samples,
        labels=options.labels,
        seed=options.seed,
        batch_size=options.batch_size,
        use_ema=not options.no_ema,
        overwrite=options.overwrite,
        progress=True,
        rejection_quantile=options.rejection_quantile,
        truncation_psi=options.truncation_psi,
        count_stacked_mnist_modes=options.stacked_mnist_modes,
    )
    source = "EMA generator" if gan.generator_ema is not None and not options.no_ema else "generator"
    if options.truncation_psi is not None:
        source += f", truncation psi {options.truncation_psi}"
    if result.acceptance_rate is not None:
        source += f", rejection sampling: {100 * result.acceptance_rate:.1f}% accepted"
    what = "images" if result.preview is not None and result.preview.name == "grid.png" else "points"
    print(
        f"Wrote {result.num_samples} {what} of {type(gan).__name__} ({source}, seed {options.seed}, {device}) "
        f"to {result.output_dir}" + (f"; preview: {result.preview}" if result.preview else "")
    )
    if result.stacked_mnist is not None:
        print(
            f"Stacked MNIST: {result.stacked_mnist.modes} of 1000 modes, KL to uniform {result.stacked_mnist.kl:.4f} "
            f"({result.num_samples} images; {result.output_dir / 'stacked_mnist.json'})"
        )
    return result
