"""Image LightningDataModules: MNIST, Fashion-MNIST, CIFAR-10, CelebA and any image folder.

Every datamodule yields ``(images, labels)`` batches: images ``float32`` ``(B, C, H, W)``
scaled to [-1, 1] (the range of a ``tanh`` generator), labels ``int64`` (all 0 where the
data has no labels, and then ``num_classes == 0``). Each image is converted to
``channels`` (grayscale repeated to RGB, RGB to luma), its shorter side resized to
``image_size`` and centre-cropped to a square (DCGAN's CelebA 64x64 preprocessing), and,
for training only, flipped left-right at random when ``hflip``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import PIL
import torch
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.transforms import v2

from lightning_gans.data._loading import resumable_loader
from lightning_gans.errors import ConfigurationError, GANError
from lightning_gans.progress import Progress

Split = Literal["train", "val"]


def _length(dataset: Dataset) -> int:
    """The number of samples of a map-style dataset (``Dataset`` does not declare ``__len__``)."""
    return len(dataset)  # type: ignore[arg-type]


SPLITS: tuple[Split, ...] = ("train", "val")

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
"""File endings (any case) that :class:`ImageFolderDataModule` reads as images."""


class DataError(GANError, ValueError):
    """The data cannot be used: no images, or an unreadable image file."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data folder or a dataset's files are missing.

    Also a ``FileNotFoundError`` and a ``ValueError`` (through :class:`DataError`), so either
    catches it.

    Example:
        >>> try:
        ...     ImageFolderDataModule("no-such-folder")
        ... except FileNotFoundError as error:
        ...     print(type(error).__name__, isinstance(error, DataError))
        DataNotFoundError True
    """


class ConvertMode:
    """Convert a PIL image to mode ``"L"`` (1 channel) or ``"RGB"`` (3 channels)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Image.Image) -> Image.Image:
        return image if image.mode == self.mode else image.convert(self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r})"


def image_transform(image_size: int, channels: int, hflip: bool = False) -> v2.Compose:
    """PIL image -> ``float32`` tensor ``(channels, image_size, image_size)`` in [-1, 1].

    Example:
        >>> from PIL import Image
        >>> transform = image_transform(image_size=32, channels=3)
        >>> image = transform(Image.new("L", (48, 40), color=255))  # a white 48x40 grayscale image
        >>> image.shape, image.dtype  # converted to RGB, shorter side resized to 32, centre-cropped
        (torch.Size([3, 32, 32]), torch.float32)
        >>> float(image.min()), float(image.max())  # white is 1
        (1.0, 1.0)
        >>> image_transform(28, channels=1)(Image.new("RGB", (28, 28))).unique()  # black is -1
        tensor([-1.])
    """
    steps: list[Any] = [ConvertMode("L" if channels == 1 else "RGB"), v2.Resize(image_size), v2.CenterCrop(image_size)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    steps += [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5] * channels, [0.5] * channels),
    ]
    return v2.Compose(steps)


