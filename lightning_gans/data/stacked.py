"""Stacked MNIST: the image-level mode-collapse benchmark of VEEGAN (Srivastava et al. 2017,
Sec. 5.2) and PacGAN (Lin et al. 2018, Sec. 5.2, Table 2).

Each image stacks three random MNIST digits as its three channels, so the data has
10 x 10 x 10 = 1,000 modes (digit triples), all equally likely. A generator that covers
few of them has collapsed; :func:`lightning_gans.metrics.stacked_mnist_modes` counts them
with the package's digit classifier.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets

from lightning_gans.data.images import (
    DataNotFoundError,
    ImageDataModule,
    Split,
    _images,
    read_image,
)
from lightning_gans.errors import ConfigurationError

DIGIT_WEIGHTS = torch.tensor([100, 10, 1])
"""A triple's mode index: ``100 * digit_0 + 10 * digit_1 + digit_2`` (channel 0 first)."""


class StackedDigits(Dataset):
    """``num_samples`` images ``(3, image_size, image_size)`` in [-1, 1], image ``i`` stacking
    the source digits ``triples[i]`` (drawn once from ``seed``: the same data in every run and
    after a resume); label: the mode index ``100 d0 + 10 d1 + d2``.

    Example:
        Ten stand-in "digits", digit ``d`` a flat image of gray level ``25 d``:

        >>> import torch
        >>> digits = (25 * torch.arange(10, dtype=torch.uint8))[:, None, None].expand(10, 28, 28)
        >>> dataset = StackedDigits(digits, labels=torch.arange(10), num_samples=4, seed=0)
        >>> dataset.triples[0].tolist()  # the source digits of image 0, one per channel
        [4, 9, 3]
        >>> image, mode = dataset[0]
        >>> image.shape, mode  # mode 100 * 4 + 10 * 9 + 3
        (torch.Size([3, 28, 28]), 493)
        >>> ((image[:, 0, 0] + 1) * 127.5 / 25).round().tolist()  # each channel is its digit, in [-1, 1]
        [4.0, 9.0, 3.0]
        >>> StackedDigits(digits, torch.arange(10), num_samples=4, seed=0, image_size=32)[0][0].shape
        torch.Size([3, 32, 32])
    """

    def __init__(self, digits: Tensor, labels: Tensor, num_samples: int, seed: int, image_size: int = 28) -> None:
        if digits.dim() != 3 or digits.dtype != torch.uint8 or len(digits) != len(labels) or not len(digits):
            raise ValueError(
                f"Expected uint8 digits (M, H, W) and M labels, got {tuple(digits.shape)} and {len(labels)}."
            )
        self.digits, self.labels, self.image_size = digits, labels.long(), image_size
        generator = torch.Generator().manual_seed(seed)
        self.triples = torch.randint(len(digits), (num_samples, 3), generator=generator)

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        chosen = self.triples[index]
        image = self.digits[chosen].float() / 127.5 - 1
        if image.shape[-1] != self.image_size:
            image = F.interpolate(image[None], size=self.image_size, mode="bilinear", antialias=True)[0]
        return image, int((self.labels[chosen] * DIGIT_WEIGHTS).sum())


def load_digit_folder(root: str | Path) -> tuple[Tensor, Tensor]:
    """The digits of an image folder with one subfolder per digit (``0/`` ... ``9/``, as
    ``../shared/data/mnist-test``), as grayscale uint8 ``(M, 28, 28)`` and their labels."""
    root = Path(root)
    folders = [root / str(d) for d in range(10)]
    if not all(folder.is_dir() for folder in folders):
        raise DataNotFoundError(f"{root} needs one folder per digit, 0/ to 9/, of MNIST images.")
    digits, labels = [], []
    for digit, folder in enumerate(folders):
        for path in _images(folder, recursive=False):
            image = read_image(path, "L")
            if image.size != (28, 28):
                image = image.resize((28, 28))
            digits.append(torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).reshape(28, 28))
            labels.append(digit)
    return torch.stack(digits), torch.tensor(labels)


