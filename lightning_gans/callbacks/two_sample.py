"""Two-sample tests of generated against real samples during training: C2ST and MMD."""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor, nn

from lightning_gans.callbacks._periodic import PeriodicCallback
from lightning_gans.errors import ConfigurationError
from lightning_gans.metrics.two_sample import (
    MIN_C2ST_SAMPLES,
    C2STResult,
    MMDResult,
    classifier_two_sample_test,
    mmd_permutation_test,
)
from lightning_gans.progress import format_duration
from lightning_gans.sampling import iter_samples, resolve_labels
from lightning_gans.utils import datamodule_of, eval_mode

TESTS = ("c2st", "mmd")
C2ST_OPTIONS = tuple(
    p for p in inspect.signature(classifier_two_sample_test).parameters if p not in ("real", "fake", "seed")
)


class TwoSampleTest(PeriodicCallback):
    """Every ``every_n_batches`` generator steps and at the end of training, test whether
    ``num_samples`` generated samples and as many real ones come from the same distribution.

    * ``"c2st"``: the classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017); logs
      ``metrics/c2st_acc`` (held-out accuracy of a real-vs-fake classifier: 0.5 is
      indistinguishable, 1.0 is told apart every time) and ``metrics/c2st_p`` (its
      binomial p-value). See :func:`~lightning_gans.metrics.classifier_two_sample_test`.
    * ``"mmd"``: the unbiased ``MMD^2`` with a Gaussian kernel and its permutation p-value
      (Gretton et al., JMLR 2012); logs ``metrics/mmd2`` and ``metrics/mmd_p``. See
      :func:`~lightning_gans.metrics.mmd_permutation_test`.

    The metrics also reach ``trainer.callback_metrics``, so
    ``ModelCheckpoint(monitor="metrics/c2st_acc", mode="min")`` keeps the generator a
    classifier finds hardest to tell from the data.

    Generated samples come from noise drawn once (seed ``seed``), through
    ``pl_module.sample`` (eval mode, the EMA generator when there is one); conditional
    variants get the labels ``0, 1, ..., K-1, 0, 1, ...``. Real samples are the first
    ``num_samples`` of the datamodule's ``val_dataloader()`` (when it has that many, else
    of ``train_dataloader()``), gathered once with a seeded shuffle and cached; the first
    element of ``(x, y)`` batches. Both are flattened, or mapped through
    ``feature_extractor`` (e.g. a pretrained image classifier's penultimate layer, which
    makes the tests far more sensitive on images than raw pixels are).

    Several processes: global rank 0 samples and computes, then broadcasts the results,
    so every rank logs and holds the same numbers. Every rank must reach the same
    evaluations, which the shared generator step count guarantees.

    Args:
        every_n_batches: evaluation cadence in batches (= generator steps).
        num_samples: generated (and real) samples per test.
        tests: any of ``"c2st"`` and ``"mmd"``.
        feature_extractor: an ``nn.Module`` mapping a batch of samples (generator output,
            e.g. images in ``[-1, 1]``, and real batches as the datamodule gives them) to
            ``(B, d)`` features; run in eval mode without gradients, on its own device.
        real: real samples to compare against instead of the datamodule's.
        real_split: where real samples come from: ``"auto"`` (validation data when there
            are ``num_samples`` of it, else training data), ``"val"`` or ``"train"``.
        batch_size: samples per generator and feature-extractor forward pass.
        num_permutations: permutations of the MMD test.
        c2st_kwargs: more options of :func:`~lightning_gans.metrics.classifier_two_sample_test`
            (``test_fraction``, ``hidden_dim``, ``num_steps``, ``batch_size``, ``lr``, ...).
        seed: seed of the evaluation noise, the real subset and the tests themselves, so
            evaluations differ only by the generator; the training's random stream is
            left alone.

    Example:
        >>> import torch
        >>> callback = TwoSampleTest(every_n_batches=200, num_samples=500, tests=("c2st", "mmd"))
        >>> callback.tests, callback.num_permutations, callback.real_split
        (('c2st', 'mmd'), 500, 'auto')
        >>> callback.features(torch.zeros(4, 1, 8, 8)).shape  # without a feature extractor: flattened
        torch.Size([4, 64])
        >>> pooled = TwoSampleTest(feature_extractor=torch.nn.AdaptiveAvgPool2d(2), c2st_kwargs={"num_steps": 100})
        >>> pooled.features(torch.zeros(4, 1, 8, 8)).shape, pooled.c2st_kwargs
        (torch.Size([4, 4]), {'num_steps': 100})
        >>> TwoSampleTest(c2st_kwargs={"epochs": 3})
        Traceback (most recent call last):
            ...
        lightning_gans.errors.ConfigurationError: c2st_kwargs has unknown option(s) epochs; valid ones: ...
    """

    rank_zero_only = False  # a collective: rank 0 computes, every rank logs the broadcast results

    def __init__(
        self,
        every_n_batches: int = 500,
        num_samples: int = 1000,
        tests: Sequence[str] = ("c2st",),
        feature_extractor: nn.Module | None = None,
        real: Tensor | None = None,
        real_split: Literal["auto", "val", "train"] = "auto",
        batch_size: int = 500,
        num_permutations: int = 500,
        c2st_kwargs: dict[str, Any] | None = None,
        seed: int = 1234,
    ) -> None:
        if isinstance(tests, str):
            tests = (tests,)
        unknown = [t for t in tests if t not in TESTS]
        if unknown or not tests:
            raise ConfigurationError(
                f"tests must be a non-empty subset of {', '.join(map(repr, TESTS))}; got {list(tests)}."
            )
        if every_n_batches < 1:
            raise ConfigurationError(f"every_n_batches must be >= 1, got {every_n_batches}.")
        if num_samples < MIN_C2ST_SAMPLES:
            raise ConfigurationError(
                f"num_samples must be >= {MIN_C2ST_SAMPLES} for a two-sample test to say anything, got {num_samples} "
                "(hundreds to thousands are typical)."
            )
        if real_split not in ("auto", "val", "train"):
            raise ConfigurationError(f"real_split must be 'auto', 'val' or 'train', got {real_split!r}.")
        if batch_size < 1 or num_permutations < 1:
            raise ConfigurationError(
                f"batch_size and num_permutations must be >= 1, got {batch_size} and {num_permutations}."
            )
        unknown = sorted(set(c2st_kwargs or {}) - set(C2ST_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"c2st_kwargs has unknown option(s) {', '.join(unknown)}; valid ones: {', '.join(C2ST_OPTIONS)}."
            )
        real = None if real is None else torch.as_tensor(real)
        if real is not None and (real.dim() == 0 or len(real) < MIN_C2ST_SAMPLES):
            raise ConfigurationError(
                f"real must hold at least {MIN_C2ST_SAMPLES} samples (hundreds to thousands are typical), got shape "
                f"{tuple(real.shape)}; pass more, or leave real=None to take them from the datamodule."
            )
        super().__init__(every_n_batches)
        self.num_samples = num_samples
        self.tests = tuple(dict.fromkeys(tests))
        self.feature_extractor = feature_extractor
        self.real_split = real_split
        self.batch_size = batch_size
        self.num_permutations = num_permutations
        self.c2st_kwargs = dict(c2st_kwargs or {})
        self.seed = seed
        self.history: list[tuple[int, dict[str, C2STResult | MMDResult]]] = []
        self.last: dict[str, float] = {}
        self._real: Tensor | None = real
        self._real_source = "given" if real is not None else ""
        self._real_features: Tensor | None = None

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, trainer: L.Trainer, pl_module: Any) -> dict[str, float] | None:
        """Run the tests and log them. A collective under several processes: every rank
        calls it, rank 0 computes and broadcasts. ``None`` when this step was already done."""
        return self.maybe_run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: Any) -> dict[str, float]:
        start = time.monotonic()
        results = self.compute(trainer, pl_module) if trainer.is_global_zero else None
        if trainer.world_size > 1:
            results = trainer.strategy.broadcast(results, src=0)
        assert results is not None  # rank 0 computed them
        metrics: dict[str, float] = {}
        parts = []
        if "c2st" in results:
            c2st = results["c2st"]
            assert isinstance(c2st, C2STResult)
            metrics["metrics/c2st_acc"], metrics["metrics/c2st_p"] = c2st.accuracy, c2st.p_value
            parts.append(f"C2ST accuracy {c2st.accuracy:.3f} (p={c2st.p_value:.2g}, {c2st.num_test} held out)")
        if "mmd" in results:
            mmd = results["mmd"]
            assert isinstance(mmd, MMDResult)
            metrics["metrics/mmd2"], metrics["metrics/mmd_p"] = mmd.mmd2, mmd.p_value
            parts.append(f"MMD^2 {mmd.mmd2:.2e} (p={mmd.p_value:.2g}, bandwidth {mmd.bandwidth:.3g})")
        self.log_metrics(trainer, pl_module, metrics)
        self.history.append((pl_module.generator_steps, results))
        self.last = metrics
        rank_zero_info(
            f"{self.prefix()} step {pl_module.generator_steps}, {self.num_samples} real vs generated: "
            f"{', '.join(parts)} ({format_duration(time.monotonic() - start)})"
        )
        return metrics

    @torch.no_grad()
    def compute(self, trainer: L.Trainer, pl_module: Any) -> dict[str, C2STResult | MMDResult]:
        """The tests' results on this process (no logging, no communication)."""
        real = self._real_feature_cache(trainer)
        fake = self.features(self._generated(pl_module))
        real = real.to(fake.device)
        results: dict[str, C2STResult | MMDResult] = {}
        if "c2st" in self.tests:
            results["c2st"] = classifier_two_sample_test(real, fake, seed=self.seed, **self.c2st_kwargs)
        if "mmd" in self.tests:
            results["mmd"] = mmd_permutation_test(real, fake, num_permutations=self.num_permutations, seed=self.seed)
        return results

    def features(self, samples: Tensor) -> Tensor:
        """``(N, d)`` features of ``samples``: the feature extractor's, else the flattened samples."""
        if self.feature_extractor is None:
            return samples.reshape(samples.shape[0], -1).float()
        parameter = next(self.feature_extractor.parameters(), None)
        device = parameter.device if parameter is not None else samples.device
        outputs = []
        with eval_mode(self.feature_extractor), torch.no_grad():
            for start in range(0, samples.shape[0], self.batch_size):
                chunk = samples[start : start + self.batch_size].to(device)
                outputs.append(self.feature_extractor(chunk).reshape(chunk.shape[0], -1).float())
        return torch.cat(outputs)

    def _generated(self, pl_module: Any) -> Tensor:
        """``num_samples`` samples from the seed's noise, in batches (every class in turn for
        conditional models), as ``python -m lightning_gans generate`` draws them; long draws
        (images) print their progress."""
        labels = resolve_labels(pl_module, self.num_samples, None)
        progress = self.progress(self.num_samples, "generated samples", pl_module, "samples", self.num_samples > 5000)
        with progress:
            batches = iter_samples(
                pl_module, self.num_samples, labels, seed=self.seed, batch_size=self.batch_size, progress=progress
            )
            return torch.cat([samples for samples, _ in batches])

    # ------------------------------------------------------------------ real samples

    def _real_feature_cache(self, trainer: L.Trainer) -> Tensor:
        if self._real_features is None:
            if self._real is None:
                self._real, self._real_source = self._gather_real(trainer)
                rank_zero_info(
                    f"[TwoSampleTest] {len(self._real)} real samples from the datamodule's "
                    f"{self._real_source}_dataloader(), cached for every evaluation"
                )
            self._real_features = self.features(self._real)
        return self._real_features

    def _gather_real(self, trainer: L.Trainer) -> tuple[Tensor, str]:
        """The first ``num_samples`` real samples of the datamodule and the split they came from."""
        datamodule = datamodule_of(trainer)
        splits = ["val", "train"] if self.real_split == "auto" else [self.real_split]
        if datamodule is None:
            raise ConfigurationError(
                "TwoSampleTest takes real samples from the datamodule, and this trainer has none; "
                "fit with a datamodule (e.g. lightning_gans.ToyDataModule) or pass real=<tensor of real samples>."
            )
        best: tuple[Tensor, str] | None = None
        for split in splits:
            samples = self._first_samples(datamodule, split)
            if samples is not None and (best is None or len(samples) > len(best[0])):
                best = (samples, split)
            if best is not None and len(best[0]) >= self.num_samples:
                break
        if best is None:
            raise ConfigurationError(
                "TwoSampleTest found no real samples in the datamodule's "
                f"{' or '.join(s + '_dataloader()' for s in splits)}; "
                "give the datamodule data there or pass real=<tensor of real samples>."
            )
        if len(best[0]) < self.num_samples:
            rank_zero_warn(
                f"TwoSampleTest: the datamodule's {best[1]} data has only {len(best[0])} samples, fewer than "
                f"num_samples={self.num_samples}; the tests use {len(best[0])} of each."
            )
        return best

    def _first_samples(self, datamodule: Any, split: str) -> Tensor | None:
        hook = f"{split}_dataloader"
        if not hasattr(datamodule, hook) or (
            isinstance(datamodule, L.LightningDataModule) and not is_overridden(hook, datamodule)
        ):
            return None
        # A seeded shuffle that leaves the training's random stream (and its order) alone.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self.seed)
            loader = getattr(datamodule, hook)()
            if isinstance(loader, (list, tuple)):
                loader = loader[0] if loader else None
            if loader is None:
                return None
            chunks: list[Tensor] = []
            count = 0
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                chunks.append(torch.as_tensor(x)[: self.num_samples - count].cpu())
                count += len(chunks[-1])
                if count >= self.num_samples:
                    break
        return torch.cat(chunks) if chunks else None
