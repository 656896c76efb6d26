"""Image datamodules, read from tiny datasets written here in each dataset's own on-disk format.

The torchvision-backed datamodules run with ``download=True``, the users' code path: torchvision
finds the files in place and downloads nothing. Where torchvision checks md5 sums of the files,
only those checksum constants are patched to the sums of the files written here.
"""

import gzip
import hashlib
import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONFIGS, run_cli
from PIL import Image
from torchvision import datasets

from lightning_gans.data import (
    CelebADataModule,
    CIFAR10DataModule,
    DataError,
    DataNotFoundError,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
)
from lightning_gans.errors import ConfigurationError, GANError


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def scaled(value: float) -> float:
    """A uint8 pixel value as the datamodules scale it: [0, 255] -> [-1, 1]."""
    return value / 255 * 2 - 1


def check_batch(dm, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (batch_size, *dm.data_shape) and images.dtype == torch.float32
    assert labels.shape == (batch_size,) and labels.dtype == torch.int64
    assert images.min() >= -1 and images.max() <= 1
    return images, labels


# ---------------------------------------------------------------- MNIST, Fashion-MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx ("ubyte") format: 0x0000, type 0x08 (uint8), the number of dims, each dim as a big-endian int32."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_images(n: int, offset: int) -> np.ndarray:
    return ((np.arange(n * 28 * 28).reshape(n, 28, 28) * 7 + offset) % 256).astype(np.uint8)


def write_mnist(root: Path, folder: str, compress: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    splits = {"train": (mnist_images(12, 0), np.arange(12) % 10), "t10k": (mnist_images(6, 100), np.arange(6)[::-1])}
    for prefix, (images, labels) in splits.items():
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            if compress:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return {"train": splits["train"], "val": splits["t10k"]}


def check_mnist(dm, written) -> None:
    dm.prepare_data()
    dm.setup("fit")
    assert dm.data_shape == (1, 28, 28) and dm.num_classes == 10
    for split, (images, labels) in written.items():
        dataset = dm.dataset(split)
        assert len(dataset) == len(images)
        for i in (0, len(images) - 1):
            image, label = dataset[i]
            assert label == labels[i]
            torch.testing.assert_close(image[0], torch.from_numpy(images[i]).float() / 255 * 2 - 1)
    images, labels = check_batch(dm, 4)
    assert set(labels.tolist()) <= set(range(10))
    val_images, _ = next(iter(dm.val_dataloader()))
    assert val_images.shape == (4, 1, 28, 28)


def test_mnist_reads_the_idx_files(tmp_path: Path):
    written = write_mnist(tmp_path, "MNIST", compress=False)
    check_mnist(MNISTDataModule(data_dir=str(tmp_path), batch_size=4, num_workers=0), written)


def test_fashion_mnist_unpacks_the_gz_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    written = write_mnist(tmp_path, "FashionMNIST", compress=True)
    raw = tmp_path / "FashionMNIST" / "raw"
    # Checksums only: torchvision accepts an archive already in place when its md5 matches.
    resources = [(name, md5(raw / name)) for name, _ in datasets.FashionMNIST.resources]
    monkeypatch.setattr(datasets.FashionMNIST, "resources", resources)
    dm = FashionMNISTDataModule(data_dir=str(tmp_path), batch_size=4, num_workers=0)
    with pytest.raises(DataNotFoundError, match=r"FashionMNIST was not found.*FashionMNIST/raw.*download=True.*\.gz"):
        FashionMNISTDataModule(data_dir=str(tmp_path), download=False, batch_size=4).setup()
    check_mnist(dm, written)  # prepare_data unpacks the archives, offline


# ---------------------------------------------------------------- CIFAR-10


def write_cifar10(root: Path) -> dict[str, np.ndarray]:
    """``cifar-10-batches-py``: pickled dicts, ``data`` uint8 (N, 3072) as R, G, B planes of 32x32."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    colours = {}
    for index, name in enumerate(names):
        n = 2
        pixels = np.zeros((n, 3, 32, 32), dtype=np.uint8)
        rgb = np.array([10 * index + 5, 100 + index, 250 - index], dtype=np.uint8)
        pixels[:] = rgb[None, :, None, None]
        pixels[:, 0, 0, 0] = 200  # a known pixel: red channel at row 0, column 0
        batch = {"batch_label": name, "labels": [index, 9 - index], "data": pixels.reshape(n, 3072), "filenames": []}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        colours[name] = rgb
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return colours


@pytest.fixture
def cifar10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    colours = write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    # Checksums only: torchvision verifies each batch and batches.meta against the real files' md5.
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, md5(folder / n)] for n, _ in datasets.CIFAR10.train_list])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [[n, md5(folder / n)] for n, _ in datasets.CIFAR10.test_list])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {**datasets.CIFAR10.meta, "md5": md5(folder / "batches.meta")})
    return colours


def test_cifar10_reads_the_pickled_batches(tmp_path: Path, cifar10: dict[str, np.ndarray]):
    colours = cifar10
    dm = CIFAR10DataModule(data_dir=str(tmp_path), batch_size=4, num_workers=0, hflip=False)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.data_shape == (3, 32, 32) and dm.num_classes == 10
    train, val = dm.dataset("train"), dm.dataset("val")
    assert (len(train), len(val)) == (10, 2)
    image, label = train[2]  # first image of data_batch_2
    assert label == 1
    rgb = colours["data_batch_2"]
    assert image.shape == (3, 32, 32)
    assert image[0, 0, 0].item() == pytest.approx(scaled(200))
    for channel in range(3):
        assert image[channel, 5, 7].item() == pytest.approx(scaled(rgb[channel]))
    image, label = val[1]
    assert label == 9 - 5 and image[2, 3, 3].item() == pytest.approx(scaled(colours["test_batch"][2]))
    _, labels = check_batch(dm, 4)
    assert set(labels.tolist()) <= set(range(10))


def test_cifar10_flips_training_images_only(tmp_path: Path, cifar10: dict[str, np.ndarray]):
    dm = CIFAR10DataModule(data_dir=str(tmp_path), download=False, num_workers=0)
    assert dm.hflip  # the default for CIFAR-10
    known = torch.tensor(scaled(200))
    corners = {dm.dataset("train")[0][0][0, 0, -1].isclose(known).item() for _ in range(40)}
    assert corners == {True, False}  # the marked pixel is sometimes flipped to the right edge
    assert all(dm.dataset("val")[0][0][0, 0, 0].isclose(known) for _ in range(10))


# ---------------------------------------------------------------- CelebA

CELEBA_SPLITS = {"000001.jpg": 0, "000002.jpg": 0, "000003.jpg": 0, "000004.jpg": 1, "000005.jpg": 1, "000006.jpg": 2}
CELEBA_COLOURS = {0: (200, 40, 40), 1: (40, 200, 40), 2: (40, 40, 200)}  # train red, valid green, test blue


def write_celeba(root: Path) -> Path:
    """``celeba/``: the aligned JPEGs and the five space-separated list files."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = list(CELEBA_SPLITS)
    for name, split in CELEBA_SPLITS.items():
        # 40x48 (W x H), taller than wide like the 178x218 faces; white top and bottom rows that the crop removes.
        image = Image.new("RGB", (40, 48), (255, 255, 255))
        image.paste(CELEBA_COLOURS[split], (0, 2, 40, 46))
        image.save(folder / "img_align_celeba" / name, quality=95, subsampling=0)
    attrs = ["5_o_Clock_Shadow", "Smiling"]
    landmarks = ["lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y"] + [
        "leftmouth_x",
        "leftmouth_y",
        "rightmouth_x",
        "rightmouth_y",
    ]
    files = {
        "list_eval_partition.txt": [f"{n} {s}" for n, s in CELEBA_SPLITS.items()],
        "identity_CelebA.txt": [f"{n} {i + 100}" for i, n in enumerate(names)],
        # The other three: the number of images, a header line, then the rows (columns padded by spaces).
        "list_attr_celeba.txt": [str(len(names)), " ".join(attrs)] + [f"{n}  1 -1" for n in names],
        "list_bbox_celeba.txt": [str(len(names)), "image_id x_1 y_1 width height"] + [f"{n} 1  2  3  4" for n in names],
        "list_landmarks_align_celeba.txt": [str(len(names)), " ".join(landmarks)]
        + [f"{n}  " + " ".join(["10"] * 10) for n in names],
    }
    for file, lines in files.items():
        (folder / file).write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def celeba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = write_celeba(tmp_path)
    # Checksums only: torchvision verifies the list files against the real files' md5.
    file_list = [
        (file_id, md5(folder / name) if (folder / name).is_file() else checksum, name)
        for file_id, checksum, name in datasets.CelebA.file_list
    ]
    monkeypatch.setattr(datasets.CelebA, "file_list", file_list)
    return folder


def test_celeba_reads_the_aligned_images_and_splits(celeba: Path):
    dm = CelebADataModule(data_dir=str(celeba.parent), image_size=16, batch_size=3, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.data_shape == (3, 16, 16) and dm.num_classes == 0
    assert (len(dm.dataset("train")), len(dm.dataset("val"))) == (3, 2)
    images, labels = check_batch(dm, 3)
    assert labels.tolist() == [0, 0, 0]
    # Resized to 16x19 and centre-cropped to 16x16: the white rows are gone; JPEG is lossy.
    expected = torch.tensor([scaled(v) for v in CELEBA_COLOURS[0]]).view(1, 3, 1, 1).expand_as(images)
    torch.testing.assert_close(images, expected, atol=0.1, rtol=0)  # a white row would be 1.6 off
    val_images, val_labels = next(iter(dm.val_dataloader()))  # the "valid" split: green
    assert val_images.shape == (2, 3, 16, 16) and val_labels.tolist() == [0, 0]
    torch.testing.assert_close(val_images[:, 1].mean(), torch.tensor(scaled(200)), atol=0.1, rtol=0)


def test_celeba_corrupt_image_is_named(celeba: Path):
    bad = celeba / "img_align_celeba" / "000002.jpg"
    bad.write_bytes(b"not a jpeg")
    dm = CelebADataModule(data_dir=str(celeba.parent), image_size=16, batch_size=3, num_workers=0)
    with pytest.raises(DataError, match=f"Cannot read image file {re.escape(str(bad))}.*Replace or delete"):
        next(iter(dm.train_dataloader()))


# ---------------------------------------------------------------- image folders


def save(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_labelled_folder_gives_one_class_per_sub_folder(tmp_path: Path):
    for i in range(3):
        save(tmp_path / "cat" / f"{i}.png", Image.new("RGB", (12, 12), (10, 10, 10)))
    for i in range(2):
        save(tmp_path / "dog" / "nested" / f"{i}.JPG", Image.new("RGB", (12, 12), (250, 250, 250)))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "dog" / "._0.png").write_bytes(b"macOS resource fork, not an image")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, channels=3, batch_size=5, num_workers=0)
    assert dm.num_classes == 2 and dm.classes == ["cat", "dog"] and dm.data_shape == (3, 8, 8)
    images, labels = check_batch(dm, 5)
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1]
    assert (images[labels == 0] < -0.9).all() and (images[labels == 1] > 0.9).all()
    assert len(dm.dataset("val")) == 5  # val_fraction=0: validation reuses the training images


def test_flat_folder_is_unlabelled(tmp_path: Path):
    for i in range(4):
        save(tmp_path / f"{i}.jpeg", Image.new("RGB", (10, 10), (0, 0, 0)))
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, batch_size=4, num_workers=0)
    assert dm.num_classes == 0 and dm.classes == []
    _, labels = check_batch(dm, 4)
    assert labels.tolist() == [0, 0, 0, 0]


