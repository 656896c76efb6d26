"""R3GAN (Huang et al. 2024): its networks against the paper's design, its training setting, and
a few steps of training through Lightning with the relativistic pairing loss and R1 + R2."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_gans import R3GAN, ConditionalR3GAN
from lightning_gans.errors import ConfigurationError
from lightning_gans.nets.r3gan import LEAKY_RELU_GAIN, R3GANDiscriminator, R3GANGenerator, Resample, ResidualBlock
from lightning_gans.penalties import R1Penalty, R1R2Penalty

SMALL = {"widths": 8, "cardinality": 2, "blocks": 1}


@pytest.mark.parametrize("size", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_networks_build_any_power_of_two_size_from_8_and_any_channel_count(size, channels):
    generator = R3GANGenerator(4, (channels, size, size), **SMALL)
    discriminator = R3GANDiscriminator((channels, size, size), **SMALL)
    images = generator(torch.randn(2, 4))
    assert images.shape == (2, channels, size, size)
    assert discriminator(images).shape == (2, 1)


@pytest.mark.parametrize("shape", [(3, 28, 28), (3, 4, 4), (3, 32, 16), (3, 48, 48)])
def test_other_sizes_get_one_line_that_says_how_to_fix_them(shape):
    with pytest.raises(ConfigurationError, match=r"power-of-2 size from 8.*data.image_size"):
        R3GANGenerator(4, shape)


def test_per_stage_settings_must_name_every_resolution_and_groups_must_divide():
    with pytest.raises(ConfigurationError, match=r"widths has one value per resolution, 3 here.*got 2"):
        R3GANGenerator(4, (3, 16, 16), widths=[8, 8], cardinality=2, blocks=1)
    with pytest.raises(ConfigurationError, match=r"splits 16 channels .* into 3 groups"):
        ResidualBlock(8, cardinality=3, expansion=2, kernel_size=3, total_blocks=1)


def test_no_normalisation_layers_and_every_block_starts_as_the_identity():
    """R3GAN's Sec. 3: no normalisation; fix-up initialisation zeroes each block's last layer."""
    nets = [R3GANGenerator(8, (3, 16, 16), widths=16, cardinality=4, blocks=2), R3GANDiscriminator((3, 16, 16))]
    norms = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    for net in nets:
        assert not [m for m in net.modules() if isinstance(m, norms)]
        blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
        assert blocks and all(torch.count_nonzero(b.project.weight) == 0 for b in blocks)
        x = torch.randn(2, blocks[0].expand.in_channels, 4, 4)
        assert torch.equal(blocks[0](x), x)


def test_weights_start_with_the_fixup_scaled_msr_variance():
    """Each convolution in a branch: std = gain * L^(-1/4) / sqrt(fan_in) (L blocks, 3 layers each)."""
    torch.manual_seed(0)
    block = ResidualBlock(64, cardinality=4, expansion=2, kernel_size=3, total_blocks=16)
    expected = LEAKY_RELU_GAIN * 16 ** (-1 / 4)
    assert block.expand.weight.std().item() == pytest.approx(expected / math.sqrt(64), rel=0.03)
    assert block.grouped.weight.std().item() == pytest.approx(expected / math.sqrt(32 * 9), rel=0.03)


def test_resampling_is_bilinear():
    """Inside the image (away from the zero-padded border) the [1, 3, 3, 1] filter with stride 2
    is exactly bilinear interpolation (align_corners=False) up, and its adjoint down."""
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    up = Resample(3, 3, up=True).double()(x)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1])
    down = Resample(3, 3, up=False).double()
    y = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    # <down(x), y> = <x, up(y)> / 4: the same filter, transposed
    assert torch.sum(down(x) * y).item() == pytest.approx(torch.sum(x * Resample(3, 3, up=True).double()(y)).item() / 4)


def test_class_conditioning_changes_both_networks_outputs():
    torch.manual_seed(0)
    generator = R3GANGenerator(8, (3, 8, 8), num_classes=10, **SMALL)
    discriminator = R3GANDiscriminator((3, 8, 8), num_classes=10, **SMALL)
    z = torch.randn(1, 8).expand(2, 8)
    images = generator(z, torch.tensor([1, 2]))
    assert not torch.allclose(images[0], images[1])
    same = images[:1].expand(2, -1, -1, -1)
    outputs = discriminator(same, torch.tensor([1, 2]))
    assert outputs.shape == (2, 1) and outputs[0] != outputs[1]
    with pytest.raises(ValueError, match="class-conditional: pass labels"):
        generator(z)


def test_the_variant_carries_the_papers_training_setting():
    gan = R3GAN(data_shape=(3, 8, 8), latent_dim=8, **SMALL)
    assert gan.adversarial_loss.name == "relativistic_pairing" and gan.generator_sees_real
    assert isinstance(gan.penalty, R1R2Penalty) and gan.penalty.gamma == 0.05
    g_opt = gan.configure_default_optimizer(gan.generator.parameters(), "generator")
    assert g_opt.defaults["lr"] == 2e-4 and g_opt.defaults["betas"] == (0.0, 0.9) and g_opt.defaults["eps"] == 1e-8
    schedules = gan.schedules.schedules
    assert schedules["lr"].end == 0.25 and schedules["penalty_weight"].end == 0.1
    assert schedules["beta2"].end * 0.9 == pytest.approx(0.99) and schedules["ema_half_life"].start == 0.0
    assert gan.ema is not None and gan.ema.half_life == pytest.approx(9766)

    ablation = R3GAN(data_shape=(3, 8, 8), latent_dim=8, loss="non_saturating", penalties="r1", gamma=1.0, **SMALL)
    assert type(ablation.penalty) is R1Penalty and not ablation.generator_sees_real
    custom = R3GAN(data_shape=(3, 8, 8), latent_dim=8, schedules={"lr": {"kind": "constant"}}, **SMALL)
    assert custom.schedules.schedules["lr"].kind == "constant" and "penalty_weight" in custom.schedules
    packed = R3GAN(data_shape=(3, 8, 8), latent_dim=8, pack=2, **SMALL)
    assert packed.discriminator.from_image.in_channels == 6


def test_a_few_steps_of_training_follow_the_schedules_and_stay_finite(tmp_path):
    """RpGAN + R1 + R2 through Lightning: the generator update gets D's outputs on the reals, the
    penalty's weight and Adam's beta2 follow their cosine schedules, the EMA ramps up."""
    torch.manual_seed(0)
    gan = ConditionalR3GAN(data_shape=(1, 8, 8), latent_dim=8, num_classes=3, **SMALL)
    seen = []
    generator_loss = gan.generator_loss
    gan.generator_loss = lambda fake, real=None: (seen.append(real is not None), generator_loss(fake, real))[1]
    data = TensorDataset(torch.rand(48, 1, 8, 8) * 2 - 1, torch.arange(48) % 3)
    fit = trainer(default_root_dir=tmp_path, max_steps=6, max_epochs=-1)
    fit.fit(gan, DataLoader(data, batch_size=8))
    assert seen == [True] * 6
    assert gan.penalty.weight_factor == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 5 / 6)) / 2)
    d_opt = fit.optimizers[1]
    assert d_opt.param_groups[0]["betas"][1] == pytest.approx(0.9 * (1.1 - 0.1 * (1 + math.cos(math.pi * 5 / 6)) / 2))
    assert all(torch.isfinite(p).all() for p in gan.parameters())
