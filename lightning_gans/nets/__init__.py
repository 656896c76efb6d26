"""Generator and discriminator networks. They know nothing of training."""

from lightning_gans.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from lightning_gans.nets.ensemble import BatchedLinear, MemberBatchNorm1d, member_network
from lightning_gans.nets.layers import ConditionalBatchNorm2d, ProjectionHead
from lightning_gans.nets.mlp import MLPDiscriminator, MLPGenerator
from lightning_gans.nets.r3gan import R3GANDiscriminator, R3GANGenerator
from lightning_gans.nets.resnet import ResNetDiscriminator, ResNetGenerator
from lightning_gans.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "BatchedLinear",
    "ConditionalBatchNorm2d",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "MemberBatchNorm1d",
    "ProjectionHead",
    "R3GANDiscriminator",
    "R3GANGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "member_network",
]
