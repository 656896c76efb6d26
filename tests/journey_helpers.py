"""Importable by the CLI in the journey tests' subprocesses (PYTHONPATH=tests)."""

import torch
from torch import nn


class PooledPixels(nn.Module):
    """A cheap feature extractor for FidelityMetrics: uint8 images -> 4x4 average-pooled
    pixels in [0, 1] (48 features), so FID's covariance is 48x48, not 2048x2048."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(images.float() / 255, 4)
        return pooled.flatten(1)
