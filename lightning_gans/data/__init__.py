"""LightningDataModules: 2-D mixtures and image datasets."""

from lightning_gans.data.images import (
    IMAGE_EXTENSIONS,
    CelebADataModule,
    CIFAR10DataModule,
    DataError,
    DataNotFoundError,
    FashionMNISTDataModule,
    ImageDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    TorchvisionDataModule,
    image_transform,
)
from lightning_gans.data.stacked import StackedDigits, StackedMNISTDataModule
from lightning_gans.data.toy import GaussianMixture, ToyDataModule, grid, ring

__all__ = [
    "IMAGE_EXTENSIONS",
    "CIFAR10DataModule",
    "CelebADataModule",
    "DataError",
    "DataNotFoundError",
    "FashionMNISTDataModule",
    "GaussianMixture",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "StackedDigits",
    "StackedMNISTDataModule",
    "ToyDataModule",
    "TorchvisionDataModule",
    "grid",
    "image_transform",
    "ring",
]
