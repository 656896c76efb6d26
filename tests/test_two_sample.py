"""Two-sample tests: the classifier two-sample test (Lopez-Paz & Oquab 2017), the MMD
permutation test (Gretton et al. 2012) and the TwoSampleTest callback."""

import math
from fractions import Fraction

import pytest
import torch
from helpers import same, snapshot, tiny_gan, tiny_toy, trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lightning_gans as lg
from lightning_gans.callbacks import TwoSampleTest
from lightning_gans.data.toy import ring
from lightning_gans.metrics import C2STResult, MMDResult, classifier_two_sample_test, mmd_permutation_test
from lightning_gans.metrics.two_sample import _permuted_mmd2, binomial_tail, median_heuristic, mmd2_unbiased


def gaussian(n: int, seed: int, shift: float = 0.0, d: int = 2) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


# ---------------------------------------------------------------------------- C2ST


def test_c2st_cannot_tell_two_samples_of_one_distribution_apart():
    result = classifier_two_sample_test(gaussian(1000, 1), gaussian(1000, 2), seed=0)
    assert isinstance(result, C2STResult)
    assert result.num_test == 1000 and result.num_train == 1000
    assert abs(result.accuracy - 0.5) < 0.05
    assert result.p_value > 0.05


@pytest.mark.parametrize("which", ["shifted gaussian", "ring vs gaussian"])
def test_c2st_tells_different_distributions_apart(which):
    if which == "shifted gaussian":  # Bayes accuracy Phi(3 sqrt(2) / 2) = 0.983
        real, fake = gaussian(1000, 1), gaussian(1000, 2, shift=3.0)
    else:
        real, fake = ring().sample(1000, torch.Generator().manual_seed(1))[0], gaussian(1000, 2)
    result = classifier_two_sample_test(real, fake, seed=0)
    assert result.accuracy > 0.95
    assert result.p_value < 1e-6


def test_c2st_is_deterministic_balances_the_samples_and_leaves_the_global_rng_alone():
    real, fake = gaussian(300, 1), gaussian(200, 2, shift=0.5)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    first = classifier_two_sample_test(real, fake, seed=3, num_steps=50)
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads
    assert classifier_two_sample_test(real, fake, seed=3, num_steps=50) == first
    assert first.num_test + first.num_train == 2 * 200  # min(300, 200) of each
    assert first.num_test == 200  # test_fraction=0.5
    assert classifier_two_sample_test(real.numpy(), fake.numpy(), seed=3, num_steps=50) == first  # arrays too


