"""f-GAN (Nowozin et al. 2016): train a generator under any f-divergence."""

from __future__ import annotations

from typing import Any

from lightning_gans.errors import ConfigurationError
from lightning_gans.losses import F_DIVERGENCES, FDivergenceName, get_f_divergence
from lightning_gans.variants.dcgan import DCGAN


class FGAN(DCGAN):
    """f-GAN (Nowozin et al. 2016): the saddle point of
    ``F(G, V) = E_data[g_f(V(x))] - E_G[f*(g_f(V(x)))]`` (Eq. 6), a variational lower bound
    on ``D_f(p_data || p_G)``; ``g_f`` is the output activation and ``f*`` the convex
    conjugate of the chosen divergence (Table 6, :data:`lightning_gans.losses.F_DIVERGENCES`).
    The generator maximises ``E_G[g_f(V(G(z)))]`` (Sec. 3.2). The bound is logged as
    ``divergence/fgan_<name>_bound``: Nowozin's ``D_f`` of Table 6, so for ``jensen_shannon`` it
    bounds ``2 JSD`` (twice what the minimax loss's ``divergence/jsd_estimate`` estimates). DCGAN
    networks and optimizer.

    Args:
        divergence: the f-divergence; it sets the loss (``f_gan_<divergence>``).
        loss: leave unset: it follows ``divergence`` (accepted only when it matches).
        **kwargs: DCGAN's settings.

    Example:
        >>> from lightning_gans import FGAN
        >>> FGAN(data_shape=(1, 28, 28), latent_dim=8, g_channels=4, d_channels=4, divergence="kl").divergence
        'kl'
    """

    def __init__(self, divergence: FDivergenceName = "jensen_shannon", loss: str | None = None, **kwargs: Any) -> None:
        get_f_divergence(divergence)  # names the valid divergences when it is unknown
        own_loss = f"f_gan_{divergence}"
        if loss not in (None, own_loss):  # a checkpoint's hyperparameters hold the matching loss
            raise ConfigurationError(
                f"FGAN's loss follows its divergence ({own_loss}); choose the divergence with divergence=, one of "
                f"{', '.join(F_DIVERGENCES)}, or use DCGAN for another loss."
            )
        super().__init__(loss=own_loss, **kwargs)
        self.divergence = divergence
