"""Precision, recall, density and coverage of generated samples in a feature space.

FID mixes two failures: samples off the data (low precision) and data the samples miss
(low recall, mode collapse). These metrics keep them apart, from k-nearest-neighbour balls
around feature vectors:

* precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models", Eq. 1-2, k = 3): the share of generated samples inside some
  real sample's ball (radius: its distance to its k-th nearest real neighbour), and of real
  samples inside some generated sample's ball. Computed by torch-fidelity's
  ``prc_features_to_metric``, which implements exactly this on feature tensors.
* density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
  Generative Models", Eq. 3-4, k = 5), built on real balls only, so one outlying generated
  sample cannot inflate them:
  ``density = 1 / (k M) sum_j sum_i 1[Y_j in B(X_i, r_i)]`` (about 1 when the samples
  follow the data, above 1 when they crowd its dense regions) and
  ``coverage = 1 / N sum_i 1[exists j: Y_j in B(X_i, r_i)]``.
  torch-fidelity has no density or coverage; they are written here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_fidelity.metric_prc import prc_features_to_metric
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

CHUNK = 4096
"""Rows of a distance matrix computed at once (memory: CHUNK x N floats)."""


def _check(real: Tensor, fake: Tensor, k: int) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"Expected features (N, d) and (M, d), got {tuple(real.shape)} and {tuple(fake.shape)}.")
    if k < 1 or len(real) <= k:
        raise ValueError(f"k = {k} nearest neighbours need more than k real samples and k >= 1; got {len(real)}.")


def nearest_neighbour_radii(features: Tensor, k: int) -> Tensor:
    """Each point's distance to its k-th nearest other point of ``features``."""
    return torch.cat([torch.cdist(chunk, features).kthvalue(k + 1, dim=1).values for chunk in features.split(CHUNK)])


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al.'s precision and recall of ``fake`` features against ``real`` ones.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> real = torch.randn(500, 2)
        >>> precision, recall = precision_recall(real, torch.randn(500, 2))  # the same distribution
        >>> round(precision, 2), round(recall, 2)
        (0.98, 0.96)
        >>> precision, recall = precision_recall(real, 0.1 * torch.randn(500, 2))  # collapsed on the centre
        >>> round(precision, 2), round(recall, 2)  # realistic samples, most of the data missed
        (0.99, 0.07)
    """
    _check(real, fake, k)
    if len(fake) <= k:
        raise ValueError(f"Recall's k = {k} nearest neighbours need more than k generated samples; got {len(fake)}.")
    out = prc_features_to_metric(
        fake.float(), real.float(), prc_neighborhood=k, prc_batch_size=CHUNK, save_cpu_ram=True, verbose=False
    )
    return float(out["precision"]), float(out["recall"])


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Naeem et al.'s density and coverage of ``fake`` features against ``real`` ones.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> real = torch.randn(500, 2)
        >>> density, coverage = density_coverage(real, torch.randn(500, 2))  # the same distribution
        >>> round(density, 2), round(coverage, 2)
        (0.98, 0.97)
        >>> density, coverage = density_coverage(real, torch.randn(500, 2) + 3)  # mostly off the data
        >>> round(density, 2), round(coverage, 2)
        (0.29, 0.08)
    """
    _check(real, fake, k)
    real, fake = real.float(), fake.float()
    radii = nearest_neighbour_radii(real, k)
    inside = torch.zeros((), dtype=torch.long, device=real.device)
    covered = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for chunk in fake.split(CHUNK):
        within = torch.cdist(chunk, real) <= radii  # (chunk, N): Y_j in B(X_i, r_i)
        inside += within.sum()
        covered |= within.any(dim=0)
    return float(inside) / (k * len(fake)), float(covered.float().mean())


class PrecisionRecallDensityCoverage(Metric):
    """Precision, recall (k = ``k_precision_recall``), density and coverage
    (k = ``k_density_coverage``) of generated against real images, in the features of
    ``feature`` (a module mapping images to ``(N, d)``), as a torchmetrics metric.

    Features are kept and gathered across processes when computed (``dist_reduce_fx="cat"``),
    so several ranks give the numbers of one process on the same images. With
    ``reset_real_features=False`` a reset keeps the real features (computed once).

    Example:
        Features of 2x2 "images" are their four pixels:

        >>> import torch
        >>> from torch import nn
        >>> _ = torch.manual_seed(0)
        >>> metric = PrecisionRecallDensityCoverage(nn.Flatten())
        >>> metric.update(torch.randn(200, 1, 2, 2), real=True)
        >>> metric.update(torch.randn(200, 1, 2, 2), real=False)
        >>> {name: round(float(value), 2) for name, value in metric.compute().items()}
        {'precision': 0.91, 'recall': 0.94, 'density': 0.98, 'coverage': 0.98}
        >>> metric.reset()  # keeps the real features
        >>> metric.update(0.1 * torch.randn(200, 1, 2, 2), real=False)  # collapsed samples
        >>> {name: round(float(value), 2) for name, value in metric.compute().items()}
        {'precision': 1.0, 'recall': 0.0, 'density': 1.65, 'coverage': 0.13}
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    real_features: list[Tensor]
    fake_features: list[Tensor]

    def __init__(
        self,
        feature: nn.Module,
        k_precision_recall: int = 3,
        k_density_coverage: int = 5,
        reset_real_features: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.inception = feature  # the name torchmetrics' FID and KID use for it
        self.k_precision_recall = k_precision_recall
        self.k_density_coverage = k_density_coverage
        self.reset_real_features = reset_real_features
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, images: Tensor, real: bool) -> None:
        features = self.inception(images)
        (self.real_features if real else self.fake_features).append(features)

    def compute(self) -> dict[str, Tensor]:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        precision, recall = precision_recall(real, fake, self.k_precision_recall)
        density, coverage = density_coverage(real, fake, self.k_density_coverage)
        values = {"precision": precision, "recall": recall, "density": density, "coverage": coverage}
        return {name: torch.tensor(value) for name, value in values.items()}

    def reset(self) -> None:
        if self.reset_real_features:
            super().reset()
            return
        kept = self._defaults.pop("real_features")
        super().reset()
        self._defaults["real_features"] = kept
