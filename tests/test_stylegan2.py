"""StyleGAN2 against its paper: demodulation, equalised learning rate, lazy regularisation,
path length, style mixing, truncation, and training on the library's loop."""

import math

import pytest
import torch
from helpers import trainer

import lightning_gans as lg
from lightning_gans.errors import ConfigurationError
from lightning_gans.nets.stylegan2 import (
    EqualLinear,
    ModulatedConv2d,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    minibatch_stddev,
    random_stream,
)


def tiny(**kwargs) -> lg.StyleGAN2:
    options = dict(
        data_shape=(1, 32, 32), latent_dim=16, w_dim=16, mapping_layers=2, g_channels=16, d_channels=16,
        channel_base=512,
    )  # fmt: skip
    options.update(kwargs)
    return lg.StyleGAN2(**options)


@pytest.mark.parametrize("style_scale", [0.1, 1.0, 10.0])
def test_demodulation_keeps_unit_variance_whatever_the_style(style_scale):
    # Sec. 2.2: with unit-variance inputs, Eq. 3 restores unit output variance per channel.
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 32, 3, w_dim=8)
    x = torch.randn(16, 64, 16, 16)
    w = style_scale * torch.randn(16, 8)
    with torch.no_grad():
        out = conv(x, w)[:, :, 1:-1, 1:-1]  # away from the zero padding
        std = out.std(dim=(0, 2, 3))
        conv.demodulate = False
        undemodulated = conv(x, w)[:, :, 1:-1, 1:-1].std()
    assert std.mean() == pytest.approx(1.0, abs=0.1) and std.min() > 0.8 and std.max() < 1.2
    if style_scale == 10.0:
        assert undemodulated > 3  # without Eq. 3 the style's scale passes through


def test_equalised_learning_rate_scales_weights_at_run_time():
    layer = EqualLinear(100, 50, lr_mul=0.01)
    assert layer.weight.std().item() == pytest.approx(100, rel=0.1)  # N(0, 1) / lr_mul
    with torch.no_grad():
        out = layer(torch.randn(1000, 100))
    # Effective weights N(0, 1 / fan_in) whatever lr_mul: unit-variance outputs; lr_mul only
    # scales how fast the stored weights move in effective units.
    assert out.std().item() == pytest.approx(1.0, rel=0.1)


def test_the_mapping_network_normalises_z():
    g = StyleGAN2Generator(16, (1, 8, 8), w_dim=16, mapping_layers=2, channel_base=64, channel_max=8).eval()
    z = torch.randn(4, 16)
    assert torch.allclose(g.mapping(z), g.mapping(3 * z), atol=1e-5)


def test_truncation_at_psi_zero_gives_the_average_image_and_one_leaves_w():
    model = tiny()
    trainer(max_steps=2, max_epochs=-1).fit(model, _loader())
    z = torch.randn(6, 16)
    model.eval()
    average = model.sample(noise=z, truncation_psi=0.0)
    assert torch.allclose(average, average[:1].expand_as(average), atol=1e-5)
    assert torch.equal(model.sample(noise=z), model.sample(noise=z, truncation_psi=1.0))
    assert not torch.allclose(model.sample(noise=z, truncation_psi=0.5), model.sample(noise=z))


def test_truncation_is_refused_for_variants_without_a_style_mapping():
    dcgan = lg.DCGAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8)
    with pytest.raises(ConfigurationError, match="StyleGAN2"):
        dcgan.sample(2, truncation_psi=0.7)


def test_style_mixing_switches_w_once_per_batch_in_training_only():
    g = StyleGAN2Generator(8, (1, 32, 32), w_dim=8, mapping_layers=1, channel_base=64, channel_max=8, mixing_prob=1.0)
    z = torch.randn(5, 8)
    with random_stream(torch.Generator().manual_seed(0)):
        _, ws = g(z, return_ws=True)
    switched = (ws[:, 1:] != ws[:, :-1]).any(dim=2)  # (N, num_ws - 1)
    assert (switched.sum(dim=1) == 1).all() and (switched == switched[:1]).all()  # one crossover, shared
    _, ws = g.eval()(z, return_ws=True)
    assert (ws == ws[:, :1]).all()


def test_training_randomness_comes_from_the_given_stream():
    g = StyleGAN2Generator(8, (1, 16, 16), w_dim=8, mapping_layers=1, channel_base=64, channel_max=8)
    for layer in g.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(1.0)
    z = torch.randn(3, 8)
    with random_stream(torch.Generator().manual_seed(1)):
        a = g(z)
    with random_stream(torch.Generator().manual_seed(1)):
        b = g(z)
    with random_stream(torch.Generator().manual_seed(2)):
        c = g(z)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(g.eval()(z), g(z))  # eval mode: fixed noise, deterministic samples


def test_minibatch_stddev_appends_the_groups_mean_standard_deviation():
    x = torch.randn(8, 4, 2, 2)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 5, 2, 2)
    groups = x.reshape(4, 2, 4, 2, 2)  # sample i is in group i % 2
    expected = groups.std(dim=0, unbiased=False).mean(dim=(1, 2, 3))
    assert torch.allclose(out[0, 4, 0, 0], expected[0], atol=1e-4)
    assert torch.allclose(out[1, 4, 0, 0], expected[1], atol=1e-4)
    assert minibatch_stddev(torch.randn(6, 4, 2, 2), group_size=4).shape == (6, 5, 2, 2)  # group 3 divides 6


