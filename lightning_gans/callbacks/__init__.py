"""Callbacks that read the model and write to the logger: evaluation and plots."""

from lightning_gans.callbacks._periodic import PeriodicCallback
from lightning_gans.callbacks.fidelity import FidelityMetrics
from lightning_gans.callbacks.mode_coverage import ModeCoverage
from lightning_gans.callbacks.sample_grid import SampleGrid
from lightning_gans.callbacks.stacked_mnist import StackedMNISTCoverage
from lightning_gans.callbacks.two_sample import TwoSampleTest

__all__ = ["FidelityMetrics", "ModeCoverage", "PeriodicCallback", "SampleGrid", "StackedMNISTCoverage", "TwoSampleTest"]
