"""FID, Inception Score, KID, precision/recall and density/coverage during training, with
torchmetrics and torch-fidelity's InceptionV3 or the package's offline digit classifier.

Comparable numbers need the same protocol every time; this callback fixes and logs it:
which real split and how many real images, how many generated images, which feature
extractor (and weights), and how images are resized for it. See the README's
"Evaluation protocol".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from lightning_gans._compat import inception_features
from lightning_gans.callbacks._periodic import PeriodicCallback
from lightning_gans.errors import ConfigurationError, GANError
from lightning_gans.metrics.digits import WEIGHTS_PATH, DigitFeatures
from lightning_gans.metrics.prdc import PrecisionRecallDensityCoverage
from lightning_gans.progress import Progress
from lightning_gans.sampling import resolve_labels, samples_of_rank
from lightning_gans.utils import datamodule_of, is_fast_dev_run, shard, to_uint8

INCEPTION_NAME = "inception-v3-compat"
METRICS = ("fid", "is", "kid", "prdc")
PRDC_NAMES = ("precision", "recall", "density", "coverage")
"""What :class:`FidelityMetrics` computes; ``prdc`` is precision, recall, density and coverage."""
PRDC_MIN_SAMPLES = 1_000
"""Below this many real or generated images precision, recall, density and coverage are noisy
(Naeem et al. 2020 use 10,000 per side); :class:`FidelityMetrics` warns."""
EXTRACTORS = ("inception", "mnist")
"""Feature extractors by name: torch-fidelity's InceptionV3, or the packaged digit classifier
(:mod:`lightning_gans.metrics.digits`; offline, for MNIST-like and Stacked MNIST data)."""


def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images in ``[-1, 1]`` -> 3-channel ``uint8`` in ``[0, 255]`` (:func:`~lightning_gans.utils.to_uint8`).

    Example:
        >>> import torch
        >>> gray = torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 1, 1, 3)  # one 1x3 grayscale image
        >>> rgb = to_uint8_rgb(gray)
        >>> rgb.shape, rgb.dtype, rgb[0, :, 0].tolist()  # the feature extractors' input
        (torch.Size([1, 3, 1, 3]), torch.uint8, [[0, 128, 255], [0, 128, 255], [0, 128, 255]])
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"Expected images of shape (N, 1 or 3, H, W), got {tuple(images.shape)}.")
    images = to_uint8(images)
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


class SharedInception(nn.Module):
    """torch-fidelity's InceptionV3, run once per batch for all metrics: FID and KID read the
    2048-d pool features, IS the unbiased logits of the same forward pass."""

    def __init__(self, weights_path: str | None = None, antialias: bool = False, logits: bool = True) -> None:
        super().__init__()
        features = ["2048", "logits_unbiased"] if logits else ["2048"]
        try:
            self.net = NoTrainInceptionV3(INCEPTION_NAME, features, weights_path, antialias)
        except (OSError, RuntimeError) as error:  # URLError is an OSError
            raise GANError(
                "Could not load the InceptionV3 weights for FID/IS/KID"
                + (f" from {weights_path}" if weights_path else " (torch-fidelity downloads them on first use)")
                + f": {error}. Without internet, download pt_inception-2015-12-05-6726825d.pth from torch-fidelity's "
                "GitHub releases on a machine that has it and pass its path as feature_extractor_weights_path."
            ) from None
        # NHWC convolutions: 1.5x faster on CPU (oneDNN) and for cuDNN, same features (rel. 1e-6)
        self.net.to(memory_format=torch.channels_last)
        self._last: tuple[Tensor, tuple[Tensor, ...]] | None = None

    def features(self, images: Tensor) -> tuple[Tensor, ...]:
        if self._last is None or self._last[0] is not images:
            with torch.no_grad():
                self._last = (images, inception_features(self.net, images))
        return self._last[1]

    def clear(self) -> None:
        self._last = None


class SharedDigits(nn.Module):
    """The digit classifier run once per batch for all metrics: FID, KID and precision/recall
    read its features, IS its (joint) class log-probabilities."""

    def __init__(self, channels: int, weights_path: str | None = None) -> None:
        super().__init__()
        self.net = DigitFeatures(channels, weights_path)
        self._last: tuple[Tensor, tuple[Tensor, ...]] | None = None

    def features(self, images: Tensor) -> tuple[Tensor, ...]:
        if self._last is None or self._last[0] is not images:
            self._last = (images, self.net.features_and_logits(images))
        return self._last[1]

    def clear(self) -> None:
        self._last = None


class _FeatureView(nn.Module):
    """One output of a :class:`SharedInception` or :class:`SharedDigits`, in the ``(N, d)``
    form torchmetrics expects."""

    def __init__(self, shared: SharedInception | SharedDigits, index: int, num_features: int) -> None:
        super().__init__()
        self.shared = shared
        self.index = index
        self.num_features = num_features

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() == 2:  # features already extracted (FidelityMetrics buffers FID's)
            return images
        return self.shared.features(images)[self.index].reshape(images.shape[0], -1)


class _CustomView(nn.Module):
    """A user's feature extractor with the ``num_features`` torchmetrics needs, measured on
    the data's own image size (torchmetrics would otherwise probe it with 299x299 input)."""

    def __init__(self, extractor: nn.Module, image_shape: Sequence[int]) -> None:
        super().__init__()
        self.extractor = extractor
        probe = torch.zeros(2, 3, *tuple(image_shape)[1:], dtype=torch.uint8)
        with torch.no_grad():
            self.num_features = int(extractor(probe).reshape(2, -1).shape[1])

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() == 2:  # features already extracted (FidelityMetrics buffers FID's)
            return images
        return self.extractor(images).reshape(images.shape[0], -1)


