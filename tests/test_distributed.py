"""DDP as users type it: two CPU processes (gloo) train variants with ``strategy="gan_ddp"``."""

import json
from pathlib import Path

import pytest
import torch
from helpers import CONFIGS, run_cli
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch.nn.parallel import DistributedDataParallel

import lightning_gans as lg
from lightning_gans.strategies import gan_strategy_name
from lightning_gans.updates import check_data_parallel as _check_data_parallel

# Run as a script: the "gan_ddp" launcher (Lightning's popen) starts rank 1 by re-running this file.
DDP_SCRIPT = """
import json
import sys
import lightning as L
import torch
from helpers import trainer as make_trainer
from torch.utils.data import DataLoader, TensorDataset
import lightning_gans as lg

variant, precision, out = sys.argv[1], sys.argv[2], sys.argv[3]
max_steps, ckpt_path, tag = int(sys.argv[4]), sys.argv[5], sys.argv[6]
options = json.loads(sys.argv[7])
size = options.pop("size", 28)

class RandomImages(L.LightningDataModule):
    def train_dataloader(self):  # as lightning_gans' datamodules build theirs
        from lightning_gans.data._loading import resumable_loader
        g = torch.Generator().manual_seed(0)
        images = torch.rand(64, 1, size, size, generator=g) * 2 - 1
        return resumable_loader(self, TensorDataset(images), batch_size=8, shuffle=True, drop_last=True)

# The resumed run is the same command: same seed (Lightning's DistributedSampler shuffles with
# it), but its global RNG is at the start while the killed run's had advanced.
L.seed_everything(0)
cls = getattr(lg, variant)
model = cls(data_shape=(1, size, size), g_channels=8, d_channels=8, ema_decay=0.9, **options)
initial = {k: v.clone() for k, v in model.state_dict().items()}
checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=f"{out}/ckpt", every_n_train_steps=2, save_top_k=-1)
trainer = make_trainer(devices=2, strategy="gan_ddp", precision=precision, max_steps=max_steps, max_epochs=-1,
                       enable_checkpointing=True, limit_val_batches=None,
                       callbacks=[lg.SampleGrid(every_n_batches=2, num_samples=4, nrow=2), checkpoints],
                       default_root_dir=out)
trainer.fit(model, RandomImages(), ckpt_path=None if ckpt_path == "none" else ckpt_path)
state = {k: v for k, v in model.state_dict().items()}
torch.save({"state": state, "initial": initial, "strategy": type(trainer.strategy).__name__,
            "generator_steps": model.generator_steps, "global_step": trainer.global_step,
            "noise": model.sample_noise(2, model.noise_generator)},
           f"{out}/{tag}_rank{trainer.global_rank}.pt")
"""


def _run_ddp(
    tmp_path: Path,
    variant: str,
    precision: str,
    max_steps: int = 3,
    ckpt_path: str = "none",
    tag: str = "run",
    options: dict | None = None,
) -> list[dict]:
    script = tmp_path / "train_ddp.py"
    script.write_text(DDP_SCRIPT)
    args = [variant, precision, tmp_path, max_steps, ckpt_path, tag, json.dumps(options or {})]
    run_cli(args, script=script, cwd=tmp_path, env={"WANDB_MODE": "disabled"}, timeout=300)
    return [torch.load(tmp_path / f"{tag}_rank{rank}.pt") for rank in (0, 1)]


@pytest.mark.parametrize(("variant", "precision"), [("DCGAN", "32-true"), ("WGANGP", "bf16-mixed")])
def test_ddp_keeps_both_ranks_identical(tmp_path, variant, precision):
    rank0, rank1 = _run_ddp(tmp_path, variant, precision)
    assert rank0["strategy"] == "GANDDPStrategy"
    assert rank0["global_step"] == rank0["generator_steps"] == 3
    # The ranks trained on different shards with different noise...
    assert not torch.equal(rank0["noise"], rank1["noise"])
    state0, state1, initial = rank0["state"], rank1["state"], rank0["initial"]
    # ...and every parameter moved, identically on both ranks (gradients were averaged),
    # EMA generator included. Checkpoint names stay plain: no "module." prefix.
    params = [k for k in state0 if "running_" not in k and "num_batches" not in k and k != "fixed_noise"]
    assert any(k.startswith("generator_ema.") for k in params)
    assert not any(".module." in k for k in state0)
    for key in params:
        assert torch.equal(state0[key], state1[key]), key
    moved = [
        k for k in params if k.startswith(("generator.", "discriminator.")) and not torch.equal(state0[k], initial[k])
    ]
    assert len(moved) > 0.9 * len([k for k in params if k.startswith(("generator.", "discriminator."))])


