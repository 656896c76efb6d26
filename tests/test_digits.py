"""The packaged digit classifier, Stacked MNIST, and FidelityMetrics(feature_extractor="mnist")."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SHARED_MNIST as SHARED
from helpers import trainer
from PIL import Image

import lightning_gans as lg
from lightning_gans.callbacks import FidelityMetrics
from lightning_gans.data.stacked import StackedDigits, load_digit_folder
from lightning_gans.errors import ConfigurationError
from lightning_gans.metrics import DigitFeatures, stacked_mnist_modes
from lightning_gans.metrics.digits import WEIGHTS_PATH, digit_info, holdout_split, joint_log_probs, to_digits
from lightning_gans.metrics.stacked_mnist import MAX_KL, statistics_of_histogram

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/mnist-test is absent")


@pytest.fixture(scope="module")
def mnist():
    return load_digit_folder(SHARED)


def test_the_packaged_weights_are_small_and_record_a_heldout_accuracy_of_98_percent():
    assert WEIGHTS_PATH.stat().st_size < 400 * 1024
    info = digit_info()
    assert info["heldout_accuracy"] >= 0.98 and info["heldout_images"] >= 2000


@needs_shared
def test_the_heldout_accuracy_is_reproduced_from_the_shared_images(mnist):
    digits, labels = mnist
    info = digit_info()
    if "folder" not in str(info["data"]):
        pytest.skip("the weights were trained on torchvision's MNIST: the whole folder is held out")
    _, held_out = holdout_split(len(labels), int(info["heldout_images"]), int(info["seed"]))
    predicted = DigitFeatures(channels=1).classify(digits[held_out, None])[:, 0]
    accuracy = float((predicted == labels[held_out]).float().mean())
    assert accuracy == pytest.approx(info["heldout_accuracy"], abs=1e-6)  # the same images, the same count
    assert accuracy >= 0.98


@needs_shared
def test_real_digits_score_a_high_classifier_inception_score_and_one_class_a_low_one(mnist):
    """IS = exp(E KL(p(y|x) || p(y))): at most 10, for certain predictions spread evenly over the
    10 classes. The classifier was trained with label smoothing (0.05), so its predictions are
    never certain: real digits score about 7 (the README's reference), one class about 1."""
    digits, _ = mnist
    callback = FidelityMetrics(feature_extractor="mnist", metrics=("is",), num_samples=2000, num_real=2000)
    callback._build_metrics(torch.device("cpu"), (1, 28, 28))
    chosen = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[:2000]  # all classes
    callback._update(digits[chosen, None].float() / 127.5 - 1, real=False)
    assert 6.5 < float(callback.inception_score.compute()[0]) <= 10
    callback.inception_score.reset()
    ones = digits[mnist[1] == 1][:1000, None].float() / 127.5 - 1
    callback._update(ones, real=False)
    assert float(callback.inception_score.compute()[0]) < 1.3


def test_joint_log_probabilities_multiply_the_channels_probabilities():
    logits = torch.randn(5, 3, 10, generator=torch.Generator().manual_seed(0))
    joint = joint_log_probs(logits)
    assert joint.shape == (5, 1000)
    assert torch.allclose(joint.exp().sum(1), torch.ones(5, dtype=joint.dtype))
    p = logits.softmax(-1)
    d0, d1, d2 = 4, 0, 7
    assert joint[2, 100 * d0 + 10 * d1 + d2].exp() == pytest.approx(float(p[2, 0, d0] * p[2, 1, d1] * p[2, 2, d2]))


def test_images_become_28x28_digits_in_the_classifiers_range():
    images = torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)
    images[:, 1] = 0
    digits = to_digits(images, channels=3)
    assert digits.shape == (6, 1, 28, 28)
    # image-major (image 0's channels first); resized 32 -> 28 with antialiasing, up to rounding
    assert torch.allclose(digits[0], torch.ones(1, 28, 28), atol=1e-5)
    assert torch.allclose(digits[1], -torch.ones(1, 28, 28), atol=1e-5)
    assert to_digits(torch.zeros(1, 1, 28, 28), 1).eq(0).all()  # float input is taken as [-1, 1]


def test_stacked_digits_are_seeded_and_labelled_by_their_triple():
    digits = torch.arange(10, dtype=torch.uint8)[:, None, None].expand(10, 28, 28).contiguous() * 25
    labels = torch.arange(10)
    data = StackedDigits(digits, labels, num_samples=50, seed=3)
    again = StackedDigits(digits, labels, num_samples=50, seed=3)
    assert torch.equal(data.triples, again.triples)
    assert not torch.equal(data.triples, StackedDigits(digits, labels, 50, seed=4).triples)
    image, mode = data[7]
    d = data.triples[7]
    assert image.shape == (3, 28, 28) and mode == 100 * int(d[0]) + 10 * int(d[1]) + int(d[2])
    assert image[:, 0, 0].tolist() == pytest.approx([int(i) * 25 / 127.5 - 1 for i in d])
    assert StackedDigits(digits, labels, 4, seed=0, image_size=32)[0][0].shape == (3, 32, 32)


def test_mode_statistics_of_known_histograms():
    uniform = statistics_of_histogram(torch.full((1000,), 26))
    assert uniform.modes == 1000 and uniform.kl == pytest.approx(0.0, abs=1e-12)
    one = torch.zeros(1000, dtype=torch.long)
    one[123] = 26_000
    collapsed = statistics_of_histogram(one)
    assert collapsed.modes == 1 and collapsed.kl == pytest.approx(MAX_KL)
    half = torch.zeros(1000, dtype=torch.long)
    half[:500] = 2
    assert statistics_of_histogram(half).kl == pytest.approx(math.log(2))