def test_grayscale_becomes_rgb_and_rgb_becomes_grayscale(tmp_path: Path):
    save(tmp_path / "gray" / "a.png", Image.new("L", (8, 8), 100))
    save(tmp_path / "gray" / "b.png", Image.new("L", (8, 8), 100))
    save(tmp_path / "red" / "a.png", Image.new("RGB", (8, 8), (255, 0, 0)))
    save(tmp_path / "red" / "b.png", Image.new("RGBA", (8, 8), (255, 0, 0, 255)))
    rgb = ImageFolderDataModule(root=str(tmp_path), image_size=8, channels=3, num_workers=0)
    image, label = rgb.dataset("train")[0]
    assert label == 0 and image.shape == (3, 8, 8)
    torch.testing.assert_close(image, torch.full((3, 8, 8), scaled(100)))
    gray = ImageFolderDataModule(root=str(tmp_path), image_size=8, channels=1, num_workers=0)
    for index in (2, 3):
        image, label = gray.dataset("train")[index]
        assert label == 1 and image.shape == (1, 8, 8)
        torch.testing.assert_close(image, torch.full((1, 8, 8), scaled(76)))  # luma of red: 255 * 299 / 1000


def test_images_are_resized_by_their_shorter_side_and_centre_cropped(tmp_path: Path):
    # 40x20 (W x H): white in the middle 28 columns, black outside. Squashing it to 16x16 would
    # keep the black sides; resizing to 32x16 and cropping the centre 16 columns keeps only white.
    image = Image.new("L", (40, 20), 0)
    image.paste(255, (6, 0, 34, 20))
    save(tmp_path / "wide.png", image)
    save(tmp_path / "tall.png", image.rotate(90, expand=True))
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=16, channels=1, num_workers=0)
    for index in range(2):
        image, _ = dm.dataset("val")[index]
        assert image.shape == (1, 16, 16)
        torch.testing.assert_close(image, torch.ones(1, 16, 16), atol=0.02, rtol=0)


