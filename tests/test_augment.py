"""Differentiable augmentation (DiffAugment, ADA): what the papers ask of it, and its wiring
into every variant's discriminator and generator updates."""

import pytest
import torch
from helpers import trainer

import lightning_gans as lg
from lightning_gans import step
from lightning_gans.augment import AdaptiveAugment, DiffAugment, build_augment, translate
from lightning_gans.errors import ConfigurationError


def images(n: int = 16, channels: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


PIPELINES = [
    pytest.param(lambda: DiffAugment(["color"]), id="color"),
    pytest.param(lambda: DiffAugment(["translation"]), id="translation"),
    pytest.param(lambda: DiffAugment(["cutout"]), id="cutout"),
    pytest.param(lambda: DiffAugment(), id="color,translation,cutout"),
    pytest.param(lambda: AdaptiveAugment(p=1.0), id="ada-p1"),
    pytest.param(lambda: AdaptiveAugment(p=0.3), id="ada-p0.3"),
]


@pytest.mark.parametrize("make", PIPELINES)
def test_the_gradient_reaches_the_generator(make):
    generator = lg.DCGAN(data_shape=(3, 32, 32), g_channels=8, d_channels=8).generator
    fake = generator(torch.randn(8, 100))
    augmented = make()(fake, rng())
    assert augmented.shape == fake.shape
    augmented.square().sum().backward()
    grads = [p.grad for p in generator.parameters() if p.grad is not None]
    assert len(grads) == len(list(generator.parameters()))
    assert all(torch.isfinite(g).all() for g in grads) and sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("make", PIPELINES)
def test_the_same_stream_gives_the_same_transform_and_another_stream_another(make):
    x = images()
    augment = make()
    assert torch.equal(augment(x, rng(1)), augment(x, rng(1)))
    assert not torch.equal(augment(x, rng(1)), augment(x, rng(2)))


def test_ada_is_exactly_the_identity_at_p_zero_and_transforms_at_p_one():
    x = images()
    assert torch.equal(AdaptiveAugment(p=0.0)(x, rng()), x)
    changed = (AdaptiveAugment(p=1.0)(x, rng()) - x).flatten(1).abs().amax(dim=1)
    assert (changed > 0.1).all(), "p = 1 left some images unchanged"


def test_ada_applies_each_transform_to_about_p_of_the_images():
    # 9 transforms, each on with probability p (rotation 1 - sqrt(1 - p)); a chosen 90-degree
    # rotation or translation can draw 0. So an image stays untouched with probability between
    # (1 - p)^9 and (1 - p)^6.5.
    x = images(n=2000, size=8)
    for p in (0.1, 0.3):
        untouched = ((AdaptiveAugment(p=p)(x, rng()) - x).flatten(1).abs().amax(dim=1) < 1e-6).float().mean()
        assert (1 - p) ** 9 - 0.03 < float(untouched) < (1 - p) ** 6.5 + 0.03


def test_translation_and_cutout_keep_images_in_range_and_shape():
    x = images(size=32)
    for policy in (["translation"], ["cutout"], ["translation", "cutout"]):
        y = DiffAugment(policy)(x, rng())
        assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1


def test_colour_transforms_stay_near_the_data_range():
    # Brightness and contrast move values (by design): the bulk stays within a bounded band.
    x = images(n=256, size=16)
    for augment in (DiffAugment(["color"]), AdaptiveAugment(p=1.0)):
        y = augment(x, rng())
        assert y.shape == x.shape and torch.isfinite(y).all()
        low, high = torch.quantile(y.flatten()[:100_000], torch.tensor([0.01, 0.99]))
        assert -3 < low < -0.4 and 0.4 < high < 3


def test_translation_moves_whole_pixels_with_zero_fill():
    x = images(n=2, channels=1, size=8)
    y = translate(x, torch.tensor([1, 0]), torch.tensor([0, -2]))
    down = torch.zeros_like(x[0])
    down[:, 1:] = x[0, :, :-1]
    left = torch.zeros_like(x[1])
    left[:, :, :-2] = x[1, :, :, 2:]
    assert torch.equal(y[0], down) and torch.equal(y[1], left)


def test_cutout_zeroes_a_square_of_half_the_side():
    x = torch.ones(64, 1, 16, 16)
    y = DiffAugment(["cutout"])(x, rng())
    zeros = (y == 0).flatten(1).sum(1)
    assert zeros.max() == 64 and zeros.min() >= 16  # 8 x 8, clipped at the border to at least 4 x 4


def test_ada_p_rises_while_the_discriminator_overfits_and_falls_otherwise():
    ada = AdaptiveAugment(target=0.6, kimg=1.0, p=0.5)
    ada.accumulate(torch.full((64, 1), 3.0), images=64)  # r_t = 1 > 0.6: overfitting
    ada.accumulate(torch.tensor([[2.0]] * 48 + [[-1.0]] * 16), images=64)  # r_t = 0.5 for this batch
    ada.adjust()
    assert ada.rt.item() == pytest.approx(0.75)
    assert ada.p.item() == pytest.approx(0.5 + 128 / 1000)  # 128 images of the 1,000 for 0 -> 1
    assert ada.probability == pytest.approx(ada.p.item())
    ada.accumulate(-torch.ones(64, 1), images=64)  # r_t = -1 < 0.6
    ada.adjust()
    assert ada.p.item() == pytest.approx(0.5 + 128 / 1000 - 64 / 1000)
    for _ in range(20):
        ada.accumulate(-torch.ones(64, 1), images=64)
        ada.adjust()
    assert ada.p.item() == 0.0 and ada.probability == 0.0  # clamped at 0


def test_ada_averages_r_t_over_processes():
    # Two ranks: one sees r_t = 1, the other r_t = 0.2; the reduced mean 0.6 sits at the target.
    ranks = [AdaptiveAugment(target=0.5, kimg=1.0) for _ in range(2)]
    ranks[0].accumulate(torch.ones(10), images=10)
    ranks[1].accumulate(torch.tensor([1.0] * 6 + [-1.0] * 4), images=10)
    total = ranks[0].sign_sum + ranks[1].sign_sum, ranks[0].count + ranks[1].count

    def all_reduce(t: torch.Tensor) -> torch.Tensor:
        return torch.stack(total)

    for ada in ranks:
        ada.adjust(reduce=all_reduce)
    assert ranks[0].rt.item() == ranks[1].rt.item() == pytest.approx(0.6)
    assert ranks[0].p.item() == ranks[1].p.item() == pytest.approx(20 / 1000)


def test_ada_p_is_restored_with_the_state_dict():
    trained = AdaptiveAugment(p=0.0)
    trained.p.fill_(0.37)
    fresh = AdaptiveAugment(p=0.0)
    fresh.load_state_dict(trained.state_dict())
    assert fresh.probability == pytest.approx(0.37)
    assert not torch.equal(fresh(images(), rng()), images())


def test_every_variant_augments_what_its_discriminator_sees_in_both_updates():
    seen = []
    model = lg.R1GAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8, augment="translation", pack=2, gamma=1.0)
    original = model.augment_inputs

    def spy(x):
        seen.append(x.shape)
        return original(x)

    model.augment_inputs = spy  # type: ignore[method-assign]
    real = images(n=8, channels=1, size=28)
    model._reseed_noise()

    class Plain:
        def training(self):
            from contextlib import nullcontext

            return nullcontext()

        def step(self, loss):
            loss.backward()

    step.adversarial_step(
        model,
        step.Networks(model.generator, model.discriminator, model.discriminator),
        real,
        None,
        noise=lambda: model.sample_noise(8),
        n_critic=1,
        pack=2,
        update_discriminator=Plain(),
        update_generator=Plain(),
    )
    # D-step: real, fake and R1's real (its gradient flows through the augmentation to the
    # un-augmented images, as ADA's R1); G-step: fake. Packs of 2 are unpacked for the transform.
    assert seen == [torch.Size([8, 1, 28, 28])] * 4