def test_c2st_flattens_images_and_accepts_a_custom_classifier():
    uniform = torch.rand(200, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    real, fake = uniform[:100], uniform[100:].clone()
    fake[:, :, :2] += 3.0  # a bright top half: trivially told apart
    built = []

    def linear(num_features: int) -> nn.Module:
        built.append(num_features)
        return nn.Linear(num_features, 1)

    result = classifier_two_sample_test(real, fake, seed=0, classifier=linear, num_steps=100)
    assert built == [16]
    assert result.accuracy == 1.0 and result.p_value == pytest.approx(0.5**100)


@pytest.mark.parametrize("n", [1, 2, 7, 20, 51])
def test_binomial_tail_is_the_exact_upper_tail(n):
    for correct in range(0, n + 2):
        exact = sum(Fraction(math.comb(n, i), 2**n) for i in range(correct, n + 1))
        assert binomial_tail(correct, n) == pytest.approx(float(exact), rel=1e-10, abs=1e-300)


def test_binomial_tail_keeps_tiny_p_values():
    assert binomial_tail(1000, 1000) == pytest.approx(0.5**1000, rel=1e-8)
    assert 0 < binomial_tail(900, 1000) < 1e-100


@pytest.mark.parametrize("test", [classifier_two_sample_test, mmd_permutation_test])
def test_bad_inputs_name_the_problem(test):
    ok = gaussian(50, 1)
    with pytest.raises(ValueError, match="same number of features"):
        test(ok, gaussian(50, 2, d=3))
    bad = ok.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        test(ok, bad)
    with pytest.raises(ValueError, match="at least"):
        test(ok, ok[:1])


def test_c2st_needs_twenty_samples_of_each():
    with pytest.raises(ValueError, match="at least 20 samples of each distribution, got 50 real and 19 fake"):
        classifier_two_sample_test(gaussian(50, 1), gaussian(19, 2))


# ---------------------------------------------------------------------------- MMD


def direct_mmd2(x: torch.Tensor, y: torch.Tensor, sigma: float) -> float:
    """Gretton et al. (2012), Eq. 3, as written: three double loops."""

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        return math.exp(-float(((a - b) ** 2).sum()) / (2 * sigma**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_unbiased_mmd2_matches_the_double_loop_of_eq_3():
    x, y = gaussian(12, 1, d=3).double(), gaussian(9, 2, shift=0.7, d=3).double()
    expected = direct_mmd2(x, y, sigma=1.3)
    result = mmd_permutation_test(x, y, bandwidth=1.3, num_permutations=10)
    assert result.mmd2 == pytest.approx(expected, rel=1e-10)
    assert (result.num_x, result.num_y, result.bandwidth) == (12, 9, 1.3)

    pooled = torch.cat([x, y])
    kernel = torch.exp(-(torch.cdist(pooled, pooled) ** 2) / (2 * 1.3**2))
    assert float(mmd2_unbiased(kernel, 12)) == pytest.approx(expected, rel=1e-10)
    # The one-matrix-product form agrees with the direct one for any relabelling.
    labels = torch.zeros(21, 3, dtype=torch.bool)
    for column in range(3):
        labels[torch.randperm(21, generator=torch.Generator().manual_seed(column))[:12], column] = True
    zero_diagonal = kernel.clone().fill_diagonal_(0.0)
    for column, stat in enumerate(_permuted_mmd2(zero_diagonal, labels, 12)):
        chosen = labels[:, column]
        assert float(stat) == pytest.approx(direct_mmd2(pooled[chosen], pooled[~chosen], 1.3), rel=1e-10)


def test_median_heuristic_is_the_median_pairwise_distance():
    points = gaussian(31, 4)
    distances = [float((points[i] - points[j]).norm()) for i in range(31) for j in range(i + 1, 31)]
    assert median_heuristic(points) == pytest.approx(sorted(distances)[len(distances) // 2], rel=1e-6)


def test_mmd_on_one_distribution_is_near_zero_and_not_significant():
    result = mmd_permutation_test(gaussian(1000, 1), gaussian(1000, 2), num_permutations=200, seed=0)
    assert isinstance(result, MMDResult)
    assert abs(result.mmd2) < 0.005
    assert result.p_value > 0.05


@pytest.mark.parametrize("which", ["shifted gaussian", "ring vs gaussian"])
def test_mmd_on_different_distributions_beats_every_permutation(which):
    if which == "shifted gaussian":
        real, fake = gaussian(500, 1), gaussian(500, 2, shift=1.0)
    else:
        real, fake = ring().sample(500, torch.Generator().manual_seed(1))[0], gaussian(500, 2)
    result = mmd_permutation_test(real, fake, num_permutations=200, seed=0)
    assert result.mmd2 > 0.01
    assert result.p_value <= 2 / (1 + 200)
    assert result.num_permutations == 200


def test_mmd_is_deterministic_subsamples_and_leaves_the_global_rng_alone():
    real, fake = gaussian(300, 1), gaussian(250, 2)
    state = torch.get_rng_state()
    first = mmd_permutation_test(real, fake, num_permutations=50, seed=5, max_samples=100)
    assert torch.equal(torch.get_rng_state(), state)
    assert mmd_permutation_test(real, fake, num_permutations=50, seed=5, max_samples=100) == first
    assert (first.num_x, first.num_y) == (100, 100)
    # The permutations go through in chunks; the chunking does not change the answer.
    assert mmd_permutation_test(real, fake, num_permutations=50, seed=5, max_samples=100, chunk_size=7) == first


def test_mmd_p_values_under_the_null_are_not_concentrated_near_zero():
    """40 tests of independent same-distribution samples: a valid test rejects ~5% at 0.05."""
    p_values = [
        mmd_permutation_test(gaussian(100, 2 * i), gaussian(100, 2 * i + 1), num_permutations=100, seed=i).p_value
        for i in range(40)
    ]
    assert sum(p < 0.05 for p in p_values) / 40 <= 0.2
    assert 0.2 < sum(p_values) / 40 < 0.8  # uniform on [0, 1] has mean 0.5


# ---------------------------------------------------------------------------- callback


KEYS = ("metrics/c2st_acc", "metrics/c2st_p", "metrics/mmd2", "metrics/mmd_p")


def test_callback_logs_both_tests_on_schedule_and_leaves_training_alone():
    def fit(callbacks):
        torch.manual_seed(0)
        model = tiny_gan()
        fitted = trainer(limit_train_batches=5, callbacks=callbacks)
        fitted.fit(model, tiny_toy())
        return model, fitted

    callback = TwoSampleTest(every_n_batches=2, num_samples=128, tests=("c2st", "mmd"), num_permutations=100)
    model, fitted = fit([callback])
    for key in KEYS:
        assert key in fitted.callback_metrics and math.isfinite(float(fitted.callback_metrics[key]))
    assert [step for step, _ in callback.history] == [2, 4, 5]  # every 2 steps and the end, once each
    step, results = callback.history[-1]
    assert isinstance(results["c2st"], C2STResult) and isinstance(results["mmd"], MMDResult)
    assert results["c2st"].num_test == 128 and results["mmd"].num_x == 128
    assert float(fitted.callback_metrics["metrics/c2st_acc"]) == results["c2st"].accuracy
    assert callback._real_source == "val" and callback._real.shape == (128, 2)
    # An untrained generator is far from 8 tight Gaussians.
    assert results["c2st"].accuracy > 0.9 and results["mmd"].p_value <= 2 / 101

    untouched, _ = fit([])
    assert same(snapshot(model), snapshot(untouched))  # the evaluations used none of training's randomness


class _Stub:
    """Just enough of a GAN for TwoSampleTest.compute: a generator that is the identity
    (samples N(0, I)) or a shift of it."""

    conditional = False

    def __init__(self, shift: float) -> None:
        self.shift = shift

    def sample_noise(self, n, generator=None):
        return torch.randn(n, 2, generator=generator)

    def sample(self, noise, labels=None, use_ema=True):  # BaseGAN.sample's signature
        return noise + self.shift


def test_callback_compares_the_generator_with_given_real_samples_through_the_feature_extractor():
    extractor = nn.Linear(2, 3)
    extractor.train()
    real = gaussian(400, 7)
    callback = TwoSampleTest(num_samples=400, tests=("c2st", "mmd"), real=real, feature_extractor=extractor)
    perfect = callback.compute(None, _Stub(0.0))
    assert extractor.training  # eval mode only during the extraction
    assert callback._real_features.shape == (400, 3)
    assert perfect["c2st"].p_value > 0.05 and perfect["mmd"].p_value > 0.05
    shifted = callback.compute(None, _Stub(2.0))
    assert shifted["c2st"].accuracy > 0.8 and shifted["c2st"].p_value < 1e-6
    assert shifted["mmd"].p_value <= 2 / 501


def test_callback_settings_are_checked():
    with pytest.raises(
        lg.ConfigurationError, match="tests must be a non-empty subset of 'c2st', 'mmd'; got \\['fid'\\]"
    ):
        TwoSampleTest(tests=("fid",))
    with pytest.raises(ValueError, match="tests must be"):
        TwoSampleTest(tests=())
    with pytest.raises(ValueError, match="every_n_batches must be >= 1"):
        TwoSampleTest(every_n_batches=0)
    with pytest.raises(ValueError, match="num_samples must be >= 20"):
        TwoSampleTest(num_samples=5)
    assert TwoSampleTest(tests="mmd").tests == ("mmd",)


def test_callback_without_a_datamodule_says_how_to_give_real_samples():
    points = TensorDataset(ring().sample(128, torch.Generator().manual_seed(0))[0])
    with pytest.raises(lg.ConfigurationError, match="pass real="):
        trainer(limit_train_batches=2, callbacks=[TwoSampleTest(every_n_batches=2, num_samples=64)]).fit(
            tiny_gan(), DataLoader(points, batch_size=64)
        )


def test_callback_takes_training_data_when_validation_data_is_short_and_leaves_the_rng_alone():
    from types import SimpleNamespace

    datamodule = tiny_toy(num_val_samples=64)
    datamodule.setup("fit")
    callback = TwoSampleTest(num_samples=100)
    state = torch.get_rng_state()
    real, split = callback._gather_real(SimpleNamespace(datamodule=datamodule))
    assert torch.equal(torch.get_rng_state(), state)
    assert split == "train" and real.shape == (100, 2)
    assert torch.equal(callback._gather_real(SimpleNamespace(datamodule=datamodule))[0], real)  # seeded shuffle
    only_val = TwoSampleTest(num_samples=100, real_split="val")
    with pytest.warns(UserWarning, match="only 64 samples"):
        real, split = only_val._gather_real(SimpleNamespace(datamodule=datamodule))
    assert split == "val" and real.shape == (64, 2)
