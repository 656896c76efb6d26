"""Exact resume and the generator-step budget."""

from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import tiny_toy, trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from test_variants import small

import lightning_gans as lg
from lightning_gans.penalties import GradientPenalty
from lightning_gans.schedules import Schedule


def _toy_gan():
    # Everything that carries state across steps: n_critic > 1, a gradient penalty (random
    # interpolation), an EMA generator, per-step schedules and Adam's moments.
    return lg.GAN(
        latent_dim=2,
        hidden_dim=16,
        num_layers=2,
        n_critic=2,
        penalty=GradientPenalty(1.0),
        ema_decay=0.9,
        schedules={"lr": Schedule("cosine", end=0.25, steps=8), "penalty_weight": Schedule("linear", end=0.5)},
    )


def _fit(model, data, root, max_steps, ckpt_path=None, callbacks=()):
    fitted = trainer(
        max_steps=max_steps,
        max_epochs=-1,
        default_root_dir=root,
        callbacks=list(callbacks),
        num_sanity_val_steps=0,
        enable_checkpointing=bool(callbacks),
    )
    fitted.fit(model, data, ckpt_path=ckpt_path)
    return fitted


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _stylegan2_ada():
    # StyleGAN2's own state on top: ADA's p and r_t sums, the path-length mean, w_avg, style
    # mixing and noise inputs drawn from the training stream, lazy R1 and path length.
    return lg.StyleGAN2(
        data_shape=(3, 32, 32), latent_dim=16, w_dim=16, mapping_layers=2, g_channels=8, d_channels=8,
        channel_base=256, r1_gamma=0.1, r1_every=2, pl_every=2, augment="ada", ada_kimg=1, ada_p=0.5,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["toy", "image", "stylegan2_ada"])
def test_killed_and_resumed_run_ends_where_the_uninterrupted_run_ends(tmp_path, kind, image_root):
    """2N steps in one go == N steps, a checkpoint, a fresh process state, N more steps.

    N falls mid-epoch (4 and 6 batches per epoch), so the shuffled data order must resume too.
    """
    n = 5
    if kind == "toy":
        make_model, make_data = _toy_gan, lambda: tiny_toy(num_samples=256, batch_size=64)
    elif kind == "image":
        make_model = lambda: small(lg.WGANGP, ema_decay=0.9, data_shape=(3, 32, 32))  # noqa: E731
        make_data = lambda: lg.ImageFolderDataModule(root=str(image_root), image_size=32, batch_size=4)  # noqa: E731
    else:
        make_model = _stylegan2_ada
        make_data = lambda: lg.ImageFolderDataModule(root=str(image_root), image_size=32, batch_size=4)  # noqa: E731

    L.seed_everything(0)
    uninterrupted = make_model()
    every_n = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=n, save_top_k=-1)
    _fit(uninterrupted, make_data(), tmp_path, 2 * n, callbacks=[every_n])
    checkpoint = tmp_path / "ckpt" / f"epoch={n // 4 if kind == 'toy' else 0}-step={n}.ckpt"
    assert checkpoint.exists(), sorted(p.name for p in (tmp_path / "ckpt").iterdir())

    # A new process of the same run (same seed_everything seed, as the CLI's config gives it),
    # whose global RNG has moved on: other initial weights, other global random state.
    L.seed_everything(0)
    torch.randn(1000)
    resumed = make_model()
    trainer = _fit(resumed, make_data(), tmp_path, 2 * n, ckpt_path=str(checkpoint))
    assert trainer.global_step == resumed.generator_steps == 2 * n
    assert resumed.discriminator_steps == uninterrupted.discriminator_steps
    _assert_same_state(resumed, uninterrupted)
    if kind == "stylegan2_ada":
        assert resumed.augment_pipe.p.item() not in (0.0, 0.5) and resumed.pl_mean.item() > 0  # both moved
        assert resumed.augment_pipe.probability == uninterrupted.augment_pipe.probability
    for a, b in zip(trainer.optimizers, (o for o in uninterrupted.trainer.optimizers)):
        assert str(a.state_dict()) == str(b.state_dict())


