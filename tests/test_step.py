"""``lightning_gans.step`` without Lightning: plain networks, plain optimizers, the math."""

from contextlib import nullcontext

import pytest
import torch
from torch import nn

from lightning_gans import losses, step
from lightning_gans.losses import get_adversarial_loss
from lightning_gans.penalties import GradientPenalty, R1Penalty, R1R2Penalty, R2Penalty


class TorchUpdate:
    """A plain-PyTorch ``step.Update``: zero grads, backward, ``optimizer.step()``."""

    def __init__(self, network: nn.Module, lr: float = 0.1) -> None:
        self.optimizer = torch.optim.SGD(network.parameters(), lr=lr)
        self.losses: list[float] = []

    def training(self):
        return nullcontext()

    def step(self, loss):
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.losses.append(loss.item())


class Hooks:
    """The non-saturating GAN of Goodfellow et al. 2014 as ``step.Hooks``, with an optional penalty."""

    generator_sees_real = False

    def __init__(self, penalty=None) -> None:
        self.adversarial_loss = get_adversarial_loss("non_saturating")
        self.penalty = penalty
        self.after = {"discriminator": 0, "generator": 0}

    def discriminator_loss(self, real_outputs, fake_outputs):
        return self.adversarial_loss.discriminator(real_outputs, fake_outputs)

    def generator_loss(self, fake_outputs, real_outputs=None):
        return self.adversarial_loss.generator(fake_outputs)

    def discriminator_penalty(self, critic, real, fake):
        return None if self.penalty is None else self.penalty(critic, real, fake)

    def generator_penalty(self, generator, fake, labels):
        return None

    def augment_inputs(self, x):
        return x

    def observe_real_outputs(self, real_outputs, images):
        pass

    def after_discriminator_step(self):
        self.after["discriminator"] += 1

    def after_generator_step(self):
        self.after["generator"] += 1


def networks(latent: int = 3, dim: int = 2) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return nn.Linear(latent, dim), nn.Sequential(nn.Linear(dim, 8), nn.Tanh(), nn.Linear(8, 1))


@pytest.mark.parametrize("n_critic", [1, 3])
def test_one_step_is_n_critic_discriminator_updates_and_one_generator_update(n_critic):
    G, D = networks()
    calls = []
    G.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    hooks, update_d, update_g = Hooks(), TorchUpdate(D), TorchUpdate(G)
    metrics = step.adversarial_step(
        hooks,
        step.Networks(G, D, D),
        torch.randn(8, 2),
        None,
        lambda: torch.randn(8, 3),
        n_critic,
        1,
        update_d,
        update_g,
    )
    assert len(update_d.losses) == n_critic and len(update_g.losses) == 1
    assert hooks.after == {"discriminator": n_critic, "generator": 1}
    # One generator forward per discriminator update; only the last keeps its graph, and the
    # generator update reuses it (no extra forward).
    assert calls == [False] * (n_critic - 1) + [True]
    assert set(metrics) == {"d/real", "d/fake", "divergence/jsd_estimate", "loss/d", "loss/g"}
    assert metrics["loss/d"].item() == pytest.approx(update_d.losses[-1])


def test_the_updates_follow_the_gradients_of_the_minimax_objective():
    """The discriminator update descends -V(D, G) (Goodfellow et al. 2014, Eq. 1) on the given
    fakes; the generator update descends -E[log D(G(z))] through the same fakes."""
    G, D = networks()
    real, z = torch.randn(8, 2), torch.randn(8, 3)
    D_before, G_before = [p.detach().clone() for p in D.parameters()], [p.detach().clone() for p in G.parameters()]

    # Expected: SGD(0.1) steps on the two losses, by hand.
    fake = G(z)
    d_loss = losses.minimax_discriminator_loss(D(real), D(fake.detach()))
    d_grads = torch.autograd.grad(d_loss, list(D.parameters()))
    D_expected = [p - 0.1 * g for p, g in zip(D_before, d_grads)]
    with torch.no_grad():
        for p, new in zip(D.parameters(), D_expected):
            p.copy_(new)
    g_loss = losses.non_saturating_generator_loss(D(fake))
    g_grads = torch.autograd.grad(g_loss, list(G.parameters()))
    G_expected = [p - 0.1 * g for p, g in zip(G_before, g_grads)]

    G, D = networks()  # the same initial weights, now through step.py
    step.adversarial_step(Hooks(), step.Networks(G, D, D), real, None, lambda: z, 1, 1, TorchUpdate(D), TorchUpdate(G))
    for p, expected in zip(D.parameters(), D_expected):
        torch.testing.assert_close(p, expected)
    for p, expected in zip(G.parameters(), G_expected):
        torch.testing.assert_close(p, expected)