@needs_shared
def test_real_stacked_mnist_covers_all_modes_and_a_collapsed_set_one(mnist):
    data = StackedDigits(*mnist, num_samples=10_000, seed=0)
    images = torch.stack([data[i][0] for i in range(len(data))])
    truth = torch.tensor([data[i][1] for i in range(len(data))])
    from lightning_gans.metrics.stacked_mnist import classify_modes, mode_histogram, statistics_of_histogram

    modes = torch.cat([classify_modes(batch) for batch in images.split(2000)])
    stats = statistics_of_histogram(mode_histogram(modes))
    assert stats.modes >= 990  # 10,000 uniform draws of 1,000 modes miss ~0.05 of them
    assert stats.kl < 0.1  # the multinomial noise of 10,000 draws alone gives about 0.05
    assert float((modes == truth).float().mean()) > 0.95
    collapsed = stacked_mnist_modes(images[:1].expand(500, -1, -1, -1))
    assert collapsed.modes == 1 and collapsed.kl == pytest.approx(MAX_KL)


def _digit_folder(root: Path, per_class: int) -> Path:
    """``per_class`` images of each digit from ../shared, else random gray images."""
    rng = np.random.default_rng(0)
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        sources = sorted((SHARED / str(label)).glob("*.png"))[:per_class] if SHARED.is_dir() else []
        for i in range(per_class):
            if sources:
                Image.open(sources[i]).save(root / str(label) / f"{i}.png")
            else:
                Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / str(label) / f"{i}.png")
    return root


def test_fidelity_metrics_with_the_digit_extractor_log_every_metric_offline(tmp_path):
    import lightning as L

    root = _digit_folder(tmp_path / "digits", per_class=4)
    L.seed_everything(0)
    model = lg.DCGAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8)
    data = lg.ImageFolderDataModule(root=str(root), image_size=28, channels=1, batch_size=8, num_workers=0)
    callback = FidelityMetrics(
        every_n_batches=2, on_validation=False, num_samples=40, num_real=40, batch_size=20,
        feature_extractor="mnist", kid_subsets=2, kid_subset_size=10, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    fitted = trainer(max_steps=2, max_epochs=-1, callbacks=[callback], default_root_dir=tmp_path)
    fitted.fit(model, data)
    names = {"fid", "is", "is_std", "kid", "kid_std", "precision", "recall", "density", "coverage"}
    assert set(callback.last) == {f"metrics/{n}" for n in names}
    assert all(math.isfinite(v) for v in callback.last.values())
    for name in ("precision", "recall", "coverage"):
        assert 0 <= callback.last[f"metrics/{name}"] <= 1
    assert 1 <= callback.last["metrics/is"] <= 10  # 10 classes bound the classifier IS
    assert "digit classifier" in callback.protocol(fitted)["fidelity/backbone"]


def test_real_digits_against_themselves_score_as_perfect(tmp_path):
    """FID 0 and precision = recall = coverage = 1 when the generated images are the real ones."""
    root = _digit_folder(tmp_path / "digits", per_class=3)
    data = lg.ImageFolderDataModule(root=str(root), image_size=28, channels=1, batch_size=10, num_workers=0)
    real = torch.stack([data.dataset("train")[i][0] for i in range(30)])
    callback = FidelityMetrics(feature_extractor="mnist", metrics=("fid", "is", "prdc"), num_samples=30, num_real=30)
    callback._build_metrics(torch.device("cpu"), (1, 28, 28))
    callback._update(real, real=True)
    callback._update(real, real=False)
    callback._flush_fid()
    assert float(callback.fid.compute()) == pytest.approx(0.0, abs=1e-3)
    scores = callback.prdc.compute()
    assert float(scores["precision"]) == float(scores["recall"]) == float(scores["coverage"]) == 1.0


def test_the_digit_extractor_refuses_data_it_cannot_read():
    with pytest.raises(ConfigurationError, match="feature_extractor must be one of inception, mnist"):
        FidelityMetrics(feature_extractor="vgg")
    with pytest.raises(ConfigurationError, match="Stacked MNIST"):
        FidelityMetrics._digit_channels((2, 28, 28))


def test_stacked_mnist_trains_and_its_modes_are_logged_during_training(tmp_path):
    import lightning as L

    root = _digit_folder(tmp_path / "digits", per_class=2)
    L.seed_everything(0)
    data = lg.StackedMNISTDataModule(root=str(root), num_samples=64, num_val_samples=16, batch_size=16)
    model = lg.DCGAN(data_shape=data.data_shape, g_channels=8, d_channels=8)
    callback = lg.StackedMNISTCoverage(every_n_batches=2, num_samples=300, batch_size=100)
    fitted = trainer(max_steps=4, max_epochs=-1, callbacks=[callback], default_root_dir=tmp_path)
    fitted.fit(model, data)
    assert [step for step, _ in callback.history] == [2, 4]
    stats = callback.history[-1][1]
    assert stats.num_images == 300 and 1 <= stats.modes <= 300 and 0 <= stats.kl <= MAX_KL + 1e-9
    assert fitted.callback_metrics["stacked/modes"] == stats.modes
    assert data.num_classes == 1000 and data.data_shape == (3, 28, 28)
    # The same seed draws the same triples: a resumed run sees the same data.
    again = lg.StackedMNISTDataModule(root=str(root), num_samples=64, num_val_samples=16, batch_size=16)
    assert torch.equal(data.dataset("train").triples, again.dataset("train").triples)
    assert not torch.equal(data.dataset("train").triples[:16], data.dataset("val").triples)


def test_stacked_mnist_coverage_refuses_grayscale_models():
    with pytest.raises(ConfigurationError, match="3 digit channels"):
        lg.StackedMNISTCoverage().setup(trainer(), lg.DCGAN(data_shape=(1, 28, 28), g_channels=8, d_channels=8), "fit")
