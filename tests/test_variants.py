"""Each image variant: its paper's defaults and the behaviour that is its idea."""

import lightning as L
import pytest
import torch
from helpers import trainer
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg
from lightning_gans.penalties import GradientPenalty, R1Penalty

SHAPE = (1, 28, 28)


class RandomImages(L.LightningDataModule):
    """Labelled random images in [-1, 1]: enough to exercise a training step."""

    def __init__(self, shape=SHAPE, n=32, batch_size=8, num_classes=10):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, *shape, generator=g) * 2 - 1
        self.labels = torch.randint(num_classes, (n,), generator=g)
        self.batch_size, self.data_shape, self.num_classes = batch_size, shape, num_classes

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=self.batch_size, drop_last=True)


def small(cls, **kwargs):
    """A variant with narrow networks so a step takes milliseconds."""
    if cls in (lg.SNGAN, lg.CGAN):
        kwargs.setdefault("architecture", "dcgan")
    kwargs.setdefault("g_channels", 8)
    kwargs.setdefault("d_channels", 8)
    if cls is lg.CGAN:
        kwargs.setdefault("num_classes", 10)
    return cls(data_shape=kwargs.pop("data_shape", SHAPE), **kwargs)


@pytest.mark.parametrize(
    ("cls", "optimizer", "lr", "betas", "n_critic", "loss"),
    [
        (lg.DCGAN, torch.optim.Adam, 2e-4, (0.5, 0.999), 1, "non_saturating"),
        (lg.LSGAN, torch.optim.Adam, 2e-4, (0.5, 0.999), 1, "least_squares"),
        (lg.WGAN, torch.optim.RMSprop, 5e-5, None, 5, "wasserstein"),
        (lg.WGANGP, torch.optim.Adam, 1e-4, (0.0, 0.9), 5, "wasserstein"),
        (lg.FGAN, torch.optim.Adam, 2e-4, (0.5, 0.999), 1, "f_gan_jensen_shannon"),
        (lg.SNGAN, torch.optim.Adam, 2e-4, (0.0, 0.9), 5, "hinge"),
        (lg.CGAN, torch.optim.Adam, 2e-4, (0.0, 0.9), 5, "hinge"),
        (lg.R1GAN, torch.optim.RMSprop, 1e-4, None, 1, "non_saturating"),
    ],
)
def test_paper_defaults(cls, optimizer, lr, betas, n_critic, loss):
    model = small(cls)
    g_opt, d_opt = model.configure_optimizers()
    for opt in (g_opt, d_opt):
        assert type(opt) is optimizer and opt.param_groups[0]["lr"] == lr
        if betas:
            assert opt.param_groups[0]["betas"] == betas
    assert model.n_critic == n_critic
    assert model.adversarial_loss.name == loss
    assert cls.__doc__ and "20" in cls.__doc__  # names the paper and its year


def test_wgan_keeps_critic_weights_in_the_clip_range():
    model = small(lg.WGAN, clip_value=0.01)
    trainer(limit_train_batches=3).fit(model, RandomImages())
    weights = torch.cat([p.detach().flatten() for p in model.discriminator.parameters()])
    assert weights.abs().max() <= 0.01
    assert weights.abs().max() == pytest.approx(0.01)  # clipping is active, not vacuous


def test_wgangp_penalises_per_sample_interpolates_without_batchnorm():
    model = small(lg.WGANGP)
    assert isinstance(model.penalty, GradientPenalty) and model.penalty.weight == 10.0
    assert model.clip_value is None
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.discriminator.modules())
    seen = []
    model.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    real, fake = torch.ones(4, *SHAPE), -torch.ones(4, *SHAPE)
    model.discriminator_penalty(model.discriminate, real, fake)
    interpolates = seen[-1].flatten(1)
    assert torch.all(interpolates == interpolates[:, :1])  # one coefficient per sample


