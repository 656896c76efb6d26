"""FidelityMetrics: FID/IS/KID against the math, offline weights, caching."""

import os
from pathlib import Path
from unittest import mock
from urllib.error import URLError

import numpy as np
import pytest
import torch
from helpers import run_cli, trainer
from torch import nn

import lightning_gans as lg
from lightning_gans.callbacks import FidelityMetrics
from lightning_gans.callbacks.fidelity import to_uint8_rgb
from lightning_gans.errors import GANError


class Flatten(nn.Module):
    """The identity feature extractor: an image's pixel values are its features."""

    def forward(self, images):
        return images.flatten(1).double() / 255


class Pooled(nn.Module):
    """A cheap 48-d feature extractor: 4x4 average colours."""

    def forward(self, images):
        return torch.nn.functional.adaptive_avg_pool2d(images.double() / 255, 4).flatten(1)


def _as_images(values: torch.Tensor) -> torch.Tensor:
    """uint8 pixel values (N, 3, H, W) -> images in [-1, 1] that convert back exactly."""
    return values.double() / 127.5 - 1


def test_images_are_converted_by_rounding_to_three_channels():
    images = torch.tensor([-1.0, -0.9961, 0.0, 1.0]).view(1, 1, 2, 2)  # (x + 1) * 127.5 = 0, 0.497, 127.5, 255
    out = to_uint8_rgb(images)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 2, 2)
    assert out[0, 0].flatten().tolist() == [0, 0, 128, 255]  # truncation would give 127 for 127.5


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean))


