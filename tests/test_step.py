"""``lightning_gans.step`` without Lightning: plain networks, plain optimizers, the math."""

from contextlib import nullcontext

import pytest
import torch
from torch import nn

from lightning_gans import losses, step
from lightning_gans.losses import get_adversarial_loss
from lightning_gans.penalties import R1Penalty


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


def test_the_penalty_differentiates_the_critic_with_packing_applied():
    """R1 on a linear critic ``D(x) = w . pack(x)`` with pack 2: a sample's input gradient is the
    half of ``w`` it meets, (1, 2) or (3, 4), so ``E||grad_x D(x)||^2 = (5 + 25) / 2``, times
    ``gamma / 2`` (Mescheder et al. 2018, Eq. 9)."""
    D = nn.Linear(4, 1, bias=False)  # 2 samples of dimension 2 packed into one input
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    hooks = Hooks(penalty=R1Penalty(gamma=2.0))
    metrics = step.discriminator_step(hooks, D, torch.randn(6, 2), torch.randn(6, 2), None, 2, TorchUpdate(D, lr=0.0))
    assert metrics["loss/d_penalty"].item() == pytest.approx(15.0)


def test_pack_samples_groups_consecutive_samples_and_names_a_bad_batch():
    x = torch.arange(12.0).reshape(6, 2)
    assert step.pack_samples(x, 3).tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    with pytest.raises(ValueError, match="multiple of 4"):
        step.pack_samples(x, 4)
