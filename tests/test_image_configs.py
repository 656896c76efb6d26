"""Every image variant's config builds and trains a few steps through the CLI on generated
images and on the real MNIST test images of ../shared (where present), resized and converted
as each architecture needs. (``fast_dev_run`` turns checkpoints and loggers off: the full user
journeys, with the configs' own callbacks and loggers, are in test_journeys.py.)"""

from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import CONFIGS
from PIL import Image

from lightning_gans.cli import cli_main

IMAGE_CONFIGS = sorted(
    p.name
    for p in CONFIGS.glob("*.yaml")
    if not p.name.startswith("gan_") and "StackedMNISTDataModule" not in p.read_text()
)
STACKED_CONFIGS = sorted(p.name for p in CONFIGS.glob("*.yaml") if "StackedMNISTDataModule" in p.read_text())
# Narrow networks keep a CPU step in milliseconds; the architecture is the config's own.
R3GAN_NARROW = ["--model.init_args.widths=8", "--model.init_args.cardinality=2", "--model.init_args.blocks=1"]
NARROW = {
    "SNGAN": ["--model.init_args.g_channels=16", "--model.init_args.d_channels=16"],
    "R3GAN": R3GAN_NARROW,
    "ConditionalR3GAN": R3GAN_NARROW,
}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Runs write lightning_logs/ relative to the working folder: keep it out of the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def generated_images(tmp_path_factory) -> Path:
    """A folder of 3 classes x 8 random RGB images of 40x40 pixels, in PNG files."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in range(3):
        (root / str(label)).mkdir()
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / str(label) / f"{i}.png")
    return root


def fit(config: str, root: Path, size: int, channels: int, tmp_path: Path, extra: list[str]) -> None:
    cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / config),
            "--data",
            "lightning_gans.ImageFolderDataModule",
            "--data.root",
            str(root),
            "--data.image_size",
            str(size),
            "--data.channels",
            str(channels),
            "--data.batch_size",
            "4",
            "--data.num_workers",
            "0",
            "--trainer.fast_dev_run",
            "2",
            "--trainer.accelerator",
            "cpu",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.logger",
            "false",
            *extra,
        ]
    )


def _narrow(config: str) -> list[str]:
    text = (CONFIGS / config).read_text()
    variant = yaml.safe_load(text)["model"]["class_path"].rsplit(".", 1)[1]
    subset = ["--data.num_train_images=8"] if "num_train_images" in text else []  # the folders here are small
    return NARROW.get(variant, ["--model.init_args.g_channels=8", "--model.init_args.d_channels=8"]) + subset


def test_there_is_a_config_for_every_image_variant():
    import lightning_gans as lg

    texts = " ".join((CONFIGS / c).read_text() for c in IMAGE_CONFIGS + STACKED_CONFIGS)
    variants = ("DCGAN", "LSGAN", "WGAN", "WGANGP", "FGAN", "SNGAN", "CGAN", "R1GAN", "StyleGAN2", "R3GAN")
    for name in (*variants, "ConditionalR3GAN"):
        assert f"class_path: lightning_gans.{name}\n" in texts, name
        assert hasattr(lg, name)


@pytest.mark.parametrize("config", IMAGE_CONFIGS)
def test_config_trains_on_generated_images(config, generated_images, tmp_path):
    size = 64 if "celeba64" in config else 32
    fit(config, generated_images, size, 3, tmp_path, _narrow(config))


@pytest.mark.parametrize("config", IMAGE_CONFIGS)
def test_config_trains_on_real_mnist(config, mnist_test_dir, tmp_path):
    # SNGAN/CGAN's ResNets build 32 or 64 pixels, StyleGAN2 and R3GAN powers of 2: MNIST is resized to 32.
    text = (CONFIGS / config).read_text()
    resize = any(name in text for name in ("architecture: resnet", "lightning_gans.StyleGAN2", "R3GAN\n"))
    fit(config, mnist_test_dir, 32 if resize else 28, 1, tmp_path, _narrow(config))


@pytest.mark.parametrize("config", STACKED_CONFIGS)
def test_stacked_mnist_configs_train_on_the_real_digits_with_their_own_datamodule(config, mnist_test_dir, tmp_path):
    cli_main(
        [
            "fit", "--config", str(CONFIGS / config),
            "--data.root", str(mnist_test_dir), "--data.num_samples", "16", "--data.num_val_samples", "16",
            "--data.batch_size", "4",
            "--trainer.fast_dev_run", "2", "--trainer.accelerator", "cpu",
            "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false",
            *_narrow(config),
        ]
    )  # fmt: skip