def test_fid_matches_the_closed_form_and_is_zero_for_a_set_against_itself():
    rng = np.random.default_rng(0)
    a = np.clip(rng.normal(100, 20, (400, 3, 2, 2)), 0, 255).round()
    b = np.clip(rng.normal(120, 30, (400, 3, 2, 2)), 0, 255).round()
    callback = FidelityMetrics(feature_extractor=Flatten(), metrics=("fid", "kid"), kid_subset_size=100)
    callback._build_metrics(torch.device("cpu"), (3, 2, 2))
    callback._update(_as_images(torch.tensor(a)), real=True)
    callback._update(_as_images(torch.tensor(b)), real=False)
    callback._flush_fid()  # FID's features are buffered and added in large chunks
    expected = _frechet(a.reshape(400, -1) / 255, b.reshape(400, -1) / 255)
    assert float(callback.fid.compute()) == pytest.approx(expected, rel=1e-6)
    assert float(callback.kid.compute()[0]) > 0.01

    callback.fid.reset(), callback.kid.reset()  # keeps the real statistics
    callback._update(_as_images(torch.tensor(a)), real=False)
    callback._flush_fid()
    assert float(callback.fid.compute()) == pytest.approx(0.0, abs=1e-6)
    assert abs(float(callback.kid.compute()[0])) < 1e-3  # unbiased estimate of MMD^2 = 0


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory) -> Path:
    """A randomly initialised InceptionV3 state dict: the real Inception path, no download."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", return_value=None),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("weights") / "inception.pt"
    torch.save(net.state_dict(), path)
    return path


class ImageFolder(lg.ImageFolderDataModule):
    pass


def _fit(callback, root, tmp_path, callbacks_extra=(), **trainer_kwargs):
    model = lg.DCGAN(data_shape=(3, 32, 32), g_channels=8, d_channels=8)
    data = lg.ImageFolderDataModule(root=str(root), image_size=32, channels=3, batch_size=4, num_workers=0)
    t = trainer(
        limit_train_batches=2, callbacks=[callback, *callbacks_extra], default_root_dir=str(tmp_path), **trainer_kwargs
    )
    t.fit(model, data)
    return t, data


def test_inception_path_with_local_weights_logs_all_metrics(random_inception_weights, image_root, tmp_path):
    callback = FidelityMetrics(
        every_n_batches=2,
        num_samples=16,
        batch_size=8,
        feature_extractor_weights_path=str(random_inception_weights),
        kid_subset_size=8,
        kid_subsets=4,
        cache_dir=str(tmp_path / "cache"),
    )
    t, _ = _fit(callback, image_root, tmp_path)
    for key in ("metrics/fid", "metrics/is", "metrics/is_std", "metrics/kid", "metrics/kid_std"):
        assert key in t.callback_metrics and torch.isfinite(t.callback_metrics[key]), key
    assert callback.last["metrics/is"] >= 1.0  # IS is at least 1 by construction
    assert list((tmp_path / "cache").glob("*.pt"))


def test_missing_weights_error_names_the_argument():
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with mock.patch.object(tf_inception, "load_state_dict_from_url", side_effect=URLError("no network")):
        with pytest.raises(GANError, match="feature_extractor_weights_path"):
            FidelityMetrics()._build_metrics(torch.device("cpu"))


def _real_images_embedded(callback, root, tmp_path) -> int:
    counted = []
    original = FidelityMetrics._update

    def counting(self, images, real):
        counted.extend([len(images)] if real else [])
        return original(self, images, real)

    with mock.patch.object(FidelityMetrics, "_update", counting):
        _fit(callback, root, tmp_path)
    return sum(counted)


def _cached_callback(cache):
    return FidelityMetrics(
        every_n_batches=1,
        num_samples=16,
        feature_extractor=Pooled(),
        metrics=("fid", "kid"),
        kid_subset_size=8,
        kid_subsets=4,
        cache_dir=str(cache),
    )


def test_real_statistics_are_cached_and_reused(image_root, tmp_path):
    cache = tmp_path / "cache"
    # Two evaluations in the first run, but the 24 real images were embedded once.
    assert _real_images_embedded(_cached_callback(cache), image_root, tmp_path) == 24
    assert len(list(cache.glob("*.pt"))) == 1
    second = _cached_callback(cache)
    # No real image was embedded: the statistics came from the cache.
    assert _real_images_embedded(second, image_root, tmp_path) == 0
    assert np.isfinite(second.last["metrics/fid"])
    # Reused within a run as well: the second evaluation reads nothing either.
    assert second._real_ready


def test_the_cache_follows_the_real_images_content(image_root, tmp_path):
    import shutil

    root = tmp_path / "images"
    shutil.copytree(image_root, root)
    cache = tmp_path / "cache"
    assert _real_images_embedded(_cached_callback(cache), root, tmp_path) == 24
    assert _real_images_embedded(_cached_callback(cache), root, tmp_path) == 0  # cached
    # One image replaced by another (new content, size and time): the old statistics are stale.
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(root / "0.png")
    os.utime(root / "0.png", ns=(1, 1))
    assert _real_images_embedded(_cached_callback(cache), root, tmp_path) == 24
    assert len(list(cache.glob("*.pt"))) == 2


def test_a_corrupt_cache_file_is_recomputed_not_a_crash(image_root, tmp_path):
    cache = tmp_path / "cache"
    assert _real_images_embedded(_cached_callback(cache), image_root, tmp_path) == 24
    (path,) = cache.glob("*.pt")
    path.write_bytes(b"not a torch file")
    callback = _cached_callback(cache)
    with pytest.warns(UserWarning, match="unreadable real-statistics cache"):
        assert _real_images_embedded(callback, image_root, tmp_path) == 24
    assert np.isfinite(callback.last["metrics/fid"])
    assert _real_images_embedded(_cached_callback(cache), image_root, tmp_path) == 0  # rewritten


def test_a_best_fid_checkpoint_needs_the_metric_at_validation(image_root, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from lightning_gans.errors import ConfigurationError

    callback = FidelityMetrics(every_n_batches=2, on_validation=False, feature_extractor=Pooled(), num_samples=8)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="metrics/fid", mode="min")
    with pytest.raises(ConfigurationError, match="on_validation: true"):
        _fit(callback, image_root, tmp_path, enable_checkpointing=True, callbacks_extra=[checkpoint])


def test_fid_at_validation_feeds_the_best_checkpoint(image_root, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    callback = FidelityMetrics(
        feature_extractor=Pooled(), num_samples=8, num_real=8, metrics=("fid",), cache_dir=str(tmp_path / "cache")
    )
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="metrics/fid", mode="min", filename="best-{step}")
    t, _ = _fit(
        callback,
        image_root,
        tmp_path,
        enable_checkpointing=True,
        callbacks_extra=[best],
        limit_val_batches=1,
        max_epochs=2,
    )
    assert "metrics/fid" in t.callback_metrics
    assert best.best_model_path and Path(best.best_model_path).is_file()


DDP_SCRIPT = """
import sys, json
import lightning as L
import torch
from helpers import trainer as make_trainer
from torch import nn
import lightning_gans as lg
from lightning_gans.callbacks import FidelityMetrics

