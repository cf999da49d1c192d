"""What the board driver and the emulator share: batching, buffers, packing, unpacking, timing.

A backend only says how to allocate its two stream buffers and how to run one batch through the
accelerator (AXI DMA on the board, the C simulation of the AXI top off-board). Everything else,
including the byte layout (host/stream.py), is this one code path, so the emulator tests exercise
exactly what the board runs. numpy + standard library only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from host import stream
from host.stream import IOSpec


class AcceleratorError(RuntimeError):
    """The accelerator (board or emulator) cannot be set up or did not deliver a result."""


@dataclass
class Prediction:
    """Results of one call: raw integer logits, float logits, float64 probabilities, classes."""

    raw: np.ndarray  # int64 (N, n_logits), value = raw / 2**frac_bits
    logits: np.ndarray  # float64 (N, n_logits)
    probabilities: np.ndarray  # float64 (N, n_logits), softmax on the host
    classes: np.ndarray  # int64 (N,)
    class_names: tuple[str, ...]

    def top_k(self, k: int) -> list[list[tuple[int, str, float]]]:
        """Per image, the k most probable (class index, name, probability), best first."""
        k = max(1, min(k, self.probabilities.shape[1]))
        order = np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]
        return [[(int(c), self.class_names[c], float(p[c])) for c in row] for row, p in zip(order, self.probabilities)]


@dataclass
class StepTimes:
    """Accumulated wall time of each host step (seconds) and the images they covered."""

    pack_s: float = 0.0
    transfer_s: float = 0.0
    unpack_s: float = 0.0
    images: int = 0
    batches: int = 0

    def add(self, other: "StepTimes") -> None:
        for k in ("pack_s", "transfer_s", "unpack_s", "images", "batches"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


class StreamAccelerator:
    """Base class: subclasses implement `_allocate` and `_transfer` and name their backend."""

    backend = "abstract"
    transfer_label = "transfer"

    def __init__(self, spec: IOSpec, batch_size: int = 256) -> None:
        self.spec = spec
        self.batch_size = self._check_batch_size(batch_size)
        self._in_buf = None
        self._out_buf = None
        self._capacity = 0  # images the current buffers hold
        self.allocations = 0  # how many times buffers were (re)allocated: they are meant to be reused
        self.times = StepTimes()

    # ---- backend hooks -------------------------------------------------------------------
    def _allocate(self, n_in_beats: int, n_out_beats: int):
        """Return (input buffer, output buffer): 1-D arrays of the spec's beat dtypes."""
        raise NotImplementedError

    def _free(self, buffers) -> None:
        """Release buffers replaced by larger ones (contiguous memory on the board is scarce)."""

    def _transfer(self, in_beats: np.ndarray, out_beats: np.ndarray, n_images: int) -> None:
        """Send `in_beats` (the packed batch) through the accelerator, filling `out_beats`.

        Raise AcceleratorError if the accelerator does not deliver exactly `len(out_beats)` beats
        ending with TLAST.
        """
        raise NotImplementedError

    # ---- shared code path ----------------------------------------------------------------
    def _check_batch_size(self, n: int) -> int:
        if int(n) != n or n < 1:
            raise ValueError(f"batch size must be a positive integer, got {n!r}")
        return int(min(n, self.spec.max_batch))

    @property
    def buffer_capacity(self) -> int:
        """Images the allocated buffers hold (0 before the first batch)."""
        return self._capacity

    def _ensure_buffers(self, n_images: int) -> None:
        """Allocate once; re-allocate only when a larger batch than ever before arrives."""
        if n_images <= self._capacity:
            return
        old = (self._in_buf, self._out_buf)
        self._in_buf, self._out_buf = self._allocate(self.spec.in_beats(n_images), self.spec.out_beats(n_images))
        if old[0] is not None:
            self._free(old)
        self._capacity = n_images
        self.allocations += 1

    def run_batch(self, images: np.ndarray, times: StepTimes | None = None) -> np.ndarray:
        """One accelerator call: uint8 images (n <= batch_size) -> raw int64 logits (n, n_logits)."""
        times = self.times if times is None else times
        n = len(images)
        if n > self.batch_size:
            raise ValueError(f"batch of {n} images exceeds batch size {self.batch_size}")
        self._ensure_buffers(n)
        t0 = time.perf_counter()
        in_view = stream.pack_images(images, self.spec, out=self._in_buf)
        t1 = time.perf_counter()
        out_view = self._out_buf[:self.spec.out_beats(n)]
        self._transfer(in_view, out_view, n)
        t2 = time.perf_counter()
        raw = stream.unpack_logits(out_view, n, self.spec)
        t3 = time.perf_counter()
        times.pack_s += t1 - t0
        times.transfer_s += t2 - t1
        times.unpack_s += t3 - t2
        times.images += n
        times.batches += 1
        return raw

    def raw_logits(self, images: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """uint8 images (N, *shape) or one image -> raw int64 logits (N, n_logits), in batches."""
        a = stream.check_images(images, self.spec)
        out = np.empty((len(a), self.spec.output.n_logits), dtype=np.int64)
        for start in range(0, len(a), self.batch_size):
            chunk = a[start:start + self.batch_size]
            out[start:start + len(chunk)] = self.run_batch(chunk)
            if progress is not None:
                progress(len(chunk))
        return out

    def predict(self, images: np.ndarray, progress: Callable[[int], None] | None = None) -> Prediction:
        raw = self.raw_logits(images, progress)
        logits = stream.logits_to_float(raw, self.spec)
        return Prediction(raw=raw, logits=logits, probabilities=stream.softmax(logits),
                          classes=np.argmax(raw, axis=1).astype(np.int64), class_names=self.spec.classes)

    def classify(self, images: np.ndarray) -> np.ndarray:
        return self.predict(images).classes

    def throughput_test(self, n_images: int | None = None, images: np.ndarray | None = None,
                        seed: int = 0) -> dict:
        """FINN-style: run `n_images` (default: one full batch) end to end and report images/s and
        the time of each host step. Random pixels unless `images` is given (throughput does not
        depend on the pixel values)."""
        if images is None:
            n = self.batch_size if n_images is None else int(n_images)
            images = np.random.default_rng(seed).integers(0, 256, (n, *self.spec.input.shape), dtype=np.uint8)
        images = stream.check_images(images, self.spec)
        n = len(images)
        self._ensure_buffers(min(n, self.batch_size))  # allocation is set-up, not per-image cost
        t = StepTimes()
        t0 = time.perf_counter()
        for start in range(0, n, self.batch_size):
            self.run_batch(images[start:start + self.batch_size], times=t)
        runtime = time.perf_counter() - t0
        self.times.add(t)
        in_bytes = self.spec.in_beats(n) * self.spec.input.beat_bits // 8
        out_bytes = self.spec.out_beats(n) * self.spec.output.beat_bits // 8
        return {
            "backend": self.backend,
            "transfer_step": self.transfer_label,
            "images": n,
            "batch_size": self.batch_size,
            "runtime_s": runtime,
            "throughput_images_s": n / runtime if runtime > 0 else float("inf"),
            "pack_s": t.pack_s,
            "transfer_s": t.transfer_s,
            "unpack_s": t.unpack_s,
            "pack_us_per_image": 1e6 * t.pack_s / n,
            "unpack_us_per_image": 1e6 * t.unpack_s / n,
            "transfer_us_per_image": 1e6 * t.transfer_s / n,
            "stream_in_MB_s": in_bytes / t.transfer_s / 1e6 if t.transfer_s > 0 else float("inf"),
            "stream_out_MB_s": out_bytes / t.transfer_s / 1e6 if t.transfer_s > 0 else float("inf"),
        }

    def close(self) -> None:
        if self._in_buf is not None:
            self._free((self._in_buf, self._out_buf))
        self._in_buf = self._out_buf = None
        self._capacity = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def format_throughput(r: dict) -> str:
    """One readable block for a throughput_test() result."""
    return "\n".join([
        f"backend            {r['backend']} (batch size {r['batch_size']}, {r['images']} images)",
        f"throughput         {r['throughput_images_s']:.1f} images/s end to end ({r['runtime_s']:.3f} s)",
        f"pack               {r['pack_us_per_image']:.2f} us/image ({r['pack_s'] * 1e3:.2f} ms)",
        f"{r['transfer_step']:<18} {r['transfer_us_per_image']:.1f} us/image ({r['transfer_s'] * 1e3:.1f} ms)",
        f"unpack             {r['unpack_us_per_image']:.2f} us/image ({r['unpack_s'] * 1e3:.2f} ms)",
    ])

