"""Bit-identity check for refactors: train every variant a few steps on fixed data and compare.

``--save FILE`` writes each run's final state (weights, EMA, buffers, optimizer states);
``--compare FILE`` trains again with the code checked out now and prints, per run, whether
every tensor is bit-identical to the saved one, else the largest absolute difference.

    python benchmarks/reference_weights.py --save /tmp/before.pt     # on the old code
    python benchmarks/reference_weights.py --compare /tmp/before.pt  # on the new code

Each run: ``lightning.seed_everything(0)``, the model built, 6 generator steps through a
CPU ``Trainer`` on fixed data in a fixed order. Settings that a release renamed are written
the old way where the old spelling still works (the constructor translates it).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg

STEPS = 6


def _images(channels: int, size: int, n: int = 32, labels: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, channels, size, size, generator=g) * 2 - 1
    tensors = (x, torch.randint(10, (n,), generator=g)) if labels else (x,)
    return DataLoader(TensorDataset(*tensors), batch_size=8)


def _points(n: int = 192, batch: int = 32) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    return DataLoader(TensorDataset(torch.randn(n, 2, generator=g)), batch_size=batch)


GAN_SMALL = dict(data_shape=(2,), hidden_dim=16, num_layers=2)
DC = dict(data_shape=(1, 28, 28), latent_dim=16, g_channels=8, d_channels=8)
SG2 = dict(
    data_shape=(1, 16, 16), latent_dim=16, w_dim=16, mapping_layers=2, g_channels=16, d_channels=16,
    channel_base=64, r1_every=2, pl_every=2,
)  # fmt: skip

RUNS: dict[str, tuple[Callable[[], lg.BaseGAN], Callable[[], DataLoader]]] = {
    "GAN": (lambda: lg.GAN(**GAN_SMALL), _points),
    "GAN minimax, pack 2, n_critic 2": (lambda: lg.GAN(**GAN_SMALL, loss="minimax", pack=2, n_critic=2), _points),
    "GAN + EMA (rampup)": (lambda: lg.GAN(**GAN_SMALL, ema_decay=0.9, ema_rampup=0.5), _points),
    "GAN + lr_decay": (lambda: lg.GAN(**GAN_SMALL, lr_decay=0.1, lr_decay_steps=4), _points),
    "GAN + R1 + clip": (
        lambda: lg.GAN(**GAN_SMALL, penalty=lg.penalties.R1Penalty(1.0), gradient_clip_val=0.5),
        _points,
    ),
    "GANEnsemble": (lambda: lg.GANEnsemble(members=3, **GAN_SMALL), lambda: _points(384, 96)),
    "DCGAN": (lambda: lg.DCGAN(**DC), lambda: _images(1, 28)),
    "DCGAN + DiffAugment": (lambda: lg.DCGAN(**DC, augment="color,translation,cutout"), lambda: _images(1, 28)),
    "DCGAN + ADA": (lambda: lg.DCGAN(**DC, augment="ada", ada_kimg=0.01, ada_p=0.3), lambda: _images(1, 28)),
    "LSGAN": (lambda: lg.LSGAN(**DC), lambda: _images(1, 28)),
    "R1GAN": (lambda: lg.R1GAN(**DC, gamma=5.0, r1_every=2), lambda: _images(1, 28)),
    "WGAN": (lambda: lg.WGAN(**DC, n_critic=2), lambda: _images(1, 28)),
    "WGANGP": (lambda: lg.WGANGP(**DC, n_critic=2), lambda: _images(1, 28)),
    "FGAN kl": (lambda: lg.FGAN(**DC, divergence="kl"), lambda: _images(1, 28)),
    "SNGAN resnet": (
        lambda: lg.SNGAN(data_shape=(3, 32, 32), latent_dim=16, g_channels=16, d_channels=16, n_critic=2),
        lambda: _images(3, 32),
    ),
    "CGAN": (
        lambda: lg.CGAN(data_shape=(3, 32, 32), latent_dim=16, g_channels=16, d_channels=16, num_classes=10),
        lambda: _images(3, 32, labels=True),
    ),
    "StyleGAN2 + ADA": (lambda: lg.StyleGAN2(**SG2, augment="ada", ada_kimg=0.01, ada_p=0.3), lambda: _images(1, 16)),
}


def final_state(build: Callable[[], lg.BaseGAN], data: Callable[[], DataLoader]) -> dict[str, torch.Tensor]:
    """The model's state dict and its optimizers' states after :data:`STEPS` steps."""
    L.seed_everything(0, verbose=False)
    model = build()
    trainer = L.Trainer(
        max_steps=STEPS, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, data())
    state = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    for i, optimizer in enumerate(trainer.optimizers):
        for j, (_, values) in enumerate(sorted(optimizer.state_dict()["state"].items())):
            for name, value in values.items():
                if isinstance(value, torch.Tensor):
                    state[f"optimizer{i}.{j}.{name}"] = value.detach().clone()
        state[f"optimizer{i}.lr"] = torch.tensor([g["lr"] for g in optimizer.param_groups], dtype=torch.float64)
    return state


def compare(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> str:
    if a.keys() != b.keys():
        return f"different keys: {sorted(set(a) ^ set(b))[:4]}"
    worst, where = 0.0, ""
    for key in a:
        if not torch.equal(a[key], b[key]):
            diff = (a[key].double() - b[key].double()).abs().max().item()
            if diff >= worst:
                worst, where = diff, key
    return "bit-identical" if not where else f"max |diff| {worst:.3g} at {where}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", help="write the final states to this file")
    group.add_argument("--compare", help="compare with the final states in this file")
    parser.add_argument("--only", nargs="*", help="run only these rows")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    saved: dict[str, Any] = torch.load(args.compare) if args.compare else {}
    states = {}
    print(f"| run | {'state' if args.save else 'against ' + args.compare} |\n|---|---|")
    for name, (build, data) in RUNS.items():
        if args.only and name not in args.only:
            continue
        states[name] = final_state(build, data)
        if args.save:
            print(f"| {name} | {len(states[name])} tensors saved |", flush=True)
        else:
            result = compare(saved[name], states[name]) if name in saved else "not in the saved file"
            print(f"| {name} | {result} |", flush=True)
    if args.save:
        torch.save(states, args.save)


if __name__ == "__main__":
    main()
