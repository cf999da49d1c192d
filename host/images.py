"""Image files -> the network's uint8 pixels: the one preprocessing function, and IDX reading.

Why here: training (hw.data, image-folder datasets) and inference (host/infer.py, on the board)
must turn the same photo into the same pixels, and the board has only numpy, pillow and the
standard library. Both import this module; nothing in it touches hw/ or TensorFlow.

Conversion (`to_pixels`): a transparent background becomes black (like Fashion-MNIST's), colour
becomes grayscale for 1-channel networks (Pillow's ITU-R 601-2 luma), and a different size is
resized with Lanczos filtering. An image larger than Pillow's decompression-bomb limit is refused
with its size named instead of being decoded.
"""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ImageError(ValueError):
    """A file that cannot be read as an image or IDX array; the message names the file and why."""


def open_image(path: str | os.PathLike):
    """Open and decode an image now (so a truncated file fails here, naming itself)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
        return img
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{path}: image too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: corrupt or unreadable image ({type(e).__name__}: {e})") from None


def to_pixels(img, shape) -> tuple[np.ndarray, list[str]]:
    """A Pillow image -> uint8 (H, W, C) for a network input of `shape`, plus what was changed."""
    from PIL import Image

    h, w, c = shape
    if c not in (1, 3):
        raise ImageError(f"network input has {c} channels; images convert to 1 (grayscale) or 3 (RGB)")
    mode, size = img.mode, img.size
    if "A" in img.getbands() or mode == "P" and "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    img = img.convert("L" if c == 1 else "RGB")
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    changes = []
    if c == 1 and mode != "L":
        changes.append(f"{mode} -> grayscale")
    if size != (w, h):
        changes.append(f"resized {size[0]}x{size[1]} -> {w}x{h}")
    return np.asarray(img, dtype=np.uint8).reshape(h, w, c), changes


def read_image(path: str | os.PathLike, shape) -> tuple[np.ndarray, list[str]]:
    """An image file -> (uint8 (H, W, C), changes): open_image + to_pixels."""
    img = open_image(path)
    try:
        return to_pixels(img, shape)
    finally:
        img.close()


def image_shape(path: str | os.PathLike) -> tuple[int, int, int]:
    """(H, W, C) a file would keep unconverted: 1 channel for grayscale modes, else 3."""
    img = open_image(path)
    with img:
        return img.size[1], img.size[0], 1 if img.mode in GRAY_MODES else 3


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking the header against the payload size."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ImageError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ImageError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ImageError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ImageError(f"{path}: IDX payload has {len(raw) - header} bytes, header promises {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
