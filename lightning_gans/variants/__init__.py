"""One short file per GAN variant: its paper's defaults and what differs from BaseGAN."""

from lightning_gans.variants.gan import GAN

__all__ = ["GAN"]
