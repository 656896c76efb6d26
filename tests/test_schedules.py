"""Schedules of hyperparameters (lightning_gans.schedules): the shapes' values, the learning rates
through torch's schedulers, every other target set before each step, exact resume, and the
settings of 0.1.x (lr_decay, ema_rampup, ada_*) translated or refused in one line."""

import math

import lightning as L
import pytest
import torch
from helpers import run_cli, trainer
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg
from lightning_gans.augment import AdaptiveAugment
from lightning_gans.penalties import R1Penalty
from lightning_gans.schedules import Schedule


def _data(n: int = 400) -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(n, 2, generator=torch.Generator().manual_seed(0))), batch_size=20)


def test_the_shapes_follow_their_formulas():
    linear = Schedule("linear", start=1.0, end=0.01, steps=100)
    for t in (0, 1, 37, 100, 500):
        assert linear.factor(t) == pytest.approx(1.0 + (0.01 - 1.0) * min(t, 100) / 100)
    cosine = Schedule("cosine", start=1.0, end=0.1, steps=40)
    for t in (0, 10, 20, 40, 80):
        assert cosine.factor(t) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * min(t, 40) / 40)) / 2)
    warm = Schedule("constant", start=0.5, warmup=10, steps=20)
    assert [warm.factor(t) for t in (0, 5, 10, 19)] == pytest.approx([0.0, 0.25, 0.5, 0.5])
    run = Schedule("linear", end=0.0)  # steps=None: the run's length
    assert run.factor(50, total=100) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(kind="exponential"), "kind is 'constant', 'linear' or 'cosine'"),
        (dict(steps=0), "steps must be > 0"),
        (dict(steps=10, warmup=10), "warmup must be >= 0 and below its steps"),
    ],
)
def test_a_bad_schedule_says_what_to_change(bad, match):
    with pytest.raises(lg.ConfigurationError, match=match):
        Schedule(**bad)


def test_unknown_or_doubled_targets_are_refused_by_name():
    with pytest.raises(lg.ConfigurationError, match="No hyperparameter 'gamma'.*schedulable: lr, g_lr"):
        lg.GAN(schedules={"gamma": Schedule()})
    with pytest.raises(lg.ConfigurationError, match="'lr' \\(both networks\\) or 'g_lr', not both"):
        lg.GAN(schedules={"lr": Schedule(), "g_lr": Schedule()})


def test_a_cosine_learning_rate_and_every_other_target_follow_their_schedules_in_training():
    """After ``t`` generator steps each target holds ``configured * factor(t)``: the learning
    rates (through LambdaLR), Adam's beta2, R1's weight, the EMA half-life and ADA's ceiling."""
    schedules = {
        "g_lr": Schedule("cosine", end=0.25, steps=8),
        "d_lr": Schedule("linear", end=0.5, steps=4, warmup=2),
        "beta2": Schedule("linear", start=1.0, end=1.1, steps=8),
        "penalty_weight": Schedule("linear", end=0.1, steps=8),
        "ema_half_life": Schedule("linear", start=0.0, end=1.0, steps=16),
    }
    adam = lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.0, 0.9))  # noqa: E731
    model = lg.GAN(hidden_dim=8, num_layers=1, penalty=R1Penalty(0.5), ema_decay=0.99, schedules=schedules,
                   g_optimizer=adam, d_optimizer=adam)  # fmt: skip
    fit = trainer(max_steps=6)
    fit.fit(model, _data())
    g_opt, d_opt = fit.optimizers
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * schedules["g_lr"].factor(6))
    assert d_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * schedules["d_lr"].factor(6))
    # Set before step 5 (the last one run): factor(5).
    assert g_opt.param_groups[0]["betas"][1] == pytest.approx(0.9 * schedules["beta2"].factor(5))
    assert d_opt.param_groups[0]["betas"] == pytest.approx((0.0, 0.9 * schedules["beta2"].factor(5)))
    assert model.penalty.weight_factor == pytest.approx(schedules["penalty_weight"].factor(5))
    assert model.ema.half_life_factor == pytest.approx(5 / 16)
    half_life = math.log(0.5) / math.log(0.99)
    assert model.ema.decay_now() == pytest.approx(0.5 ** (1 / (half_life * 5 / 16)))


def test_a_plain_linear_learning_rate_uses_torchs_linear_lr_and_matches_the_formula():
    model = lg.GAN(hidden_dim=8, num_layers=1, schedules={"lr": Schedule("linear", end=0.01)})
    fit = trainer(max_steps=10)
    fit.fit(model, _data())
    assert all(type(c.scheduler).__name__ == "LinearLR" for c in fit.lr_scheduler_configs)
    assert [opt.param_groups[0]["lr"] for opt in fit.optimizers] == pytest.approx([2e-6, 2e-6])


