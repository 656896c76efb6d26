"""Outcomes, not mechanics: a regularised GAN covers the modes of the ring."""

from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import CONFIGS, run_cli, trainer

from lightning_gans import GAN, ModeCoverage, ToyDataModule
from lightning_gans.penalties import R1Penalty


def test_r1_gan_covers_the_ring_within_1000_steps():
    """The ring config's recipe (R1, Adam 1e-4) with 4 x 256 MLPs on a 1,000-step budget (about a
    minute on one CPU core; the config's 4 x 400 networks take twice that)."""
    L.seed_everything(0, verbose=False)
    adam = partial(torch.optim.Adam, lr=1e-4, betas=(0.5, 0.999))
    model = GAN(penalty=R1Penalty(gamma=0.1), g_optimizer=adam, d_optimizer=adam, hidden_dim=256, num_layers=4)
    coverage = ModeCoverage(every_n_batches=250, plot=False)
    trainer(max_epochs=5, callbacks=[coverage]).fit(model, ToyDataModule("ring", batch_size=500))
    step, final = coverage.history[-1]
    assert step == 1000
    assert final.modes >= 7, coverage.history
    # The samples concentrate on the modes as training goes on.
    assert final.hq_fraction > coverage.history[0][1].hq_fraction


@pytest.mark.slow
def test_ring_config_covers_at_least_7_of_8_modes(tmp_path: Path):
    result = run_cli(
        ["fit", "--config", CONFIGS / "gan_ring.yaml", "--trainer.enable_progress_bar=false"], cwd=tmp_path, timeout=900
    )
    final = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ModeCoverage after")]
    assert final, result.stderr[-3000:]
    modes = int(final[-1].split(":")[1].split("/")[0])
    assert modes >= 7, final[-1]
