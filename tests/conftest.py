import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")

# Under pytest-xdist (setup.cfg runs 2 workers) the workers share the cores: each worker, and
# the subprocesses it starts, gets its share of intra-op threads. More threads than cores make
# OpenMP's busy-waiting threads slow every process down several times over.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

import torch  # noqa: E402  (after the environment, which it reads)
from helpers import SHARED_MNIST  # noqa: E402

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


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


# The longest tests first (about 2 minutes for the ring outcome, 30-50 s for each journey): under
# pytest-xdist's work stealing a long test that starts last leaves the other worker idle until
# it ends; started first, the short tests fill in around it (longest-processing-time-first).
LONGEST_FIRST = (
    "tests/test_outcome.py::test_r1_gan_covers_the_ring_within_1000_steps",
    "tests/test_journeys.py",
    "tests/test_fidelity.py::test_two_processes",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the order within each group is kept
