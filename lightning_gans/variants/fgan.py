"""f-GAN (Nowozin et al. 2016): train a generator under any f-divergence."""

from __future__ import annotations

from typing import Any, Literal

from lightning_gans.losses import F_DIVERGENCES, get_f_divergence
from lightning_gans.variants._common import reject_own_settings
from lightning_gans.variants.dcgan import DCGAN


class FGAN(DCGAN):
    """f-GAN (Nowozin et al. 2016): the saddle point of
    ``F(G, V) = E_data[g_f(V(x))] - E_G[f*(g_f(V(x)))]`` (Eq. 6), a variational lower bound
    on ``D_f(p_data || p_G)``; ``g_f`` is the output activation and ``f*`` the convex
    conjugate of the chosen divergence (Table 6, :data:`lightning_gans.losses.F_DIVERGENCES`).
    The generator maximises ``E_G[g_f(V(G(z)))]`` (Sec. 3.2). The bound is logged as
    ``divergence/<name>_estimate``. DCGAN networks and optimizer.
    """

    def __init__(
        self,
        divergence: Literal[
            "kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon", "gan", "total_variation"
        ] = "jensen_shannon",
        **kwargs: Any,
    ) -> None:
        reject_own_settings(
            self, kwargs, loss=f"(f_gan_<divergence>); choose it with divergence=, one of {', '.join(F_DIVERGENCES)}"
        )
        get_f_divergence(divergence)  # names the valid divergences when it is unknown
        super().__init__(loss=f"f_gan_{divergence}", **kwargs)
        self.divergence = divergence