def read_image(path: str | Path, mode: str) -> Image.Image:
    """The image at ``path`` in PIL ``mode``; a :class:`DataError` naming the file if it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except (OSError, SyntaxError, ValueError) as error:  # PIL reports broken files with all three
        raise DataError(f"Cannot read image file {path}: {error}. Replace or delete the file.") from None


def unreadable_reason(path: str | Path) -> str | None:
    """Why the image file at ``path`` cannot be decoded, or ``None`` when it can.

    Fast, yet it reads every byte: a PNG's chunk checksums are verified without decoding (and
    only a file that fails is decoded, to be sure), a JPEG is decoded at 1/8 scale, any other
    format decoded. Another mode or size is no reason (images are converted).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> folder = Path(tempfile.mkdtemp())
        >>> Image.new("L", (40, 30)).save(folder / "gray.png")
        >>> (folder / "notes.jpg").write_text("not an image")
        12
        >>> unreadable_reason(folder / "gray.png") is None, unreadable_reason(folder / "notes.jpg")
        (True, 'not an image file PIL can identify')
    """
    try:
        with Image.open(path) as image:
            if image.format == "PNG":
                image.verify()  # every chunk's CRC; decodes nothing
                return None
            image.draft(image.mode, (1, 1))  # JPEG: decode at the smallest scale; other formats: no-op
            image.load()
            return None
    except UnidentifiedImageError:
        return "not an image file PIL can identify"
    except Exception as error:  # whatever PIL raises on a broken file
        reason = f"{type(error).__name__}: {error}" if not isinstance(error, OSError) else str(error)
    try:  # PNG verify() is stricter than decoding (e.g. a missing end chunk): decode, as training will
        with Image.open(path) as image:
            image.load()
        return None
    except Exception as error:
        return str(error) or reason


def _no_label(target: Any) -> int:
    return 0


class ImageDataModule(L.LightningDataModule):
    """Base of the image datamodules: transforms, splits and DataLoaders.

    A subclass implements :meth:`build_dataset` and sets ``self._num_classes``.

    Args:
        image_size: height and width of the images.
        channels: 1 (grayscale) or 3 (RGB); images are converted to it.
        batch_size: images per batch; training drops the last partial batch (PacGAN
            packing needs full batches).
        num_workers: DataLoader worker processes (0 loads in the main process).
        hflip: flip training images left-right at random (never validation images).
        pin_memory: pin batches in page-locked memory for faster copies to the GPU;
            ignored without CUDA.

    Example:
        A datamodule of random grayscale images:

        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> class Noise(ImageDataModule):
        ...     def __init__(self) -> None:
        ...         super().__init__(image_size=16, channels=1, batch_size=4, num_workers=0)
        ...
        ...     def build_dataset(self, split):
        ...         images = torch.rand(10 if split == "train" else 6, *self.data_shape) * 2 - 1
        ...         return TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
        >>> datamodule = Noise()
        >>> datamodule.data_shape, datamodule.num_classes
        ((1, 16, 16), 0)
        >>> len(datamodule.dataset("train")), len(datamodule.dataset("val"))
        (10, 6)
        >>> len(datamodule.train_dataloader()), len(datamodule.val_dataloader())  # training drops the partial batch
        (2, 1)
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        batch_size: int = 64,
        num_workers: int = 2,
        hflip: bool = False,
        pin_memory: bool = True,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ConfigurationError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}.")
        if image_size < 8:
            raise ConfigurationError(f"image_size must be >= 8 pixels, got {image_size}; e.g. use 28, 32 or 64.")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}.")
        self.save_hyperparameters()
        self.image_size = image_size
        self.channels = channels
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.hflip = hflip
        self.pin_memory = pin_memory
        self._num_classes = 0
        self._datasets: dict[str, Dataset] | None = None

    @property
    def data_shape(self) -> tuple[int, int, int]:
        """``(channels, image_size, image_size)``: the shape of one image."""
        return (self.channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        """The number of labels; 0 when the data has none."""
        return self._num_classes

    def transform(self, split: Split) -> v2.Compose:
        """The transform of ``split``'s images (random flips only for ``"train"``)."""
        return image_transform(self.image_size, self.channels, self.hflip and split == "train")

    def build_dataset(self, split: Split) -> Dataset:
        """A Dataset of ``(image, label)`` pairs of ``split``, transformed by :meth:`transform`."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self._datasets is None:
            self._datasets = {split: self.build_dataset(split) for split in SPLITS}

    def dataset(self, split: Split) -> Dataset:
        """The ``"train"`` or ``"val"`` Dataset (built on first use), e.g. real images for FID."""
        if split not in SPLITS:
            raise ConfigurationError(f"Unknown split {split!r}; use one of {list(SPLITS)}.")
        self.setup()
        assert self._datasets is not None
        return self._datasets[split]

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train")
        if _length(dataset) < self.batch_size:
            raise ConfigurationError(
                f"The training set has {_length(dataset)} images, fewer than batch_size={self.batch_size}, so "
                "no full batch can be drawn; use a smaller batch_size or more images."
            )
        return self._loader(dataset, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("val"), train=False)

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        # Validation keeps full batches too (packing), unless the set is smaller than one batch.
        return resumable_loader(
            self,
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train or _length(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
        )


def _with_defaults(init: Callable[..., None], defaults: dict[str, Any], owner: type) -> Callable[..., None]:
    """``init`` with the parameter defaults ``defaults``, in behaviour and in its signature.

    The signature is what ``inspect.signature``, ``help()`` and the CLI (jsonargparse) read, so they
    show ``owner``'s defaults.
    """
    signature = inspect.signature(init, eval_str=True)
    unknown = set(defaults) - set(signature.parameters)
    if unknown:
        raise TypeError(f"{owner.__qualname__}.defaults names no parameter of the constructor: {sorted(unknown)}.")
    parameters = [p.replace(default=defaults.get(p.name, p.default)) for p in signature.parameters.values()]
    signature = signature.replace(parameters=parameters)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(*bound.args, **bound.kwargs)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__doc__ = init.__doc__
    __init__.__module__ = owner.__module__
    __init__.__qualname__ = f"{owner.__qualname__}.__init__"
    return __init__


class TorchvisionDataModule(ImageDataModule):
    """A torchvision dataset under ``data_dir``: ``prepare_data`` downloads it, ``setup`` reads it.

    A subclass declares only what differs between datasets: its name (``dataset_name``), the
    torchvision class (``dataset_class``, called with ``train=`` unless the subclass overrides
    :meth:`load`), the folder of its files (``folder``, relative to ``data_dir``) and those files
    (``files``), its number of classes (``num_labels``, 0 for unlabelled) and the defaults of its
    constructor arguments (``defaults``, e.g. ``{"image_size": 28, "channels": 1}``). The
    subclass's constructor signature carries those defaults, so ``--help`` shows them.

    Args:
        data_dir: the folder that holds the dataset's folder.
        download: download the dataset in ``prepare_data`` (torchvision skips files already there).
        image_size, channels, batch_size, num_workers, hflip, pin_memory: see :class:`ImageDataModule`.

    Example:
        Kuzushiji-MNIST, declared in a few lines:

        >>> import inspect
        >>> from torchvision import datasets
        >>> class KMNISTDataModule(TorchvisionDataModule):
        ...     dataset_name = "KMNIST"
        ...     dataset_class = datasets.KMNIST
        ...     folder = "KMNIST/raw"
        ...     files = "the four KMNIST idx files"
        ...     num_labels = 10
        ...     defaults = {"image_size": 28, "channels": 1}
        >>> datamodule = KMNISTDataModule(data_dir="data", download=False)
        >>> datamodule.data_shape, datamodule.num_classes, datamodule.location.as_posix()
        ((1, 28, 28), 10, 'data/KMNIST/raw')
        >>> inspect.signature(KMNISTDataModule).parameters["image_size"]  # what --help shows
        <Parameter "image_size: int = 28">
    """

    dataset_name: ClassVar[str]
    dataset_class: ClassVar[Callable[..., Dataset]]
    folder: ClassVar[str]
    files: ClassVar[str]
    num_labels: ClassVar[int] = 0
    defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "defaults" in vars(cls):  # subclasses that declare none inherit their parent's constructor
            cls.__init__ = _with_defaults(cls.__init__, cls.defaults, cls)  # type: ignore[method-assign]

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = True,
        image_size: int = 32,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 2,
        hflip: bool = False,
        pin_memory: bool = True,
    ) -> None:
        super().__init__(
            image_size=image_size,
            channels=channels,
            batch_size=batch_size,
            num_workers=num_workers,
            hflip=hflip,
            pin_memory=pin_memory,
        )
        self.data_dir = data_dir
        self.download = download
        self._num_classes = self.num_labels

    def load(self, split: Split, transform: Any, download: bool) -> Dataset:
        """The torchvision dataset of ``split``."""
        return self.dataset_class(self.data_dir, train=split == "train", transform=transform, download=download)

    @property
    def location(self) -> Path:
        """The folder that holds the dataset's files."""
        return Path(self.data_dir) / self.folder

    def prepare_data(self) -> None:
        if not self.download:
            return
        try:
            self.load("train", None, download=True)  # torchvision fetches every split at once
        except (RuntimeError, OSError, ImportError) as error:
            raise DataNotFoundError(
                f"Could not download {self.dataset_name} into {self.location}. Without network access, put "
                f"{self.files} there yourself; download=True then finds them and downloads nothing. "
                f"The download failed with: {error}"
            ) from error

    def build_dataset(self, split: Split) -> Dataset:
        try:
            return self.load(split, self.transform(split), download=False)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
            raise DataNotFoundError(
                f"{self.dataset_name} was not found (or is incomplete) in {self.location}; pass download=True "
                f"to download it, or put {self.files} there."
            ) from error


class MNISTDataModule(TorchvisionDataModule):
    """MNIST digits (torchvision ``MNIST``): 60,000 training and 10,000 test (validation) images, 10 classes.

    Example:
        >>> datamodule = MNISTDataModule(data_dir="data", download=False)  # prepare_data() would download
        >>> datamodule.data_shape, datamodule.num_classes, datamodule.hflip
        ((1, 28, 28), 10, False)
        >>> MNISTDataModule(image_size=32, channels=3, download=False).data_shape  # resized, gray to RGB
        (3, 32, 32)
        >>> MNISTDataModule(data_dir="no-such-folder", download=False).dataset("train")
        Traceback (most recent call last):
            ...
        lightning_gans.data.images.DataNotFoundError: MNIST was not found (or is incomplete) in ...
    """

    dataset_name = "MNIST"
    dataset_class = datasets.MNIST
    folder = "MNIST/raw"
    files = (
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte "
        "(or their .gz archives, which download=True unpacks)"
    )
    num_labels = 10
    defaults: ClassVar[dict[str, Any]] = {"image_size": 28, "channels": 1, "hflip": False}


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (torchvision ``FashionMNIST``): MNIST's format and sizes, 10 kinds of clothing.

    Example:
        >>> datamodule = FashionMNISTDataModule(data_dir="data", download=False)
        >>> datamodule.data_shape, datamodule.num_classes, datamodule.location.as_posix()
        ((1, 28, 28), 10, 'data/FashionMNIST/raw')
    """

    dataset_name = "FashionMNIST"
    dataset_class = datasets.FashionMNIST
    folder = "FashionMNIST/raw"


class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10 (torchvision ``CIFAR10``): 50,000 training and 10,000 test (validation) 32x32 images, 10 classes.

    Example:
        >>> datamodule = CIFAR10DataModule(data_dir="data", download=False)
        >>> datamodule.data_shape, datamodule.num_classes, datamodule.hflip  # random flips by default
        ((3, 32, 32), 10, True)
        >>> [type(step).__name__ for step in datamodule.transform("train").transforms][:4]
        ['ConvertMode', 'Resize', 'CenterCrop', 'RandomHorizontalFlip']
        >>> [type(step).__name__ for step in datamodule.transform("val").transforms][:4]  # never flips validation
        ['ConvertMode', 'Resize', 'CenterCrop', 'ToImage']
    """

    dataset_name = "CIFAR-10"
    dataset_class = datasets.CIFAR10
    folder = "cifar-10-batches-py"
    files = "data_batch_1 ... data_batch_5, test_batch and batches.meta (from cifar-10-python.tar.gz)"
    num_labels = 10
    defaults: ClassVar[dict[str, Any]] = {"image_size": 32, "channels": 3, "hflip": True}


class _CelebA(datasets.CelebA):
    """torchvision ``CelebA`` whose unreadable images raise a :class:`DataError` naming the file."""

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        try:
            return super().__getitem__(index)
        except (OSError, SyntaxError, ValueError) as error:
            path = os.path.join(self.root, self.base_folder, "img_align_celeba", self.filename[index])
            raise DataError(f"Cannot read image file {path}: {error}. Replace or delete the file.") from None


class CelebADataModule(TorchvisionDataModule):
    """CelebA aligned faces (torchvision ``CelebA``), unlabelled; validation is the ``"valid"`` split.

    The 178x218 faces are resized to ``image_size`` and centre-cropped, as DCGAN did for 64x64.

    Example:
        >>> datamodule = CelebADataModule(data_dir="data", download=False)
        >>> datamodule.data_shape, datamodule.num_classes  # unlabelled: every label is 0
        ((3, 64, 64), 0)
        >>> CelebADataModule(image_size=128, download=False).data_shape
        (3, 128, 128)
    """

    dataset_name = "CelebA"
    dataset_class = _CelebA
    folder = "celeba"
    files = (
        "img_align_celeba/ (the unzipped img_align_celeba.zip), list_eval_partition.txt, identity_CelebA.txt, "
        "list_attr_celeba.txt, list_bbox_celeba.txt and list_landmarks_align_celeba.txt"
    )
    defaults: ClassVar[dict[str, Any]] = {"image_size": 64, "channels": 3, "hflip": False}

    def load(self, split: Split, transform: Any, download: bool) -> Dataset:
        # torchvision's CelebA returns no target (None, which cannot be collated) for target_type=[]
        # and refuses a target_transform then, so read the identities and map them to label 0.
        return self.dataset_class(
            self.data_dir,
            split="train" if split == "train" else "valid",
            target_type="identity",
            transform=transform,
            target_transform=_no_label,
            download=download,
        )


class ImageFiles(Dataset):
    """``(image, label)`` pairs of a list of ``(path, label)`` image files."""

    def __init__(self, samples: list[tuple[str, int]], mode: str, transform: Any) -> None:
        self.samples = samples
        self.mode = mode
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        return self.transform(read_image(path, self.mode)), label


def _visible(path: Path) -> bool:
    # Skips hidden files and folders, e.g. macOS "._x.jpg" resource forks and ".ipynb_checkpoints".
    return not path.name.startswith(".")


def _images(folder: Path, recursive: bool) -> list[Path]:
    """The visible image files in ``folder`` (and its visible sub-folders if ``recursive``), sorted."""
    paths = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in paths
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    )