def test_spectral_norm_keeps_largest_singular_values_near_one():
    model = small(lg.SNGAN)
    trainer(limit_train_batches=4).fit(model, RandomImages())
    model.discriminator.train()
    with torch.no_grad():
        for _ in range(30):  # let the power iteration converge on the trained weights
            model.discriminator(torch.randn(2, *SHAPE))
    model.discriminator.eval()
    sigmas = []
    for module in model.discriminator.modules():
        if hasattr(module, "parametrizations") and hasattr(module.parametrizations, "weight"):
            weight = module.weight.detach()
            sigmas.append(torch.linalg.matrix_norm(weight.flatten(1), ord=2).item())
    assert len(sigmas) >= 3
    assert all(abs(s - 1) < 0.05 for s in sigmas), sigmas


def test_cgan_sample_conditions_on_labels():
    model = small(lg.CGAN)
    trainer(limit_train_batches=2).fit(model, RandomImages())
    z = torch.randn(1, model.latent_dim).repeat(10, 1)
    samples = model.sample(noise=z, labels=list(range(10)))
    assert samples.shape == (10, *SHAPE)
    # Same noise, different class -> different image (training has already moved the
    # class-conditional BatchNorm tables apart from their identical initialisation) ...
    assert (samples[0] - samples[1]).abs().max() > 0
    with torch.no_grad():
        for module in model.generator.modules():
            if isinstance(module, lg.nets.ConditionalBatchNorm2d):
                module.scale.weight.normal_(1.0, 0.5)
    samples = model.sample(noise=z, labels=list(range(10)))
    assert (samples[0] - samples[1]).abs().max() > 1e-2
    # ... and the same class gives the same image.
    torch.testing.assert_close(model.sample(noise=z[:2], labels=[3, 3])[0], model.sample(noise=z[:1], labels=[3])[0])
    assert model.sample(labels=[1, 2, 3]).shape == (3, *SHAPE)


def test_cgan_needs_labelled_data():
    with pytest.raises(ValueError, match="num_classes"):
        lg.CGAN(data_shape=SHAPE, architecture="dcgan", num_classes=0)


def test_r1_lazy_schedule_applies_the_penalty_every_k_steps_with_gain_k():
    model = small(lg.R1GAN, gamma=4.0, r1_every=3)
    assert isinstance(model.penalty, R1Penalty)
    real = torch.randn(8, *SHAPE)
    values = []
    for step in range(7):
        model.discriminator_steps = step
        values.append(model.discriminator_penalty(model.discriminate, real, real))
    assert [v is not None for v in values] == [True, False, False, True, False, False, True]
    r1 = lg.losses.r1_penalty(lambda x: model.discriminate(x), real)
    assert values[0].item() == pytest.approx(3 * 4.0 / 2 * r1.item(), rel=1e-5)


def test_fgan_logs_its_divergence_estimate():
    model = small(lg.FGAN, divergence="pearson")
    t = trainer(limit_train_batches=2, log_every_n_steps=1)
    t.fit(model, RandomImages())
    assert "divergence/fgan_pearson_bound" in t.callback_metrics


@pytest.mark.parametrize("cls", [lg.DCGAN, lg.SNGAN])
def test_unsupported_image_size_is_named(cls):
    with pytest.raises(ValueError, match=r"28x28, 32x32, 64x64.*got shape \(3, 48, 48\)"):
        cls(data_shape=(3, 48, 48), architecture="dcgan") if cls is lg.SNGAN else cls(data_shape=(3, 48, 48))
    if cls is lg.SNGAN:
        with pytest.raises(ValueError, match=r"32x32, 64x64.*got shape \(1, 28, 28\)"):
            lg.SNGAN(data_shape=(1, 28, 28))


@pytest.mark.parametrize("size", [32, 64])
def test_resnet_networks_build_32_and_64_pixels(size):
    model = lg.SNGAN(data_shape=(3, size, size), g_channels=16, d_channels=16)
    assert model.sample(2).shape == (2, 3, size, size)


def test_packing_works_for_image_variants():
    model = small(lg.DCGAN, pack=2)
    trainer(limit_train_batches=2).fit(model, RandomImages())
    assert model.discriminator.features[0].in_channels == 2