class FidelityMetrics(PeriodicCallback):
    """At every validation (and/or every ``every_n_batches`` generator steps), compute FID,
    Inception Score, KID, precision, recall, density and coverage of ``num_samples``
    generated images against ``num_real`` real images of the datamodule's ``real_split``;
    log ``metrics/fid``, ``metrics/is``, ``metrics/is_std``, ``metrics/kid``,
    ``metrics/kid_std``, ``metrics/precision``, ``metrics/recall``, ``metrics/density``,
    ``metrics/coverage``. All of them read one forward pass of the feature extractor per batch.

    Precision and recall (Kynkäänniemi et al. 2019, k = 3) and density and coverage (Naeem
    et al. 2020, k = 5) separate what FID mixes: low precision means samples off the data,
    low recall or coverage means parts of the data (modes) the samples miss. See
    :mod:`lightning_gans.metrics.prdc`.

    ``feature_extractor="mnist"`` uses the digit classifier shipped with the package: offline,
    thousands of images per second on a CPU, for MNIST-like data (each channel of a Stacked
    MNIST image is embedded as one digit, and IS then counts its 1,000 classes). Its numbers
    are comparable only among runs that use the same extractor, not with papers' Inception
    FIDs.

    Nothing is evaluated under ``fast_dev_run`` (which also turns checkpoints and loggers
    off). By default it evaluates when Lightning validates, so the trainer's
    ``val_check_interval`` (with ``check_val_every_n_epoch: null``, in generator steps) sets
    the cadence and ``ModelCheckpoint(monitor="metrics/fid", mode="min")``, which saves after
    each validation, keeps the best generator: the metric exists whenever it is checked.
    Samples come from the EMA generator when there is one, in eval mode without gradients.
    Real statistics are computed once, reused at every evaluation, and cached on disk under
    ``cache_dir``, keyed by dataset, split, count, image size, feature extractor and the
    real files' names, sizes and modification times (so changed images are embedded again);
    an unreadable cache file is recomputed. Long passes print progress with the time left.

    Too few images for a metric to mean much: at the first evaluation (once per instance) it
    warns, with the counts, where FID has no more real or generated images than feature
    dimensions (2048 for Inception: its covariances are singular), where KID's subsets must
    shrink below ``kid_subset_size``, where precision/recall/density/coverage have fewer than
    1,000 images a side, and where the real split holds fewer than ``num_real``; a real split
    too small for a metric to exist at all (k + 1 images for precision and recall) is a
    :class:`~lightning_gans.errors.ConfigurationError` at start.

    Several processes: every rank generates and embeds its share of the (deterministic)
    noise and real images, the metric states are synchronised, and ``compute()`` runs on
    every rank, so the numbers equal a one-process run on the same images.

    Args:
        every_n_batches: also evaluate every this many batches (= generator steps); ``None``
            (default) evaluates only at validation.
        on_validation: evaluate at the end of every validation loop (not the sanity check).
        num_samples: generated images per evaluation (50,000 for published numbers). On a
            CPU, InceptionV3 embeds about 9 images/s: 10,000 take about 20 minutes.
        num_real: real images, a fixed random subset of ``real_split`` (``None``: all of it).
        real_split: ``"train"`` or ``"val"`` split of the datamodule (``dataset(split)``).
        batch_size: images per forward pass of the generator and the feature extractor.
        metrics: which of ``"fid"``, ``"is"``, ``"kid"``, ``"prdc"`` (precision, recall,
            density, coverage) to compute.
        feature_extractor_weights_path: a local copy of torch-fidelity's InceptionV3
            weights, for machines without internet (with ``feature_extractor="mnist"``:
            other digit-classifier weights than the packaged ones).
        feature_extractor: ``"inception"`` (default), ``"mnist"`` (the packaged digit
            classifier), or a custom ``nn.Module`` mapping ``uint8`` images ``(N, 3, H, W)``
            to features ``(N, d)``, which then serves every metric (IS reads its outputs as
            class logits).
        k_precision_recall: neighbours of precision and recall's balls (paper: 3).
        k_density_coverage: neighbours of density and coverage's balls (paper: 5).
        antialias: resize with antialiasing; ``False`` (default) uses torch-fidelity's
            TensorFlow-compatible resize, which published FIDs use.
        kid_subsets: KID's number of subsets; ``kid_subset_size``: their size.
        cache_dir: where real statistics are cached; ``None`` turns the cache off.
        seed: seed of the evaluation noise (the same images at every evaluation).

    Example:
        Offline metrics for MNIST-like data with the packaged digit classifier, every 500
        generator steps as well as at each validation (nothing is loaded until the first
        evaluation):

        >>> metrics = FidelityMetrics(
        ...     every_n_batches=500, num_samples=2_000, num_real=2_000, metrics=("fid", "prdc"),
        ...     feature_extractor="mnist",
        ... )
        >>> metrics.extractor_name, metrics.metric_names, metrics.on_validation, metrics.every_n_batches
        ('mnist', ('fid', 'prdc'), True, 500)
        >>> FidelityMetrics().extractor_name, FidelityMetrics(cache_dir=None).cache_dir  # the defaults
        ('inception', None)
        >>> FidelityMetrics(on_validation=False)
        Traceback (most recent call last):
            ...
        lightning_gans.errors.ConfigurationError: FidelityMetrics would never evaluate: ...
    """

    rank_zero_only = False  # evaluate() is a collective: every rank embeds its share
    at_train_end = False  # evaluates at validation and/or every_n_batches only
    skip_fast_dev_run = True  # a smoke test of the loop, like Lightning's own checkpointing

    def __init__(
        self,
        every_n_batches: int | None = None,
        on_validation: bool = True,
        num_samples: int = 10_000,
        num_real: int | None = 10_000,
        real_split: Literal["train", "val"] = "train",
        batch_size: int = 100,
        metrics: Sequence[str] = METRICS,
        feature_extractor_weights_path: str | None = None,
        feature_extractor: nn.Module | str | None = None,
        antialias: bool = False,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        k_precision_recall: int = 3,
        k_density_coverage: int = 5,
        cache_dir: str | None = "~/.cache/lightning_gans/fidelity",
        seed: int = 0,
    ) -> None:
        unknown = set(metrics) - set(METRICS)
        if unknown or not metrics:
            raise ConfigurationError(
                f"metrics must be a non-empty subset of {', '.join(METRICS)}; got {list(metrics)}."
            )
        if isinstance(feature_extractor, str):
            if feature_extractor not in EXTRACTORS:
                raise ConfigurationError(
                    f"feature_extractor must be one of {', '.join(EXTRACTORS)} or an nn.Module; "
                    f"got {feature_extractor!r}."
                )
            self.extractor_name = feature_extractor
            feature_extractor = None
        else:
            self.extractor_name = "inception" if feature_extractor is None else "custom"
        if feature_extractor is not None and feature_extractor_weights_path is not None:
            raise ConfigurationError("Pass either feature_extractor or feature_extractor_weights_path, not both.")
        if "prdc" in metrics and min(num_samples, num_real or num_samples) <= max(
            k_precision_recall, k_density_coverage
        ):
            raise ConfigurationError(
                f"precision/recall/density/coverage need more than k = {max(k_precision_recall, k_density_coverage)} "
                f"generated and real images; got num_samples={num_samples}, num_real={num_real}. Raise them or drop "
                "'prdc' from metrics."
            )
        if min(k_precision_recall, k_density_coverage) < 1:
            raise ConfigurationError(
                f"k_precision_recall and k_density_coverage must be >= 1, got {k_precision_recall} and "
                f"{k_density_coverage}."
            )
        if every_n_batches is not None and every_n_batches < 1:
            raise ConfigurationError(
                f"every_n_batches must be >= 1 or None (only at validation), got {every_n_batches}."
            )
        if not every_n_batches and not on_validation:
            raise ConfigurationError("FidelityMetrics would never evaluate: set on_validation=True or every_n_batches.")
        if num_samples < 2 or (num_real is not None and num_real < 2):
            raise ConfigurationError(
                "num_samples and num_real must be >= 2 images (FID needs a covariance), "
                f"got {num_samples} and {num_real}."
            )
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}.")
        if kid_subsets < 1 or kid_subset_size < 2:
            raise ConfigurationError(
                f"kid_subsets must be >= 1 and kid_subset_size >= 2 (KID compares pairs within a subset), got "
                f"{kid_subsets} and {kid_subset_size}."
            )
        super().__init__(every_n_batches)
        self.on_validation = on_validation
        self.num_samples = num_samples
        self.num_real = num_real
        self.real_split = real_split
        self.batch_size = batch_size
        self.metric_names = tuple(metrics)
        self.weights_path = feature_extractor_weights_path
        self.custom_extractor = feature_extractor
        self.antialias = antialias
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.k_precision_recall = k_precision_recall
        self.k_density_coverage = k_density_coverage
        self.cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
        self.seed = seed
        self.fid: FrechetInceptionDistance | None = None
        self.inception_score: InceptionScore | None = None
        self.kid: KernelInceptionDistance | None = None
        self.prdc: PrecisionRecallDensityCoverage | None = None
        self._shared: SharedInception | SharedDigits | None = None
        self._real_ready = False
        self._fid_buffer: dict[bool, list[Tensor]] = {True: [], False: []}
        self._feature_dim: int | None = None  # of FID, KID and precision/recall's features, once built
        self._counts_checked = False  # the sample-size warnings are given once per instance
        self.last: dict[str, float] = {}
        """The results of the latest evaluation, e.g. ``{"metrics/fid": 4.2, ...}``."""
        self.history: list[tuple[int, dict[str, float]]] = []
        """``(generator step, results)`` of every evaluation of this process's run."""

    # ------------------------------------------------------------------ set-up

    def _build_metrics(
        self, device: torch.device, image_shape: Sequence[int] | None = None, num_real: int | None = None
    ) -> None:
        """The metrics, on ``device``; ``num_real``: the real images there are (default: as asked)."""
        pool: _FeatureView | _CustomView
        logits: nn.Module
        if self.custom_extractor is not None:
            pool = _CustomView(self.custom_extractor, image_shape or (3, 299, 299))
            logits = pool
        elif self.extractor_name == "mnist":
            digits = SharedDigits(self._digit_channels(image_shape), self.weights_path)
            self._shared = digits
            pool = _FeatureView(digits, 0, digits.net.num_features)
            logits = _FeatureView(digits, 1, digits.net.num_classes)
        else:
            self._shared = SharedInception(self.weights_path, self.antialias, logits="is" in self.metric_names)
            pool, logits = _FeatureView(self._shared, 0, 2048), _FeatureView(self._shared, 1, 1008)
        self._feature_dim = pool.num_features
        if "fid" in self.metric_names:
            self.fid = FrechetInceptionDistance(feature=pool, reset_real_features=False).to(device)
        if "is" in self.metric_names:
            self.inception_score = InceptionScore(feature=logits).to(device)
        if "kid" in self.metric_names:
            # Clamped to the smaller side (_check_counts warns): torchmetrics raises at compute otherwise.
            subset = self._kid_subset(num_real or self.num_real or self.num_samples)
            self.kid = KernelInceptionDistance(
                feature=pool, subsets=self.kid_subsets, subset_size=subset, reset_real_features=False
            ).to(device)
        if "prdc" in self.metric_names:
            self.prdc = PrecisionRecallDensityCoverage(
                pool, self.k_precision_recall, self.k_density_coverage, reset_real_features=False
            ).to(device)

    @staticmethod
    def _digit_channels(image_shape: Sequence[int] | None) -> int:
        """Digits per image: 1 for MNIST-like data, 3 for Stacked MNIST (one per channel)."""
        channels = int(image_shape[0]) if image_shape else 1
        if channels not in (1, 3):
            raise ConfigurationError(
                f'feature_extractor="mnist" reads grayscale digits or Stacked MNIST (3 channels); the data '
                f"has {channels} channels. Use the default Inception extractor."
            )
        return channels

    def _kid_subset(self, num_real: int) -> int:
        return min(self.kid_subset_size, self.num_samples, num_real)

    def _uses_real(self) -> list[str]:
        """The chosen metrics that compare with real images (all but IS)."""
        return [name for name in self.metric_names if name != "is"]

    def _check_real_count(self, num_real: int) -> None:
        """Too few real images for a metric to exist at all: an error, before anything is generated."""
        need = {"fid": 2, "kid": 2, "prdc": max(self.k_precision_recall, self.k_density_coverage) + 1}
        short = [name for name in self._uses_real() if num_real < need[name]]
        if short:
            raise ConfigurationError(
                f"FidelityMetrics: {', '.join(short)} need at least {max(need[n] for n in short)} real images, but "
                f"the {self.real_split} split has {num_real}; give the datamodule more images or drop "
                f"{', '.join(short)} from metrics."
            )

    def _check_counts(self, num_real: int) -> None:
        """Warn (once per instance, on global rank 0) where a metric rests on fewer real or
        generated images than it needs to mean what papers' numbers mean."""
        if self._counts_checked:
            return
        self._counts_checked = True
        fake, dim, prefix = self.num_samples, self._feature_dim, "FidelityMetrics: "
        counts = f"{num_real} real and {fake} generated images"
        if self._uses_real() and self.num_real is not None and num_real < self.num_real:
            rank_zero_warn(
                f"{prefix}num_real={self.num_real} asked, but the {self.real_split} split has only {num_real} images; "
                f"the metrics compare {fake} generated images with those {num_real}."
            )
        if self.fid is not None and dim is not None and min(num_real, fake) <= dim:
            papers = (
                "not comparable with papers (which use 50,000 generated against the training set)"
                if self.extractor_name == "inception"
                else "comparable only with runs that use the same counts"
            )
            rank_zero_warn(
                f"{prefix}FID from {counts}; with no more images on a side than the {dim} features of the "
                f"{self.extractor_name} extractor, that side's covariance is singular, so the value is biased "
                f"upwards and {papers}. Use num_real and num_samples above {dim}, ideally 10000 or more."
            )
        if self.kid is not None and self._kid_subset(num_real) < self.kid_subset_size:
            subset = self._kid_subset(num_real)
            rank_zero_warn(
                f"{prefix}KID from {counts}, fewer than kid_subset_size={self.kid_subset_size}: its "
                f"{self.kid_subsets} subsets hold {subset} images each instead, so kid is noisier (still unbiased) "
                f"and kid_std is not comparable with runs that use {self.kid_subset_size}. Use num_real and "
                f"num_samples >= {self.kid_subset_size}, or kid_subset_size <= {subset} to make this the setting."
            )
        if self.prdc is not None and min(num_real, fake) < PRDC_MIN_SAMPLES:
            rank_zero_warn(
                f"{prefix}precision/recall/density/coverage from {counts}; with fewer than {PRDC_MIN_SAMPLES} per "
                "side their nearest-neighbour balls are few and wide, so the values are noisy and depend on the "
                f"counts (Naeem et al. 2020 use 10,000 per side). Use num_real and num_samples >= "
                f"{PRDC_MIN_SAMPLES}, ideally 10000."
            )

    def protocol(self, trainer: L.Trainer) -> dict[str, Any]:
        """What makes the numbers comparable; logged as hyperparameters."""
        dataset = self._real_dataset(trainer)
        if self.custom_extractor is not None:
            backbone, resize = type(self.custom_extractor).__name__, "custom"
        elif self.extractor_name == "mnist":
            backbone = f"lightning_gans digit classifier ({self._digit_weights_id()})"
            resize = "bilinear-antialias to 28x28 per channel"
        else:
            backbone = "torch-fidelity InceptionV3 (2015-12-05)"
            resize = "bilinear-antialias" if self.antialias else "tf1-bilinear (torch-fidelity)"
        return {
            "fidelity/real_split": self.real_split,
            "fidelity/num_real": self._num_real(dataset),
            "fidelity/num_fake": self.num_samples,
            "fidelity/backbone": backbone,
            "fidelity/resize": resize,
            "fidelity/dataset": self._dataset_id(trainer),
        }

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._check_monitors(trainer)
        if trainer.logger is not None:
            trainer.logger.log_hyperparams(self.protocol(trainer))
        when = []
        if self.on_validation:
            when.append("at every validation")
        if self.every_n_batches:
            when.append(f"every {self.every_n_batches} generator steps")
        num_real = self._num_real(self._real_dataset(trainer))
        self._check_real_count(num_real)  # before training, not at the first evaluation
        rank_zero_info(
            f"[FidelityMetrics] {', '.join(self.metric_names)} {' and '.join(when)}: {self.num_samples} generated "
            f"against {num_real} real images ({self.real_split} split; embedded once, then cached)"
        )

    def _check_monitors(self, trainer: L.Trainer) -> None:
        """A checkpoint that monitors one of these metrics after validation needs it to exist then."""
        ours = {f"metrics/{name}" for name in ("fid", "is", "is_std", "kid", "kid_std", *PRDC_NAMES)}
        for callback in trainer.checkpoint_callbacks:
            monitor = getattr(callback, "monitor", None)
            if monitor in ours and not self.on_validation:
                raise ConfigurationError(
                    f"ModelCheckpoint(monitor={monitor!r}) checks its metric after every validation, but "
                    "FidelityMetrics(on_validation=False) does not compute it then; set on_validation: true "
                    "(and the cadence with trainer.val_check_interval)."
                )

    # ------------------------------------------------------------------ cadence

    def run(self, trainer: L.Trainer, pl_module: Any) -> dict[str, float]:
        """The evaluation every ``every_n_batches`` generator steps."""
        results = self.evaluate(trainer, pl_module)
        self.log_metrics(trainer, pl_module, results)
        return results

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.on_validation and not trainer.sanity_checking and not is_fast_dev_run(trainer):
            # Logged through the module, so ModelCheckpoint(monitor=...) sees it at this validation.
            pl_module.log_dict(self.evaluate(trainer, pl_module), on_step=False, on_epoch=True)

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, trainer: L.Trainer, pl_module: Any) -> dict[str, float]:
        """Compute the metrics (and print them); a collective: every rank must call it."""
        # Validation runs under inference mode; the metric states must stay ordinary tensors,
        # since they are updated again at later evaluations.
        with torch.inference_mode(False), torch.no_grad():
            return self._evaluate(trainer, pl_module)

    def _evaluate(self, trainer: L.Trainer, pl_module: Any) -> dict[str, float]:
        device = pl_module.device
        if not self._fake_metrics():
            # Built at the first evaluation, so a run that never evaluates never loads Inception.
            num_real = self._num_real(self._real_dataset(trainer))
            self._check_real_count(num_real)
            self._build_metrics(device, getattr(datamodule_of(trainer), "data_shape", None), num_real)
            self._check_counts(num_real)
        if not self._real_ready:
            self._prepare_real(trainer, device)
        for metric in self._fake_metrics():
            metric.reset()  # keeps the real statistics (reset_real_features=False)
        share = shard(self.num_samples, trainer.global_rank, trainer.world_size)
        with self.progress(len(share), "generated images", pl_module, enabled=trainer.is_global_zero) as progress:
            for images in self._generated(trainer, pl_module, progress):
                self._update(images, real=False)
        results: dict[str, float] = {}
        self._flush_fid()
        if self.fid is not None:
            results["metrics/fid"] = float(self.fid.compute())
        if self.inception_score is not None:
            mean, std = self.inception_score.compute()
            results["metrics/is"], results["metrics/is_std"] = float(mean), float(std)
        if self.kid is not None:
            mean, std = self.kid.compute()
            results["metrics/kid"], results["metrics/kid_std"] = float(mean), float(std)
        if self.prdc is not None:
            results.update({f"metrics/{name}": float(value) for name, value in self.prdc.compute().items()})
        if self._shared is not None:
            self._shared.clear()
        self.last = results
        self.history.append((pl_module.generator_steps, results))
        rank_zero_info(
            f"[FidelityMetrics] step {pl_module.generator_steps}: "
            + ", ".join(f"{k.split('/')[1]} {v:.4g}" for k, v in results.items())
        )
        return results

    def _flush_fid(self, chunk: int = 4096) -> None:
        for real, buffered in self._fid_buffer.items():
            if buffered and self.fid is not None:
                features = torch.cat(buffered)
                for start in range(0, len(features), chunk):
                    self.fid.update(features[start : start + chunk], real=real)
            buffered.clear()

    def _fake_metrics(self) -> list[Any]:
        return [m for m in (self.fid, self.inception_score, self.kid, self.prdc) if m is not None]

    def _update(self, images: Tensor, real: bool) -> None:
        images = to_uint8_rgb(images)
        if self.fid is not None:
            # FID's update adds a 2048x2048 float64 outer product per call: memory-bound for
            # small batches. Buffer the features and add them in large chunks instead.
            self._fid_buffer[real].append(self.fid.inception(images))
        if self.kid is not None:
            self.kid.update(images, real=real)
        if self.inception_score is not None and not real:
            self.inception_score.update(images)
        if self.prdc is not None:
            self.prdc.update(images, real=real)

    def _generated(self, trainer: L.Trainer, pl_module: Any, progress: Progress | None = None) -> Iterator[Tensor]:
        """This rank's share of ``num_samples`` images from fixed, index-addressed noise, on the
        module's device (:func:`~lightning_gans.sampling.samples_of_rank`, as ``generate`` draws them)."""
        labels = resolve_labels(pl_module, self.num_samples, None)
        yield from samples_of_rank(trainer, pl_module, self.num_samples, self.seed, self.batch_size, labels, progress)

    # ------------------------------------------------------------------ real statistics

    def _real_dataset(self, trainer: L.Trainer) -> Any:
        datamodule = datamodule_of(trainer)
        if datamodule is None or not hasattr(datamodule, "dataset"):
            raise ConfigurationError(
                "FidelityMetrics takes real images from the datamodule's dataset(split); use one of "
                "lightning_gans' image datamodules (e.g. ImageFolderDataModule)."
            )
        return datamodule.dataset(self.real_split)

    def _num_real(self, dataset: Any) -> int:
        return len(dataset) if self.num_real is None else min(self.num_real, len(dataset))

    def _dataset_id(self, trainer: L.Trainer) -> str:
        dm = datamodule_of(trainer)
        where = getattr(dm, "root", None) or getattr(dm, "data_dir", None) or ""
        return f"{type(dm).__name__}({os.path.abspath(str(where)) if where else ''}, {getattr(dm, 'data_shape', '')})"

    def _cache_path(self, trainer: L.Trainer, num_real: int) -> str | None:
        if self.cache_dir is None:
            return None
        if self.custom_extractor is not None:
            extractor = (
                f"custom:{type(self.custom_extractor).__qualname__}:"
                + hashlib.sha1(
                    b"".join(t.detach().cpu().numpy().tobytes() for t in self.custom_extractor.state_dict().values())
                ).hexdigest()
            )
        elif self.extractor_name == "mnist":
            extractor = f"digits:{self._digit_weights_id()}"
        else:
            extractor = f"inception:{self.weights_path or 'torch-fidelity'}:antialias={self.antialias}"
        key = "|".join(
            [
                self._dataset_id(trainer),
                self._files_fingerprint(trainer),
                self.real_split,
                str(num_real),
                extractor,
                ",".join(sorted(self.metric_names)),
            ]
        )
        return os.path.join(self.cache_dir, hashlib.sha1(key.encode()).hexdigest() + ".pt")

    def _digit_weights_id(self) -> str:
        """The digit classifier's weights file by content (sha1 prefix)."""
        path = self.weights_path or str(WEIGHTS_PATH)
        try:
            with open(path, "rb") as file:
                return "sha1 " + hashlib.sha1(file.read()).hexdigest()[:12]
        except OSError:
            return f"missing {path}"

    @staticmethod
    def _files_fingerprint(trainer: L.Trainer) -> str:
        """A hash of the names, sizes and modification times of the files under the
        datamodule's folder (``root`` or ``data_dir``): a changed image changes the cache key."""
        dm = datamodule_of(trainer)
        where = getattr(dm, "root", None) or getattr(dm, "data_dir", None)
        if not where or not os.path.isdir(str(where)):
            return "no-folder"
        digest = hashlib.sha1()
        for folder, subfolders, files in os.walk(str(where)):
            subfolders.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                digest.update(f"{os.path.relpath(path, str(where))}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def _real_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.fid is not None:
            names = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
            state["fid"] = {k: getattr(self.fid, k) for k in names}
        for name, metric in self._feature_list_metrics().items():
            features = metric.real_features  # a list, or one tensor inside a metric's sync_context
            if not isinstance(features, Tensor):
                features = torch.cat(features) if features else torch.empty(0)
            state[name] = features
        return state

    def _feature_list_metrics(self) -> dict[str, Any]:
        """The metrics that keep every real feature vector (KID, precision/recall...)."""
        return {name: m for name, m in (("kid", self.kid), ("prdc", self.prdc)) if m is not None}

    def _prepare_real(self, trainer: L.Trainer, device: torch.device) -> None:
        dataset = self._real_dataset(trainer)
        num_real = self._num_real(dataset)
        path = self._cache_path(trainer, num_real)
        # Rank 0 reads the cache and tells the others: on several nodes, each has its own disk.
        state = self._read_cache(path) if trainer.is_global_zero and path else None
        if trainer.strategy.broadcast(state is not None, src=0):
            self._load_real(state, trainer, device)
            rank_zero_info(f"[FidelityMetrics] real statistics of {num_real} images loaded from {path}")
        else:
            # A fixed random subset (not the first num_real images, which may be one class).
            chosen = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(self.seed))[:num_real]
            indices = shard(num_real, trainer.global_rank, trainer.world_size)
            what = f"real images ({self.real_split} split, once; cached)"
            with self.progress(len(indices), what, enabled=trainer.is_global_zero) as progress:
                for start in range(indices.start, indices.stop, self.batch_size):
                    stop = min(start + self.batch_size, indices.stop)
                    images = torch.stack([dataset[int(i)][0] for i in chosen[start:stop]]).to(device)
                    self._update(images, real=True)
                    progress.update(stop - start)
            self._flush_fid()
            if path:
                self._save_real(path, trainer)
        self._real_ready = True

    def _read_cache(self, path: str) -> dict[str, Any] | None:
        """The cached real statistics, or ``None`` when there are none or the file is unreadable
        or incomplete (then they are computed again and the file replaced)."""
        if not os.path.isfile(path):
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            expected = {"fid"} if self.fid is not None else set()
            expected |= set(self._feature_list_metrics())
            if not isinstance(state, dict) or not expected <= set(state):
                raise ValueError("missing statistics")
            return state
        except Exception as error:  # a truncated or foreign file must not stop training
            rank_zero_warn(
                f"[FidelityMetrics] ignoring the unreadable real-statistics cache {path} ({error}); recomputing."
            )
            return None

    def _save_real(self, path: str, trainer: L.Trainer) -> None:
        with ExitStack() as synced:  # every rank's share gathered (a collective), saved, then restored
            for metric in (m for m in (self.fid, self.kid, self.prdc) if m is not None):
                synced.enter_context(metric.sync_context(should_sync=trainer.world_size > 1))
            if trainer.is_global_zero:
                state = {
                    k: {n: t.cpu() for n, t in v.items()} if isinstance(v, dict) else v
                    for k, v in self._real_state().items()
                }
                os.makedirs(os.path.dirname(path), exist_ok=True)
                torch.save(state, path + ".tmp")
                os.replace(path + ".tmp", path)

    def _load_real(self, state: dict[str, Any] | None, trainer: L.Trainer, device: torch.device) -> None:
        """Cached statistics of all real images go to rank 0 (which alone read the file); the
        other ranks hold none, so the cross-rank sum (FID) and concatenation (KID, precision
        and recall...) count them once."""
        layouts: dict[str, tuple[int, torch.dtype]] = {}
        kept = self._feature_list_metrics()
        if state is not None:
            if self.fid is not None:
                for name, value in state["fid"].items():
                    setattr(self.fid, name, value.to(device))
            for name, metric in kept.items():
                metric.real_features = [state[name].to(device)]
                layouts[name] = (state[name].shape[1], state[name].dtype)
        layouts = trainer.strategy.broadcast(layouts, src=0)
        if state is None:  # an empty share of the right width for the gather
            for name, metric in kept.items():
                width, dtype = layouts[name]
                metric.real_features = [torch.empty(0, width, dtype=dtype, device=device)]
