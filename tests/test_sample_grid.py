"""SampleGrid: what reaches each kind of logger."""

import glob
import os
from pathlib import Path

import numpy as np
import torch
from helpers import CONFIGS, trainer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from PIL import Image
from test_variants import RandomImages

import lightning_gans as lg
from lightning_gans.callbacks import SampleGrid
from lightning_gans.callbacks.sample_grid import slerp, to_uint8_grid


def _small_dcgan(**kwargs):
    return lg.DCGAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8, num_fixed_samples=16, **kwargs)


def test_grid_pixels_round_and_tile():
    images = torch.full((4, 1, 2, 2), 0.0)  # (0 + 1) * 127.5 = 127.5 -> 128
    grid = to_uint8_grid(images, nrow=2)
    assert grid.shape == (2 * 2 + 3 * 2, 2 * 2 + 3 * 2, 3) and grid.dtype == np.uint8
    assert grid[2, 2].tolist() == [128, 128, 128]


def test_slerp_ends_at_the_endpoints_and_keeps_the_norm():
    a, b = torch.randn(1, 64), torch.randn(1, 64)
    t = torch.tensor([[0.0], [0.5], [1.0]])
    path = slerp(a, b, t)
    torch.testing.assert_close(path[0], a[0]), torch.testing.assert_close(path[2], b[0])
    assert abs(path[1].norm() - (a.norm() + b.norm()) / 2) < 0.5 * (a.norm() - b.norm()).abs() + 1.0


def test_png_files_without_an_image_logger(tmp_path: Path):
    callback = SampleGrid(every_n_batches=2, num_samples=16, interpolation_steps=5, interpolation_rows=3)
    t = trainer(limit_train_batches=2, logger=CSVLogger(tmp_path), callbacks=[callback])
    t.fit(_small_dcgan(), RandomImages())
    files = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "**" / "images" / "*.png"), recursive=True))
    assert files == ["samples_fixed_noise_0000002.png", "samples_interpolation_0000002.png"]
    grid = np.asarray(Image.open(glob.glob(str(tmp_path / "**" / "samples_fixed_noise_*.png"), recursive=True)[0]))
    assert grid.shape == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2, 3)  # 16 samples, 4 per row, 2-pixel padding
    walk = np.asarray(Image.open(glob.glob(str(tmp_path / "**" / "samples_interpolation_*.png"), recursive=True)[0]))
    assert walk.shape == (3 * 28 + 4 * 2, 5 * 28 + 6 * 2, 3)


def test_tensorboard_gets_the_grid(tmp_path: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = TensorBoardLogger(tmp_path, name="tb")
    trainer(limit_train_batches=2, logger=logger, callbacks=[SampleGrid(every_n_batches=2)]).fit(
        _small_dcgan(), RandomImages()
    )
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert "samples/fixed_noise" in events.Tags()["images"]


def test_conditional_grids_have_one_class_per_column(tmp_path: Path):
    model = lg.CGAN(
        data_shape=(1, 28, 28), architecture="dcgan", g_channels=8, d_channels=8, num_classes=10, num_fixed_samples=20
    )
    callback = SampleGrid(every_n_batches=1)
    trainer(limit_train_batches=1, logger=CSVLogger(tmp_path), callbacks=[callback]).fit(model, RandomImages())
    grid = np.asarray(Image.open(callback.last_paths[0]))
    assert grid.shape == (2 * 28 + 3 * 2, 10 * 28 + 11 * 2, 3)  # 20 samples in rows of 10 classes


def _wandb_record(run_dir: Path, keys: tuple[bytes, ...], timeout_s: float = 60.0) -> bytes:
    """The offline run's protobuf records (keys appear verbatim). W&B's service process may
    still be writing them after ``wandb.finish()`` returns on a busy machine: wait for them."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        record = b"".join(path.read_bytes() for path in run_dir.glob("run-*.wandb"))
        if all(key in record for key in keys) or time.monotonic() > deadline:
            return record
        time.sleep(0.5)


def test_wandb_offline_run_holds_metrics_and_images(tmp_path: Path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(project="lightning_gans_test", save_dir=str(tmp_path), offline=True)
    t = trainer(limit_train_batches=4, logger=logger, log_every_n_steps=1, callbacks=[SampleGrid(every_n_batches=2)])
    t.fit(_small_dcgan(), RandomImages())
    wandb.finish()
    run_dir = Path(glob.glob(str(tmp_path / "wandb" / "offline-run-*"))[0])
    images = list((run_dir / "files" / "media" / "images").rglob("*.png"))
    assert len(images) >= 2
    record = _wandb_record(run_dir, (b"loss/d", b"loss/g", b"samples/fixed_noise"))
    for key in (b"loss/d", b"loss/g", b"samples/fixed_noise"):
        assert key in record, key


def test_cli_run_sends_the_config_to_wandb(tmp_path: Path, monkeypatch):
    import wandb

    from lightning_gans.cli import cli_main

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    cli_main(
        [
            "fit",
            "--config",
            str(CONFIGS / "gan_ring.yaml"),
            "--trainer.logger",
            "lightning.pytorch.loggers.WandbLogger",
            "--trainer.logger.offline",
            "true",
            "--trainer.logger.save_dir",
            str(tmp_path),
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "3",
            "--trainer.log_every_n_steps",
            "1",
            "--trainer.limit_val_batches",
            "1",
            "--data.num_samples",
            "3000",
            "--model.init_args.hidden_dim",
            "16",
        ]
    )
    wandb.finish()
    # The run folder: <save_dir>/<config name>/version_0 (a WandbLogger without a name).
    run_dir = next((tmp_path / "gan_ring" / "version_0" / "wandb").glob("offline-run-*"))
    record = _wandb_record(run_dir, (b"R1Penalty", b"ToyDataModule", b"loss/d"))
    for key in (b"R1Penalty", b"ToyDataModule", b"loss/d"):  # the saved config and the metrics
        assert key in record, key
