"""Checkpoints in the layout of lightning_gans 0.1.0 (before the training step moved to
``lightning_gans/step.py``) load, sample the same and resume.

A checkpoint is written here and rewritten to 0.1.0's layout: its ``hyper_parameters`` become
exactly what 0.1.0 saved for a ``GAN`` with ``pack=2`` and an EMA generator (no keyword added
since), its version ``0.1.0``, and its ``state_dict`` must have 0.1.0's parameter names.
(No binary checkpoint is committed: run artefacts stay out of the repository.)
"""

import lightning as L
import pytest
import torch
from helpers import trainer
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg

# What lightning_gans 0.1.0 saved for GAN(data_shape=(2,), hidden_dim=8, num_layers=2, pack=2,
# ema_decay=0.9, num_fixed_samples=4), read from a checkpoint that release wrote.
HPARAMS_0_1_0 = {
    "latent_dim": 2, "loss": "non_saturating", "scheduler_interval": "epoch", "n_critic": 1, "pack": 2,
    "ema_decay": 0.9, "num_fixed_samples": 4, "data_shape": (2,), "num_classes": None,
    "check_finite_every_n_batches": 50, "gradient_clip_val": None, "gradient_clip_algorithm": "norm",
    "channels_last": False, "torch_compile": False, "hidden_dim": 8, "num_layers": 2,
}  # fmt: skip
KEYS_0_1_0 = ["fixed_noise"] + [
    f"{net}.net.{i}.{p}" for net in ("generator", "discriminator", "generator_ema") for i in (0, 2, 4)
    for p in ("weight", "bias")
]  # fmt: skip


def _data() -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(16, 2, generator=torch.Generator().manual_seed(1))), batch_size=8)


def _trainer(tmp_path, max_steps: int) -> L.Trainer:
    return trainer(max_steps=max_steps, max_epochs=-1, default_root_dir=tmp_path)


@pytest.fixture
def old_checkpoint(tmp_path):
    """A 3-step checkpoint in 0.1.0's layout, and the fixed-noise samples of the model that wrote it."""
    L.seed_everything(0, verbose=False)
    model = lg.GAN(data_shape=(2,), hidden_dim=8, num_layers=2, pack=2, ema_decay=0.9, num_fixed_samples=4)
    trainer = _trainer(tmp_path, 3)
    trainer.fit(model, _data())
    path = tmp_path / "gan_v0.1.0.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    assert list(checkpoint["state_dict"]) == KEYS_0_1_0  # the parameter names have not changed
    checkpoint["hyper_parameters"] = dict(HPARAMS_0_1_0)
    checkpoint["lightning_gans_version"] = "0.1.0"
    torch.save(checkpoint, path)
    return path, model.sample_fixed()


def test_a_0_1_0_checkpoint_loads_and_samples_as_its_model_did(old_checkpoint):
    path, expected = old_checkpoint
    for model in (lg.load_gan(path), lg.GAN.load_from_checkpoint(path)):
        assert model.pack == 2 and model.generator_ema is not None
        assert (model.generator_steps, model.discriminator_steps) == (3, 3)
        torch.testing.assert_close(model.sample_fixed(), expected, rtol=0, atol=0)


def test_a_0_1_0_checkpoint_resumes_training(old_checkpoint, tmp_path):
    path, _ = old_checkpoint
    model = lg.GAN(data_shape=(2,), hidden_dim=8, num_layers=2, pack=2, ema_decay=0.9, num_fixed_samples=4)
    trainer = _trainer(tmp_path, 5)
    trainer.fit(model, _data(), ckpt_path=path)
    assert (model.generator_steps, model.discriminator_steps, trainer.global_step) == (5, 5, 5)


