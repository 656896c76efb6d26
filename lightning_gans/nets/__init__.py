"""Generator and discriminator networks. They know nothing of training."""

from lightning_gans.nets.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["MLPDiscriminator", "MLPGenerator"]
