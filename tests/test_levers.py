"""The remedies the mode-collapse study ablates, as library features: PacGAN's maxout
discriminator and BatchNorm generator, separate discriminator sizes, EMA with ramp-up."""

import functools

import lightning as L
import pytest
import torch
from helpers import trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg
from lightning_gans.ema import rampup_half_life_steps
from lightning_gans.nets.mlp import Maxout
from lightning_gans.schedules import Schedule


def test_a_maxout_unit_is_the_max_of_its_linear_pieces():
    torch.manual_seed(0)
    layer = Maxout(3, 4, pieces=5)
    x = torch.randn(7, 3)
    pieces = (x @ layer.linear.weight.T + layer.linear.bias).view(7, 4, 5)
    torch.testing.assert_close(layer(x), pieces.max(dim=-1).values)


def test_the_gan_builds_pacgans_networks():
    """PacGAN's synthetic-data networks (Lin et al. 2018, Appendix D): G 4 x 400 ReLU with
    BatchNorm and no hidden bias, D 3 x 200 maxout with 5 pieces, here packed by 2."""
    model = lg.GAN(hidden_dim=400, num_layers=4, g_batch_norm=True, d_hidden_dim=200, d_num_layers=3,
                   d_maxout_pieces=5, pack=2)  # fmt: skip
    g_linear = [m for m in model.generator.modules() if isinstance(m, nn.Linear)]
    assert [m.bias is None for m in g_linear] == [True] * 4 + [False]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.generator.modules()) == 4
    maxouts = [m for m in model.discriminator.modules() if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.linear.out_features, m.pieces) for m in maxouts] == [
        (4, 1000, 5), (200, 1000, 5), (200, 1000, 5)]  # fmt: skip
    assert model.discriminate(torch.randn(6, 2)).shape == (3,)
    # Defaults are the plain networks of before (old checkpoints rebuild them).
    plain = lg.GAN(hidden_dim=16, num_layers=2)
    assert not any(isinstance(m, (Maxout, nn.BatchNorm1d)) for m in plain.modules())


def test_after_a_short_run_a_ramped_ema_is_near_the_generator_and_a_plain_one_is_not():
    def distance_after(**ema):
        L.seed_everything(0, verbose=False)
        model = lg.GAN(hidden_dim=16, num_layers=1, ema_decay=0.999, **ema)
        data = DataLoader(TensorDataset(torch.randn(400, 2)), batch_size=20, drop_last=True)
        trainer(max_steps=100, max_epochs=-1).fit(model, data)
        weights = lambda net: torch.cat([p.flatten() for p in net.parameters()])  # noqa: E731
        return (weights(model.generator_ema) - weights(model.generator)).norm().item()

    # 100 steps with decay 0.999: the plain EMA still holds ~90% of the initial weights.
    ramp = Schedule("linear", start=0.0, end=1.0, steps=rampup_half_life_steps(0.999, 0.05))
    assert distance_after(schedules={"ema_half_life": ramp}) < 0.5 * distance_after()


@pytest.mark.filterwarnings("ignore:.*replaced in lightning_gans 0.2.0")
def test_lr_decay_reaches_its_fraction_at_the_last_step_of_the_run_and_survives_a_resume(tmp_path):
    """``lr_decay=0.01`` (0.1's spelling, now a linear ``lr`` schedule): linear from lr to 0.01 lr
    over the trainer's max_steps, stepped every generator step; a resumed run continues the
    schedule where it stopped."""
    data = DataLoader(TensorDataset(torch.randn(400, 2)), batch_size=20, drop_last=True)
    model = lg.GAN(hidden_dim=8, num_layers=1, lr_decay=0.01)
    fitted = trainer(max_steps=10, max_epochs=-1, enable_checkpointing=True, default_root_dir=tmp_path)
    fitted.fit(model, data)
    assert [opt.param_groups[0]["lr"] for opt in fitted.optimizers] == pytest.approx([2e-6, 2e-6])
    # Stopped half-way (2e-4 * (1 - 0.99 * 5 / 10)), then resumed: the schedule continues to the same end.

    class StopAt5(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = trainer.global_step >= 5

    model = lg.GAN(hidden_dim=8, num_layers=1, lr_decay=0.01)
    first = trainer(max_steps=10, max_epochs=-1, enable_checkpointing=True, default_root_dir=tmp_path / "a",
                    callbacks=[StopAt5()])  # fmt: skip
    first.fit(model, data)
    assert first.optimizers[0].param_groups[0]["lr"] == pytest.approx(2e-4 * (1 - 0.99 * 5 / 10))
    first.save_checkpoint(tmp_path / "half.ckpt")
    resumed = trainer(max_steps=10, max_epochs=-1, enable_checkpointing=True, default_root_dir=tmp_path / "b")
    resumed.fit(lg.GAN(hidden_dim=8, num_layers=1, lr_decay=0.01), data, ckpt_path=tmp_path / "half.ckpt")
    assert [opt.param_groups[0]["lr"] for opt in resumed.optimizers] == pytest.approx([2e-6, 2e-6])
    # lr_decay_steps: the decay ends there and the rates stay at the final fraction.
    early = trainer(max_steps=6, max_epochs=-1, enable_checkpointing=True, default_root_dir=tmp_path / "c")
    early.fit(lg.GAN(hidden_dim=8, num_layers=1, lr_decay=0.5, lr_decay_steps=4), data)
    assert early.optimizers[1].param_groups[0]["lr"] == pytest.approx(1e-4)
    with pytest.raises(lg.ConfigurationError, match="'g_scheduler' was replaced"):
        lg.GAN(lr_decay=0.01, g_scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1))
