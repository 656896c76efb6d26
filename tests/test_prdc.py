"""Precision, recall, density and coverage against hand-computed values and known limits."""

import pytest
import torch

from lightning_gans.metrics import PrecisionRecallDensityCoverage, density_coverage, precision_recall
from lightning_gans.metrics.prdc import nearest_neighbour_radii


def points(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)[:, None]


def test_a_hand_computed_example_on_a_line():
    # Real 0, 1, 2, 3: with k = 1 every real ball has radius 1. Generated 0.5 and 10: both
    # generated balls have radius 9.5 (each other's distance).
    real, fake = points(0, 1, 2, 3), points(0.5, 10)
    assert nearest_neighbour_radii(real, 1).tolist() == [1, 1, 1, 1]
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == 0.5  # 0.5 lies in the ball of 0 (and 1); 10 in none
    assert recall == 1.0  # every real point lies within 9.5 of 0.5
    density, coverage = density_coverage(real, fake, k=1)
    assert density == 1.0  # 0.5 is in 2 real balls (of 0 and 1), 10 in none: 2 / (k * M) = 2 / 2
    assert coverage == 0.5  # 0 and 1 have a generated point within radius 1; 2 and 3 do not


def test_k_counts_the_kth_other_point_not_the_point_itself():
    real = points(0, 1, 3, 6)
    assert nearest_neighbour_radii(real, 1).tolist() == [1, 1, 2, 3]
    assert nearest_neighbour_radii(real, 2).tolist() == [3, 2, 3, 5]


def test_a_set_against_itself_is_perfect():
    real = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(real, real.clone(), k=3) == (1.0, 1.0)
    density, coverage = density_coverage(real, real.clone(), k=5)
    assert coverage == 1.0
    assert density >= 1.0  # each sample is in its own ball and in its neighbours'


def test_samples_on_one_of_two_modes_have_half_the_recall_and_coverage():
    g = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(500, 2, generator=g) - 10, torch.randn(500, 2, generator=g) + 10])
    fake = torch.randn(500, 2, generator=g) + 10  # mode collapse onto the second mode
    precision, recall = precision_recall(real, fake, k=3)
    density, coverage = density_coverage(real, fake, k=5)
    assert precision > 0.95 and recall == pytest.approx(0.5, abs=0.03)
    assert coverage == pytest.approx(0.5, abs=0.03)
    assert density == pytest.approx(1.0, abs=0.15)  # the samples follow the mode they cover


def test_samples_off_the_data_have_no_precision_density_or_coverage():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(400, 4, generator=g), torch.randn(400, 4, generator=g) + 20
    assert precision_recall(real, fake, k=3) == (0.0, 0.0)
    assert density_coverage(real, fake, k=5) == (0.0, 0.0)


def test_one_outlying_sample_inflates_recall_but_not_coverage():
    """Naeem et al.'s motivation: a generated outlier's huge k-NN ball covers every real point."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 2, generator=g)
    cluster = torch.randn(4, 2, generator=g) * 0.01 + torch.tensor([3.0, 0.0])
    fake = torch.cat([cluster, torch.tensor([[-3.0, 0.0]])])  # its ball reaches the cluster: radius 6
    _, recall = precision_recall(real, fake, k=3)
    _, coverage = density_coverage(real, fake, k=5)
    assert recall > 0.95 and coverage < 0.1


def test_the_metric_keeps_real_features_across_resets_and_matches_the_functions():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 3, generator=g), torch.randn(48, 3, generator=g) * 1.5
    metric = PrecisionRecallDensityCoverage(torch.nn.Identity(), k_precision_recall=3, k_density_coverage=5)
    metric.update(real[:40], real=True)
    metric.update(real[40:], real=True)
    metric.update(fake, real=False)
    first = {k: float(v) for k, v in metric.compute().items()}
    expected_pr = precision_recall(real, fake, 3)
    expected_dc = density_coverage(real, fake, 5)
    assert (first["precision"], first["recall"]) == pytest.approx(expected_pr)
    assert (first["density"], first["coverage"]) == pytest.approx(expected_dc)
    metric.reset()  # a new evaluation: generated features go, real ones stay
    metric.update(fake, real=False)
    assert {k: float(v) for k, v in metric.compute().items()} == pytest.approx(first)


def test_too_few_points_for_k_is_one_clear_error():
    with pytest.raises(ValueError, match="k = 5 nearest neighbours need more than k real samples"):
        density_coverage(torch.randn(5, 2), torch.randn(10, 2), k=5)
