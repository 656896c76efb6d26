"""Differentiable augmentation of everything the discriminator sees, for training on little data.

With few images the discriminator memorises them and its gradients stop teaching the
generator (the generator then collapses). Augmenting both real and generated images with the
same random, differentiable transforms keeps the discriminator from overfitting without
letting the augmentations leak into the generated distribution, as long as they are applied
to every image the discriminator sees and gradients flow through them to the generator.

* :class:`DiffAugment` (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
  GAN Training"): the policies ``color``, ``translation`` and ``cutout``, always applied.
* :class:`AdaptiveAugment` (Karras et al. 2020, "Training Generative Adversarial Networks
  with Limited Data", ADA): flips, 90-degree rotations, integer translation, isotropic
  scaling, rotation, brightness, contrast, saturation and cutout, each applied with
  probability ``p``; ``p`` follows the overfitting heuristic ``r_t = E[sign(D(real))]``
  toward a target (0.6).

Both draw every random number from the ``torch.Generator`` they are given (the module's
per-batch training stream), so a resumed run augments exactly as the uninterrupted one.
Images are ``(N, C, H, W)`` in ``[-1, 1]``; :func:`build_augment` makes either from a
config string.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import ConfigurationError

Reduce = Callable[[Tensor], Tensor]
"""Sums a tensor over the data-parallel processes (the identity on one process)."""

DIFF_AUGMENT_POLICIES = ("color", "translation", "cutout")


def _uniform(n: int, rng: torch.Generator | None, like: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    u = torch.rand(n, generator=rng, device=rng.device if rng is not None else like.device)
    return (low + (high - low) * u).to(device=like.device, dtype=like.dtype)


def _normal(n: int, rng: torch.Generator | None, like: Tensor, std: float) -> Tensor:
    z = torch.randn(n, generator=rng, device=rng.device if rng is not None else like.device)
    return (std * z).to(device=like.device, dtype=like.dtype)


def _integers(n: int, low: int, high: int, rng: torch.Generator | None, like: Tensor) -> Tensor:
    """Integers uniform in ``[low, high]`` (both included)."""
    device = rng.device if rng is not None else like.device
    return torch.randint(low, high + 1, (n,), generator=rng, device=device).to(like.device)


def _per_sample(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


def cutout_mask(x: Tensor, size: int, rng: torch.Generator | None, apply: Tensor | None = None) -> Tensor:
    """A ``(N, 1, H, W)`` mask with one ``size x size`` square of zeros per image at a uniform
    centre (clipped at the border), ones where ``apply`` is false."""
    n, _, height, width = x.shape
    cy = _integers(n, 0, height - 1, rng, x).view(-1, 1, 1)
    cx = _integers(n, 0, width - 1, rng, x).view(-1, 1, 1)
    rows = torch.arange(height, device=x.device).view(1, -1, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, -1)
    dy, dx = rows - cy + size // 2, cols - cx + size // 2  # the square's rows and columns: 0 .. size - 1
    inside = (dy >= 0) & (dy < size) & (dx >= 0) & (dx < size)
    if apply is not None:
        inside = inside & apply.view(-1, 1, 1)
    return (~inside).unsqueeze(1).to(x.dtype)


def translate(x: Tensor, shift_y: Tensor, shift_x: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Shift each image by whole pixels (``shift_*``: ``(N,)`` integers), filling with zeros
    (or ``"reflection"``); exact and differentiable (a one-hot resampling)."""
    n, _, height, width = x.shape
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * shift_x.to(x.dtype) / width
    theta[:, 1, 2] = -2 * shift_y.to(x.dtype) / height
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode=padding_mode, align_corners=False)


