import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")

from helpers import SHARED_MNIST  # noqa: E402  (after the environment: it imports the package)


@pytest.fixture
def mnist_test_dir() -> Path:
    """The real MNIST test images of ../shared; the test skips where they are absent."""
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"{SHARED_MNIST} is absent (see README: tests that need ../shared skip)")
    return SHARED_MNIST


@pytest.fixture(scope="session")
def image_root(tmp_path_factory) -> Path:
    """A folder of 24 random 32x32 RGB PNGs (an ImageFolderDataModule root)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("random_images")
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root