@pytest.mark.parametrize(
    ("cls", "hparams"),
    [  # hyper_parameters as 0.1.0 saved them: every keyword of the variant and of BaseGAN
        (
            lg.WGANGP,
            {
                "loss": "wasserstein",
                "n_critic": 2,
                "pack": 1,
                "data_shape": (1, 28, 28),
                "g_channels": 4,
                "d_channels": 4,
                "d_norm": "layer",
                "spectral_norm": False,
                "clip_value": None,
                "gp_weight": 5.0,
            },
        ),
        (
            lg.R1GAN,
            {
                "loss": "non_saturating",
                "data_shape": (1, 28, 28),
                "g_channels": 4,
                "d_channels": 4,
                "d_norm": "none",
                "gamma": 5.0,
                "r1_every": 2,
            },
        ),
        (
            lg.FGAN,
            {"loss": "f_gan_kl", "data_shape": (1, 28, 28), "g_channels": 4, "d_channels": 4, "divergence": "kl"},
        ),
        (
            lg.CGAN,
            {
                "loss": "hinge",
                "n_critic": 2,
                "data_shape": (1, 28, 28),
                "num_classes": 3,
                "architecture": "dcgan",
                "g_channels": 4,
                "d_channels": 4,
            },
        ),
    ],
    ids=["WGANGP", "R1GAN", "FGAN", "CGAN"],
)
def test_0_1_0_hyperparameters_rebuild_the_same_variant(cls, hparams):
    model = cls(**hparams)
    assert model.adversarial_loss.name == hparams["loss"]
    if cls is lg.WGANGP:
        assert isinstance(model.penalty, lg.penalties.GradientPenalty) and model.penalty.weight == 5.0
        assert model.clip_value is None
    if cls is lg.R1GAN:
        assert isinstance(model.penalty, lg.penalties.R1Penalty) and (model.penalty.gamma, model.penalty.every) == (
            5.0,
            2,
        )


# What the release before 0.2.0 saved for DCGAN(data_shape=(1, 28, 28), latent_dim=8, g_channels=4,
# d_channels=4, lr_decay=0.5, lr_decay_steps=8, ema_decay=0.9, ema_rampup=0.5, augment="ada", ada_kimg=0.01, ada_p=0.3),
# read from a checkpoint that release wrote; its lr_schedulers held two LinearLR states.
HPARAMS_BEFORE_0_2_0 = {
    "latent_dim": 8, "loss": "non_saturating", "scheduler_interval": "epoch", "lr_decay": 0.5, "lr_decay_steps": 8,
    "n_critic": 1, "pack": 1, "ema_decay": 0.9, "ema_rampup": 0.5, "num_fixed_samples": 64, "data_shape": (1, 28, 28),
    "num_classes": None, "check_finite_every_n_batches": 50, "gradient_clip_val": None,
    "gradient_clip_algorithm": "norm", "channels_last": False, "torch_compile": False, "augment": "ada",
    "ada_target": 0.6, "ada_kimg": 0.01, "ada_p": 0.3, "g_channels": 4, "d_channels": 4, "d_norm": "batch",
    "spectral_norm": False,
}  # fmt: skip


def _images() -> DataLoader:
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return DataLoader(TensorDataset(images), batch_size=4)


@pytest.mark.filterwarnings("ignore:.*replaced in lightning_gans 0.2.0")
def test_a_checkpoint_of_the_release_before_0_2_0_loads_samples_and_resumes_like_a_new_one(tmp_path):
    """Its settings (lr_decay, ema_rampup, ada_*) are translated; its LinearLR states continue."""
    old = {k: v for k, v in HPARAMS_BEFORE_0_2_0.items() if k not in ("d_norm", "spectral_norm")}
    L.seed_everything(0, verbose=False)
    model = lg.DCGAN(**old)
    trainer = _trainer(tmp_path, 4)  # one epoch of 4 batches: an epoch-end checkpoint resumes exactly
    trainer.fit(model, _images())
    path = tmp_path / "before_0_2_0.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    assert [type(c.scheduler).__name__ for c in trainer.lr_scheduler_configs] == ["LinearLR", "LinearLR"]
    checkpoint["hyper_parameters"] = dict(HPARAMS_BEFORE_0_2_0)
    checkpoint["lightning_gans_version"] = "0.1.0"
    del checkpoint["lightning_gans_schedules"]  # not written before 0.2.0
    torch.save(checkpoint, path)
    loaded = lg.load_gan(path)
    assert loaded.augment_pipe.probability == model.augment_pipe.probability and loaded.augment_pipe.kimg == 0.01
    torch.testing.assert_close(loaded.sample_fixed(), model.sample_fixed(), rtol=0, atol=0)
    L.seed_everything(0, verbose=False)
    whole = lg.DCGAN(**old)
    _trainer(tmp_path / "whole", 8).fit(whole, _images())
    resumed = lg.DCGAN(**old)
    resumed_trainer = _trainer(tmp_path / "resumed", 8)
    resumed_trainer.fit(resumed, _images(), ckpt_path=path)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