def linear_critic(pack: int, dim: int, norm: float) -> nn.Linear:
    """``D(x) = w . x`` on packed inputs of ``pack * dim`` features with ``||w|| = norm``: its
    gradient with respect to every packed input is ``w``."""
    D = nn.Linear(pack * dim, 1)
    with torch.no_grad():
        w = torch.randn(pack * dim, generator=torch.Generator().manual_seed(pack))
        D.weight.copy_(norm * w / w.norm())
    return D


@pytest.mark.parametrize("pack", [1, 2, 4])
@pytest.mark.parametrize(
    ("penalty", "norm", "expected"),
    [
        (GradientPenalty(weight=1.0), 1.0, 0.0),  # 1-Lipschitz in the packed input: no penalty
        (GradientPenalty(weight=1.0), 2**0.5, (2**0.5 - 1) ** 2),  # Gulrajani et al. 2017, Eq. 3
        (GradientPenalty(weight=10.0), 3.0, 10 * 4.0),
        (R1Penalty(gamma=2.0), 2**0.5, 2.0),  # gamma / 2 * ||w||^2, Mescheder et al. 2018, Eq. 9
        (R1Penalty(gamma=10.0), 3.0, 45.0),
        (R2Penalty(gamma=4.0), 2.0, 8.0),  # Eq. 10, on the fakes
        (R1R2Penalty(gamma=4.0), 2.0, 16.0),  # gamma / 2 * (R1 + R2), Huang et al. 2024, Eq. 3
        (R1R2Penalty(gamma=0.05), 3.0, 0.45),  # R3GAN's CIFAR-10 gamma
    ],
    ids=["gp-lipschitz", "gp-sqrt2", "gp-weight", "r1-sqrt2", "r1-gamma", "r2", "r1r2", "r1r2-r3gan"],
)
def test_penalties_see_packed_inputs_as_the_discriminator_does(pack, penalty, norm, expected):
    """A critic of known gradient norm in its *packed* input gets the penalty the papers give,
    whatever ``pack`` is (PacGAN's discriminator judges packs, so the penalty must too)."""
    D = linear_critic(pack, 2, norm)
    hooks = Hooks(penalty=penalty)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    metrics = step.discriminator_step(hooks, D, real, fake, None, pack, TorchUpdate(D, lr=0.0))
    assert metrics["loss/d_penalty"].item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_the_gradient_penalty_interpolates_each_pack_with_one_coefficient():
    D = linear_critic(2, 2, 1.0)
    seen = []
    D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    real, fake = torch.zeros(8, 2), torch.ones(8, 2)
    step.discriminator_step(Hooks(penalty=GradientPenalty()), D, real, fake, None, 2, TorchUpdate(D, lr=0.0))
    interpolates = seen[2]  # after D(real) and D(fake)
    assert interpolates.shape == (4, 4)
    assert torch.all(interpolates == interpolates[:, :1])  # one coefficient per pack of 2 samples
    assert len(set(interpolates[:, 0].tolist())) == 4  # and a new one for each pack


def test_pack_samples_groups_consecutive_samples_and_names_a_bad_batch():
    x = torch.arange(12.0).reshape(6, 2)
    assert step.pack_samples(x, 3).tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    with pytest.raises(ValueError, match="multiple of 4"):
        step.pack_samples(x, 4)
