"""The training loop of BaseGAN: what each phase updates, and the guard rails."""

import math

import lightning as L
import pytest
import torch
from helpers import same, snapshot, tiny_gan, tiny_toy, trainer
from torch import nn

from lightning_gans import BaseGAN, ConfigurationError, NonFiniteLossError
from lightning_gans.nets import MLPDiscriminator, MLPGenerator


def _instrumented(cls, **kwargs):
    class Instrumented(cls):
        def training_step(self, batch, batch_idx):
            self.g_before = snapshot(self.generator)
            self.d_after_critic = None
            return super().training_step(batch, batch_idx)

        def after_discriminator_step(self):
            super().after_discriminator_step()
            # A discriminator update never touches the generator.
            assert same(snapshot(self.generator), self.g_before)
            self.d_after_critic = snapshot(self.discriminator)
            self.d_grads = [p.grad.clone() for p in self.discriminator.parameters()]
            self.d_updates.append(self.generator_steps)

        def after_generator_step(self):
            super().after_generator_step()
            # A generator update never touches the discriminator ...
            assert same(snapshot(self.discriminator), self.d_after_critic)
            # ... and does change the generator.
            assert not same(snapshot(self.generator), self.g_before)
            # The generator's backward leaves the discriminator's gradients alone.
            assert same([p.grad for p in self.discriminator.parameters()], self.d_grads)
            self.g_updates.append(self.generator_steps)

    model = Instrumented(**kwargs)
    model.d_updates, model.g_updates = [], []
    return model


@pytest.mark.parametrize("n_critic", [1, 5])
def test_n_critic_discriminator_updates_per_generator_update(n_critic):
    model = _instrumented(type(tiny_gan()), hidden_dim=16, num_layers=1, n_critic=n_critic)
    t = trainer(max_epochs=1, limit_train_batches=4)
    t.fit(model, tiny_toy())
    assert len(model.g_updates) == 4 == model.generator_steps
    assert len(model.d_updates) == 4 * n_critic == model.discriminator_steps
    # Per batch: n_critic discriminator updates, then one generator update.
    assert model.d_updates == [step for step in range(4) for _ in range(n_critic)]
    # The trainer counts generator steps only, whatever n_critic is.
    assert t.global_step == 4


def test_the_generator_runs_once_per_update():
    model = tiny_gan(n_critic=3)
    calls = []
    model.generator.register_forward_hook(lambda *args: calls.append(torch.is_grad_enabled()))
    trainer(limit_train_batches=2).fit(model, tiny_toy())
    # 3 discriminator updates + 1 generator update per batch, but only 3 forwards: the
    # generator update reuses the last fake batch, the only one built with a graph.
    assert calls == [False, False, True] * 2


def test_ema_moves_towards_the_generator():
    model = tiny_gan(ema_decay=0.9)
    initial = snapshot(model.generator_ema)
    trainer(limit_train_batches=5).fit(model, tiny_toy())
    g, ema = snapshot(model.generator), snapshot(model.generator_ema)
    distance = lambda a, b: math.sqrt(sum(float((x - y).pow(2).sum()) for x, y in zip(a, b)))  # noqa: E731
    assert distance(ema, g) < distance(initial, g)
    assert not same(ema, initial)
    assert all(not p.requires_grad for p in model.generator_ema.parameters())
    # The update rule itself: ema <- decay * ema + (1 - decay) * g.
    before = snapshot(model.generator_ema)
    model.ema.update(model.generator, model.generator_steps)
    for b, e, p in zip(before, model.generator_ema.parameters(), model.generator.parameters()):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * p.detach())


def test_the_discriminator_optimizer_only_holds_discriminator_parameters():
    model = tiny_gan()
    t = trainer(limit_train_batches=1)
    t.fit(model, tiny_toy())
    g_opt, d_opt = t.optimizers
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(g_opt.param_groups[0]["params"]) == ids(model.generator.parameters())
    assert ids(d_opt.param_groups[0]["params"]) == ids(model.discriminator.parameters())


