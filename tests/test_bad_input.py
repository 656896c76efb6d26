"""Every mistake a user can make in these settings is a GANError that names the problem and
the fix: never a raw TypeError/KeyError from deep inside, never silent garbage. No training."""

import re

import pytest
import torch

import lightning_gans as lg
from lightning_gans.callbacks import ModeCoverage, SampleGrid, TwoSampleTest
from lightning_gans.data.toy import ToyDataModule, ring
from lightning_gans.errors import ConfigurationError, GANError, NonFiniteSamplesError
from lightning_gans.metrics import mode_statistics
from lightning_gans.penalties import GradientPenalty, R1Penalty

MNIST = (1, 28, 28)


def raises(match: str, kind: type[GANError] = ConfigurationError):
    """``pytest.raises`` of a library error (a GANError subclass) whose message matches."""
    assert issubclass(kind, GANError)
    return pytest.raises(kind, match=match)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: lg.FGAN(loss="hinge", data_shape=MNIST),
            r"FGAN's loss follows its divergence .*divergence=.*jensen_shannon",
        ),
        (lambda: lg.GAN(generator=torch.nn.Linear(2, 2)), r"GAN builds its own generator .*lightning_gans\.BaseGAN"),
        (lambda: lg.DCGAN(discriminator=torch.nn.Linear(2, 1), data_shape=MNIST), r"DCGAN builds its own .*BaseGAN"),
        (lambda: lg.LSGAN(generator=torch.nn.Linear(2, 2), data_shape=MNIST), r"LSGAN builds its own generator"),
        (lambda: lg.SNGAN(discriminator=torch.nn.Linear(2, 1)), r"SNGAN builds its own generator and discriminator"),
        (lambda: lg.CGAN(generator=torch.nn.Linear(2, 2), num_classes=10), r"CGAN builds its own generator"),
        (lambda: lg.GAN(pack=-1), r"pack must be an integer >= 1 .*got -1"),
        (lambda: lg.BaseGAN(latent_dim=2), r"BaseGAN needs generator= and discriminator="),
        (lambda: lg.BaseGAN(generator=torch.nn.Linear(2, 2), latent_dim=2), r"Pass both generator and discriminator"),
    ],
    ids=[
        "fgan-loss",
        "gan-net",
        "dcgan-net",
        "lsgan-net",
        "sngan-net",
        "cgan-net",
        "pack",
        "base-no-nets",
        "base-one-net",
    ],
)
def test_a_setting_a_variant_cannot_take_is_one_clear_error(make, match):
    with raises(match):
        make()


def test_a_variants_declared_defaults_are_overridden_by_passing_them_once():
    """WGANGP declares a gradient penalty and no clipping, R1GAN an R1 penalty: each is a
    default that one keyword replaces (the old design raised "got multiple values")."""
    other = R1Penalty(1.0)
    assert lg.WGANGP(penalty=other, data_shape=MNIST).penalty is other
    assert lg.WGANGP(clip_value=0.1, data_shape=MNIST).clip_value == 0.1
    assert isinstance(lg.R1GAN(penalty=GradientPenalty(), data_shape=MNIST).penalty, GradientPenalty)
    assert lg.WGANGP(n_critic=2, loss="hinge", data_shape=MNIST).n_critic == 2
    assert lg.FGAN(divergence="kl", loss="f_gan_kl", data_shape=MNIST).adversarial_loss.name == "f_gan_kl"


