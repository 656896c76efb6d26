"""lightning_gans: Generative Adversarial Networks on PyTorch Lightning.

Every variant, datamodule and callback is importable from here, so a config can say
``class_path: lightning_gans.GAN``.
"""

import warnings

from lightning_gans import augment, losses, metrics, nets, penalties
from lightning_gans.base import BaseGAN
from lightning_gans.callbacks import FidelityMetrics, ModeCoverage, SampleGrid, StackedMNISTCoverage, TwoSampleTest
from lightning_gans.checkpoint import CheckpointError, load_gan
from lightning_gans.data import (
    CelebADataModule,
    CIFAR10DataModule,
    DataError,
    FashionMNISTDataModule,
    GaussianMixture,
    ImageDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    StackedMNISTDataModule,
    ToyDataModule,
)
from lightning_gans.errors import ConfigurationError, GANError, NonFiniteLossError, NonFiniteSamplesError
from lightning_gans.export import export_generator, from_pretrained
from lightning_gans.strategies import GANDDPStrategy, register_gan_ddp
from lightning_gans.variants import (
    CGAN,
    DCGAN,
    FGAN,
    GAN,
    LSGAN,
    R1GAN,
    R3GAN,
    SNGAN,
    WGAN,
    WGANGP,
    ConditionalR3GAN,
    GANEnsemble,
    StyleGAN2,
)
from lightning_gans.version import __version__ as __version__

# Lightning warns, at every step-cadence checkpoint of a manually optimised module, that the file holds the
# weights after that step's optimizer steps: for a GAN that is the state a resume continues from, by design.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization and every_n_train_steps")

register_gan_ddp()  # adds "gan_ddp" (and _spawn, _fork, _notebook); Lightning's "ddp" names stay its own

__all__ = [
    "export_generator",
    "from_pretrained",
    "BaseGAN",
    "CIFAR10DataModule",
    "CelebADataModule",
    "DataError",
    "FashionMNISTDataModule",
    "FidelityMetrics",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "SampleGrid",
    "CGAN",
    "ConditionalR3GAN",
    "CheckpointError",
    "ConfigurationError",
    "DCGAN",
    "FGAN",
    "GAN",
    "GANDDPStrategy",
    "GANEnsemble",
    "GANError",
    "GaussianMixture",
    "LSGAN",
    "ModeCoverage",
    "NonFiniteLossError",
    "NonFiniteSamplesError",
    "R1GAN",
    "R3GAN",
    "SNGAN",
    "StackedMNISTCoverage",
    "StackedMNISTDataModule",
    "StyleGAN2",
    "ToyDataModule",
    "TwoSampleTest",
    "WGAN",
    "WGANGP",
    "augment",
    "load_gan",
    "losses",
    "metrics",
    "nets",
    "penalties",
]