def test_a_nan_loss_stops_training_with_a_clear_error():
    class NaNDiscriminator(MLPDiscriminator):
        def forward(self, x):
            out = super().forward(x)
            return out * float("nan") if self.poison else out

    disc = NaNDiscriminator((2,), 16, 1)
    disc.poison = False
    model = BaseGAN(MLPGenerator(2, (2,), 16, 1), disc, latent_dim=2)

    class Poison(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            disc.poison = batch_idx == 3

    # Checked on the device every batch, read at the end of the epoch: names the first bad step.
    with pytest.raises(NonFiniteLossError, match=r"generator step 3 .*loss/d = nan"):
        trainer(limit_train_batches=6, callbacks=[Poison()]).fit(model, tiny_toy())
    assert model.generator_steps == 6

    # Read every 2 batches: training stops in the poisoned batch (index 3), before counting it.
    disc = NaNDiscriminator((2,), 16, 1)  # the first run left NaN weights behind
    disc.poison = False
    model = BaseGAN(MLPGenerator(2, (2,), 16, 1), disc, latent_dim=2, check_finite_every_n_batches=2)
    with pytest.raises(NonFiniteLossError, match=r"generator step 3 .*loss/d = nan"):
        trainer(limit_train_batches=6, callbacks=[Poison()]).fit(model, tiny_toy())
    assert model.generator_steps == 3


def test_pack_feeds_the_discriminator_m_samples_at_once():
    model = tiny_gan(pack=4)
    shapes = []
    model.discriminator.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
    trainer(limit_train_batches=1).fit(model, tiny_toy(batch_size=64))
    assert set(shapes) == {(16, 8)}  # 64 samples of width 2 -> 16 inputs of width 4 * 2
    assert model.discriminator.net[0].in_features == 8


def test_pack_samples_keeps_real_with_real():
    model = tiny_gan(pack=2)
    x = torch.arange(8.0).view(4, 2)
    torch.testing.assert_close(model.pack_samples(x), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]))
    with pytest.raises(ConfigurationError, match="multiple of 2"):
        model.pack_samples(torch.zeros(5, 2))


def test_sample_shape_mode_restoration_and_fixed_noise():
    model = tiny_gan(data_shape=(1, 4, 4), latent_dim=3)
    model.train()
    samples = model.sample(10)
    assert samples.shape == (10, 1, 4, 4)
    assert samples.abs().max() <= 1.0  # images come out of tanh in [-1, 1]
    assert model.generator.training  # mode restored
    assert not samples.requires_grad
    torch.testing.assert_close(model.sample_fixed(), model.sample_fixed())
    with pytest.raises(ConfigurationError, match="unconditional"):
        model.sample(2, labels=[0, 1])


def test_sample_uses_the_ema_generator_when_present():
    model = tiny_gan(ema_decay=0.99)
    with torch.no_grad():
        for p in model.generator_ema.parameters():
            p.zero_()
    z = torch.randn(5, 2)
    assert torch.count_nonzero(model.sample(noise=z)) == 0
    assert torch.count_nonzero(model.sample(noise=z, use_ema=False)) > 0


