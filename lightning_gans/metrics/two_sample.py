"""Two-sample tests of "are the generated samples distributed like the real ones?".

* :func:`classifier_two_sample_test` -- the classifier two-sample test (C2ST) of
  Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017: train a
  classifier to tell real from generated samples; its held-out accuracy is the statistic
  (0.5 when the distributions match, 1 when they are told apart perfectly) and the
  binomial tail of that accuracy is the p-value.
* :func:`mmd_permutation_test` -- the unbiased squared maximum mean discrepancy with a
  Gaussian kernel, and its permutation p-value (Gretton et al., "A Kernel Two-Sample
  Test", JMLR 2012).

Both accept tensors or arrays of shape ``(N, d)`` or ``(N, ...)`` (flattened to
``(N, d)``), are deterministic given ``seed``, and leave the global random state alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

MIN_C2ST_SAMPLES = 20
"""Fewest samples of each distribution the C2ST accepts (10 held-out points per class)."""


@dataclass(frozen=True)
class C2STResult:
    """Outcome of a classifier two-sample test.

    Attributes:
        accuracy: held-out accuracy of the real-vs-generated classifier; about 0.5 when the
            two distributions are the same, near 1 when the classifier separates them.
        p_value: ``P(X >= correct)`` for ``X ~ Binomial(num_test, 1/2)``: how surprising the
            accuracy would be if the distributions were the same. Small is "different".
        num_test: held-out samples the accuracy is measured on (half real, half generated).
        num_train: samples the classifier was trained on.
    """

    accuracy: float
    p_value: float
    num_test: int
    num_train: int


@dataclass(frozen=True)
class MMDResult:
    """Outcome of an MMD permutation test.

    Attributes:
        mmd2: the unbiased estimate of ``MMD^2`` (Gretton et al. 2012, Eq. 3); about 0 (and
            possibly negative) when the distributions are the same.
        p_value: ``(1 + #{permuted MMD^2 >= observed}) / (1 + num_permutations)``; small is
            "different", and never below ``1 / (1 + num_permutations)``.
        bandwidth: the Gaussian kernel's ``sigma`` in ``k(x, y) = exp(-|x - y|^2 / (2 sigma^2))``.
        num_permutations: random relabellings the null distribution was estimated from.
        num_x: samples of the first distribution used (after subsampling to ``max_samples``).
        num_y: samples of the second distribution used.
    """

    mmd2: float
    p_value: float
    bandwidth: float
    num_permutations: int
    num_x: int
    num_y: int


# ---------------------------------------------------------------------------- inputs


def _as_samples(samples: Any, name: str) -> Tensor:
    """``samples`` as a floating ``(N, d)`` tensor (``(N, ...)`` is flattened), checked finite."""
    tensor = torch.as_tensor(samples).detach()
    if tensor.dim() == 0:
        raise ValueError(f"{name} must have shape (N, d) or (N, ...), got a scalar.")
    if not tensor.is_floating_point():
        tensor = tensor.float()
    tensor = tensor.reshape(tensor.shape[0], -1) if tensor.dim() != 1 else tensor[:, None]
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).any(dim=1).sum())
        raise ValueError(
            f"{name} has {bad} sample(s) with NaN or infinite values; a two-sample test needs finite "
            "samples (drop them, or fix the generator that made them)."
        )
    return tensor


def _pair(x: Any, y: Any, names: tuple[str, str]) -> tuple[Tensor, Tensor]:
    x, y = _as_samples(x, names[0]), _as_samples(y, names[1])
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of features per sample, got "
            f"{x.shape[1]} and {y.shape[1]} (shapes {tuple(x.shape)} and {tuple(y.shape)}); map both "
            "through the same feature extractor or flatten them the same way."
        )
    return x, y.to(x.device)


def _subset(samples: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """A random subset of ``n`` rows (all rows, in order, when there are ``n`` or fewer)."""
    if samples.shape[0] <= n:
        return samples
    return samples[torch.randperm(samples.shape[0], generator=generator)[:n].to(samples.device)]


# ---------------------------------------------------------------------------- C2ST


SINGLE_THREAD_FEATURES = 256
"""Up to this many features, the C2ST trains on one CPU thread: its matrix products are
too small to gain from more, and on a busy machine extra threads make it 10-100x slower."""


@contextmanager
def _cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op CPU threads (unchanged when ``None``)."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count is not None:
            torch.set_num_threads(previous)


def binomial_tail(correct: int, n: int) -> float:
    """Exact ``P(X >= correct)`` for ``X ~ Binomial(n, 1/2)``: the C2ST's one-sided p-value.

    Lopez-Paz & Oquab (2017, Section 2) use the normal approximation ``N(1/2, 1/(4 n))``
    of the accuracy under the null; the exact tail is as cheap and also right for small
    ``n``. Summed in log space (``lgamma`` and ``logsumexp``), so it neither overflows nor
    loses tiny p-values to cancellation.
    """
    if n < 0 or not 0 <= correct <= n + 1:
        raise ValueError(f"Need 0 <= correct <= n + 1 and n >= 0, got correct={correct}, n={n}.")
    if correct <= 0:
        return 1.0
    if correct > n:
        return 0.0
    i = torch.arange(correct, n + 1, dtype=torch.float64)
    log_terms = math.lgamma(n + 1) - torch.lgamma(i + 1) - torch.lgamma(n - i + 1) - n * math.log(2.0)
    return min(1.0, float(torch.logsumexp(log_terms, dim=0).exp()))


def default_classifier(num_features: int, hidden_dim: int = 128) -> nn.Module:
    """The C2ST's classifier: an MLP with two hidden ReLU layers and one logit out."""
    return nn.Sequential(
        nn.Linear(num_features, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, 1),
    )


def classifier_two_sample_test(
    real: Any,
    fake: Any,
    seed: int = 0,
    test_fraction: float = 0.5,
    hidden_dim: int = 128,
    num_steps: int = 300,
    batch_size: int = 256,
    lr: float = 3e-3,
    classifier: Callable[[int], nn.Module] | None = None,
) -> C2STResult:
    """Classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017, Section 2).

    1. Balance the samples: ``n = min(N_real, N_fake)`` of each (a random subset of the
       larger one); label real 1 and fake 0.
    2. Shuffle with ``seed`` and split each class into a training part and a held-out part
       of ``test_fraction`` (stratified, so the held-out set is half real, half fake and a
       constant classifier scores exactly 0.5).
    3. Standardise the features with the training part's mean and std; train the classifier
       with Adam on the logistic loss for ``num_steps`` minibatches of ``batch_size``.
    4. The statistic is the held-out accuracy ``t``. Under ``H0: P_real = P_fake`` every
       held-out prediction is right with probability 1/2, so ``n_te * t`` is
       ``Binomial(n_te, 1/2)`` and the p-value is its upper tail ``P(X >= n_te * t)``
       (:func:`binomial_tail`; the paper uses the normal approximation
       ``t ~ N(1/2, 1/(4 n_te))``). The held-out set plays no part in training or
       standardisation, which is what makes the p-value valid however the classifier fits.

    Args:
        real: samples of one distribution, ``(N, d)`` or ``(N, ...)``; tensor or array.
        fake: samples of the other, with the same number of features.
        seed: seed of the subsets, the split, the classifier's initialisation and the
            minibatches; the global random state is left untouched.
        test_fraction: fraction of each class held out for the accuracy.
        hidden_dim: width of the default classifier's two hidden layers.
        num_steps: Adam steps.
        batch_size: samples per step (the whole training set when it is smaller).
        lr: Adam's learning rate.
        classifier: ``num_features -> nn.Module`` mapping ``(B, num_features)`` to
            ``(B, 1)`` or ``(B,)`` logits, to replace :func:`default_classifier`.

    Runs on the device ``real`` is on (on one CPU thread for up to
    ``SINGLE_THREAD_FEATURES`` features). 2,000 vs 2,000 2-D points take under a second on
    a CPU.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> real = torch.randn(500, 2)
        >>> same = classifier_two_sample_test(real, torch.randn(500, 2), num_steps=100)
        >>> same.num_train, same.num_test
        (500, 500)
        >>> 0.45 < same.accuracy < 0.55, same.p_value > 0.05  # no better than chance
        (True, True)
        >>> shifted = classifier_two_sample_test(real, torch.randn(500, 2) + torch.tensor([2.0, 0.0]), num_steps=100)
        >>> shifted.accuracy > 0.8, shifted.p_value < 1e-10  # told apart
        (True, True)
    """
    x, y = _pair(real, fake, ("real", "fake"))
    if min(x.shape[0], y.shape[0]) < MIN_C2ST_SAMPLES:
        raise ValueError(
            f"The classifier two-sample test needs at least {MIN_C2ST_SAMPLES} samples of each distribution, "
            f"got {x.shape[0]} real and {y.shape[0]} fake; pass more samples (hundreds or more for a useful test)."
        )
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    if num_steps < 1 or batch_size < 1:
        raise ValueError(f"num_steps and batch_size must be >= 1, got {num_steps} and {batch_size}.")
    threads = 1 if x.device.type == "cpu" and x.shape[1] <= SINGLE_THREAD_FEATURES else None
    with _cpu_threads(threads):
        return _c2st(x, y, seed, test_fraction, hidden_dim, num_steps, batch_size, lr, classifier)


def _c2st(
    x: Tensor,
    y: Tensor,
    seed: int,
    test_fraction: float,
    hidden_dim: int,
    num_steps: int,
    batch_size: int,
    lr: float,
    classifier: Callable[[int], nn.Module] | None,
) -> C2STResult:
    """:func:`classifier_two_sample_test` on checked inputs."""
    device = x.device
    generator = torch.Generator().manual_seed(seed)
    n = min(x.shape[0], y.shape[0])
    x, y = _subset(x, n, generator).float(), _subset(y, n, generator).float()
    n_test = min(max(1, round(n * test_fraction)), n - 1)  # held-out samples per class

    def split(samples: Tensor) -> tuple[Tensor, Tensor]:
        order = torch.randperm(n, generator=generator).to(device)
        return samples[order[n_test:]], samples[order[:n_test]]

    (x_train, x_test), (y_train, y_test) = split(x), split(y)
    train = torch.cat([x_train, y_train])
    test = torch.cat([x_test, y_test])
    train_labels = torch.cat([torch.ones(n - n_test), torch.zeros(n - n_test)]).to(device)
    test_labels = torch.cat([torch.ones(n_test), torch.zeros(n_test)]).to(device)

    mean, std = train.mean(dim=0), train.std(dim=0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))  # constant features stay as they are
    train, test = (train - mean) / std, (test - mean) / std

    with torch.random.fork_rng(devices=[]):  # initialisation without touching the global stream
        torch.default_generator.manual_seed(seed)
        model = (classifier or (lambda d: default_classifier(d, hidden_dim)))(train.shape[1]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    num_train = train.shape[0]
    batch = min(batch_size, num_train)
    order = torch.randperm(num_train, generator=generator)
    position = 0
    model.train()
    with torch.enable_grad():
        for _ in range(num_steps):
            if position + batch > num_train:  # a fresh epoch
                order, position = torch.randperm(num_train, generator=generator), 0
            index = order[position : position + batch].to(device)
            position += batch
            loss = loss_fn(model(train[index]).reshape(-1), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predictions = (model(test).reshape(-1) > 0).float()
    correct = int((predictions == test_labels).sum())
    total = 2 * n_test
    return C2STResult(
        accuracy=correct / total, p_value=binomial_tail(correct, total), num_test=total, num_train=num_train
    )


# ---------------------------------------------------------------------------- MMD


SINGLE_THREAD_MMD_SAMPLES = 2048
"""Up to this many pooled samples, the MMD test runs on one CPU thread (see
:data:`SINGLE_THREAD_FEATURES`)."""


def median_heuristic(samples: Tensor, max_points: int = 2000, generator: torch.Generator | None = None) -> float:
    """Median pairwise Euclidean distance between distinct points of ``samples`` (``(N, d)``):
    the kernel bandwidth of Gretton et al. (2012, Section 8). Uses a random subset of
    ``max_points`` points when there are more (the median barely moves, the cost is quadratic).
    """
    if samples.shape[0] > max_points:
        samples = _subset(samples, max_points, generator or torch.Generator().manual_seed(0))
    n = samples.shape[0]
    distances = torch.cdist(samples, samples)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=samples.device), diagonal=1)
    return float(distances[upper].median())