def test_stylegan2_with_ada_keeps_both_ranks_identical_p_included(tmp_path):
    """ADA's r_t is averaged over the ranks (each sees other images), so p moves the same on
    both; so does the path-length mean. ``w_avg`` is a buffer that DDP broadcasts from rank 0
    at each forward, updated locally after it, like BatchNorm's running statistics."""
    options = {
        "size": 32, "latent_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "r1_gamma": 0.1,
        "r1_every": 2, "pl_every": 2, "augment": "ada", "ada_kimg": 0.1, "ada_p": 0.5,
    }  # fmt: skip
    rank0, rank1 = _run_ddp(tmp_path, "StyleGAN2", "32-true", max_steps=4, options=options)
    state0, state1, initial = rank0["state"], rank1["state"], rank0["initial"]
    assert state0["augment_pipe.p"].item() != 0.5 and state0["pl_mean"].item() > 0  # both moved
    for key in state0:
        if not key.endswith(("w_avg", "fixed_noise")):
            assert torch.equal(state0[key], state1[key]), key
    moved = [k for k in state0 if k.startswith("generator.") and not torch.equal(state0[k], initial[k])]
    assert len(moved) > 0.8 * len([k for k in state0 if k.startswith("generator.")])


def test_a_killed_ddp_bf16_run_resumes_to_the_same_model(tmp_path):
    """devices=2, strategy="ddp", bf16-mixed: 4 steps in one go == killed after 2, resumed for 2.

    The 8 batches of the epoch are shuffled and split over the ranks; step 2 is mid-epoch."""
    uninterrupted, _ = _run_ddp(tmp_path, "DCGAN", "bf16-mixed", max_steps=4, tag="full")
    checkpoint = tmp_path / "ckpt" / "epoch=0-step=2.ckpt"
    assert checkpoint.exists()
    resumed, resumed_rank1 = _run_ddp(
        tmp_path, "DCGAN", "bf16-mixed", max_steps=4, ckpt_path=str(checkpoint), tag="resumed"
    )
    assert resumed["generator_steps"] == 4
    for key, value in uninterrupted["state"].items():
        assert torch.equal(resumed["state"][key], value), key
        if "running_" not in key and "num_batches" not in key:
            assert torch.equal(resumed_rank1["state"][key], value), key


def _ddp_wrapper(find_unused_parameters: bool) -> DistributedDataParallel:
    """A stand-in for DistributedDataParallel(module) (no process group needed): what the check reads."""
    wrapper = DistributedDataParallel.__new__(DistributedDataParallel)
    object.__setattr__(wrapper, "find_unused_parameters", find_unused_parameters)
    return wrapper


def test_lightnings_whole_module_ddp_is_refused_with_the_fix():
    with pytest.raises(lg.ConfigurationError, match="strategy='gan_ddp'"):
        _check_data_parallel(_ddp_wrapper(find_unused_parameters=False))
    _check_data_parallel(_ddp_wrapper(find_unused_parameters=True))  # slow, but works
    _check_data_parallel(lg.GAN())  # GANDDPStrategy leaves the module unwrapped


def test_gan_ddp_names_are_added_and_lightnings_ddp_names_are_left_alone():
    for name, start_method in (
        ("ddp", "popen"),
        ("ddp_spawn", "spawn"),
        ("ddp_fork", "fork"),
        ("ddp_notebook", "fork"),
    ):
        ours = StrategyRegistry.get(f"gan_{name}")
        assert isinstance(ours, lg.GANDDPStrategy) and ours._start_method == start_method
        assert type(StrategyRegistry.get(name)) is DDPStrategy


@pytest.mark.parametrize(
    ("strategy", "devices", "num_nodes", "expected"),
    [
        ("ddp", 2, 1, "gan_ddp"),
        ("ddp_spawn", 2, 1, "gan_ddp_spawn"),
        ("ddp_notebook", "2", 1, "gan_ddp_notebook"),
        ("auto", 2, 1, "gan_ddp"),
        ("auto", "0,1", 1, "gan_ddp"),
        ("auto", [0, 1], 1, "gan_ddp"),
        ("auto", 1, 2, "gan_ddp"),
        ("auto", 1, 1, "auto"),
        ("auto", "1", 1, "auto"),
        ("fsdp", 2, 1, "fsdp"),
    ],
)
def test_the_cli_gives_gans_the_gan_ddp_strategy(strategy, devices, num_nodes, expected):
    assert gan_strategy_name(strategy, devices, num_nodes) == expected


@pytest.mark.parametrize("strategy", ["ddp", "auto"])
def test_the_cli_trains_a_gan_on_two_devices_with_gan_ddp(tmp_path, monkeypatch, strategy):
    """``--trainer.devices 2`` with ``ddp`` or the default ``auto`` builds GANDDPStrategy
    (built here without running: the two-process journey is the test above)."""
    from lightning_gans.cli import cli_main

    monkeypatch.chdir(tmp_path)
    config = CONFIGS / "gan_ring.yaml"
    cli = cli_main(
        [
            "--config",
            str(config),
            "--trainer.accelerator=cpu",
            "--trainer.devices=2",
            f"--trainer.strategy={strategy}",
            "--trainer.logger=false",
        ],
        run=False,
    )
    assert isinstance(cli.trainer.strategy, lg.GANDDPStrategy)
