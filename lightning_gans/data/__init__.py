"""LightningDataModules: 2-D mixtures and image datasets."""

from lightning_gans.data.toy import GaussianMixture, ToyDataModule, grid, ring

__all__ = ["GaussianMixture", "ToyDataModule", "grid", "ring"]
