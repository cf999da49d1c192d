"""`python host/infer.py --selftest`: run the vectors shipped with the bitstream
(`bitstreams/<model>.selftest.npz`, written by the flow from the golden model) through the
accelerator and compare the integer logits. PASS says the board computes exactly what the model
does; FAIL names the first differing image, output lane and both values.

Why on the board itself: "accuracy on the board differs from software" is the most common complaint
of PYNQ users of hls4ml and FINN, and nothing else tells a user, on the board, whether the bitstream,
the driver and the io spec agree. Needs numpy only (the board image has nothing more).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class SelftestError(ValueError):
    """The self-test file is missing or not what this model's accelerator produces."""


@dataclass
class SelftestResult:
    images: int
    differing: int
    first: tuple[int, int, int, int] | None  # (image, lane, got, expected)

    @property
    def passed(self) -> bool:
        return self.differing == 0

    def message(self) -> str:
        if self.passed:
            return f"selftest PASS: {self.images} images, every logit bit-exact with the golden model"
        i, lane, got, want = self.first
        return (f"selftest FAIL: {self.differing} of {self.images} images differ; first: image {i}, output lane {lane}: "
                f"accelerator {got}, expected {want} (raw integer logits)")


def load(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path) as z:
            images, raw = np.asarray(z["images"]), np.asarray(z["raw"], dtype=np.int64)
    except FileNotFoundError:
        raise SelftestError(f"no self-test file {path} (the bitstream flow writes it beside the .bit)") from None
    except (OSError, ValueError, KeyError) as e:
        raise SelftestError(f"{path}: not a self-test file ({type(e).__name__}: {e})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or raw.ndim != 2 or len(images) != len(raw) or not len(raw):
        raise SelftestError(f"{path}: expected uint8 images (N, H, W, C) and raw logits (N, classes), "
                            f"got {images.dtype} {images.shape} and {raw.shape}")
    return images, raw


def run(acc, path: str | Path) -> SelftestResult:
    """Predict the self-test images on `acc` (any StreamAccelerator) and compare raw logits."""
    images, want = load(path)
    if tuple(images.shape[1:]) != tuple(acc.spec.input.shape) or want.shape[1] != acc.spec.output.n_logits:
        raise SelftestError(f"{path}: vectors for inputs {images.shape[1:]} and {want.shape[1]} logits, but the "
                            f"accelerator takes {tuple(acc.spec.input.shape)} and gives {acc.spec.output.n_logits}")
    got = np.asarray(acc.predict(images).raw, dtype=np.int64)
    bad = np.argwhere(got != want)
    first = None
    if len(bad):
        i, lane = (int(v) for v in bad[0])
        first = (i, lane, int(got[i, lane]), int(want[i, lane]))
    return SelftestResult(len(images), int(len(np.unique(bad[:, 0]))) if len(bad) else 0, first)