def mmd2_unbiased(kernel: Tensor, m: int) -> Tensor:
    """Unbiased ``MMD^2`` (Gretton et al. 2012, Eq. 3) from the pooled kernel matrix
    ``kernel`` of ``[x; y]`` whose first ``m`` rows are ``x``:

    ``1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
    - 2/(mn) sum_{i, j} k(x_i, y_j)``.
    """
    n = kernel.shape[0] - m
    k_xx, k_yy, k_xy = kernel[:m, :m], kernel[m:, m:], kernel[:m, m:]
    return (
        (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
        + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
        - 2 * k_xy.sum() / (m * n)
    )


def _permuted_mmd2(kernel: Tensor, in_x: Tensor, m: int) -> Tensor:
    """Unbiased ``MMD^2`` for many labellings at once: column ``p`` of the boolean ``(N, P)``
    matrix ``in_x`` marks the ``m`` points called ``x`` in labelling ``p``.

    With ``K0`` the kernel matrix with a zero diagonal, ``s`` a labelling's indicator of
    ``x``, ``r = K0 1`` and ``T = 1' K0 1``: the ``x``-``x`` sum is ``s' K0 s``, the
    ``x``-``y`` sum ``s' r - s' K0 s`` and the ``y``-``y`` sum ``T - 2 s' r + s' K0 s``, so one
    matrix product ``K0 S`` serves every labelling.
    """
    n = kernel.shape[0] - m
    s = in_x.to(kernel.dtype)
    xx = (s * (kernel @ s)).sum(dim=0)
    sr = s.T @ kernel.sum(dim=1)
    total = kernel.sum()
    xy = sr - xx
    yy = total - 2 * sr + xx
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def mmd_permutation_test(
    real: Any,
    fake: Any,
    num_permutations: int = 500,
    seed: int = 0,
    bandwidth: float | None = None,
    max_samples: int = 2000,
    chunk_size: int = 100,
) -> MMDResult:
    """Kernel two-sample test with the unbiased ``MMD^2`` and a permutation null
    (Gretton et al., JMLR 2012: the statistic is Eq. 3, the kernel Gaussian, the bandwidth
    the median heuristic of Section 8).

    The pooled kernel matrix of ``[real; fake]`` is computed once; each permutation
    relabels which ``m`` of the pooled points count as "real" and recomputes the statistic
    from the same matrix. The p-value ``(1 + #{permuted >= observed}) / (1 + B)`` counts the
    observed labelling as one of the ``B + 1``, so it is exact (valid at every level) for
    any ``B`` and never 0.

    Args:
        real: samples of one distribution, ``(N, d)`` or ``(N, ...)``; tensor or array.
        fake: samples of the other, with the same number of features.
        num_permutations: relabellings ``B`` for the null distribution.
        seed: seed of the subsets and permutations; the global random state is untouched.
        bandwidth: the kernel's ``sigma``; by default the median pairwise distance of the
            pooled sample (computed on at most 2,000 pooled points).
        max_samples: at most this many samples of each side are used (a random subset):
            the kernel matrix takes ``(2 * max_samples)^2`` float64 numbers (128 MB at 2,000).
        chunk_size: permutations evaluated per matrix product.

    Runs in float64 on the device ``real`` is on (on one CPU thread for up to
    ``SINGLE_THREAD_MMD_SAMPLES`` pooled samples). 1,000 vs 1,000 points with 500
    permutations take about 0.3 s on a CPU.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> real = torch.randn(500, 2)
        >>> same = mmd_permutation_test(real, torch.randn(500, 2), num_permutations=99)
        >>> abs(same.mmd2) < 0.01, same.p_value > 0.05
        (True, True)
        >>> shifted = mmd_permutation_test(real, torch.randn(500, 2) + torch.tensor([2.0, 0.0]), num_permutations=99)
        >>> round(shifted.mmd2, 2), shifted.p_value  # no permutation reaches it: p = 1 / (1 + 99)
        (0.37, 0.01)
        >>> shifted.num_x, shifted.num_y, round(shifted.bandwidth, 2)  # the median pairwise distance
        (500, 500, 2.01)
    """
    x, y = _pair(real, fake, ("real", "fake"))
    if min(x.shape[0], y.shape[0]) < 2:
        raise ValueError(
            f"The unbiased MMD needs at least 2 samples of each distribution, got {x.shape[0]} real and "
            f"{y.shape[0]} fake; pass more samples (hundreds or more for a useful test)."
        )
    if num_permutations < 1 or max_samples < 2:
        raise ValueError(
            f"num_permutations must be >= 1 and max_samples >= 2, got {num_permutations} and {max_samples}."
        )
    if bandwidth is not None and not (math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive number, got {bandwidth}.")
    pooled_size = min(x.shape[0], max_samples) + min(y.shape[0], max_samples)
    threads = 1 if x.device.type == "cpu" and pooled_size <= SINGLE_THREAD_MMD_SAMPLES else None
    with _cpu_threads(threads):
        return _mmd_test(x, y, num_permutations, seed, bandwidth, max_samples, chunk_size)


def _mmd_test(
    x: Tensor, y: Tensor, num_permutations: int, seed: int, bandwidth: float | None, max_samples: int, chunk_size: int
) -> MMDResult:
    """:func:`mmd_permutation_test` on checked inputs."""
    generator = torch.Generator().manual_seed(seed)
    x, y = _subset(x, max_samples, generator).double(), _subset(y, max_samples, generator).double()
    m, n = x.shape[0], y.shape[0]
    pooled = torch.cat([x, y])
    if bandwidth is None:
        bandwidth = median_heuristic(pooled, generator=generator)
        if bandwidth <= 0:  # more than half the pairs coincide: fall back to the mean distance
            bandwidth = float(torch.cdist(pooled, pooled).mean()) or 1.0
    kernel = torch.exp(-torch.cdist(pooled, pooled).square() / (2 * bandwidth**2))
    kernel.fill_diagonal_(0.0)

    observed_labels = torch.zeros(m + n, 1, dtype=torch.bool, device=pooled.device)
    observed_labels[:m] = True
    observed = _permuted_mmd2(kernel, observed_labels, m)[0]
    exceed = 0
    for start in range(0, num_permutations, chunk_size):
        count = min(chunk_size, num_permutations - start)
        ranks = torch.rand(count, m + n, generator=generator).argsort(dim=1)
        in_x = (ranks < m).T.to(pooled.device)
        # A permuted statistic that equals the observed one up to rounding counts as >=.
        exceed += int((_permuted_mmd2(kernel, in_x, m) >= observed - 1e-12).sum())
    return MMDResult(
        mmd2=float(observed),
        p_value=(1 + exceed) / (1 + num_permutations),
        bandwidth=float(bandwidth),
        num_permutations=num_permutations,
        num_x=m,
        num_y=n,
    )
