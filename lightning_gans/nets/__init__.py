"""Generator and discriminator networks. They know nothing of training."""

from lightning_gans.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from lightning_gans.nets.layers import ConditionalBatchNorm2d, ProjectionHead
from lightning_gans.nets.mlp import MLPDiscriminator, MLPGenerator
from lightning_gans.nets.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "ConditionalBatchNorm2d",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ProjectionHead",
    "ResNetDiscriminator",
    "ResNetGenerator",
]
