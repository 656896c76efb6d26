"""Checkpoints written by earlier releases load, sample the same and resume.

``tests/data/gan_v0.1.0.ckpt`` was written by lightning_gans 0.1.0 before the training step
moved to ``lightning_gans/step.py`` (a ``GAN`` with ``pack=2`` and an EMA generator, 3 steps);
``gan_v0.1.0.expected.pt`` holds its fixed-noise samples as that release drew them.
"""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg

DATA = Path(__file__).parent / "data"
OLD = DATA / "gan_v0.1.0.ckpt"


def test_a_0_1_0_checkpoint_loads_and_samples_as_it_did():
    expected = torch.load(DATA / "gan_v0.1.0.expected.pt", weights_only=True)
    for model in (lg.load_gan(OLD), lg.GAN.load_from_checkpoint(OLD)):
        assert model.pack == 2 and model.generator_ema is not None
        assert (model.generator_steps, model.discriminator_steps) == (3, 3)
        torch.testing.assert_close(model.sample_fixed(), expected["fixed_samples"], rtol=0, atol=0)


def test_a_0_1_0_checkpoint_resumes_training(tmp_path):
    model = lg.GAN(data_shape=(2,), hidden_dim=8, num_layers=2, pack=2, ema_decay=0.9, num_fixed_samples=4)
    data = DataLoader(TensorDataset(torch.randn(16, 2)), batch_size=8)
    trainer = L.Trainer(
        max_steps=5,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, data, ckpt_path=OLD)
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
