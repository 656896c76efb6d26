"""Every config's user journey through the CLI, as users run it, in a subprocess:

``fit`` across two epoch ends with the config's own callbacks and logger, ``--ckpt_path last``
(continues the same run in its folder from the saved step), ``--ckpt_path PATH`` (a new run
folder; the first run's files untouched), then ``generate`` from the checkpoint, and from the
folder ``export`` writes (the same samples). Only sizes
are overridden (a tiny image folder, 3 batches per epoch, small evaluation sets, narrow
networks, a metric cadence that fires), in a copy of the config.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import CONFIGS, run_cli, run_in_process
from PIL import Image

from lightning_gans.cli import main as lightning_gans

CONFIG_NAMES = sorted(p.name for p in CONFIGS.glob("*.yaml"))
BATCHES = 3  # per epoch
# Configs whose resumed runs are also compared, weight for weight, with an uninterrupted run
# in the default suite (every config in `pytest -m slow`).
# (dcgan_mnist1k_ada's is compared, after a max_steps stop and a SIGTERM, in
# test_an_ada_run_stopped_by_max_steps_then_preempted_resumes_bit_exactly, -m slow.)
EXACT = {"gan_ring.yaml", "dcgan_mnist.yaml"}


def _is_image(config: str) -> bool:
    return "FidelityMetrics" in (CONFIGS / config).read_text()


def _is_stacked(config: str) -> bool:
    """Stacked MNIST configs keep their own datamodule, on a folder of generated digits."""
    return "StackedMNISTDataModule" in (CONFIGS / config).read_text()


@pytest.fixture(scope="module")
def journey_assets(tmp_path_factory) -> dict[str, Path]:
    """Two classes of 12 random 40x40 RGB PNGs (a labelled ImageFolder), and 10 digit folders
    of 2 random 28x28 grayscale PNGs each (Stacked MNIST's source)."""
    root = tmp_path_factory.mktemp("journey")
    rng = np.random.default_rng(0)
    for label in range(2):
        (root / "images" / str(label)).mkdir(parents=True)
        for i in range(12):
            image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "images" / str(label) / f"{i}.png")
    for digit in range(10):
        (root / "digits" / str(digit)).mkdir(parents=True)
        for i in range(2):
            digit_image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
            Image.fromarray(digit_image).save(root / "digits" / str(digit) / f"{i}.png")
    return {"images": root / "images", "digits": root / "digits", "cache": root / "fid-cache"}


def sized_config(config: str, folder: Path, assets: dict[str, Path]) -> Path:
    """A copy of ``configs/<config>`` with only sizes changed; its callbacks and logger stay."""
    settings = yaml.safe_load((CONFIGS / config).read_text())
    trainer = settings["trainer"]
    trainer.update(accelerator="cpu", limit_train_batches=BATCHES, limit_val_batches=2, log_every_n_steps=1)
    if "precision" in trainer:  # a GPU config's mixed precision: emulated (slowly) on this CPU
        trainer["precision"] = "32-true"
    if "val_check_interval" in trainer:
        trainer["val_check_interval"] = BATCHES
    for callback in trainer.get("callbacks", []):
        name, args = callback["class_path"].rsplit(".", 1)[1], callback.setdefault("init_args", {})
        if name == "FidelityMetrics":
            args.update(num_samples=8, num_real=8, batch_size=8, kid_subsets=2, kid_subset_size=4)
            args["cache_dir"] = str(assets["cache"])
            # The configs' offline digit extractor stays; for Inception a cheap stand-in: it cannot be
            # downloaded here, and a 2048x2048 FID costs ~10 s on this CPU (tests/test_fidelity.py
            # runs the Inception path itself).
            if args.get("feature_extractor") != "mnist":
                args["feature_extractor"] = {"class_path": "journey_helpers.PooledPixels"}
        elif name == "ModelCheckpoint" and "every_n_train_steps" in args:
            args["every_n_train_steps"] = BATCHES
        elif name in ("SampleGrid",):
            args["every_n_batches"] = 2
        elif name == "TwoSampleTest":
            args.update(every_n_batches=BATCHES, num_samples=100, num_permutations=50)
        elif name == "ModeCoverage":
            args.update(every_n_batches=BATCHES, num_samples=500)
        elif name == "StackedMNISTCoverage":
            args.update(every_n_batches=BATCHES, num_samples=40, batch_size=20)
    model = settings["model"].setdefault("init_args", {})
    if "hidden_dim" in model:
        model["hidden_dim"] = 32
    elif "R3GAN" in settings["model"]["class_path"]:
        model.update(widths=8, cardinality=2, blocks=1)
    elif model.get("architecture") == "resnet" or "SNGAN" in settings["model"]["class_path"]:
        model.update(g_channels=16, d_channels=16)
    else:
        model.update(g_channels=8, d_channels=8)
    if _is_stacked(config):
        settings["data"]["init_args"].update(
            root=str(assets["digits"]), num_samples=BATCHES * 8, num_val_samples=16, batch_size=8
        )
    elif not _is_image(config):
        settings["data"]["init_args"].update(batch_size=50, num_samples=BATCHES * 50, num_val_samples=100)
    elif "num_train_images" in settings["data"].get("init_args", {}):  # a small-data config: 3 batches of 8
        settings["data"]["init_args"]["num_train_images"] = BATCHES * 8
    path = folder / config
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def data_args(config: str, assets: dict[str, Path]) -> list[str]:
    if not _is_image(config) or _is_stacked(config):
        return []
    return [
        "--data", "lightning_gans.ImageFolderDataModule",
        "--data.root", str(assets["images"]),
        "--data.batch_size", "8",
        "--data.num_workers", "0",
    ]  # fmt: skip


