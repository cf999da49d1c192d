"""Datasets for training and evaluation.

Why a Debian package: the project may not download anything at run time, so Fashion-MNIST comes
from `dataset-fashion-mnist` (IDX files under /usr/share/datasets/fashion-mnist). Images are
returned as uint8 NHWC arrays because the accelerator's input contract is raw bytes (value = byte/256).

`load_dataset(name_or_path)` accepts a registered name ('fashion-mnist', 'cifar10') or a directory:
  * IDX files (train-images-idx3-ubyte[.gz], ...): Fashion-MNIST layout;
  * CIFAR-10 python batches (data_batch_1..5, test_batch, optional batches.meta): 32x32x3;
  * an image-folder tree, one sub-folder per class (PNG/JPEG), either `root/<class>/*` (every 5th
    image of each class, in file-name order, is held out as the test split) or
    `root/train/<class>/*` + `root/test/<class>/*`. Images are kept as given (1 channel if every
    image is grayscale, else RGB; all must have one size) unless `image_shape=(H, W, C)` asks for
    a conversion, done by host.images.to_pixels (the function inference uses: alpha on black,
    Lanczos resize, C=1 grayscale or C=3 RGB).
"""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host import images

from host.testset import FASHION_MNIST_DIR  # noqa: E402  (one home for the location, readable on the board)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
INSTALL_HINT = "install it with: sudo apt-get install dataset-fashion-mnist (or run scripts/setup.sh)"


class DatasetError(ValueError):
    """Raised for missing, corrupt or inconsistent data, with a message that names the problem."""


@dataclass(frozen=True)
class Dataset:
    """uint8 images (N, H, W, C) and int labels (N,), with class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped); host.images.read_idx with the dataset error type."""
    try:
        return images.read_idx(path)
    except images.ImageError as e:
        raise DatasetError(str(e)) from None


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise DatasetError(f"Fashion-MNIST file {stem}[.gz] not found in {directory}; {INSTALL_HINT}")