class ImageFolderDataModule(ImageDataModule):
    """Any folder of images, with or without labels.

    - ``root/<class>/**/<image>``: one sub-folder per class, labels ``0 ... K-1`` in sorted
      folder order, like torchvision ``ImageFolder`` (``num_classes == K``);
    - ``root/<image>``: a flat folder of unlabelled images (label 0, ``num_classes == 0``).

    Files ending in one of :data:`IMAGE_EXTENSIONS` (any case) are images; hidden files and
    folders are skipped. The folder is scanned when the datamodule is built, so missing or
    empty folders fail at once and ``num_classes`` is known before the model is.

    Args:
        root: the image folder.
        val_fraction: the fraction of images held out for validation, drawn at random with
            ``seed`` (the same split on every run); 0 validates on the training images.
        seed: seed of the train/validation split and of ``num_train_images``' subset.
        num_train_images: train on only this many images, a fixed random subset (drawn with
            ``seed``) of the training split: small-data experiments (ADA, DiffAugment). The
            validation split keeps all its images (with ``val_fraction`` 0, the whole
            folder), so metrics with ``real_split: val`` compare with the full data.
        skip_unreadable: train on the readable images, with one warning, when some files
            cannot be read; ``False`` (the default) makes unreadable files an error.
        cache_dir: where the result of the image check is cached (and the list of unreadable
            files written); ``None`` turns the cache off.
        image_size, channels, batch_size, num_workers, hflip, pin_memory: see
            :class:`ImageDataModule`.

    Every image file is checked once, at :meth:`setup`, before the first batch, with
    ``num_workers`` threads (:func:`unreadable_reason`): all unreadable files are reported
    together, in one :class:`DataError`, and their list written to a text file. The result is
    cached under ``cache_dir``, keyed like :class:`~lightning_gans.callbacks.FidelityMetrics`'
    real statistics by the folder and every image's path, size and modification time, so a
    second run on the same folder checks nothing and a changed folder is checked again. Under
    DDP each process checks (or reads the cache); the same files give every process the same
    result.

    Example:
        A folder of two classes of five images each:

        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> folder = tempfile.TemporaryDirectory()
        >>> for name, color in [("cats", (255, 0, 0)), ("dogs", (0, 0, 255))]:
        ...     (Path(folder.name) / name).mkdir()
        ...     for i in range(5):
        ...         Image.new("RGB", (40, 40), color).save(Path(folder.name) / name / f"{i}.png")
        >>> datamodule = ImageFolderDataModule(
        ...     folder.name, image_size=32, batch_size=4, num_workers=0, val_fraction=0.2
        ... )
        >>> datamodule.classes, datamodule.num_classes, datamodule.data_shape
        (['cats', 'dogs'], 2, (3, 32, 32))
        >>> len(datamodule.dataset("train")), len(datamodule.dataset("val"))
        (8, 2)
        >>> image, label = datamodule.dataset("train")[0]  # a red cat, in [-1, 1]
        >>> image.shape, label, image[:, 0, 0].tolist()
        (torch.Size([3, 32, 32]), 0, [1.0, -1.0, -1.0])
        >>> images, labels = next(iter(datamodule.train_dataloader()))
        >>> images.shape, labels.dtype
        (torch.Size([4, 3, 32, 32]), torch.int64)
        >>> folder.cleanup()
    """

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        num_workers: int = 2,
        hflip: bool = False,
        pin_memory: bool = True,
        val_fraction: float = 0.0,
        seed: int = 0,
        num_train_images: int | None = None,
        skip_unreadable: bool = False,
        cache_dir: str | None = "~/.cache/lightning_gans/images",
    ) -> None:
        super().__init__(
            image_size=image_size,
            channels=channels,
            batch_size=batch_size,
            num_workers=num_workers,
            hflip=hflip,
            pin_memory=pin_memory,
        )
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigurationError(f"val_fraction must lie in [0, 1), e.g. 0.1 or 0 (no split); got {val_fraction}.")
        if num_train_images is not None and num_train_images < 1:
            raise ConfigurationError(f"num_train_images must be >= 1 or None (all), got {num_train_images}.")
        self.root = Path(root)
        self.val_fraction = val_fraction
        self.seed = seed
        self.num_train_images = num_train_images
        self.skip_unreadable = skip_unreadable
        self.cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
        self.classes, self.samples = self._scan()
        self._num_classes = len(self.classes)
        self.unreadable: list[tuple[str, str]] = []
        """The ``(path, reason)`` of each unreadable image file, known after :meth:`setup`."""

    def _scan(self) -> tuple[list[str], list[tuple[str, int]]]:
        """The class names and every ``(path, label)``; errors for missing or empty folders."""
        if not self.root.is_dir():
            raise DataNotFoundError(
                f"Image folder {self.root} does not exist (or is not a folder); set root to a folder of "
                "images, or of one sub-folder of images per class."
            )
        classes = sorted(entry.name for entry in self.root.iterdir() if _visible(entry) and entry.is_dir())
        if not classes:
            samples = [(str(path), 0) for path in _images(self.root, recursive=False)]
        else:
            samples = []
            for label, name in enumerate(classes):
                files = _images(self.root / name, recursive=True)
                if not files:
                    raise DataError(
                        f"Class folder {self.root / name} holds no images (accepted extensions: "
                        f"{', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder."
                    )
                samples += [(str(path), label) for path in files]
        if not samples:
            raise DataError(
                f"No images found in {self.root}; accepted extensions (any case): {', '.join(IMAGE_EXTENSIONS)}. "
                "Put the images in the folder itself, or in one sub-folder per class."
            )
        return classes, samples

    def setup(self, stage: str | None = None) -> None:
        if self._datasets is None:
            self._check_images()
        super().setup(stage)

    def _check_images(self) -> None:
        """Check every image file (or read the cached check); a :class:`DataError` listing the
        unreadable ones, or with ``skip_unreadable`` a warning and ``samples`` without them."""
        paths = [path for path, _ in self.samples]
        key = self._check_key(paths)
        cache = os.path.join(self.cache_dir, key + ".json") if self.cache_dir else None
        found = _read_check(cache, len(paths)) if cache else None
        if found is None:
            found = [(self._relative(paths[i]), reason) for i, reason in self._check_files(paths)]
            if cache:
                _write_atomic(
                    cache, json.dumps({"root": str(self.root.resolve()), "images": len(paths), "unreadable": found})
                )
        self.unreadable = [(str(self.root / relative), reason) for relative, reason in found]
        if not self.unreadable:
            return
        listing = self._write_list(key)
        count, total = len(self.unreadable), len(paths)
        if not self.skip_unreadable or count == total:
            shown = ", ".join(f"{path} ({reason})" for path, reason in self.unreadable[:3])
            more = f" and {count - 3} more" if count > 3 else ""
            fix = (
                "Delete or replace them, or set skip_unreadable: true (--data.skip_unreadable true) "
                f"to train on the other {total - count}."
                if count < total
                else "Replace them with readable images."
            )
            raise DataError(
                f"{count} of {total} image files in {self.root} cannot be read: {shown}{more}; "
                f"the full list is in {listing}. {fix}"
            )
        bad = {relative for relative, _ in found}
        self.samples = [sample for sample in self.samples if self._relative(sample[0]) not in bad]
        rank_zero_warn(
            f"ImageFolderDataModule skips {count} unreadable of {total} image files in {self.root} "
            f"(skip_unreadable: true); the list is in {listing}."
        )

    def _check_key(self, paths: Sequence[str]) -> str:
        """The check's cache key: the folder and each image's relative path, size and modification
        time (as FidelityMetrics keys its real statistics), and Pillow's version."""
        digest = hashlib.sha1(f"{self.root.resolve()}|Pillow {PIL.__version__}|check v1\n".encode())
        for path in sorted(paths):
            try:
                stat = os.stat(path)
                digest.update(f"{self._relative(path)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{self._relative(path)}|missing\n".encode())
        return digest.hexdigest()

    def _relative(self, path: str) -> str:
        """``path`` (one of ``samples``, under ``root``) relative to ``root``."""
        prefix = os.path.join(str(self.root), "")
        return path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, self.root)

    def _check_files(self, paths: list[str]) -> list[tuple[int, str]]:
        """The index and reason of every unreadable file in ``paths``, with progress and time left."""
        found: list[tuple[int, str]] = []
        enabled = getattr(rank_zero_only, "rank", 0) == 0
        # Threads: Pillow decodes without the GIL; one file at a time where there is one worker.
        with ExitStack() as stack:
            progress = stack.enter_context(
                Progress(len(paths), "[ImageFolderDataModule] checking image files", enabled=enabled)
            )
            pool = stack.enter_context(ThreadPoolExecutor(self.num_workers)) if self.num_workers > 1 else None
            check = pool.map if pool is not None else map
            for start in range(0, len(paths), 256):
                chunk = paths[start : start + 256]
                for offset, reason in enumerate(check(unreadable_reason, chunk)):
                    if reason is not None:
                        found.append((start + offset, reason))
                progress.update(len(chunk))
        return found

    def _write_list(self, key: str) -> str:
        """Write the unreadable files (``absolute path<TAB>reason`` lines) next to the cache, or to
        the temporary folder without one; the file's absolute path."""
        text = "".join(f"{os.path.abspath(path)}\t{reason}\n" for path, reason in self.unreadable)
        for folder in (self.cache_dir, tempfile.gettempdir()):
            listing = os.path.abspath(os.path.join(folder, key + ".unreadable.txt")) if folder else None
            if listing and _write_atomic(listing, text):
                return listing
        return "(not written: no writable folder)"

    def build_dataset(self, split: Split) -> Dataset:
        mode = "L" if self.channels == 1 else "RGB"
        order = torch.randperm(len(self.samples), generator=torch.Generator().manual_seed(self.seed)).tolist()
        num_val = max(1, round(self.val_fraction * len(self.samples))) if self.val_fraction else 0
        if num_val >= len(self.samples):
            raise ConfigurationError(
                f"val_fraction={self.val_fraction} of {len(self.samples)} images leaves no training images; "
                "use a smaller val_fraction or more images."
            )
        if split == "val":
            indices = order[:num_val] if num_val else order
        else:
            indices = order[num_val:]
            if self.num_train_images is not None:
                if self.num_train_images > len(indices):
                    raise ConfigurationError(
                        f"num_train_images={self.num_train_images} but the training split has {len(indices)} images; "
                        "use fewer or None (all)."
                    )
                indices = indices[: self.num_train_images]
        return ImageFiles([self.samples[i] for i in sorted(indices)], mode, self.transform(split))


def _read_check(path: str, num_images: int) -> list[tuple[str, str]] | None:
    """The cached ``(relative path, reason)`` list of unreadable files, or ``None`` when there
    is none or the file is unreadable (then the images are checked again and the file replaced)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
        if state["images"] != num_images:
            raise ValueError(f"{state['images']} images, not {num_images}")
        return [(str(relative), str(reason)) for relative, reason in state["unreadable"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        rank_zero_warn(f"ImageFolderDataModule ignores the unreadable image-check cache {path} ({error}); rechecking.")
        return None


def _write_atomic(path: str, text: str) -> bool:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace`` (readers never see
    half a file; processes writing at once each write whole); ``False`` when it cannot."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
        return True
    except OSError:
        try:
            os.remove(temporary)
        except OSError:
            pass
        return False
