"""Test sets that `host/infer.py --evaluate` reads on the board with only host/ installed: IDX
files in the Fashion-MNIST layout (`t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`).

Why here and not in hw.data: the board has numpy and pillow, no TensorFlow and no hw/ package;
hw.data (training) takes the dataset location from this module, so there is one home for it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from host.images import ImageError, read_idx

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
NAMES = {"fashion-mnist": FASHION_MNIST_DIR, "fashion_mnist": FASHION_MNIST_DIR, "fmnist": FASHION_MNIST_DIR}


class TestSetError(ValueError):
    """A test set that is missing, malformed or inconsistent; the message names the file."""

    __test__ = False  # not a pytest test class


def find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    return None


def load_idx_test_set(name_or_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, H, W, 1), int64 labels (N,)) of a test set by name or IDX directory."""
    d = NAMES.get(str(name_or_dir).lower(), Path(name_or_dir))
    if not d.is_dir():
        raise TestSetError(f"test set {str(name_or_dir)!r}: no directory {d} (names: {', '.join(sorted(NAMES))}; "
                           "or give a directory of t10k-*-ubyte IDX files)")
    paths = [find_idx(d, "t10k-images-idx3-ubyte"), find_idx(d, "t10k-labels-idx1-ubyte")]
    if None in paths:
        raise TestSetError(f"{d}: t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] are needed")
    try:
        x, y = (read_idx(p) for p in paths)
    except ImageError as e:
        raise TestSetError(str(e)) from None
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
        raise TestSetError(f"{d}: test images {x.shape} {x.dtype} and labels {y.shape} do not match")
    return x[..., None], y.astype(np.int64)
