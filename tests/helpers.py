"""Small builders shared by the tests."""

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import lightning as L
import torch

from lightning_gans import GAN, ToyDataModule


def tiny_gan(**kwargs) -> GAN:
    kwargs.setdefault("hidden_dim", 32)
    kwargs.setdefault("num_layers", 2)
    return GAN(**kwargs)


def tiny_toy(**kwargs) -> ToyDataModule:
    kwargs.setdefault("num_samples", 640)
    kwargs.setdefault("num_val_samples", 128)
    kwargs.setdefault("batch_size", 64)
    return ToyDataModule(**kwargs)


def trainer(**kwargs) -> L.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        max_epochs=1,
    )
    options.update(kwargs)
    return L.Trainer(**options)


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextmanager
def benchmark_script(name: str) -> Iterator[ModuleType]:
    """``benchmarks/<name>.py`` imported as a module (its folder on ``sys.path``, as when run)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        sys.path.remove(str(BENCHMARKS))