class StackedMNISTDataModule(ImageDataModule):
    """Stacked MNIST: three random MNIST digits per image, one per channel (1,000 modes).

    The digits come from torchvision's MNIST under ``data_dir`` (training split for
    ``"train"``, test split for ``"val"``; downloaded when ``download``), or, with ``root``,
    from a folder of digit images ``0/`` ... ``9/`` (both splits then draw from it, with
    different seeds). The triples are drawn once from ``seed``: every run, and a resumed run,
    sees the same images.

    Args:
        num_samples: training images (VEEGAN's and PacGAN's 128,000 by default).
        num_val_samples: validation images (real images of FID and precision/recall).
        image_size: 28 (MNIST's own) or e.g. 32 for DCGAN's power-of-two layers (resized).

    Example:
        >>> datamodule = StackedMNISTDataModule(data_dir="data", download=False)
        >>> datamodule.data_shape, datamodule.num_classes  # three digits, 10 ** 3 modes
        ((3, 28, 28), 1000)

        Offline, from a folder of digit images (here one flat stand-in image per digit):

        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> folder = tempfile.TemporaryDirectory()
        >>> for digit in range(10):
        ...     (Path(folder.name) / str(digit)).mkdir()
        ...     Image.new("L", (28, 28), color=25 * digit).save(Path(folder.name) / str(digit) / "0.png")
        >>> datamodule = StackedMNISTDataModule(
        ...     root=folder.name, num_samples=8, num_val_samples=4, image_size=32, batch_size=4, num_workers=0
        ... )
        >>> len(datamodule.dataset("train")), len(datamodule.dataset("val"))
        (8, 4)
        >>> image, mode = datamodule.dataset("train")[0]
        >>> image.shape, mode, ((image[:, 0, 0] + 1) * 127.5 / 25).round().tolist()
        (torch.Size([3, 32, 32]), 493, [4.0, 9.0, 3.0])
        >>> folder.cleanup()
    """

    def __init__(
        self,
        data_dir: str = "data",
        root: str | None = None,
        download: bool = True,
        num_samples: int = 128_000,
        num_val_samples: int = 10_000,
        image_size: int = 28,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = True,
    ) -> None:
        super().__init__(
            image_size=image_size, channels=3, batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory
        )
        if num_samples < 1 or num_val_samples < 1:
            raise ConfigurationError(
                f"num_samples and num_val_samples must be >= 1, got {num_samples} and {num_val_samples}."
            )
        self.data_dir, self.root, self.download = data_dir, root, download
        self.num_samples, self.num_val_samples, self.seed = num_samples, num_val_samples, seed
        self._num_classes = 1000
        self._folder_digits: tuple[Tensor, Tensor] | None = None

    def prepare_data(self) -> None:
        if self.root is None and self.download:
            try:
                datasets.MNIST(self.data_dir, train=True, download=True)
            except (RuntimeError, OSError) as error:
                raise DataNotFoundError(
                    f"Could not download MNIST into {Path(self.data_dir) / 'MNIST'} ({error}). Without network "
                    "access, pass root: a folder of digit images 0/ ... 9/ (e.g. ../shared/data/mnist-test)."
                ) from error

    def _source(self, split: Split) -> tuple[Tensor, Tensor]:
        if self.root is not None:
            if self._folder_digits is None:  # both splits draw from the one folder: read it once
                self._folder_digits = load_digit_folder(self.root)
            return self._folder_digits
        try:
            mnist = datasets.MNIST(self.data_dir, train=split == "train", download=False)
        except RuntimeError as error:
            raise DataNotFoundError(
                f"MNIST was not found in {Path(self.data_dir) / 'MNIST'}; pass download: true, or root: a folder "
                "of digit images 0/ ... 9/."
            ) from error
        return mnist.data, mnist.targets

    def build_dataset(self, split: Split) -> Dataset:
        digits, labels = self._source(split)
        count = self.num_samples if split == "train" else self.num_val_samples
        seed = self.seed if split == "train" else self.seed + 1
        return StackedDigits(digits, labels, count, seed, self.image_size)
