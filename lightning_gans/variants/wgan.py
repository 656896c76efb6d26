"""Wasserstein GANs: weight clipping (Arjovsky et al. 2017) and gradient penalty
(Gulrajani et al. 2017). They differ in how the critic is kept 1-Lipschitz."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch.optim import Optimizer

from lightning_gans.penalties import DiscriminatorPenalty, GradientPenalty
from lightning_gans.variants.dcgan import DCGAN


class WGAN(DCGAN):
    """Wasserstein GAN (Arjovsky et al. 2017): the critic maximises
    ``E[f(x)] - E[f(G(z))]`` (Eq. 3), an estimate of ``W_1(p_data, p_G)`` when ``f`` is
    1-Lipschitz, which weight clipping to ``[-clip_value, clip_value]`` after each critic
    update enforces crudely. Algorithm 1: ``n_critic=5``, RMSprop(5e-5), clip 0.01.

    Example:
        >>> import torch
        >>> from lightning_gans import WGAN
        >>> critic = WGAN(data_shape=(1, 28, 28), latent_dim=8, g_channels=4, d_channels=4)
        >>> with torch.no_grad():
        ...     _ = [p.fill_(1.0) for p in critic.discriminator.parameters()]
        >>> critic.after_discriminator_step()  # weight clipping
        >>> round(max(p.abs().max().item() for p in critic.discriminator.parameters()), 6)
        0.01
    """

    def __init__(
        self, clip_value: float | None = 0.01, n_critic: int = 5, loss: str = "wasserstein", **kwargs: Any
    ) -> None:
        super().__init__(n_critic=n_critic, loss=loss, **kwargs)
        self.clip_value = clip_value

    def after_discriminator_step(self) -> None:
        if self.clip_value is not None:
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.clip_value, self.clip_value)

    def configure_default_optimizer(self, params: Any, role: str) -> Optimizer:
        return torch.optim.RMSprop(params, lr=5e-5)


class WGANGP(WGAN):
    """WGAN with gradient penalty (Gulrajani et al. 2017): no clipping; the critic loss adds
    ``lambda * E[(||grad D(x_hat)||_2 - 1)^2]`` on random interpolates between real and fake
    samples, one coefficient per sample (Eq. 3, lambda=10). No BatchNorm in the critic (the
    penalty is per sample; layer norm instead), Adam(1e-4, betas=(0, 0.9)), ``n_critic=5``
    (Algorithm 1). A ``penalty=`` given replaces the gradient penalty (``gp_weight`` then does
    nothing).

    Example:
        >>> from lightning_gans import WGANGP
        >>> gan = WGANGP(data_shape=(1, 28, 28), latent_dim=8, g_channels=4, d_channels=4)
        >>> gan.penalty, gan.n_critic, gan.clip_value
        (GradientPenalty(weight=10.0, every=1), 5, None)
    """

    def __init__(
        self,
        gp_weight: float = 10.0,
        clip_value: float | None = None,
        d_norm: Literal["batch", "layer", "none"] = "layer",
        penalty: DiscriminatorPenalty | None = None,
        **kwargs: Any,
    ) -> None:
        penalty = penalty if penalty is not None else GradientPenalty(gp_weight)
        super().__init__(clip_value=clip_value, d_norm=d_norm, penalty=penalty, **kwargs)

    def configure_default_optimizer(self, params: Any, role: str) -> Optimizer:
        return torch.optim.Adam(params, lr=1e-4, betas=(0.0, 0.9))