def step_of(checkpoint: Path) -> int:
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"])


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]


def digest(folder: Path) -> dict[str, str]:
    """Content hashes of every file under ``folder`` (W&B's own logs aside)."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "wandb" not in p.parts
    }


def same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), f"{key} differs between {a} and {b}"


def _journey(config: str, tmp_path: Path, assets: dict[str, Path], exact: bool) -> None:
    work = tmp_path / "work"
    work.mkdir()
    fit = ["fit", "--config", str(sized_config(config, tmp_path, assets)), *data_args(config, assets)]
    name = yaml.safe_load((tmp_path / config).read_text())["trainer"]["logger"]["init_args"]["name"]
    runs = work / "lightning_logs" / name
    first = runs / "version_0"

    # 1. A fresh run: two epoch ends, its own folder with config, checkpoints and logs; last.ckpt
    # is written on the config's cadence (sized to an epoch here) while the run goes on.
    census = "--trainer.callbacks+=journey_helpers.CheckpointCensus"
    out = run_cli([*fit, "--trainer.max_epochs", "2", census], cwd=work)
    assert json.loads((work / "census.json").read_text()) == {"0": None, "1": BATCHES}
    assert f"run folder {Path('lightning_logs') / name / 'version_0'}" in out.stderr + out.stdout
    assert (first / "config.yaml").is_file()
    assert step_of(first / "checkpoints" / "last.ckpt") == 2 * BATCHES
    if _is_image(config):
        assert list((first / "checkpoints").glob("best-fid-*.ckpt")), "the best-FID checkpoint was not written"
        assert list((first / "wandb").glob("offline-run-*")), "the W&B run is not in the run folder"
        if "feature_extractor: mnist" in (CONFIGS / config).read_text():  # every metric, offline
            logged = b"".join(p.read_bytes() for p in (first / "wandb").rglob("*.wandb"))
            for metric in ("fid", "kid", "is", "precision", "recall", "density", "coverage"):
                assert f"metrics/{metric}".encode() in logged, f"metrics/{metric} is not in the W&B run"
            if "augment: ada" in (CONFIGS / config).read_text():  # ADA's p: logged and checkpointed
                assert b"augment/p" in logged and b"augment/rt" in logged
                assert "augment_pipe.p" in weights(first / "checkpoints" / "last.ckpt")
    else:
        assert (first / "metrics.csv").is_file() and list((first / "images").glob("*.png"))

    # 2. --ckpt_path last: the same run continues in its folder from the saved step.
    out = run_cli([*fit, "--trainer.max_epochs", "3", "--ckpt_path", "last"], cwd=work)
    assert (
        f"resuming this run from {Path('lightning_logs') / name / 'version_0' / 'checkpoints' / 'last.ckpt'}: "
        f"generator step {2 * BATCHES}" in out.stderr + out.stdout
    )
    assert not (runs / "version_1").exists(), "--ckpt_path last started a new run"
    assert step_of(first / "checkpoints" / "last.ckpt") == 3 * BATCHES
    if not _is_image(config):  # the CSV keeps the first session's rows
        with open(first / "metrics.csv") as file:
            steps = [int(row["step"]) for row in csv.DictReader(file)]
        assert min(steps) < 2 * BATCHES <= max(steps)
    before = digest(first)

    # 3. --ckpt_path PATH: a new run folder from that checkpoint; the first run is untouched.
    out = run_cli(
        [*fit, "--trainer.max_epochs", "4", "--ckpt_path", str(first / "checkpoints" / "last.ckpt")], cwd=work
    )
    second = runs / "version_1"
    assert "starting a new run from" in out.stderr + out.stdout
    assert step_of(second / "checkpoints" / "last.ckpt") == 4 * BATCHES
    assert digest(first) == before, "the second run changed the first run's files"

    # 4. generate from the checkpoint (its refusals and --overwrite: tests/test_cli.py), through the same
    # command-line entry point in this process (a subprocess would spend 6 s of its 7 importing Lightning).
    samples = work / "samples"
    with contextlib.chdir(work):
        counts = ["--stacked_mnist_modes"] if _is_stacked(config) else []  # PacGAN's mode count, from the checkpoint
        lightning_gans(["generate", "--ckpt_path", str(second / "checkpoints" / "last.ckpt"), "--num_samples", "8",
                  "--output_dir", str(samples), *counts])  # fmt: skip
    preview = "grid.png" if _is_image(config) else "samples.csv"
    assert (samples / preview).is_file()
    if counts:
        assert 1 <= json.loads((samples / "stacked_mnist.json").read_text())["modes"] <= 8

    # 5. export the generator (safetensors, config.json, model card) and generate from the folder: the same samples.
    with contextlib.chdir(work):
        lightning_gans(["export", "--ckpt_path", str(second / "checkpoints" / "last.ckpt"), "--output_dir", "shared"])
        lightning_gans(["generate", "--ckpt_path", "shared", "--num_samples", "8", "--output_dir", "from_shared"])
    assert (work / "from_shared" / preview).read_bytes() == (samples / preview).read_bytes()

    if exact:  # resumed runs end with the weights of uninterrupted ones
        straight = tmp_path / "straight"
        straight.mkdir()
        run_cli([*fit, "--trainer.max_epochs", "4"], cwd=straight)
        same_weights(straight / "lightning_logs" / name / "version_0" / "checkpoints" / "last.ckpt",
                     second / "checkpoints" / "last.ckpt")  # fmt: skip


# The R3GAN configs share the pieces of their journey with others in the default suite (the
# Stacked MNIST datamodule and callbacks, the relativistic loss, R1 + R2 and the EMA with
# dcgan_rpgan_stacked_mnist.yaml; schedules across a resume: tests/test_schedules.py); their full
# journeys run with -m slow, tests/test_image_configs.py trains each of them in the default suite,
# and tests/test_r3gan.py trains the variant along its schedules.
# gan_grid and gan_ring_minimax are gan_ring's variant, callbacks and datamodule with another
# mixture or loss, stylegan2_celeba64 and dcgan_celeba64 are stylegan2_mnist's and dcgan_mnist's
# variants and callbacks at 64 px (cgan_cifar10 and others run the Inception-config path; the
# journeys train every image config on the same folder of images): their journeys run with -m slow,
# tests/test_image_configs.py and tests/test_toy.py train them in the default suite.
SLOW_JOURNEYS = {
    "r3gan_cifar10.yaml", "r3gan_ffhq64.yaml", "r3gan_stacked_mnist.yaml",
    "gan_grid.yaml", "gan_ring_minimax.yaml", "stylegan2_celeba64.yaml", "dcgan_celeba64.yaml",
}  # fmt: skip


@pytest.mark.parametrize(
    "config", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_JOURNEYS else c for c in CONFIG_NAMES]
)
def test_config_journey(config, tmp_path, journey_assets):
    _journey(config, tmp_path, journey_assets, exact=config in EXACT)


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(set(CONFIG_NAMES) - EXACT))
def test_config_journey_resumes_to_identical_weights(config, tmp_path, journey_assets):
    _journey(config, tmp_path, journey_assets, exact=True)


@pytest.mark.slow  # the same on the ring config, stopped at max_steps 15 with a cadence of 10: tests/test_faults.py
def test_last_checkpoint_holds_the_final_model_when_the_cadence_misses_the_end(tmp_path, journey_assets):
    """dcgan_mnist saves last.ckpt every N steps; a run of 3 batches with N = 2 still ends with
    last.ckpt at step 3, and resuming from it continues there."""
    config = sized_config("dcgan_mnist.yaml", tmp_path, journey_assets)
    settings = yaml.safe_load(config.read_text())
    for callback in settings["trainer"]["callbacks"]:
        if "every_n_train_steps" in callback.get("init_args", {}):
            callback["init_args"]["every_n_train_steps"] = 2
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    fit = ["fit", "--config", str(config), *data_args("dcgan_mnist.yaml", journey_assets)]
    run_cli([*fit, "--trainer.max_epochs", "1"], cwd=tmp_path)
    last = tmp_path / "lightning_logs" / "dcgan_mnist" / "version_0" / "checkpoints" / "last.ckpt"
    assert step_of(last) == BATCHES
    run_cli([*fit, "--trainer.max_epochs", "2", "--ckpt_path", "last"], cwd=tmp_path)
    assert step_of(last) == 2 * BATCHES


@pytest.mark.slow  # 4 runs, ~45 s; the default suite preempts and resumes the ring config (tests/test_faults.py)
def test_an_ada_run_stopped_by_max_steps_then_preempted_resumes_bit_exactly(tmp_path, journey_assets):
    """dcgan_mnist1k_ada (ADA's adaptive p, best-FID and last.ckpt checkpoints, W&B; EMA added): stopped
    by --trainer.max_steps inside an epoch, continued with --ckpt_path last until a SIGTERM inside
    the next epoch (exit 75, last.ckpt saved), continued again: the same weights, EMA, ADA p and
    optimizer states as one uninterrupted run."""
    from fault_helpers import PREEMPTED_EXIT_CODE

    config = "dcgan_mnist1k_ada.yaml"
    fit = ["fit", "--config", str(sized_config(config, tmp_path, journey_assets)), *data_args(config, journey_assets)]
    fit += ["--model.init_args.ema_decay", "0.9"]
    work, straight = tmp_path / "work", tmp_path / "straight"
    work.mkdir(), straight.mkdir()
    run_cli([*fit, "--trainer.max_steps", "4"], cwd=work)  # 3 batches per epoch: stops inside epoch 1
    out = run_cli(
        [*fit, "--trainer.max_epochs", "3", "--ckpt_path", "last", "--trainer.callbacks+=fault_helpers.SignalAt",
         "--trainer.callbacks.step", "6"],
        cwd=work, check=False,
    )  # fmt: skip
    assert out.returncode == PREEMPTED_EXIT_CODE, out.stderr[-3000:]
    last = work / "lightning_logs" / "dcgan_mnist1k_ada" / "version_0" / "checkpoints" / "last.ckpt"
    assert step_of(last) == 7  # inside epoch 2
    run_cli([*fit, "--trainer.max_epochs", "3", "--ckpt_path", "last"], cwd=work)
    run_cli([*fit, "--trainer.max_epochs", "3"], cwd=straight)
    reference = straight / "lightning_logs" / "dcgan_mnist1k_ada" / "version_0" / "checkpoints" / "last.ckpt"
    assert step_of(last) == step_of(reference) == 3 * BATCHES
    assert "augment_pipe.p" in weights(last) and any(key.startswith("generator_ema.") for key in weights(last))
    same_weights(last, reference)
    resumed, uninterrupted = (torch.load(p, weights_only=False)["optimizer_states"] for p in (last, reference))
    for one, other in zip(resumed, uninterrupted, strict=True):
        for index, state in one["state"].items():
            for name, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other["state"][index][name])), name


def test_validate_scores_a_checkpoint_with_the_configs_metrics(tmp_path, journey_assets):
    """``validate --ckpt_path last`` (the newest run of the config) computes dcgan_mnist's digit
    metrics for that checkpoint, prints them as a table and writes them beside it as JSON;
    another metric is added on the command line, without training."""
    config = "dcgan_mnist.yaml"
    sized = ["--config", str(sized_config(config, tmp_path, journey_assets)), *data_args(config, journey_assets)]
    with contextlib.chdir(tmp_path):
        lightning_gans(["fit", *sized, "--trainer.max_epochs", "1"])
        out = run_in_process(["validate", *sized, "--ckpt_path", "last"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    last = tmp_path / "lightning_logs" / "dcgan_mnist" / "version_0" / "checkpoints" / "last.ckpt"
    scores = json.loads(last.with_name("last.validate.json").read_text())
    assert scores["checkpoint"] == str(Path("lightning_logs/dcgan_mnist/version_0/checkpoints/last.ckpt"))
    assert scores["generator_steps"] == BATCHES
    for metric in ("metrics/fid", "metrics/kid", "metrics/is", "metrics/precision", "metrics/coverage", "val/loss_d"):
        assert metric in scores["metrics"] and np.isfinite(scores["metrics"][metric]), metric
        assert metric in out.stdout  # the printed table
    assert not (tmp_path / "lightning_logs" / "dcgan_mnist" / "version_1").exists()  # no new run folder
