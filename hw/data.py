"""Datasets for training and evaluation.

Why a Debian package: the project may not download anything at run time, so Fashion-MNIST comes
from `dataset-fashion-mnist` (IDX files under /usr/share/datasets/fashion-mnist). Images are
returned as uint8 NHWC arrays because the accelerator's input contract is raw bytes (value = byte/256).
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
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


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking the header against the payload size."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{path}: IDX payload has {len(raw) - header} bytes, header promises {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


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


DATASETS = {"fashion-mnist": load_fashion_mnist}


def load_dataset(name_or_path: str) -> Dataset:
    """Load a dataset by registered name (see DATASETS) or by path."""
    if name_or_path in DATASETS:
        return DATASETS[name_or_path]()
    raise DatasetError(f"unknown dataset {name_or_path!r}; known: {', '.join(sorted(DATASETS))} or a directory path")
