"""One short file per GAN variant: its paper's defaults and what differs from BaseGAN."""

from lightning_gans.variants.dcgan import DCGAN, LSGAN, R1GAN
from lightning_gans.variants.ensemble import GANEnsemble
from lightning_gans.variants.fgan import FGAN
from lightning_gans.variants.gan import GAN
from lightning_gans.variants.r3gan import R3GAN, ConditionalR3GAN
from lightning_gans.variants.sngan import CGAN, SNGAN
from lightning_gans.variants.stylegan2 import StyleGAN2
from lightning_gans.variants.wgan import WGAN, WGANGP

__all__ = [
    "CGAN",
    "ConditionalR3GAN",
    "DCGAN",
    "FGAN",
    "GAN",
    "GANEnsemble",
    "LSGAN",
    "R1GAN",
    "R3GAN",
    "SNGAN",
    "StyleGAN2",
    "WGAN",
    "WGANGP",
]
