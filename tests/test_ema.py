"""The EMA generator (lightning_gans.ema): the update rule, the ramp-up of StyleGAN2-ADA as a
schedule, and an update the loop makes itself, so no variant can lose it."""

import math

import pytest
import torch
from helpers import snapshot, tiny_gan, tiny_toy, trainer
from torch import nn

import lightning_gans as lg
from lightning_gans.ema import ExponentialMovingAverage, rampup_half_life_steps
from lightning_gans.schedules import Schedule


def test_the_update_is_decay_times_the_average_plus_the_rest_times_the_generator_and_copies_buffers():
    generator = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = ExponentialMovingAverage(generator, decay=0.75)
    before = snapshot(ema.network)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(1.0)
    generator.train()(torch.randn(8, 3))  # moves the BatchNorm statistics
    ema.update(generator, step=0)
    for b, e, p in zip(before, ema.network.parameters(), generator.parameters()):
        torch.testing.assert_close(e, 0.75 * b + 0.25 * p.detach())
    for e, g in zip(ema.network.buffers(), generator.buffers()):
        assert torch.equal(e, g)
    assert not any(p.requires_grad for p in ema.network.parameters())


def test_a_half_life_schedule_from_zero_is_stylegan2_adas_ramp_up():
    """StyleGAN2-ADA caps the half-life at ``rampup * t``: a linear ``ema_half_life`` schedule
    from 0 to 1 over ``h / rampup`` steps gives the same decay at every step."""
    ema = ExponentialMovingAverage(nn.Linear(1, 1), decay=0.999)
    h = math.log(0.5) / math.log(0.999)  # 693 steps
    ramp = Schedule("linear", start=0.0, end=1.0, steps=rampup_half_life_steps(0.999, 0.05))
    for step in (0, 1, 100, 5000, 10**6):
        ema.half_life_factor = ramp.factor(step)
        expected = 0.0 if step == 0 else 0.5 ** (1 / min(h, 0.05 * step))
        assert ema.decay_now() == pytest.approx(expected)
    ema.half_life_factor = 1.0
    assert ema.decay_now() == 0.999  # exactly the configured decay


def test_a_variant_that_overrides_after_generator_step_without_super_keeps_its_ema():
    class Forgetful(lg.GAN):
        def after_generator_step(self):  # no super(): the EMA does not depend on it
            self.seen = getattr(self, "seen", 0) + 1

    model = Forgetful(hidden_dim=16, num_layers=1, ema_decay=0.5)
    initial = snapshot(model.generator_ema)
    trainer(limit_train_batches=3).fit(model, tiny_toy())
    assert model.seen == 3
    assert not any(torch.equal(a, b) for a, b in zip(initial, snapshot(model.generator_ema)))


def test_a_bad_decay_is_named():
    with pytest.raises(lg.ConfigurationError, match="ema_decay must lie in \\(0, 1\\)"):
        tiny_gan(ema_decay=1.0)