def test_the_checkpoint_holds_what_resuming_needs(tmp_path):
    L.seed_everything(0)
    model = _toy_gan()
    trainer = _fit(model, tiny_toy(num_samples=256, batch_size=64), tmp_path, 3)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2
    assert ckpt["generator_steps"] == 3 and ckpt["discriminator_steps"] == 6 and ckpt["noise_seed"] == 0
    assert any(k.startswith("generator_ema.") for k in ckpt["state_dict"])
    assert torch.equal(ckpt["state_dict"]["fixed_noise"], model.fixed_noise)
    # The data loader's position (mid-epoch resume).
    assert "state_dict" in str(ckpt["loops"]["fit_loop"]) and ckpt["loops"]["fit_loop"]["state_dict"]


@pytest.mark.parametrize("n_critic", [1, 3])
def test_max_steps_is_a_budget_of_generator_steps(tmp_path, n_critic):
    model = lg.GAN(latent_dim=2, hidden_dim=8, num_layers=1, n_critic=n_critic)
    trainer = _fit(model, tiny_toy(num_samples=256, batch_size=64), tmp_path, 7)
    assert model.generator_steps == trainer.global_step == 7
    assert model.discriminator_steps == 7 * n_critic


RESUMABLE_CONFIG = """
seed_everything: 0
trainer:
  accelerator: cpu
  logger: false
  enable_progress_bar: false
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args:
        every_n_train_steps: 3
        save_top_k: 0
        save_last: true
model:
  class_path: lightning_gans.GAN
  init_args:
    hidden_dim: 16
    num_layers: 1
    n_critic: 2
data:
  class_path: lightning_gans.ToyDataModule
  init_args:
    num_samples: 640
    batch_size: 64
"""


def test_fit_with_ckpt_path_last_continues_where_the_run_stopped(tmp_path, monkeypatch):
    from lightning_gans.cli import cli_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(RESUMABLE_CONFIG)
    first = cli_main(["fit", "--config", "config.yaml", "--trainer.max_steps", "6"])
    # No logger: the run folder is lightning_logs/<config file's name>/version_N.
    run = tmp_path / "lightning_logs" / "config" / "version_0"
    assert first.model.generator_steps == 6 and (run / "checkpoints" / "last.ckpt").is_file()
    # The same command plus --ckpt_path last: a longer budget picks up at generator step 6.
    second = cli_main(["fit", "--config", "config.yaml", "--trainer.max_steps", "9", "--ckpt_path", "last"])
    assert Path(second.trainer.ckpt_path) == Path("lightning_logs/config/version_0/checkpoints/last.ckpt")
    assert second.model.generator_steps == second.trainer.global_step == 9
    assert second.model.discriminator_steps == 18


@pytest.mark.parametrize("poisoned", ["generator", "generator_ema"])
def test_a_nan_never_reaches_last_ckpt(tmp_path, poisoned):
    """Weights that turn NaN between two checkpoints (the trained generator, whose losses then
    turn NaN, or the EMA copy, whose do not) stop training at the next save, before it writes:
    last.ckpt keeps the last finite model."""

    class Poison(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 3:
                with torch.no_grad():
                    next(getattr(pl_module, poisoned).parameters()).fill_(float("nan"))

    checkpoint = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=2, save_top_k=0, save_last=True)
    model = lg.GAN(latent_dim=2, hidden_dim=16, num_layers=1, ema_decay=0.9, check_finite_every_n_batches=100)
    with pytest.raises(lg.NonFiniteLossError, match="the checkpoint was not written"):
        _fit(model, tiny_toy(num_samples=640, batch_size=64), tmp_path, 10, callbacks=[Poison(), checkpoint])
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 2
    assert all(torch.isfinite(t).all() for t in saved["state_dict"].values())