def test_val_fraction_is_a_fixed_disjoint_split(tmp_path: Path):
    for i in range(10):
        save(tmp_path / f"{i}.png", Image.new("L", (8, 8), i))

    def build() -> ImageFolderDataModule:
        return ImageFolderDataModule(root=str(tmp_path), image_size=8, channels=1, val_fraction=0.3, seed=1)

    first, second = build(), build()
    train, val = first.dataset("train").samples, first.dataset("val").samples
    assert (len(train), len(val)) == (7, 3) and not set(train) & set(val)
    assert second.dataset("val").samples == val
    with pytest.raises(ConfigurationError, match=r"val_fraction must lie in \[0, 1\)"):
        ImageFolderDataModule(root=str(tmp_path), val_fraction=1.0)


def test_num_train_images_keeps_a_fixed_subset_for_training_and_validates_on_all(tmp_path: Path):
    for i in range(10):
        save(tmp_path / f"{i}.png", Image.new("L", (8, 8), i))

    def build(seed: int = 0, **kwargs) -> ImageFolderDataModule:
        return ImageFolderDataModule(root=str(tmp_path), image_size=8, channels=1, seed=seed, **kwargs)

    small = build(num_train_images=4)
    train = small.dataset("train").samples
    assert len(train) == 4 and set(train) < set(small.samples)
    assert small.dataset("val").samples == small.samples  # the full folder: metrics against all the data
    assert build(num_train_images=4).dataset("train").samples == train
    assert build(seed=1, num_train_images=4).dataset("train").samples != train
    assert len(build(num_train_images=4, val_fraction=0.3).dataset("train")) == 4
    with pytest.raises(ConfigurationError, match="num_train_images=11 but the training split has 10"):
        build(num_train_images=11).dataset("train")


