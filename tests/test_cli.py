"""The command line, run as users run it: in a subprocess, from a config."""

import subprocess
from pathlib import Path

import pytest
from helpers import CONFIGS, run_cli, run_in_process

from lightning_gans.cli import main

RING = CONFIGS / "gan_ring.yaml"
FAST = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=6",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--data.num_samples=3000",
    "--model.hidden_dim=32",
]


def test_a_second_run_of_the_ring_config_gets_its_own_folder(tmp_path: Path):
    args = ["fit", "--config", str(RING), *FAST]
    args += ["--trainer.callbacks.init_args.every_n_batches=3"]
    first = run_cli(args, cwd=tmp_path)
    log_dir = tmp_path / "lightning_logs" / "gan_ring" / "version_0"
    assert (log_dir / "metrics.csv").is_file() and (log_dir / "config.yaml").is_file()
    assert list((log_dir / "images").glob("toy_samples_*.png"))
    assert (log_dir / "checkpoints" / "last.ckpt").is_file()
    assert "lightning_gans: run folder lightning_logs/gan_ring/version_0" in first.stderr + first.stdout
    assert "[ModeCoverage]" in first.stderr + first.stdout
    before = {p: p.read_bytes() for p in log_dir.rglob("*") if p.is_file()}
    # A second run never writes into the first run's folder (in this process: the entry point is the same).
    assert run_in_process(args, cwd=tmp_path).returncode == 0
    assert (tmp_path / "lightning_logs" / "gan_ring" / "version_1" / "checkpoints" / "last.ckpt").is_file()
    assert {p: p.read_bytes() for p in log_dir.rglob("*") if p.is_file()} == before


def test_validate_subcommand(tmp_path: Path):
    result = run_cli(["validate", "--config", RING, *FAST], cwd=tmp_path)
    assert "val/loss_d" in result.stdout


def test_help_and_print_config(tmp_path: Path):
    assert "--config" in run_in_process(["fit", "--help"], cwd=tmp_path).stdout
    printed = run_in_process(["fit", "--config", RING, "--print_config"], cwd=tmp_path)
    assert "class_path: lightning_gans.GAN" in printed.stdout
    assert "R1Penalty" in printed.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model.init_args.hiden_dim=3"], "hiden_dim"),
        (["--model=lightning_gans.NoSuchGAN"], "NoSuchGAN"),
        (["--model.init_args.loss=bce"], "bce"),
    ],
)
def test_bad_config_gives_a_message_not_a_traceback(tmp_path: Path, extra, message):
    result = run_cli(["fit", "--config", RING, *extra], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_config_parses(tmp_path: Path, monkeypatch, capsys, config: str):
    """Each config as it is in configs/ parses and prints. In this process, through the CLI's
    entry point: a subprocess would spend its ~6 s importing; test_journeys runs each config's
    (resized) copy through the subprocess."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        main(["fit", "--config", str(CONFIGS / config), "--print_config"])
    assert exit.value.code == 0, capsys.readouterr().err[-2000:]
    assert "class_path: lightning_gans." in capsys.readouterr().out


def test_library_errors_print_one_message(tmp_path: Path):
    # 500 samples per batch cannot be packed in threes: the error names the fix.
    result = run_cli(["fit", "--config", RING, *FAST, "--model.init_args.pack=3"], cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "error: A batch of 100 samples cannot be packed in groups of pack=3" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_subcommand_is_listed_and_a_missing_checkpoint_is_one_message(tmp_path: Path):
    assert "generate" in run_in_process(["--help"], cwd=tmp_path).stdout
    assert "--num_samples" in run_in_process(["generate", "--help"], cwd=tmp_path).stdout
    result = run_cli(["generate", "--ckpt_path", "nowhere/last.ckpt"], cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "error: No checkpoint at nowhere/last.ckpt" in result.stderr
    assert "Traceback" not in result.stderr


def _one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-3000:]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # an image size the architecture cannot build
        (
            [
                "--config",
                "dcgan_mnist.yaml",
                "--data",
                "lightning_gans.ImageFolderDataModule",
                "--data.root",
                "images",
                "--data.image_size",
                "30",
            ],
            "30",
        ),
        # a callback setting that cannot work
        (["--config", "gan_ring.yaml", "--trainer.callbacks.init_args.every_n_batches=0"], "every_n_batches"),
        # a datamodule setting that cannot work
        (["--config", "gan_ring.yaml", "--data.init_args.batch_size=0"], "batch_size"),
        # a resume with nothing to resume
        (["--config", "gan_ring.yaml", "--ckpt_path", "last"], "--ckpt_path last"),
    ],
)
def test_user_errors_through_fit_are_one_line(tmp_path: Path, image_root: Path, extra, message):
    import shutil

    for config in ("dcgan_mnist.yaml", "gan_ring.yaml"):
        shutil.copy(CONFIGS / config, tmp_path / config)
    shutil.copytree(image_root, tmp_path / "images")
    _one_line_error(run_cli(["fit", *extra], cwd=tmp_path, check=False), message)


def test_generate_errors_are_one_line(tmp_path: Path):
    import torch

    import lightning_gans as lg

    model = lg.GAN(latent_dim=2, hidden_dim=8, num_layers=1)
    checkpoint = {
        "state_dict": model.state_dict(),
        "lightning_gans_class": "lightning_gans.GAN",
        "hyper_parameters": dict(model.hparams),
        "lightning_gans_version": "0.0.1",
    }
    torch.save(checkpoint, tmp_path / "ok.ckpt")
    # A device that is not there.
    missing = "cuda:3" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    _one_line_error(
        run_cli(["generate", "--ckpt_path", "ok.ckpt", "--device", missing], cwd=tmp_path, check=False), missing
    )
    # Weights from another version of the model.
    checkpoint["hyper_parameters"]["hidden_dim"] = 16
    torch.save(checkpoint, tmp_path / "other.ckpt")
    # (The rest in this process: the same entry point, without a second 6 s import of Lightning each.)
    _one_line_error(run_in_process(["generate", "--ckpt_path", "other.ckpt"], cwd=tmp_path), "lightning_gans 0.0.1")
    # An output folder with another run's samples in it.
    assert run_in_process(["generate", "--ckpt_path", "ok.ckpt", "--output_dir", "out"], cwd=tmp_path).returncode == 0
    again = run_in_process(["generate", "--ckpt_path", "ok.ckpt", "--output_dir", "out"], cwd=tmp_path)
    _one_line_error(again, "--overwrite")
