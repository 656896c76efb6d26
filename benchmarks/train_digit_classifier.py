"""Train the digit classifier that ships with lightning_gans (``lightning_gans/metrics/weights/digits.pt``).

It is the offline feature extractor of ``FidelityMetrics(feature_extractor="mnist")`` and the
channel classifier of Stacked MNIST. Data, in this order:

* torchvision's MNIST training split (60,000 images) under ``--data-dir``, downloaded if
  needed, validated on the MNIST test split;
* where it cannot be downloaded (no internet), the images of ``--folder`` (default: the
  MNIST test split as PNG folders ``0/`` ... ``9/`` in ``../shared/data/mnist-test``), of which
  ``--holdout`` images (a fixed random subset) are held out for validation and never trained on.

    python benchmarks/train_digit_classifier.py                 # writes the packaged weights
    python benchmarks/train_digit_classifier.py --epochs 2 --out /tmp/digits.pt

Prints the held-out accuracy per epoch; the file records it with the data it was measured on.
Training augments each image with a random affine map (rotation +-10 degrees, scale 0.9-1.1,
shift +-2 pixels).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from lightning_gans.data.images import DataNotFoundError
from lightning_gans.data.stacked import load_digit_folder
from lightning_gans.metrics.digits import WEIGHTS_PATH, DigitClassifier, holdout_split

ROOT = Path(__file__).resolve().parents[1]


def torchvision_mnist(data_dir: str) -> tuple[Tensor, Tensor, Tensor, Tensor, str] | None:
    from torchvision import datasets

    try:
        train = datasets.MNIST(data_dir, train=True, download=True)
        test = datasets.MNIST(data_dir, train=False, download=True)
    except Exception as error:  # no internet: URLError, RuntimeError
        print(f"torchvision MNIST unavailable ({type(error).__name__}); using the image folder", file=sys.stderr)
        return None
    return (
        train.data[:, None],
        train.targets,
        test.data[:, None],
        test.targets,
        "torchvision MNIST train (60,000), validated on MNIST test (10,000)",
    )


def folder_mnist(folder: Path, holdout: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor, str]:
    try:
        images, labels = load_digit_folder(folder)
    except DataNotFoundError as error:
        sys.exit(f"{error} Pass --folder (see ../shared/data/README.md).")
    train, val = holdout_split(len(labels), holdout, seed)
    where = f"{folder.name} folder: {len(train):,} images trained on, a fixed random {holdout:,} held out"
    return images[train, None], labels[train], images[val, None], labels[val], where


def augment(images: Tensor, generator: torch.Generator) -> Tensor:
    """A random affine map per image (rotation, isotropic scale, shift), bilinear, black border."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 0.9 + 0.2 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)  # +-2 px in [-1, 1] coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, align_corners=False) - 1  # the border (0 -> -1) is black


def to_input(images: Tensor) -> Tensor:
    return images.float() / 127.5 - 1


@torch.no_grad()
def accuracy(model: DigitClassifier, images: Tensor, labels: Tensor) -> float:
    model.eval()
    correct = sum(
        int((model(to_input(x)).argmax(1) == y).sum()) for x, y in zip(images.split(1000), labels.split(1000))
    )
    return correct / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="torchvision MNIST location (downloaded if possible)")
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "mnist-test")
    parser.add_argument("--holdout", type=int, default=2000, help="folder images held out for validation")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    data = torchvision_mnist(args.data_dir) or folder_mnist(args.folder, args.holdout, args.seed)
    train_x, train_y, val_x, val_y, where = data
    print(f"data: {where}")
    model = DigitClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)
    start, best = time.perf_counter(), 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        for batch in order.split(args.batch_size):
            images = augment(to_input(train_x[batch]), generator)
            loss = F.cross_entropy(model(images), train_y[batch], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        best = accuracy(model, val_x, val_y)
        elapsed = time.perf_counter() - start
        left = elapsed / epoch * (args.epochs - epoch)
        print(f"epoch {epoch}/{args.epochs}: held-out accuracy {best:.2%}  ({elapsed:.0f}s elapsed, ~{left:.0f}s left)")
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    best = accuracy(model, val_x, val_y)  # of the weights as stored (float16)
    info = {
        "data": where,
        "heldout_images": len(val_y),
        "heldout_accuracy": best,
        "epochs": args.epochs,
        "seed": args.seed,
        "script": "benchmarks/train_digit_classifier.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "info": info}, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB); held-out accuracy {best:.2%} on {len(val_y):,}")


if __name__ == "__main__":
    main()
