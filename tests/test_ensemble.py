"""Vectorised seeds: a GANEnsemble of K members is K separate GANs, update for update."""

import functools

import pytest
import torch
from helpers import trainer
from torch import nn
from torch.utils.data import DataLoader

import lightning_gans as lg
from lightning_gans.nets.ensemble import BatchedLinear, MemberBatchNorm1d, member_network
from lightning_gans.nets.mlp import Maxout
from lightning_gans.schedules import Schedule


def test_each_chunk_of_the_batch_goes_through_its_own_members_layers():
    torch.manual_seed(0)
    linear, norm = BatchedLinear(3, 4, 5), MemberBatchNorm1d(3, 5)
    maxout = Maxout(4, 5, pieces=2, members=3)
    x = torch.randn(3 * 7, 4)
    y = norm(linear(x))
    for k in range(3):
        chunk = x[7 * k : 7 * (k + 1)]
        torch.testing.assert_close(y[7 * k : 7 * (k + 1)], norm.member(k)(linear.member(k)(chunk)))
        torch.testing.assert_close(maxout(x)[7 * k : 7 * (k + 1)], member_network(maxout, k)(chunk))
    # Each member's running statistics are those of its own chunk.
    torch.testing.assert_close(norm.member(1).running_mean, 0.1 * linear(x)[7:14].mean(0).detach())


def test_members_are_initialised_as_nn_linear_is():
    torch.manual_seed(0)
    batched = BatchedLinear(50, 64, 64)
    plain = torch.cat([nn.Linear(64, 64).weight.flatten() for _ in range(50)])
    bound = 64**-0.5
    assert batched.weight.abs().max() <= bound and plain.abs().max() <= bound
    assert batched.weight.std().item() == pytest.approx(plain.std().item(), rel=0.02)  # U(-b, b): b / sqrt(3)
    assert not torch.equal(batched.weight[0], batched.weight[1])  # independent members


def test_a_batch_that_does_not_split_among_the_members_is_one_clear_line():
    with pytest.raises(lg.ConfigurationError, match="multiple of 3"):
        BatchedLinear(3, 2, 2)(torch.randn(10, 2))
    with pytest.raises(lg.ConfigurationError, match="norm over all members couples them"):
        lg.GANEnsemble(members=2, gradient_clip_val=1.0)
    with pytest.raises(lg.ConfigurationError, match="members must be an integer >= 1"):
        lg.GANEnsemble(members=0)


def _train(model: lg.GAN, batches: list[torch.Tensor], noise: list[torch.Tensor]) -> None:
    """Lightning fits ``model`` on ``batches`` with ``noise`` as the generator's input at each step."""
    draws = iter(noise)
    model.sample_noise = lambda n, generator=None: next(draws)  # type: ignore[method-assign]
    trainer(max_steps=len(batches), max_epochs=-1).fit(model, DataLoader(batches, batch_size=None))


@pytest.mark.parametrize(
    ("loss", "penalty"),
    [("non_saturating", lg.penalties.R1Penalty(gamma=1.0)), ("relativistic_pairing", lg.penalties.R1R2Penalty(1.0))],
)
def test_each_member_follows_exactly_the_updates_of_its_own_separate_run(loss, penalty):
    """Same initial weights, same data and noise chunks: after Lightning's updates (Adam, R1 or
    R1 + R2, BatchNorm generator, EMA with ramp-up), member k of the ensemble equals the GAN
    trained alone on chunk k, with the non-saturating loss and with RpGAN's pairs (each real
    sample paired with its own member's generated one). So a member's metrics have the
    distribution of a separate run's."""
    members, batch, steps = 3, 8, 4
    settings = dict(hidden_dim=16, num_layers=2, g_batch_norm=True, ema_decay=0.9,
                    schedules={"lr": Schedule("linear", end=0.1), "ema_half_life": Schedule("linear", 0.0, 1.0, 2.0)},
                    loss=loss, penalty=penalty, pack=2,
                    g_optimizer=functools.partial(torch.optim.Adam, lr=1e-2, betas=(0.5, 0.99)),
                    d_optimizer=functools.partial(torch.optim.Adam, lr=1e-2, betas=(0.5, 0.99)))  # fmt: skip
    torch.manual_seed(0)
    ensemble = lg.GANEnsemble(members=members, **settings)
    separate = [ensemble.member(k) for k in range(members)]  # the same initial weights
    real = torch.randn(steps, members, batch, 2)
    noise = torch.randn(steps, members, batch, 2)
    _train(ensemble, list(real.flatten(1, 2)), list(noise.flatten(1, 2)))
    for k, gan in enumerate(separate):
        _train(gan, list(real[:, k]), list(noise[:, k]))
        trained = ensemble.member(k)
        for name, module in (("generator", "generator"), ("discriminator", "discriminator"), ("ema", "generator_ema")):
            expected, got = getattr(gan, module).state_dict(), getattr(trained, module).state_dict()
            for key in expected:
                torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5, msg=f"{name} {key}")
        assert not torch.allclose(trained.generator.net[0].weight, separate[(k + 1) % members].generator.net[0].weight)


def test_member_samples_are_each_members_own_and_sample_draws_from_their_mixture():
    torch.manual_seed(0)
    ensemble = lg.GANEnsemble(members=4, hidden_dim=8, num_layers=1)
    noise = torch.randn(5, 2)
    per_member = ensemble.sample(noise=noise.repeat(4, 1)).view(4, 5, 2)
    for k in range(4):
        torch.testing.assert_close(per_member[k], ensemble.member(k).sample(noise=noise))
    assert ensemble.member_samples(6).shape == (4, 6, 2)
    assert ensemble.sample(7).shape == (7, 2)  # any n: rows are padded to a multiple of the members
    with pytest.raises(IndexError, match="members 0..3"):
        ensemble.member(4)


def test_an_ensemble_checkpoint_loads_back_with_its_members(tmp_path):
    model = lg.GANEnsemble(members=3, hidden_dim=8, num_layers=1)
    fitted = trainer(max_steps=2, max_epochs=-1, limit_val_batches=None, enable_checkpointing=True,
                     default_root_dir=tmp_path)  # fmt: skip
    fitted.fit(model, lg.ToyDataModule(batch_size=30, num_samples=300))
    fitted.save_checkpoint(tmp_path / "ensemble.ckpt")
    loaded = lg.load_gan(tmp_path / "ensemble.ckpt")
    assert type(loaded) is lg.GANEnsemble and loaded.members == 3
    noise = torch.randn(4, 2)
    torch.testing.assert_close(loaded.member(2).sample(noise=noise), model.member(2).sample(noise=noise))