def test_real_mnist_test_images(mnist_test_dir: Path):
    dm = ImageFolderDataModule(root=str(mnist_test_dir), image_size=28, channels=1, batch_size=32, num_workers=0)
    assert dm.num_classes == 10 and dm.data_shape == (1, 28, 28)
    counts = torch.bincount(torch.tensor([label for _, label in dm.samples]), minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # ../shared/data/README.md
    images, _ = check_batch(dm, 32)
    assert images.min() == -1 and images.max() == 1  # black background, white strokes


# ---------------------------------------------------------------- errors


def test_missing_folder(tmp_path: Path):
    missing = tmp_path / "nowhere"
    message = f"{re.escape(str(missing))} does not exist.*set root to a folder of images"
    with pytest.raises(DataNotFoundError, match=message):
        ImageFolderDataModule(root=str(missing))
    assert issubclass(DataNotFoundError, FileNotFoundError) and issubclass(DataNotFoundError, GANError)


def test_folder_without_images(tmp_path: Path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"No images found in .*accepted extensions.*\.jpg, \.jpeg, \.png"):
        ImageFolderDataModule(root=str(tmp_path))
    save(tmp_path / "a" / "0.png", Image.new("L", (8, 8)))
    (tmp_path / "b").mkdir()
    message = f"Class folder {re.escape(str(tmp_path / 'b'))} holds no images.*add images or remove"
    with pytest.raises(DataError, match=message):
        ImageFolderDataModule(root=str(tmp_path))


@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_an_image_broken_after_the_check_is_named_by_the_dataloader(tmp_path: Path, content: str):
    for i in range(4):
        save(tmp_path / f"{i}.png", Image.new("RGB", (8, 8)))
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, batch_size=4, num_workers=0, cache_dir=None)
    dm.setup("fit")  # the check passes: every file is readable now
    bad = tmp_path / "0.png"  # broken afterwards, e.g. overwritten while training
    if content == "garbage":
        bad.write_bytes(b"this is not a png")
    else:
        save(bad, Image.effect_noise((64, 64), 50).convert("RGB"))
        bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(DataError, match=f"Cannot read image file {re.escape(str(bad))}.*Replace or delete the file"):
        next(iter(dm.train_dataloader()))


