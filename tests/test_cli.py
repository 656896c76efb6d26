"""The command line, run as users run it: in a subprocess, from a config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAST = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=6",
    "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false",
    "--data.num_samples=3000",
    "--model.hidden_dim=32",
]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "lightning_gans", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_fit_from_the_ring_config_twice_into_the_same_folder(tmp_path: Path):
    args = ["fit", "--config", str(REPO / "configs" / "gan_ring.yaml"), *FAST, "--trainer.logger.init_args.version=0"]
    args += ["--trainer.callbacks.init_args.every_n_batches=3"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    log_dir = tmp_path / "lightning_logs" / "gan_ring" / "version_0"
    assert (log_dir / "metrics.csv").is_file() and (log_dir / "config.yaml").is_file()
    assert list((log_dir / "images").glob("toy_samples_*.png"))
    assert "logs, config and checkpoints go to" in first.stderr + first.stdout
    assert "[ModeCoverage]" in first.stderr + first.stdout
    # A second run into the same folder must not trip over the saved config.yaml.
    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]


def test_validate_subcommand(tmp_path: Path):
    result = run_cli("validate", "--config", str(REPO / "configs" / "gan_ring.yaml"), *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/loss_d" in result.stdout


def test_help_and_print_config(tmp_path: Path):
    assert "--config" in run_cli("fit", "--help", cwd=tmp_path).stdout
    printed = run_cli("fit", "--config", str(REPO / "configs" / "gan_ring.yaml"), "--print_config", cwd=tmp_path)
    assert printed.returncode == 0
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
    result = run_cli("fit", "--config", str(REPO / "configs" / "gan_ring.yaml"), *extra, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_config_parses(tmp_path: Path):
    for config in sorted((REPO / "configs").glob("*.yaml")):
        result = run_cli("fit", "--config", str(config), "--print_config", cwd=tmp_path)
        assert result.returncode == 0, f"{config.name}: {result.stderr[-2000:]}"


def test_library_errors_print_one_message(tmp_path: Path):
    # 500 samples per batch cannot be packed in threes: the error names the fix.
    result = run_cli("fit", "--config", str(REPO / "configs" / "gan_ring.yaml"), *FAST, "--model.init_args.pack=3",
                     cwd=tmp_path)
    assert result.returncode == 1
    assert "error: A batch of 500 samples cannot be packed in groups of pack=3" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_subcommand_is_listed_and_a_missing_checkpoint_is_one_message(tmp_path: Path):
    assert "generate" in run_cli("--help", cwd=tmp_path).stdout
    assert "--num_samples" in run_cli("generate", "--help", cwd=tmp_path).stdout
    result = run_cli("generate", "--ckpt_path", "nowhere/last.ckpt", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: No checkpoint at nowhere/last.ckpt" in result.stderr
    assert "Traceback" not in result.stderr
