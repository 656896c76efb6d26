"""Callbacks that read the model and write to the logger: evaluation and plots."""

from lightning_gans.callbacks.mode_coverage import ModeCoverage

__all__ = ["ModeCoverage"]