def test_a_resumed_run_continues_every_schedule_where_it_stopped(tmp_path):
    """Stopped at step 5 of 10 (an epoch's end) and resumed: the weights, learning rates and
    betas equal an uninterrupted run's. A ``steps=None`` schedule keeps the length it resolved when the run
    first started (checkpointed), also when the resumed run is longer."""
    schedules = {"lr": Schedule("cosine", end=0.1), "beta2": Schedule("linear", end=1.1)}

    def model():
        adam = lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.9))  # noqa: E731
        return lg.GAN(hidden_dim=8, num_layers=1, schedules=schedules, g_optimizer=adam, d_optimizer=adam)

    class StopAt5(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.global_step >= 5

    L.seed_everything(0, verbose=False)
    whole, whole_trainer = model(), trainer(max_steps=10, max_epochs=-1)
    whole_trainer.fit(whole, _data(100))
    L.seed_everything(0, verbose=False)
    stopped = trainer(max_steps=10, max_epochs=-1, callbacks=[StopAt5()], default_root_dir=tmp_path)
    stopped.fit(model(), _data(100))
    stopped.save_checkpoint(tmp_path / "half.ckpt")
    assert torch.load(tmp_path / "half.ckpt", weights_only=False)["lightning_gans_schedules"] == {"total": 10.0}
    resumed_model, resumed = model(), trainer(max_steps=10, max_epochs=-1, default_root_dir=tmp_path / "b")
    resumed.fit(resumed_model, _data(100), ckpt_path=tmp_path / "half.ckpt")
    for a, b in zip(whole.parameters(), resumed_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(whole_trainer.optimizers, resumed.optimizers):
        assert (a.param_groups[0]["lr"], a.param_groups[0]["betas"]) == (
            b.param_groups[0]["lr"],
            b.param_groups[0]["betas"],
        )
    # Extended to 20 steps: the schedules ended at step 10 and stay at their end.
    longer_model, longer = model(), trainer(max_steps=20, max_epochs=-1, default_root_dir=tmp_path / "c")
    longer.fit(longer_model, _data(100), ckpt_path=tmp_path / "half.ckpt")
    assert longer_model.schedules.total == 10.0
    assert longer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4)


def test_a_schedule_set_from_a_config_reaches_the_model(tmp_path):
    from lightning_gans.cli import cli_main

    cli = cli_main(
        ["--model=lightning_gans.GAN", "--model.hidden_dim=8", "--model.num_layers=1",
         '--model.schedules={"lr": {"kind": "cosine", "end": 0.1, "steps": 100}, "ema_half_life": {"end": 1.0}}',
         "--model.ema_decay=0.99", "--data=lightning_gans.ToyDataModule", f"--trainer.default_root_dir={tmp_path}"],
        run=False,
    )  # fmt: skip
    assert cli.model.schedules.schedules["lr"] == Schedule("cosine", end=0.1, steps=100)
    assert "ema_half_life" in cli.model.schedules


def test_settings_of_0_1_translate_to_schedules_and_an_adaptive_augment():
    with pytest.warns(FutureWarning, match="lr_decay.*replaced in lightning_gans 0.2.0"):
        old = dict(lr_decay=0.01, lr_decay_steps=1000, ema_rampup=0.05, augment="ada", ada_kimg=100, ada_p=0.2)
        model = lg.DCGAN(data_shape=(1, 28, 28), latent_dim=8, g_channels=4, d_channels=4, ema_decay=0.999, **old)
    assert model.schedules.schedules["lr"] == Schedule("linear", start=1.0, end=0.01, steps=1000)
    ramp = model.schedules.schedules["ema_half_life"]
    half_life = math.log(0.5) / math.log(0.999)
    for t in (0, 10, 5000, 20000):  # the same half-life as StyleGAN2-ADA's min(h, rampup * t)
        assert half_life * ramp.factor(t) == pytest.approx(min(half_life, 0.05 * t))
    assert isinstance(model.augment_pipe, AdaptiveAugment)
    assert (model.augment_pipe.kimg, model.augment_pipe.probability) == (100, 0.2)
    # What load_gan rebuilds from: the current spelling.
    assert "lr_decay" not in model.hparams and model.hparams["augment"] == model.augment_pipe.spec()
    assert model.hparams["schedules"]["lr"] == {"kind": "linear", "start": 1.0, "end": 0.01, "steps": 1000, "warmup": 0}
    with pytest.raises(lg.ConfigurationError, match="'g_scheduler' was replaced.*schedules: \\{g_lr"):
        lg.GAN(g_scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1))
    with pytest.raises(lg.ConfigurationError, match="Unknown model setting 'hiden_dim'"):
        lg.GAN(hiden_dim=8)


def test_an_old_config_gets_one_line_with_the_new_spelling(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text(
        "model:\n  class_path: lightning_gans.GAN\n  init_args:\n    lr_decay: 0.01\n"
        "data:\n  class_path: lightning_gans.ToyDataModule\n"
    )
    result = run_cli(["fit", "--config", config], cwd=tmp_path, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: model setting 'lr_decay' was replaced in lightning_gans 0.2.0; write it as `schedules: {lr: "
        "{kind: linear, end: <lr_decay>, steps: <lr_decay_steps, or null for the run>}}`."
    ]