def test_unknown_loss_and_divergence_names_list_the_valid_ones():
    with raises(r"Unknown adversarial loss 'nonsaturating' \(did you mean 'non_saturating'\?\)\. Valid names: .*hinge"):
        lg.GAN(loss="nonsaturating")
    with raises(r"Unknown f-divergence 'kl2' \(did you mean 'kl'\?\)\. Valid names: .*jensen_shannon.*reverse_kl"):
        lg.FGAN(divergence="kl2", data_shape=MNIST)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: lg.DCGAN(data_shape=(1, 30, 30)), r"28x28, 32x32, 64x64 pixels .*got shape \(1, 30, 30\)\. Resize"),
        (lambda: lg.SNGAN(data_shape=(3, 48, 48)), r"32x32, 64x64 pixels .*got shape \(3, 48, 48\)\. Resize"),
        (lambda: lg.DCGAN(data_shape=(28, 28, 1)), re.escape("channels come first: (1, 28, 28), not (28, 28, 1)")),
        (lambda: lg.DCGAN(data_shape=(0, 28, 28)), r"at least 1 image channel, got shape \(0, 28, 28\)"),
        (lambda: lg.GAN(data_shape=(0,)), r"data_shape must be the sizes \(>= 1\) of one sample, e\.g\. \(2,\)"),
        (lambda: lg.GAN(latent_dim=0), r"latent_dim >= 1, got 0"),
        (lambda: lg.DCGAN(data_shape=MNIST, d_norm="group"), r"d_norm .*'batch', 'layer' or 'none', got 'group'"),
        (lambda: lg.SNGAN(architecture="biggan"), r"architecture must be 'resnet' or 'dcgan', got 'biggan'"),
    ],
    ids=["dcgan-30", "sngan-48", "channels-last", "no-channels", "mlp-shape", "latent", "d-norm", "architecture"],
)
def test_networks_name_the_shapes_and_settings_they_support(make, match):
    with raises(match):
        make()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SampleGrid(every_n_batches=0), r"every_n_batches must be >= 1 .*got 0"),
        (lambda: SampleGrid(num_samples=0), r"num_samples must be >= 1 .*got 0"),
        (lambda: SampleGrid(nrow=0), r"nrow must be >= 1 .*or None .*got 0"),
        (lambda: SampleGrid(interpolation_steps=-1), r"interpolation_steps must be >= 0"),
        (lambda: ModeCoverage(every_n_batches=-5), r"every_n_batches must be >= 1 .*got -5"),
        (lambda: ModeCoverage(num_samples=0), r"num_samples must be >= 1 .*got 0"),
        (lambda: ModeCoverage(threshold=0.0), r"threshold must be > 0"),
        (lambda: TwoSampleTest(every_n_batches=0), r"every_n_batches must be >= 1, got 0"),
        (lambda: TwoSampleTest(num_samples=5), r"num_samples must be >= 20 .*got 5"),
        (
            lambda: TwoSampleTest(tests=("c2st", "fid")),
            r"tests must be a non-empty subset of 'c2st', 'mmd'; got \['c2st', 'fid'\]",
        ),
        (lambda: TwoSampleTest(batch_size=0), r"batch_size and num_permutations must be >= 1, got 0 and 500"),
        (
            lambda: TwoSampleTest(c2st_kwargs={"test_frac": 0.3}),
            r"unknown option\(s\) test_frac; valid ones: test_fraction",
        ),
        (lambda: TwoSampleTest(real=torch.zeros(5, 2)), r"real must hold at least 20 samples .*got shape \(5, 2\)"),
    ],
    ids=[
        "grid-every",
        "grid-num",
        "grid-nrow",
        "grid-interp",
        "mc-every",
        "mc-num",
        "mc-threshold",
        "tst-every",
        "tst-num",
        "tst-tests",
        "tst-batch",
        "tst-c2st-kwargs",
        "tst-real",
    ],
)
def test_callbacks_check_their_arguments_when_built(make, match):
    with raises(match):
        make()


def test_mode_statistics_refuses_non_finite_or_misshapen_samples():
    mixture = ring()
    samples = mixture.sample(2500, torch.Generator().manual_seed(0))[0]
    samples[:12, 0] = float("nan")
    samples[12, 1] = float("inf")
    with raises(
        r"mode_statistics got 13 non-finite samples \(NaN/inf\) of 2500: the generator diverged; lower",
        NonFiniteSamplesError,
    ):
        mode_statistics(samples, mixture.means, mixture.std)
    with raises(r"samples of shape \(N, 2\) with N >= 1.*got shape \(10, 3\)"):
        mode_statistics(torch.zeros(10, 3), mixture.means, mixture.std)
    with raises(r"samples of shape \(N, 2\) with N >= 1.*got shape \(0, 2\)"):
        mode_statistics(torch.zeros(0, 2), mixture.means, mixture.std)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "spiral"}, r"Unknown mixture 'spiral'; choose one of grid, ring"),
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        (
            {"num_samples": 100, "batch_size": 500},
            r"num_samples \(100\) must be at least batch_size \(500\).*lower batch_size",
        ),
        ({"num_val_samples": -1}, r"num_val_samples and num_workers must be >= 0, got -1 and 0"),
    ],
    ids=["name", "batch-size", "fewer-samples-than-a-batch", "val-samples"],
)
def test_toy_data_module_checks_its_arguments(kwargs, match):
    with raises(match):
        ToyDataModule(**kwargs)