class SparsePixels(nn.Module):  # 7 pixel values: real and generated images overlap, so every metric is non-trivial
    def forward(self, images):
        return images.double().flatten(1)[:, ::500] / 255

devices, root, out, cache = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
L.seed_everything(0)
model = lg.DCGAN(data_shape=(3, 32, 32), g_channels=8, d_channels=8)
data = lg.ImageFolderDataModule(root=root, image_size=32, channels=3, batch_size=4, num_workers=0)
callback = FidelityMetrics(every_n_batches=None, on_validation=True, num_samples=30, batch_size=7,
                           feature_extractor=SparsePixels(), metrics=("fid", "kid", "prdc"), kid_subset_size=10,
                           kid_subsets=5,
                           cache_dir=None if cache == "none" else cache)
trainer = make_trainer(devices=devices, strategy="gan_ddp" if devices > 1 else "auto", callbacks=[callback],
                       limit_val_batches=1)
trainer.validate(model, data)
if trainer.is_global_zero:
    json.dump({**callback.last, "local_fake": int(callback.fid.fake_features_num_samples)}, open(out, "w"))
"""


def test_two_processes_give_the_same_fid_as_one(image_root, tmp_path):
    import json

    script = tmp_path / "fid_ddp.py"
    script.write_text(DDP_SCRIPT)
    results = {}
    cache = tmp_path / "cache"
    # One process; two computing the real statistics and caching them; two reading the cache.
    for name, devices, cache_dir in (("1", 1, "none"), ("2", 2, str(cache)), ("2-cached", 2, str(cache))):
        out = tmp_path / f"fid_{name}.json"
        run = run_cli([devices, image_root, out, cache_dir], script=script, cwd=tmp_path, timeout=300)
        results[name] = json.loads(out.read_text())
        assert (name != "2-cached") or "loaded from" in run.stdout + run.stderr
    assert results["2"]["metrics/fid"] == pytest.approx(results["1"]["metrics/fid"], rel=1e-6)
    assert results["2-cached"]["metrics/fid"] == pytest.approx(results["1"]["metrics/fid"], rel=1e-6)
    assert results["2-cached"]["metrics/kid"] == pytest.approx(results["2"]["metrics/kid"], rel=1e-6)
    assert results["1"]["metrics/precision"] > 0 and results["1"]["metrics/density"] > 0  # not trivially equal
    for name in ("precision", "recall", "density", "coverage"):  # features gathered across ranks
        assert results["2"][f"metrics/{name}"] == pytest.approx(results["1"][f"metrics/{name}"], abs=1e-9), name
        assert results["2-cached"][f"metrics/{name}"] == pytest.approx(results["1"][f"metrics/{name}"], abs=1e-9)
    assert np.isfinite(results["2"]["metrics/kid"])
    # Each rank embedded only its share of the 30 generated images.
    assert (results["1"]["local_fake"], results["2"]["local_fake"]) == (30, 15)


class RandomImages(lg.ImageDataModule):
    """``num_images`` random 32x32 RGB images in every split: real sets of any size, no files."""

    def __init__(self, num_images: int) -> None:
        super().__init__(image_size=32, channels=3, batch_size=4, num_workers=0)
        self.num_images = num_images

    def build_dataset(self, split):
        images = torch.rand(self.num_images, *self.data_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        return torch.utils.data.TensorDataset(images, torch.zeros(self.num_images, dtype=torch.long))


class ChannelMeans(nn.Module):
    """A cheap 3-d feature extractor: the mean of each colour channel."""

    def forward(self, images):
        return images.double().mean((2, 3)) / 255


def _validate_twice(callback, num_images):
    """Two evaluations of one callback (two validations); the warnings of each, in order."""
    import warnings

    model = lg.DCGAN(data_shape=(3, 32, 32), g_channels=8, d_channels=8)
    t = trainer(callbacks=[callback], limit_val_batches=1)
    data = RandomImages(num_images)
    messages = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # a repeat would show, not be filtered out as a duplicate
            t.validate(model, data, verbose=False)
        messages.append([str(w.message) for w in caught if str(w.message).startswith("FidelityMetrics:")])
    return messages


def test_few_real_images_warn_once_with_the_counts():
    callback = FidelityMetrics(
        num_samples=40,
        num_real=100,
        batch_size=20,
        feature_extractor=Pooled(),  # 48-d features
        metrics=("fid", "kid", "prdc"),
        kid_subset_size=20,
        kid_subsets=2,
        cache_dir=None,
    )
    first, second = _validate_twice(callback, num_images=12)
    assert len(first) == 4, first
    short, fid, kid, prdc = first
    assert short.startswith("FidelityMetrics: num_real=100 asked, but the train split has only 12 images")
    assert fid.startswith("FidelityMetrics: FID from 12 real and 40 generated images; with no more images on a side")
    assert "the 48 features of the custom extractor" in fid and "Use num_real and num_samples above 48" in fid
    assert kid.startswith("FidelityMetrics: KID from 12 real and 40 generated images, fewer than kid_subset_size=20")
    assert "subsets hold 12 images each" in kid
    assert prdc.startswith("FidelityMetrics: precision/recall/density/coverage from 12 real and 40 generated images")
    assert "fewer than 1000 per side" in prdc and "Naeem et al. 2020 use 10,000" in prdc
    assert all("\n" not in message for message in first)  # one line each
    assert second == []  # the second evaluation does not repeat them
    assert np.isfinite(callback.last["metrics/kid"])  # KID's subsets shrank to the 12 real images: no crash
    assert len(callback.history) == 2


def test_enough_images_do_not_warn():
    callback = FidelityMetrics(
        num_samples=1000,
        num_real=1000,
        batch_size=500,
        feature_extractor=ChannelMeans(),  # 3-d features: 1,000 images a side are plenty
        metrics=("fid", "kid", "prdc"),
        kid_subset_size=100,
        kid_subsets=2,
        cache_dir=None,
    )
    assert _validate_twice(callback, num_images=1000) == [[], []]
    assert np.isfinite(callback.last["metrics/fid"]) and np.isfinite(callback.last["metrics/coverage"])


def test_inception_fid_from_two_real_images_names_the_feature_dimension_and_papers():
    callback = FidelityMetrics(num_samples=10_000, num_real=None, metrics=("fid",))
    callback.fid, callback._feature_dim = mock.Mock(), 2048  # as built, without loading Inception
    with pytest.warns(UserWarning) as record:
        callback._check_counts(2)
        callback._check_counts(2)  # once per instance
    (message,) = [str(w.message) for w in record]
    assert message == (
        "FidelityMetrics: FID from 2 real and 10000 generated images; with no more images on a side than the 2048 "
        "features of the inception extractor, that side's covariance is singular, so the value is biased upwards "
        "and not comparable with papers (which use 50,000 generated against the training set). Use num_real and "
        "num_samples above 2048, ideally 10000 or more."
    )


def test_a_real_split_too_small_for_a_metric_is_an_error_before_generating():
    from lightning_gans.errors import ConfigurationError

    callback = FidelityMetrics(num_samples=40, feature_extractor=Pooled(), metrics=("fid", "prdc"), cache_dir=None)
    with (
        mock.patch.object(FidelityMetrics, "_generated") as generated,
        pytest.raises(ConfigurationError, match="prdc need at least 6 real images, but the train split has 4;"),
    ):
        _validate_twice(callback, num_images=4)
    generated.assert_not_called()
    fresh = FidelityMetrics(num_samples=40, feature_extractor=Pooled(), metrics=("fid", "prdc"), cache_dir=None)
    model = lg.DCGAN(data_shape=(3, 32, 32), g_channels=8, d_channels=8)
    with pytest.raises(ConfigurationError, match="prdc need at least 6 real images"):  # fit: at start
        trainer(callbacks=[fresh]).fit(model, RandomImages(4))
    assert model.generator_steps == 0


def test_kid_subsets_need_two_images():
    from lightning_gans.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="kid_subset_size >= 2"):
        FidelityMetrics(kid_subset_size=1)
