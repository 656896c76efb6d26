"""Smoke test of benchmarks/stacked_mnist.py: a few steps on a small digit folder, and its summary."""

import json

import numpy as np
import pytest
from helpers import benchmark_script
from PIL import Image


@pytest.fixture(scope="module")
def benchmark():
    with benchmark_script("stacked_mnist") as module:
        yield module


def test_a_short_run_and_its_summary(benchmark, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for digit in range(10):
        (tmp_path / "digits" / str(digit)).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(
                tmp_path / "digits" / str(digit) / f"{i}.png"
            )
    log = tmp_path / "runs.jsonl"
    args = ["--variants", "dcgan", "pacdcgan2", "--seeds", "1", "--steps", "2", "--channels", "8", "--num-eval", "300"]
    benchmark.main([*args, "--root", str(tmp_path / "digits"), "--runs-log", str(log)])
    table = capsys.readouterr().out
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["variant"] for r in runs] == ["dcgan", "pacdcgan2"]
    assert all(1 <= r["modes"] <= 300 and 0 <= r["kl"] <= 6.91 for r in runs)
    assert "| DCGAN |" in table and "| PacDCGAN2 |" in table
    assert "*PacDCGAN2, PacGAN Table 2* | *100,000* | *1000*" in table
    benchmark.main(["--summarise", str(log), "--channels", "8", "--num-eval", "300"])
    assert capsys.readouterr().out.splitlines()[:4] == table.splitlines()[:4]


def test_config_rows_the_real_floor_and_a_diverged_run_reported_not_raised(benchmark, tmp_path, capsys, monkeypatch):
    import torch

    import lightning_gans as lg

    rng = np.random.default_rng(1)
    for digit in range(10):
        (tmp_path / "digits" / str(digit)).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "digits" / str(digit) / "0.png")

    def diverging(args):
        model = lg.DCGAN(
            data_shape=(3, 28, 28), latent_dim=8, g_channels=8, d_channels=8, check_finite_every_n_batches=1
        )
        with torch.no_grad():
            next(model.discriminator.parameters()).fill_(float("nan"))
        return model

    monkeypatch.setitem(benchmark.VARIANTS, "nan", ("a diverging DCGAN", diverging))
    args = ["--variants", "rpgan_gan_r1", "r3gan", "nan", "--seeds", "1", "--steps", "2", "--num-eval", "200"]
    args.append("--floor")
    benchmark.main([*args, "--root", str(tmp_path / "digits")])
    table = capsys.readouterr().out
    assert "| R3GAN: RpGAN + R1 + R2 | 2 |" in table and "| DCGAN networks: GAN + R1 | 2 |" in table
    assert "| a diverging DCGAN | 2 | diverged | diverged | 1 (1) |" in table
    assert "| real Stacked MNIST (200 draws) |" in table
    assert "| *RpGAN + R1 + R2, R3GAN Table 1* | | *1000* | *0.078* | | |" in table


def test_config_rows_start_from_the_runs_seed_not_the_configs(benchmark):
    """A config's ``seed_everything`` would give every seed of a row the same initial weights."""
    import argparse

    import lightning as L

    weights = []
    for seed in (1, 2, 1):
        L.seed_everything(seed, verbose=False)
        model = benchmark.VARIANTS["rpgan"][1](argparse.Namespace())
        weights.append(next(model.generator.parameters()).detach().clone())
    assert not weights[0].equal(weights[1]) and weights[0].equal(weights[2])


def test_figure_draws_real_images_beside_a_checkpoints_samples(benchmark, tmp_path):
    import lightning as L
    import torch
    from PIL import Image

    import lightning_gans as lg

    rng = np.random.default_rng(2)
    for digit in range(10):
        (tmp_path / "digits" / str(digit)).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "digits" / str(digit) / "0.png")
    model = lg.DCGAN(data_shape=(3, 28, 28), latent_dim=8, g_channels=4, d_channels=4)
    trainer = L.Trainer(max_steps=0, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    output = tmp_path / "figure.png"
    benchmark.main(["--figure", str(tmp_path / "model.ckpt"), "--figure-output", str(output),
                    "--root", str(tmp_path / "digits")])  # fmt: skip
    image = np.asarray(Image.open(output))
    grid = 8 * 30 + 2  # 8 images of 28 pixels, 2 pixels between and around
    assert image.shape == (2 * grid, 2 * (2 * grid + 42), 3)
    real, fake = image[:, : 2 * grid], image[:, -2 * grid :]
    assert not np.array_equal(real, fake) and torch.tensor(fake).float().std() > 0


def test_counts_along_a_run_and_settings_of_a_config_row(benchmark, tmp_path, capsys):
    """``--count-every`` adds a row per count during training; ``--set`` changes the config's
    model (and names the change in the row); it refuses rows that are not built from a config."""
    rng = np.random.default_rng(3)
    for digit in range(10):
        (tmp_path / "digits" / str(digit)).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / "digits" / str(digit) / "0.png")
    log = tmp_path / "runs.jsonl"
    benchmark.main(["--variants", "rpgan", "--seeds", "1", "--steps", "4", "--count-every", "2", "--num-eval", "100",
                    "--set", "g_channels=8", "--set", "d_channels=4", "--root", str(tmp_path / "digits"),
                    "--runs-log", str(log)])  # fmt: skip
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["steps"], r["setting"]) for r in runs] == [
        (2, "g_channels=8, d_channels=4"),
        (4, "g_channels=8, d_channels=4"),
    ]
    assert runs[0]["seconds"] <= runs[1]["seconds"]
    table = capsys.readouterr().out
    assert (
        "| DCGAN networks: RpGAN + R1 + R2 (dcgan_rpgan_stacked_mnist.yaml), g_channels=8, d_channels=4 | 2 |" in table
    )
    with pytest.raises(SystemExit):
        benchmark.main(["--variants", "dcgan", "--set", "g_channels=8"])
    assert "--set applies to the rows built from a config" in capsys.readouterr().err
