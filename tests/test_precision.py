"""Mixed precision: every variant trains under bf16-mixed; under 16-mixed, clipping sees
unscaled gradients and the penalties differentiate through the loss scale."""

import lightning as L
import pytest
import torch
from helpers import tiny_toy, trainer
from lightning.pytorch.plugins.precision import MixedPrecision
from test_variants import RandomImages, small

import lightning_gans as lg
from lightning_gans.losses import gradient_penalty, r1_penalty
from lightning_gans.penalties import R1Penalty

VARIANTS = [lg.DCGAN, lg.LSGAN, lg.WGAN, lg.WGANGP, lg.FGAN, lg.SNGAN, lg.CGAN, lg.R1GAN]


@pytest.mark.parametrize("cls", VARIANTS, ids=lambda c: c.__name__)
def test_every_variant_trains_under_bf16_mixed(cls):
    model = small(cls)
    before = [p.detach().clone() for p in model.parameters()]
    fitted = trainer(precision="bf16-mixed", max_steps=2, max_epochs=-1, log_every_n_steps=1)
    fitted.fit(model, RandomImages())
    assert model.generator_steps == 2
    losses = {k: v for k, v in fitted.callback_metrics.items() if k.startswith("loss/")}
    assert {"loss/d", "loss/g"} <= losses.keys()
    assert all(torch.isfinite(v) for v in losses.values()), losses
    # Parameters stay float32 (autocast computes in bf16), finite, and they moved.
    assert all(p.dtype == torch.float32 and p.isfinite().all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _fp16_plugin(init_scale: float) -> MixedPrecision:
    # Lightning maps precision="16-mixed" on CPU to bf16; build the float16 plugin (and its
    # loss scaler) explicitly so the scaler path runs on CPU as it does on a GPU.
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=init_scale))


class RecordNorms(L.Callback):
    """Gradient norms as Lightning hands them to the model's clipping (after unscaling),
    and as the optimizer finally applies them."""

    def __init__(self):
        self.before, self.applied = [], []

    def on_fit_start(self, trainer, pl_module):
        for optimizer in trainer.optimizers:
            optimizer.register_step_pre_hook(lambda opt, args, kwargs: self.applied.append(_norm(opt)))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.before.append(_norm(optimizer))


def _norm(optimizer) -> float:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


@pytest.mark.parametrize("clip", ["large", "small"])
def test_clipping_under_16_mixed_acts_on_unscaled_gradients(clip):
    # Probe the unscaled gradient norms with a run that does not clip.
    probe = RecordNorms()
    torch.manual_seed(0)
    trainer(plugins=[_fp16_plugin(2.0**10)], max_steps=3, max_epochs=-1, limit_val_batches=None, callbacks=[probe]).fit(
        lg.GAN(latent_dim=2, hidden_dim=16, num_layers=1), tiny_toy()
    )
    typical = sorted(probe.before)[len(probe.before) // 2]
    scaled = typical * 2.0**10
    assert scaled > 100 * typical

    # A threshold between the unscaled and the scaled norm: clipping scaled gradients would
    # shrink every update ~1000-fold; clipping unscaled ones leaves them (large) or caps them (small).
    value = 10 * max(probe.before) if clip == "large" else 0.5 * min(probe.before)
    record = RecordNorms()
    torch.manual_seed(0)
    model = lg.GAN(latent_dim=2, hidden_dim=16, num_layers=1, gradient_clip_val=value)
    trainer(
        plugins=[_fp16_plugin(2.0**10)], max_steps=3, max_epochs=-1, limit_val_batches=None, callbacks=[record]
    ).fit(model, tiny_toy())
    assert len(record.applied) == len(record.before) == 6  # D and G, 3 steps
    for before, applied in zip(record.before, record.applied):
        assert before < scaled / 100  # the hook sees unscaled gradients
        expected = before if clip == "large" else value
        assert applied == pytest.approx(expected, rel=1e-4)


def test_the_penalties_differentiate_through_the_loss_scale():
    """Tiny input gradients underflow in float16; scaling D(x) before autograd.grad (and
    unscaling after) recovers them, as PyTorch's AMP recipe for gradient penalties does."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    critic = lambda x: 1e-7 * net(x)  # noqa: E731
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    exact_r1 = r1_penalty(critic, real)
    with torch.autocast("cpu", dtype=torch.float16):
        unscaled = r1_penalty(critic, real)
        scaled = r1_penalty(critic, real, grad_scale=torch.tensor(2.0**12))
        gp = gradient_penalty(
            critic, real, fake, grad_scale=torch.tensor(2.0**12), generator=torch.Generator().manual_seed(1)
        )
    assert unscaled == 0  # underflowed
    assert scaled.dtype == torch.float32
    assert scaled.item() == pytest.approx(exact_r1.item(), rel=1e-2)
    exact_gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    assert gp.item() == pytest.approx(exact_gp.item(), rel=1e-3)


def test_r1_under_16_mixed_trains_with_the_scaler(monkeypatch):
    seen = []
    original = lg.BaseGAN.penalty_grad_scale

    def spy(self):
        scale = original(self)
        seen.append(None if scale is None else float(scale))
        return scale

    monkeypatch.setattr(lg.BaseGAN, "penalty_grad_scale", spy)
    model = lg.GAN(latent_dim=2, hidden_dim=16, num_layers=1, penalty=R1Penalty(1.0))
    trainer(plugins=[_fp16_plugin(2.0**8)], max_steps=3, max_epochs=-1, limit_val_batches=None).fit(model, tiny_toy())
    assert len(seen) == 3 and all(s is not None and s >= 1 for s in seen)  # the scaler's scale, each D step
    assert all(p.isfinite().all() for p in model.parameters())


def test_channels_last_keeps_networks_and_batches_in_nhwc():
    model = small(lg.DCGAN, channels_last=True)
    seen = []
    model.discriminator.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    trainer(max_steps=2, max_epochs=-1).fit(model, RandomImages())
    assert seen and all(seen)
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)


@pytest.mark.parametrize(("cls", "compiled"), [(lg.DCGAN, {"generator", "discriminator"}), (lg.WGANGP, {"generator"})])
def test_torch_compile_skips_a_discriminator_that_needs_double_backward(cls, compiled, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: calls.append(self))
    model = small(cls, torch_compile=True)
    trainer(max_steps=1, max_epochs=-1).fit(model, RandomImages())
    names = {
        name for name, net in (("generator", model.generator), ("discriminator", model.discriminator)) if net in calls
    }
    assert names == compiled


@pytest.mark.slow
def test_torch_compile_trains():
    model = small(lg.DCGAN, torch_compile=True)
    trainer(max_steps=2, max_epochs=-1).fit(model, RandomImages())
    assert model.generator_steps == 2 and all(p.isfinite().all() for p in model.parameters())
