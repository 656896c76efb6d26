"""Metrics: mode coverage of mixtures, two-sample tests, precision/recall/density/coverage,
the packaged digit classifier and Stacked MNIST modes."""

from lightning_gans.metrics.digits import DigitClassifier, DigitFeatures, load_digit_classifier
from lightning_gans.metrics.mode_coverage import ModeStatistics, mode_statistics
from lightning_gans.metrics.prdc import PrecisionRecallDensityCoverage, density_coverage, precision_recall
from lightning_gans.metrics.stacked_mnist import StackedMNISTModes, stacked_mnist_modes
from lightning_gans.metrics.two_sample import (
    C2STResult,
    MMDResult,
    classifier_two_sample_test,
    mmd_permutation_test,
)

__all__ = [
    "C2STResult",
    "DigitClassifier",
    "DigitFeatures",
    "MMDResult",
    "ModeStatistics",
    "PrecisionRecallDensityCoverage",
    "StackedMNISTModes",
    "classifier_two_sample_test",
    "density_coverage",
    "load_digit_classifier",
    "mmd_permutation_test",
    "mode_statistics",
    "precision_recall",
    "stacked_mnist_modes",
]