def test_a_generator_for_the_wrong_shape_is_named():
    model = tiny_gan(data_shape=(3,))
    with pytest.raises(ConfigurationError, match=r"shape \(3,\) but the data has shape \(2,\)"):
        trainer(limit_train_batches=1).fit(model, tiny_toy())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_critic": 0}, "n_critic"),
        ({"pack": 0}, "pack"),
        ({"ema_decay": 1.5}, "ema_decay"),
        ({"loss": "bce"}, "Valid names"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan(**kwargs)


def test_learning_rate_schedules_are_stepped_by_the_module_every_generator_step():
    from lightning_gans.schedules import Schedule

    model = tiny_gan(schedules={"lr": Schedule("linear", start=1.0, end=0.5, steps=2)})
    t = trainer(limit_train_batches=3)
    t.fit(model, tiny_toy())
    assert [opt.param_groups[0]["lr"] for opt in t.optimizers] == pytest.approx([1e-4, 1e-4])


def test_injected_networks_and_default_optimizer():
    g = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    d = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Flatten(0))
    model = BaseGAN(g, d, latent_dim=2, loss="hinge")
    t = trainer(limit_train_batches=2)
    t.fit(model, tiny_toy())
    assert model.generator_steps == 2
    assert isinstance(t.optimizers[0], torch.optim.Adam) and t.optimizers[0].param_groups[0]["betas"] == (0.5, 0.999)


def test_metrics_are_logged_only_on_the_steps_that_reach_a_logger(tmp_path):
    model = tiny_gan()
    logged = []
    original = model.log_dict
    model.log_dict = lambda metrics, **kwargs: (logged.append(model.generator_steps), original(metrics, **kwargs))
    logger = L.pytorch.loggers.CSVLogger(tmp_path)
    trainer(limit_train_batches=7, log_every_n_steps=3, logger=logger).fit(model, tiny_toy())
    # Lightning writes to loggers after batches 3 and 6 (1-based): only those are logged
    # (self.log costs ~1 ms of CPU per key), and the CSV holds exactly those steps.
    assert sorted(set(logged)) == [3, 6]
    rows = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    steps = [int(r.split(",")[header.index("step")]) for r in rows[1:] if r.split(",")[header.index("loss/d")]]
    assert steps == [2, 5]  # the logger's steps count from 0


def test_logged_metrics_include_losses_and_the_jsd_estimate():
    model = tiny_gan()
    t = trainer(limit_train_batches=2, log_every_n_steps=1)
    t.fit(model, tiny_toy())
    keys = set(t.callback_metrics)
    assert {"loss/d", "loss/g", "d/real", "d/fake", "divergence/jsd_estimate"} <= keys
    # (V + log 4) / 2 with V = -loss/d, from the same discriminator outputs.
    estimate, loss_d = float(t.callback_metrics["divergence/jsd_estimate"]), float(t.callback_metrics["loss/d"])
    assert estimate == pytest.approx((math.log(4) - loss_d) / 2, abs=1e-6)


def test_generator_loss_gets_the_real_outputs_only_when_a_variant_asks():
    from lightning_gans import GAN

    class SeesReal(GAN):
        generator_sees_real = True

        def generator_loss(self, fake_out, real_out):
            self.seen.append((fake_out.requires_grad, real_out.requires_grad, real_out.detach().clone()))
            return super().generator_loss(fake_out)

        def after_discriminator_step(self):
            super().after_discriminator_step()
            with torch.no_grad():  # what D, just updated, says of the same real batch
                self.expected_real_out = self.discriminator(self.current_real)

        def training_step(self, batch, batch_idx):
            self.current_real = batch[0]
            return super().training_step(batch, batch_idx)

    class OneArgument(GAN):  # a variant that overrides the one-argument hook keeps working
        def generator_loss(self, fake_out):
            self.calls += 1
            return super().generator_loss(fake_out)

    model = SeesReal(hidden_dim=16, num_layers=1)
    model.seen = []
    trainer(limit_train_batches=2).fit(model, tiny_toy())
    assert len(model.seen) == 2
    fake_grad, real_grad, real_out = model.seen[-1]
    assert fake_grad and not real_grad  # G's loss differentiates through D(G(z)) only
    torch.testing.assert_close(real_out, model.expected_real_out)  # D after its update, on the batch's reals

    plain = OneArgument(hidden_dim=16, num_layers=1)
    plain.calls = 0
    trainer(limit_train_batches=2).fit(plain, tiny_toy())
    assert plain.calls == 2