def test_lazy_r1_is_applied_every_16_updates_times_16():
    model = tiny(r1_gamma=2.0)
    real = torch.randn(4, 1, 32, 32)
    critic = model.discriminator
    values = [model.penalty(critic, real, real, step=s) for s in range(32)]
    assert [s for s, v in enumerate(values) if v is not None] == [0, 16]
    from lightning_gans.losses import r1_penalty

    assert values[0].item() == pytest.approx(16 * 2.0 / 2 * r1_penalty(critic, real).item(), rel=1e-5)


def test_path_length_penalty_is_lazy_scaled_and_matches_the_jacobian():
    model = tiny(pl_every=4, pl_weight=2.0, pl_batch_shrink=2, mixing_prob=0.0)
    fake = torch.zeros(4, 1, 32, 32)
    model._reseed_noise()
    model.generator_steps = 1
    assert model.generator_penalty(model.generator, fake, None) is None
    model.generator_steps = 4
    rng_state = model.noise_generator.get_state()
    with random_stream(model.noise_generator):
        penalty = model.generator_penalty(model.generator, fake, None)
    # Recompute by brute force: J_w^T y for the same z, noise inputs and y, one sample at a time.
    model.noise_generator.set_state(rng_state)
    with random_stream(model.noise_generator):
        z = model.sample_noise(2, model.noise_generator)
        w = model.generator.mapping(z, track=False)
        state = model.noise_generator.get_state()
        images, ws = model.generator(z, return_ws=True)
    y = torch.randn(images.shape, generator=model.noise_generator) / 32
    lengths = []
    for i in range(2):
        model.noise_generator.set_state(state)

        def image_of(w_i, i=i):
            with random_stream(model.noise_generator):
                wss = ws.detach().clone()
                wss[i] = w_i
                model.noise_generator.set_state(state)
                return _synthesis(model.generator, wss)[i]

        jacobian = torch.autograd.functional.jacobian(image_of, ws[i].detach())  # (1, 32, 32, num_ws, w_dim)
        lengths.append(torch.einsum("chw,chwkd->kd", y[i], jacobian).square().sum(1).mean().sqrt())
    lengths = torch.stack(lengths)
    pl_mean = 0.01 * lengths.mean()  # the running mean's first step from 0
    assert model.pl_mean.item() == pytest.approx(pl_mean.item(), rel=1e-4)
    expected = (lengths - pl_mean).square().mean() * 2.0 * 4
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-3)
    assert w.shape == (2, 16)


def _synthesis(g: StyleGAN2Generator, ws: torch.Tensor) -> torch.Tensor:
    x, image, index = None, None, 0
    for block in g.blocks:
        x, image = block(x, image, ws[:, index : index + block.num_conv + 1])
        index += block.num_conv
    return image


def test_the_discriminator_is_residual_with_one_output_per_input():
    d = StyleGAN2Discriminator((3, 64, 64), channel_base=512, channel_max=32)
    assert d(torch.randn(5, 3, 64, 64)).shape == (5,)
    assert len(d.blocks) == 4  # 64 -> 32 -> 16 -> 8 -> 4


def test_optimizers_follow_the_lazy_intervals():
    model = tiny()
    g_opt = model.configure_default_optimizer(model.generator.parameters(), "generator")
    d_opt = model.configure_default_optimizer(model.discriminator.parameters(), "discriminator")
    assert g_opt.defaults["lr"] == pytest.approx(0.002 * 4 / 5)
    assert d_opt.defaults["lr"] == pytest.approx(0.002 * 16 / 17)
    assert d_opt.defaults["betas"] == (0.0, pytest.approx(0.99 ** (16 / 17)))


def _loader(n: int = 32, channels: int = 1, size: int = 32):
    data = torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=8, drop_last=True)


def test_stylegan2_trains_with_every_regulariser_and_ada_and_logs_them():
    model = tiny(r1_every=2, pl_every=2, augment="ada", ada_kimg=1, ada_p=0.2)
    before = [p.detach().clone() for p in model.parameters()]
    fit = trainer(max_steps=9, max_epochs=-1, log_every_n_steps=1)  # the last step has both lazy terms
    fit.fit(model, _loader())
    logged = fit.logged_metrics
    for key in ("loss/d", "loss/g", "loss/d_penalty", "loss/g_penalty", "augment/p", "augment/rt"):
        assert key in logged and math.isfinite(float(logged[key])), key
    moved = [not torch.equal(a, b) for a, b in zip(before, model.parameters())]
    assert sum(moved) > 0.9 * len(moved)
    ema = model.generator_ema
    assert ema is not None and not torch.equal(ema.mapping.w_avg, torch.zeros(16))


def test_bad_sizes_name_the_fix():
    with pytest.raises(ConfigurationError, match="power of 2"):
        tiny(data_shape=(1, 28, 28))
    with pytest.raises(ConfigurationError, match="pl_every"):
        tiny(pl_every=0)
