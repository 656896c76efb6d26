"""Metrics that need no neural feature extractor: mode coverage of mixtures."""

from lightning_gans.metrics.mode_coverage import ModeStatistics, mode_statistics

__all__ = ["ModeStatistics", "mode_statistics"]
