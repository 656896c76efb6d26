"""Metrics that need no neural feature extractor: mode coverage of mixtures, two-sample tests."""

from lightning_gans.metrics.mode_coverage import ModeStatistics, mode_statistics
from lightning_gans.metrics.two_sample import (
    C2STResult,
    MMDResult,
    classifier_two_sample_test,
    mmd_permutation_test,
)

__all__ = [
    "C2STResult",
    "MMDResult",
    "ModeStatistics",
    "classifier_two_sample_test",
    "mmd_permutation_test",
    "mode_statistics",
]