def test_ada_in_training_adjusts_p_every_4_steps_from_the_r_t_it_observed():
    data = torch.utils.data.TensorDataset(images(n=32, channels=1, size=28))
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    model = lg.R1GAN(
        data_shape=(1, 28, 28), g_channels=8, d_channels=8, augment="ada", ada_kimg=0.5, ada_p=0.5, gamma=0.1
    )
    pipe = model.augment_pipe
    seen, adjustments = [], []
    accumulate, adjust = pipe.accumulate, pipe.adjust

    def spy_accumulate(real_outputs, images):
        seen.append(torch.sign(real_outputs.detach().float()).mean().item())
        accumulate(real_outputs, images)

    def spy_adjust(reduce=None):
        before = pipe.p.item()
        adjust(reduce)
        adjustments.append((len(seen), before, pipe.rt.item(), pipe.p.item()))

    pipe.accumulate, pipe.adjust = spy_accumulate, spy_adjust  # type: ignore[method-assign]
    trainer(max_steps=12, max_epochs=-1).fit(model, loader)
    assert [n for n, *_ in adjustments] == [4, 8, 12]  # every 4 generator steps (n_critic 1)
    for n, before, rt, after in adjustments:
        assert rt == pytest.approx(sum(seen[n - 4 : n]) / 4, abs=1e-6)  # E[sign D(augmented real)]
        step = (1 if rt > 0.6 else -1) * 64 / 500  # 4 batches of 16 images, kimg 0.5
        assert after == pytest.approx(min(max(before + step, 0.0), 1.0), abs=1e-6)


def test_ada_trains_under_bf16_mixed_precision():
    data = torch.utils.data.TensorDataset(images(n=32, channels=1, size=28))
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, drop_last=True)
    model = lg.DCGAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8, augment="ada", ada_kimg=0.5, ada_p=0.3)
    trainer(max_steps=8, max_epochs=-1, precision="bf16-mixed").fit(model, loader)
    assert model.augment_pipe.p.dtype == torch.float32 and model.augment_pipe.p.item() != 0.3
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bad_settings_say_what_to_use():
    with pytest.raises(ConfigurationError, match="color, translation, cutout"):
        build_augment("colour")
    with pytest.raises(ConfigurationError, match="augment=None for vector data"):
        lg.GAN(augment="ada")
    with pytest.raises(ConfigurationError, match="target"):
        AdaptiveAugment(target=1.5)
    assert build_augment(None) is None and build_augment("none") is None
    assert isinstance(build_augment("ADA"), AdaptiveAugment)
    assert build_augment("cutout,translation").policies == ("translation", "cutout")