# ---------------------------------------------------------------- the image check at setup


def truncated_png(path: Path) -> Path:
    save(path, Image.effect_noise((64, 64), 50).convert("RGB"))
    path.write_bytes(path.read_bytes()[:300])
    return path


def folder_with_bad_files(root: Path, good: int = 4) -> tuple[list[Path], list[Path]]:
    """``good`` readable PNGs, a truncated PNG and a text file named ``.jpg``."""
    goods = []
    for i in range(good):
        goods.append(root / f"{i}.png")
        save(goods[-1], Image.new("RGB", (12, 12), (i * 40, 0, 0)))
    bads = [truncated_png(root / "broken.png"), root / "notes.jpg"]
    bads[1].write_text("a text file, not a JPEG")
    return goods, bads


def count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the image check opens, from now on."""
    from lightning_gans.data import images

    opened: list[str] = []

    def counting(path):
        opened.append(str(path))
        return original(path)

    original = images.unreadable_reason
    monkeypatch.setattr(images, "unreadable_reason", counting)
    return opened


def test_unreadable_images_are_all_named_in_one_error_at_setup(tmp_path: Path):
    _, (truncated, text) = folder_with_bad_files(tmp_path / "images")
    cache = tmp_path / "cache"
    dm = ImageFolderDataModule(
        root=str(tmp_path / "images"), image_size=8, batch_size=2, num_workers=0, cache_dir=str(cache)
    )
    assert len(dm.samples) == 6  # the constructor only lists the files; setup checks them
    with pytest.raises(DataError) as caught:
        dm.setup("fit")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("2 of 6 image files in ")
    assert str(truncated) in message and str(text) in message
    assert "Delete or replace them, or set skip_unreadable: true" in message and "the other 4" in message
    (listing,) = cache.glob("*.unreadable.txt")
    assert f"the full list is in {listing}." in message
    rows = [line.split("\t") for line in listing.read_text().splitlines()]
    assert [path for path, _ in rows] == [str(truncated), str(text)]
    assert "truncated" in rows[0][1] and "not an image file" in rows[1][1]
    with pytest.raises(DataError, match="2 of 6 image files"):  # every use of the data, not only the first
        dm.train_dataloader()


def test_skip_unreadable_trains_on_the_rest_with_one_warning(tmp_path: Path):
    goods, bads = folder_with_bad_files(tmp_path / "images")
    dm = ImageFolderDataModule(
        root=str(tmp_path / "images"),
        image_size=8,
        batch_size=2,
        num_workers=0,
        skip_unreadable=True,
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.warns(
        UserWarning, match=r"skips 2 unreadable of 6 image files .*the list is in .*\.unreadable\.txt"
    ) as warned:
        dm.setup("fit")
    assert len([w for w in warned if "unreadable" in str(w.message)]) == 1
    assert [path for path, _ in dm.dataset("train").samples] == [str(p) for p in goods]
    assert [path for path, _ in dm.unreadable] == [str(p) for p in bads]
    check_batch(dm, 2)


def test_without_a_cache_the_list_goes_to_the_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tempfile

    folder_with_bad_files(tmp_path / "images")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    dm = ImageFolderDataModule(root=str(tmp_path / "images"), image_size=8, num_workers=0, cache_dir=None)
    with pytest.raises(DataError, match=f"the full list is in {re.escape(str(tmp_path / 'tmp'))}"):
        dm.setup()
    assert len(list((tmp_path / "tmp").glob("*.unreadable.txt"))) == 1 and not list(tmp_path.glob("**/*.json"))


def test_the_check_is_cached_and_a_changed_folder_is_checked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    images, cache = tmp_path / "images", tmp_path / "cache"
    folder_with_bad_files(images)
    opened = count_checks(monkeypatch)

    def setup() -> str:
        dm = ImageFolderDataModule(root=str(images), image_size=8, num_workers=0, cache_dir=str(cache))
        with pytest.raises(DataError) as caught:
            dm.setup()
        return str(caught.value)

    first = setup()
    assert len(opened) == 6 and len(list(cache.glob("*.json"))) == 1
    opened.clear()
    assert setup() == first and opened == []  # the same error, from the cache: no image opened
    save(images / "0.png", Image.new("RGB", (12, 12), (0, 0, 255)))  # modified: new content, new time
    os.utime(images / "0.png", ns=(1, 1))  # (a modification time that differs even on a coarse clock)
    setup()
    assert len(opened) == 6 and len(list(cache.glob("*.json"))) == 2
    opened.clear()
    (images / "broken.png").unlink()  # removed: the key changes again, and the error with it
    assert setup().startswith("1 of 5 image files") and len(opened) == 5
    opened.clear()
    save(images / "new.png", Image.new("RGB", (12, 12)))  # added
    assert setup().startswith("1 of 6 image files") and len(opened) == 6


def test_a_corrupt_check_cache_is_rechecked_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(3):
        save(tmp_path / "images" / f"{i}.png", Image.new("L", (8, 8)))
    cache = tmp_path / "cache"
    ImageFolderDataModule(root=str(tmp_path / "images"), image_size=8, num_workers=0, cache_dir=str(cache)).setup()
    (path,) = cache.glob("*.json")
    path.write_text('{"images": 3, "unrea')
    opened = count_checks(monkeypatch)
    dm = ImageFolderDataModule(root=str(tmp_path / "images"), image_size=8, num_workers=0, cache_dir=str(cache))
    with pytest.warns(UserWarning, match="ignores the unreadable image-check cache"):
        dm.setup()
    assert len(opened) == 3 and json.loads(path.read_text())["unreadable"] == []
    assert not list(cache.glob("*.tmp"))  # written atomically: no temporary file left


def test_the_cli_names_the_unreadable_images_before_training(tmp_path: Path):
    """``fit`` on a folder with a broken image: one ``error:`` line naming it, no traceback, exit 1."""
    for i in range(8):
        save(tmp_path / "images" / f"{i}.png", Image.new("L", (28, 28), i * 30))
    bad = truncated_png(tmp_path / "images" / "bad.png")
    args = ["fit", "--config", CONFIGS / "dcgan_mnist.yaml", "--data", "lightning_gans.ImageFolderDataModule"]
    args += ["--data.root", "images", "--data.num_workers", "0", "--data.batch_size", "8", "--data.cache_dir", "cache"]
    result = run_cli([*args, "--trainer.max_steps", "1", "--trainer.logger", "false"], cwd=tmp_path, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith(
        "error: 1 of 9 image files in images cannot be read: images/bad.png (image file is truncated"
    )
    assert "skip_unreadable" in error and str(tmp_path / "cache") in error
    assert str(bad) in next((tmp_path / "cache").glob("*.unreadable.txt")).read_text()
    assert not list(tmp_path.glob("lightning_logs/**/*.ckpt"))  # stopped before the first step


def test_another_mode_or_size_is_not_unreadable(tmp_path: Path):
    save(tmp_path / "gray.png", Image.new("L", (8, 8), 100))
    save(tmp_path / "palette.png", Image.new("P", (20, 9)))
    save(tmp_path / "rgba.png", Image.new("RGBA", (9, 30), (255, 0, 0, 128)))
    save(tmp_path / "wide16.png", Image.new("I;16", (50, 10), 1000))
    save(tmp_path / "gray.jpg", Image.new("L", (33, 17), 50))
    save(tmp_path / "cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 0, 0)))
    save(tmp_path / "tiny.bmp", Image.new("RGB", (3, 3)))
    dm = ImageFolderDataModule(
        root=str(tmp_path), image_size=8, channels=3, batch_size=7, num_workers=2, cache_dir=None
    )
    dm.setup("fit")  # two threads check the files
    assert dm.unreadable == [] and len(dm.dataset("train")) == 7
    images, _ = check_batch(dm, 7)
    assert images.shape == (7, 3, 8, 8)


@pytest.mark.parametrize(
    "datamodule, name, folder",
    [
        (MNISTDataModule, "MNIST", "MNIST/raw"),
        (FashionMNISTDataModule, "FashionMNIST", "FashionMNIST/raw"),
        (CIFAR10DataModule, "CIFAR-10", "cifar-10-batches-py"),
        (CelebADataModule, "CelebA", "celeba"),
    ],
)
def test_dataset_absent_without_download(tmp_path: Path, datamodule, name: str, folder: str):
    dm = datamodule(data_dir=str(tmp_path), download=False, num_workers=0)
    dm.prepare_data()  # downloads nothing
    assert not any(tmp_path.iterdir())
    message = f"{name} was not found.*{re.escape(str(tmp_path / folder))}.*pass download=True.*put"
    with pytest.raises(DataNotFoundError, match=message):
        dm.setup("fit")


def test_failed_download_says_where_to_put_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The mirror URL only: point it at a missing local file so no test ever touches the network.
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"file://{tmp_path}/no-mirror/"])
    dm = MNISTDataModule(data_dir=str(tmp_path), num_workers=0)
    with pytest.raises(DataNotFoundError, match=r"Could not download MNIST into .*MNIST/raw.*put train-images-idx3"):
        dm.prepare_data()


def test_bad_settings(tmp_path: Path):
    save(tmp_path / "0.png", Image.new("L", (8, 8)))
    with pytest.raises(ConfigurationError, match="channels must be 1 .* or 3"):
        ImageFolderDataModule(root=str(tmp_path), channels=2)
    with pytest.raises(ConfigurationError, match="image_size must be >= 8"):
        MNISTDataModule(data_dir=str(tmp_path), image_size=4)
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, batch_size=2, num_workers=0)
    with pytest.raises(ConfigurationError, match="fewer than batch_size=2.*smaller batch_size"):
        dm.train_dataloader()
    with pytest.raises(ConfigurationError, match="Unknown split 'test'.*'train', 'val'"):
        dm.dataset("test")


def test_each_torchvision_datamodule_shows_its_own_defaults_where_the_cli_reads_them():
    """One shared constructor, but ``inspect.signature`` (what LightningCLI's --help and
    --print_config read) and the instances carry each dataset's own defaults."""
    import inspect

    import lightning_gans as lg

    expected = {
        lg.MNISTDataModule: (28, 1, False),
        lg.FashionMNISTDataModule: (28, 1, False),
        lg.CIFAR10DataModule: (32, 3, True),
        lg.CelebADataModule: (64, 3, False),
    }
    for cls, (size, channels, hflip) in expected.items():
        params = inspect.signature(cls).parameters
        assert (params["image_size"].default, params["channels"].default, params["hflip"].default) == (
            size,
            channels,
            hflip,
        ), cls.__name__
        data = cls(data_dir="nowhere", download=False)
        assert (data.image_size, data.channels, data.hflip) == (size, channels, hflip), cls.__name__
        assert data.hparams["image_size"] == size