class Augmentation(nn.Module):
    """A differentiable augmentation of the discriminator's inputs, and the controller of its
    strength. The training loop calls :meth:`forward` on every image the discriminator sees,
    :meth:`observe` with ``D``'s outputs on the augmented reals of every discriminator update,
    and :meth:`update` after every generator step; :meth:`metrics` are logged. A fixed
    augmentation (DiffAugment) needs only :meth:`forward`."""

    def forward(self, x: Tensor, rng: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def observe(self, real_outputs: Tensor, images: int) -> None:
        """Sees ``D`` on ``images`` augmented real images (one discriminator update)."""

    def update(self, generator_steps: int, reduce: Reduce | None = None) -> None:
        """Runs after generator step ``generator_steps`` (counted from 1); ``reduce`` sums over processes."""

    def metrics(self) -> dict[str, Tensor]:
        """What to log about the augmentation's state."""
        return {}

    def spec(self) -> dict[str, Any]:
        """How to build it again, as plain data (a checkpoint's hyperparameters keep this)."""
        raise NotImplementedError


class DiffAugment(Augmentation):
    """DiffAugment (Zhao et al. 2020, Sec. 3 and their code's defaults), applied to every image:

    * ``color``: brightness ``+ U(-0.5, 0.5)``, saturation ``x (U(0, 2))`` around each pixel's
      channel mean, contrast ``x (U(0.5, 1.5))`` around the image mean;
    * ``translation``: shift by up to 1/8 of the image side, whole pixels, zero fill;
    * ``cutout``: zero one square of half the image side at a uniform position.

    Args:
        policies: a subset of ``("color", "translation", "cutout")``, applied in that order
            (e.g. ``"translation,cutout"`` in a config).

    Example:
        >>> import torch
        >>> from lightning_gans.augment import DiffAugment
        >>> images = torch.ones(4, 3, 8, 8)
        >>> out = DiffAugment(["cutout"])(images, torch.Generator().manual_seed(0))
        >>> (out == 0).flatten(1).any(dim=1).tolist()  # one zeroed square per image
        [True, True, True, True]
    """

    def __init__(self, policies: Sequence[str] = DIFF_AUGMENT_POLICIES) -> None:
        super().__init__()
        unknown = [p for p in policies if p not in DIFF_AUGMENT_POLICIES]
        if unknown or not policies:
            raise ConfigurationError(
                f"Unknown DiffAugment policies {unknown or list(policies)}: use one or more of "
                f"{', '.join(DIFF_AUGMENT_POLICIES)} (comma-separated, e.g. augment: color,translation,cutout), "
                "or augment: ada."
            )
        self.policies = tuple(p for p in DIFF_AUGMENT_POLICIES if p in policies)

    def forward(self, x: Tensor, rng: torch.Generator | None = None) -> Tensor:
        n, channels, height, width = x.shape
        if "color" in self.policies:
            x = x + _per_sample(_uniform(n, rng, x, -0.5, 0.5))
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * _per_sample(_uniform(n, rng, x, 0.0, 2.0)) + mean
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * _per_sample(_uniform(n, rng, x, 0.5, 1.5)) + mean
        if "translation" in self.policies:
            sy, sx = int(height * 0.125 + 0.5), int(width * 0.125 + 0.5)
            x = translate(x, _integers(n, -sy, sy, rng, x), _integers(n, -sx, sx, rng, x))
        if "cutout" in self.policies:
            x = x * cutout_mask(x, int(min(height, width) * 0.5 + 0.5), rng)
        return x

    def extra_repr(self) -> str:
        return ",".join(self.policies)

    def spec(self) -> dict[str, Any]:
        return {"class_path": f"{__name__}.DiffAugment", "init_args": {"policies": list(self.policies)}}


class AdaptiveAugment(Augmentation):
    """ADA (Karras et al. 2020): a pipeline of transforms, each applied to each image with
    probability :attr:`p`, and ``p`` adjusted to keep the discriminator from overfitting.

    The pipeline (their Appendix B, "bgc" plus cutout), in this order:

    * flip left-right; rotate by a uniform multiple of 90 degrees; translate by whole pixels,
      up to 1/8 of the side;
    * scale isotropically by ``lognormal(0, (0.2 ln 2)^2)``; rotate by ``U(-180, 180)``
      degrees (probability ``1 - sqrt(1 - p)``, as the paper's pre-rotation); these share
      one bilinear resampling with reflection padding;
    * brightness ``+ N(0, 0.2^2)``; contrast ``x lognormal(0, (0.5 ln 2)^2)``; saturation
      ``x lognormal(0, (ln 2)^2)`` around the grey axis (RGB only);
    * cutout of half the side (DiffAugment's; the paper's "cutout" ablation).

    The heuristic (Sec. 3): ``r_t = E[sign(D(x_real))]`` over the reals of the last
    ``interval`` generator steps (summed over DDP processes); ``p`` moves by
    ``sign(r_t - target) * images / (kimg * 1000)``, so it can go from 0 to 1 in ``kimg``
    thousand real images, clamped to ``[0, p_max]``. ``p``, ``r_t`` and the running sums are
    buffers: checkpointed and restored on resume. The controller is :meth:`update` (the loop
    calls it after every generator step); :attr:`p_max` is the ceiling a schedule may move
    (target ``augment_p_max``; 1 by default). With ``target=None``, ``p`` stays at its initial
    value, capped by the ceiling.

    Args:
        target: the ``r_t`` to hold (0.6 in the paper); ``None`` keeps ``p`` fixed.
        kimg: thousands of real images over which ``p`` can move from 0 to 1 (500).
        interval: generator steps between adjustments (4).
        p: the initial (or, with ``target=None``, fixed) probability.

    Example:
        >>> import torch
        >>> from lightning_gans.augment import AdaptiveAugment
        >>> ada = AdaptiveAugment(target=0.6, kimg=0.1)  # p can go from 0 to 1 in 100 images
        >>> for step in range(1, 5):  # the discriminator is sure of every real image: r_t = 1
        ...     ada.observe(torch.ones(10), images=10)
        ...     ada.update(step)
        >>> round(ada.p.item(), 2), ada.rt.item()  # after 4 steps (40 images) p rose by 40/100
        (0.4, 1.0)
    """

    p: Tensor
    rt: Tensor
    sign_sum: Tensor
    count: Tensor

    def __init__(self, target: float | None = 0.6, kimg: float = 500.0, interval: int = 4, p: float = 0.0) -> None:
        super().__init__()
        if target is not None and not 0.0 < target < 1.0:
            raise ConfigurationError(f"ADA's target r_t must lie in (0, 1), e.g. 0.6, or be None; got {target}.")
        if kimg <= 0 or interval < 1 or not 0.0 <= p <= 1.0:
            raise ConfigurationError(
                f"ADA needs kimg > 0 (e.g. 500), interval >= 1 (e.g. 4) and p in [0, 1]; got kimg={kimg}, "
                f"interval={interval}, p={p}."
            )
        self.target = target
        self.kimg = kimg
        self.interval = interval
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("rt", torch.tensor(0.0))
        self.register_buffer("sign_sum", torch.tensor(0.0))
        self.register_buffer("count", torch.tensor(0.0))
        self.probability = float(p)
        """``p`` on the host (read once per adjustment, not once per batch)."""
        self.initial_p = float(p)
        self.p_max = 1.0
        """The ceiling of ``p`` (a schedule's factor of 1)."""
        self.register_load_state_dict_post_hook(_after_load)  # a resumed run continues with its p

    def refresh_probability(self) -> None:
        """Copy ``p`` to :attr:`probability` (after loading a state dict or an adjustment)."""
        self.probability = float(self.p)

    def forward(self, x: Tensor, rng: torch.Generator | None = None) -> Tensor:
        if self.probability == 0.0:
            return x  # exactly the identity at p = 0
        n, channels, height, width = x.shape
        p = self.p.to(x.dtype)

        def chosen(prob: Tensor = p) -> Tensor:
            return _uniform(n, rng, x) < prob

        # Geometric transforms: one 2x3 matrix per image, in normalised coordinates, mapping
        # output positions to input positions (each distribution is symmetric, so drawing the
        # forward or the inverse transform is the same).
        eye = torch.eye(3, device=x.device, dtype=x.dtype).expand(n, 3, 3)
        flip = torch.where(chosen(), -1.0, 1.0).to(x.dtype)
        matrix = eye.clone()
        matrix[:, 0, 0] = flip
        quarter = _integers(n, 0, 3, rng, x).to(x.dtype) * chosen()
        matrix = matrix @ _rotation(quarter * (math.pi / 2))
        shift = torch.stack([_integers(n, -s, s, rng, x) for s in (width // 8, height // 8)], dim=1).to(x.dtype)
        shift = shift * chosen().unsqueeze(1)
        matrix = matrix @ _translation(2 * shift[:, 0] / width, 2 * shift[:, 1] / height)
        scale = torch.exp2(torch.where(chosen(), _normal(n, rng, x, 0.2), 0.0))
        matrix = matrix @ _scaling(scale)
        p_rot = 1 - torch.sqrt((1 - p).clamp(min=0))
        angle = torch.where(chosen(p_rot), _uniform(n, rng, x, -math.pi, math.pi), 0.0)
        matrix = matrix @ _rotation(angle)
        grid = F.affine_grid(matrix[:, :2], list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

        # Colour transforms.
        x = x + _per_sample(torch.where(chosen(), _normal(n, rng, x, 0.2), 0.0))
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        contrast = torch.exp2(torch.where(chosen(), _normal(n, rng, x, 0.5), 0.0))
        x = (x - mean) * _per_sample(contrast) + mean
        saturation = torch.exp2(torch.where(chosen(), _normal(n, rng, x, 1.0), 0.0))
        if channels == 3:
            grey = x.mean(dim=1, keepdim=True)
            x = (x - grey) * _per_sample(saturation) + grey

        return x * cutout_mask(x, int(min(height, width) * 0.5 + 0.5), rng, apply=chosen())

    def observe(self, real_outputs: Tensor, images: int) -> None:
        """Add ``D``'s outputs on the augmented reals of one discriminator update to ``r_t``'s sums."""
        self.accumulate(real_outputs, images)

    def update(self, generator_steps: int, reduce: Reduce | None = None) -> None:
        """The controller: every :attr:`interval` generator steps, :meth:`adjust` ``p``."""
        if generator_steps % self.interval == 0:
            self.adjust(reduce)

    def metrics(self) -> dict[str, Tensor]:
        return {"augment/p": self.p.clone(), "augment/rt": self.rt.clone()}

    @torch.no_grad()
    def accumulate(self, real_outputs: Tensor, images: int) -> None:
        """Add the discriminator's raw outputs on ``images`` (augmented) real images to ``r_t``'s sums."""
        self.sign_sum += torch.sign(real_outputs.detach().float()).mean() * images
        self.count += images

    @torch.no_grad()
    def adjust(self, reduce: Reduce | None = None) -> None:
        """Move ``p`` by the heuristic from the sums since the last adjustment (summed over
        processes by ``reduce``), then reset them; call every :attr:`interval` steps."""
        sums = torch.stack([self.sign_sum, self.count])
        if reduce is not None:
            sums = reduce(sums)
        sign_sum, count = sums[0], sums[1]
        self.rt.copy_(torch.where(count > 0, sign_sum / count.clamp(min=1), self.rt))
        if self.target is not None:
            step = torch.sign(self.rt - self.target) * count / (self.kimg * 1000)
            self.p.copy_((self.p + step).clamp(0.0, self.p_max))
        else:
            self.p.fill_(min(self.initial_p, self.p_max))
        self.refresh_probability()  # one host sync per adjustment
        self.sign_sum.zero_()
        self.count.zero_()

    def extra_repr(self) -> str:
        return f"target={self.target}, kimg={self.kimg}, interval={self.interval}"

    def spec(self) -> dict[str, Any]:
        settings = {"target": self.target, "kimg": self.kimg, "interval": self.interval, "p": self.initial_p}
        return {"class_path": f"{__name__}.AdaptiveAugment", "init_args": settings}


def _after_load(module: nn.Module, incompatible_keys: object) -> None:
    assert isinstance(module, AdaptiveAugment)
    module.refresh_probability()


def _rotation(angle: Tensor) -> Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix = torch.eye(3, device=angle.device, dtype=angle.dtype).repeat(len(angle), 1, 1)
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
    return matrix


def _translation(tx: Tensor, ty: Tensor) -> Tensor:
    matrix = torch.eye(3, device=tx.device, dtype=tx.dtype).repeat(len(tx), 1, 1)
    matrix[:, 0, 2], matrix[:, 1, 2] = tx, ty
    return matrix


def _scaling(scale: Tensor) -> Tensor:
    matrix = torch.eye(3, device=scale.device, dtype=scale.dtype).repeat(len(scale), 1, 1)
    matrix[:, 0, 0] = matrix[:, 1, 1] = scale
    return matrix


def build_augment(spec: str | Augmentation | Mapping[str, Any] | None) -> Augmentation | None:
    """The augmentation ``spec`` names: ``"ada"`` (ADA with the paper's settings), DiffAugment
    policies (``"color,translation,cutout"``), an :class:`Augmentation` itself, or ``None``.

    Example:
        >>> build_augment("translation,cutout")
        DiffAugment(translation,cutout)
        >>> build_augment(AdaptiveAugment(target=0.6, kimg=100))
        AdaptiveAugment(target=0.6, kimg=100, interval=4)
    """
    if spec is None or isinstance(spec, Augmentation):
        return spec
    if isinstance(spec, Mapping) and spec.get("class_path") in _BY_PATH:  # an Augmentation.spec()
        return _BY_PATH[spec["class_path"]](**spec.get("init_args", {}))
    if not isinstance(spec, str):
        raise ConfigurationError(
            f"augment is a string ('ada' or DiffAugment policies such as 'color,translation,cutout') or an "
            f"augmentation such as lightning_gans.augment.AdaptiveAugment(target=0.6, kimg=100); got {spec!r}."
        )
    if spec.strip().lower() in ("", "none"):
        return None
    if spec.strip().lower() == "ada":
        return AdaptiveAugment()
    return DiffAugment([part.strip().lower() for part in spec.split(",") if part.strip()])


_BY_PATH: dict[str, type[Augmentation]] = {f"{__name__}.{c.__name__}": c for c in (DiffAugment, AdaptiveAugment)}