def load_fashion_mnist(directory: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST as uint8 (N, 28, 28, 1) images and uint8 labels."""
    d = Path(directory) if directory is not None else FASHION_MNIST_DIR
    if not d.is_dir():
        raise DatasetError(f"Fashion-MNIST not found at {d}; {INSTALL_HINT}")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(_find(d, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(d, f"{prefix}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"{d}: {split} images {x.shape} and labels {y.shape} do not match")
        parts[split] = (x[..., None], y.astype(np.int64))
    ds = Dataset(*parts["train"], *parts["test"], classes=FASHION_MNIST_CLASSES)
    _check_labels(ds)
    return ds


def _check_labels(ds: Dataset) -> None:
    n = len(ds.classes)
    for name, y in (("train", ds.y_train), ("test", ds.y_test)):
        if y.size and (y.min() < 0 or y.max() >= n):
            raise DatasetError(f"{name} labels out of range [0, {n}): found {y.min()}..{y.max()}")


# --------------------------------------------------------------------------------------------
# CIFAR-10, python version (https://www.cs.toronto.edu/~kriz/cifar.html): pickled dicts with
# b"data" (N, 3072) uint8 in channel-major order (R plane, G plane, B plane; rows of 32) and
# b"labels" (N ints); batches.meta holds b"label_names".
# --------------------------------------------------------------------------------------------
CIFAR10_DIR = Path(os.environ.get("CIFAR10_DIR", Path.home() / ".keras" / "datasets" / "cifar-10-batches-py"))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_HINT = ("download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, extract it "
                "and pass the cifar-10-batches-py directory (or set CIFAR10_DIR)")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle only what a CIFAR batch contains (dicts, lists, bytes, numpy arrays): a batch file is
    data, and a plain pickle.load would run whatever code a tampered file names."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> object:
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except Exception as e:  # pickle raises many types for a damaged file
        raise DatasetError(f"{path}: corrupt CIFAR-10 batch ({type(e).__name__}: {e})") from None


def _get(d: dict, key: str):
    return d.get(key.encode(), d.get(key))


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch as uint8 (N, 32, 32, 3) images and int64 labels."""
    path = Path(path)
    d = _unpickle(path)
    if not isinstance(d, dict) or _get(d, "data") is None or _get(d, "labels") is None:
        raise DatasetError(f"{path}: not a CIFAR-10 python batch (expected a dict with 'data' and 'labels')")
    data, labels = _get(d, "data"), _get(d, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", type(data).__name__)
        raise DatasetError(f"{path}: 'data' is {shape} {getattr(data, 'dtype', '')}, expected uint8 (N, 3072)")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: 'labels' are not integers ({e})") from None
    if len(y) != len(data):
        raise DatasetError(f"{path}: {len(data)} images but {len(y)} labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), y


def load_cifar10(directory: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 from its python batches: every data_batch_<n> present is training data."""
    d = Path(directory) if directory is not None else CIFAR10_DIR
    if not d.is_dir():
        raise DatasetError(f"CIFAR-10 not found at {d}; {CIFAR10_HINT}")
    train_files = sorted((p for p in d.glob("data_batch_*") if re.fullmatch(r"data_batch_\d+", p.name)),
                         key=lambda p: int(p.name.rsplit("_", 1)[1]))
    if not train_files or not (d / "test_batch").exists():
        raise DatasetError(f"{d}: CIFAR-10 data_batch_<n> or test_batch missing; {CIFAR10_HINT}")
    train = [read_cifar_batch(p) for p in train_files]
    x_test, y_test = read_cifar_batch(d / "test_batch")
    classes = CIFAR10_CLASSES
    if (d / "batches.meta").exists():
        meta = _unpickle(d / "batches.meta")
        names = _get(meta, "label_names") if isinstance(meta, dict) else None
        if not isinstance(names, list) or not names:
            raise DatasetError(f"{d / 'batches.meta'}: no 'label_names' list")
        classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    ds = Dataset(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test, classes)
    _check_labels(ds)
    return ds


# --------------------------------------------------------------------------------------------
# Image-folder tree: one sub-folder per class.
# --------------------------------------------------------------------------------------------
IMAGE_SUFFIXES = images.IMAGE_SUFFIXES
TEST_EVERY = 5  # root/<class>/* layout: every 5th image of a class (file-name order) is a test image


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_images(files: list[Path], shape: tuple[int, int, int]) -> np.ndarray:
    """Every file through host.images.read_image: the conversion inference applies too."""
    out = np.empty((len(files), *shape), dtype=np.uint8)
    for i, p in enumerate(files):
        try:
            out[i] = images.read_image(p, shape)[0]
        except images.ImageError as e:
            raise DatasetError(str(e)) from None
    return out


def _infer_shape(files: list[Path]) -> tuple[int, int, int]:
    """Kept as given: one size for all images; 1 channel if every image is grayscale, else 3."""
    shapes = {}
    for p in files:
        try:
            shapes[p] = images.image_shape(p)
        except images.ImageError as e:
            raise DatasetError(str(e)) from None
    first = files[0]
    (h, w, _) = shapes[first]
    for p, (ph, pw, _) in shapes.items():
        if (ph, pw) != (h, w):
            raise DatasetError(f"images differ in size ({w}x{h} in {first}, {pw}x{ph} in {p}); "
                               f"pass image_shape=(H, W, C) to resize them")
    return h, w, 1 if all(s[2] == 1 for s in shapes.values()) else 3


def load_image_folder(root: str | os.PathLike, image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Images under root/<class>/ (or root/train/<class>/ and root/test/<class>/), labels = sorted class index."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: image folder not found")
    split_dirs = {s: root / s for s in ("train", "test")}
    presplit = all(p.is_dir() for p in split_dirs.values())
    classes = [p.name for p in _class_dirs(split_dirs["train"] if presplit else root)]
    if not classes:
        raise DatasetError(f"{root}: no class sub-folders (expected {root}/<class>/*.png or train/ and test/ trees)")
    files: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    if presplit:
        for split, d in split_dirs.items():
            for c in _class_dirs(d):
                if c.name not in classes:
                    raise DatasetError(f"{c}: class {c.name!r} is not a class of {split_dirs['train']}")
                files[split] += [(p, classes.index(c.name)) for p in _images_in(c)]
    else:
        for label, name in enumerate(classes):
            for i, p in enumerate(_images_in(root / name)):
                files["test" if i % TEST_EVERY == TEST_EVERY - 1 else "train"].append((p, label))
    if not files["train"] and not files["test"]:
        raise DatasetError(f"{root}: no images ({'/'.join(IMAGE_SUFFIXES)}) in its class sub-folders")
    every = [p for split in files.values() for p, _ in split]
    shape = tuple(image_shape) if image_shape is not None else _infer_shape(every)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape) < 1:
        raise DatasetError(f"image_shape must be (H, W, 1) or (H, W, 3), got {shape}")
    arrays = []
    for split in ("train", "test"):
        arrays.append(_read_images([p for p, _ in files[split]], shape))
        arrays.append(np.array([y for _, y in files[split]], dtype=np.int64))
    return Dataset(*arrays, classes=tuple(classes))


DATASETS = {"fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar_10": "cifar10"}


def load_dataset(name_or_path: str | os.PathLike, image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Load a dataset by registered name (see DATASETS) or by directory (format detected from its files).

    `image_shape` applies to image folders only (resize/convert); other formats have a fixed shape.
    """
    key = _ALIASES.get(str(name_or_path).lower(), str(name_or_path).lower())
    if key in DATASETS:
        return DATASETS[key]()
    d = Path(name_or_path)
    if not d.is_dir():
        raise DatasetError(f"unknown dataset {str(name_or_path)!r}: neither a known name "
                           f"({', '.join(sorted(DATASETS))}) nor a directory")
    if (d / "test_batch").exists() or any(d.glob("data_batch_*")):
        return load_cifar10(d)
    if any(d.glob("*-images-idx3-ubyte*")):
        return load_fashion_mnist(d)
    return load_image_folder(d, image_shape)
