"""2-D mixtures and the mode-coverage arithmetic and callback."""

import csv
import math
from pathlib import Path

import pytest
import torch
from helpers import tiny_gan, tiny_toy, trainer
from lightning.pytorch.loggers import CSVLogger

from lightning_gans import ModeCoverage, ToyDataModule
from lightning_gans.data.toy import grid, ring
from lightning_gans.metrics import mode_statistics


def test_ring_has_eight_distinct_modes_on_the_unit_circle():
    mixture = ring()
    assert mixture.num_modes == 8 and mixture.std == 0.01
    torch.testing.assert_close(mixture.means.norm(dim=1), torch.ones(8))
    distances = torch.cdist(mixture.means, mixture.means) + torch.eye(8) * 10
    # Neighbours are 2 sin(pi / 8) apart: no mode is duplicated (the linspace(0, 2 pi, 8) bug).
    assert distances.min().item() == pytest.approx(2 * math.sin(math.pi / 8), abs=1e-6)


def test_grid_is_the_pacgan_grid():
    mixture = grid()
    assert mixture.num_modes == 25 and mixture.std == 0.05
    assert sorted(set(mixture.means[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_datamodule_batches_and_shape():
    dm = ToyDataModule("grid", num_samples=1000, batch_size=100)
    dm.setup("fit")
    points, modes = next(iter(dm.train_dataloader()))
    assert points.shape == (100, 2) and modes.max() < 25
    assert dm.data_shape == (2,) and dm.num_classes == 25
    with pytest.raises(ValueError, match="ring"):
        ToyDataModule("spiral")


def test_mode_statistics_of_the_mixture_itself():
    mixture = ring()
    samples, _ = mixture.sample(20_000, torch.Generator().manual_seed(0))
    stats = mode_statistics(samples, mixture.means, mixture.std)
    assert stats.modes == 8
    # P(chi^2_2 <= 9) = 1 - exp(-4.5): the fraction of a 2-D Gaussian within 3 std.
    assert stats.hq_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert stats.reverse_kl < 0.005


def test_mode_statistics_of_a_collapsed_generator():
    mixture = ring()
    samples = mixture.means[3].repeat(500, 1) + 0.001 * torch.randn(500, 2)
    stats = mode_statistics(samples, mixture.means, mixture.std)
    assert (stats.modes, stats.hq_fraction) == (1, 1.0)
    assert stats.reverse_kl == pytest.approx(math.log(8))
    far = mode_statistics(torch.full((10, 2), 5.0), mixture.means, mixture.std)
    assert (far.modes, far.hq_fraction) == (0, 0.0)


def test_mode_coverage_logs_metrics_and_writes_plots(tmp_path: Path):
    callback = ModeCoverage(every_n_batches=2, num_samples=300)
    logger = CSVLogger(tmp_path, name="toy")
    t = trainer(limit_train_batches=4, logger=logger, log_every_n_steps=1, callbacks=[callback])
    t.fit(tiny_gan(), tiny_toy())
    assert [step for step, _ in callback.history] == [2, 4]
    plots = sorted((Path(logger.log_dir) / "images").glob("toy_samples_*.png"))
    assert len(plots) == 2
    rows = list(csv.DictReader(open(Path(logger.log_dir) / "metrics.csv")))
    logged = [r for r in rows if r.get("toy/modes")]
    assert len(logged) == 2 and 0 <= float(logged[0]["toy/hq_fraction"]) <= 1


def test_mode_coverage_needs_a_mixture():
    import lightning as L
    from torch.utils.data import DataLoader

    class Points(L.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(torch.randn(64, 2), batch_size=32)

    with pytest.raises(ValueError, match="ToyDataModule or pass mixture"):
        trainer(limit_train_batches=1, callbacks=[ModeCoverage()]).fit(tiny_gan(), Points())


def test_mode_coverage_sends_plots_to_tensorboard(tmp_path: Path):
    from lightning.pytorch.loggers import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path, name="tb")
    t = trainer(limit_train_batches=2, logger=logger, callbacks=[ModeCoverage(every_n_batches=2, num_samples=100)])
    t.fit(tiny_gan(), tiny_toy())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert "toy/samples" in events.Tags()["images"]
    assert "toy/modes" in events.Tags()["scalars"]
    assert not list(Path(logger.log_dir).glob("images/*.png"))  # no PNG fallback when TB takes images


def test_reverse_kl_counts_only_high_quality_samples_as_pacgan_does():
    """500 high-quality samples on mode 0 and 500 poor ones nearest mode 1 of the ring: PacGAN's
    reverse KL sees one mode (log 8); the all-samples histogram would say two (log 4)."""
    mixture = ring()
    means, std = mixture.means, mixture.std
    good = means[0].repeat(500, 1)
    poor = means[1] * 1.0 + (means[1] / means[1].norm()) * 5 * std  # 5 std out, still nearest mode 1
    samples = torch.cat([good, poor.repeat(500, 1)])
    stats = mode_statistics(samples, means, std)
    assert (stats.modes, stats.hq_fraction) == (1, 0.5)
    assert stats.reverse_kl == pytest.approx(math.log(8))
    assert stats.reverse_kl_all == pytest.approx(math.log(4))
    assert stats.hq_counts == [500] + [0] * 7
    assert stats.counts == [500, 500] + [0] * 6
