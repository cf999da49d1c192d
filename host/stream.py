"""The stream contract at the accelerator's AXI boundary: the io spec and its packing/unpacking.

This module is the only implementation of the byte layout of docs/INTERFACES.md, so the board
driver, the emulator and the tests cannot drift apart. numpy + standard library only (it runs on
the PYNQ image).

Input: each image's bytes in raster order (row, column, channel), little-endian into beats (byte 0
of the image in bits 7:0 of beat 0); an image starts on a fresh beat, its last beat zero-padded.
Output: each logit's raw integer sign-extended into a lane, lanes little-endian in a beat (logit 0
in the lowest lane), the last beat of an image zero-padded; TLAST on the last beat of the batch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class StreamError(ValueError):
    """Data that does not fit the stream contract (wrong shape/dtype, malformed accelerator output)."""


class SpecError(ValueError):
    """A missing, unreadable or inconsistent io spec."""


_BEAT_BITS = (8, 16, 32, 64)


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: str
    frac_bits: int
    beat_bits: int
    pixels_per_beat: int
    beats_per_image: int

    @property
    def bytes_per_image(self) -> int:
        return int(np.prod(self.shape))

    @property
    def beat_dtype(self) -> np.dtype:
        return np.dtype(f"<u{self.beat_bits // 8}")


@dataclass(frozen=True)
class OutputSpec:
    n_logits: int
    logit_bits: int
    frac_bits: int
    signed: bool
    beat_bits: int
    lane_bits: int
    logits_per_beat: int
    beats_per_image: int

    @property
    def beat_dtype(self) -> np.dtype:
        return np.dtype(f"<u{self.beat_bits // 8}")

    @property
    def lane_dtype(self) -> np.dtype:
        return np.dtype(f"<{'i' if self.signed else 'u'}{self.lane_bits // 8}")


@dataclass(frozen=True)
class IOSpec:
    """The io spec JSON (`<hls project>/io_spec.json`, `bitstreams/<model>.io.json`) as a typed object."""

    model: str
    top: str
    ip_name: str
    dma_name: str
    batch_register: str
    input: InputSpec
    output: OutputSpec
    classes: tuple[str, ...]
    max_batch: int
    # Written by hw.hls.contract; optional so that a hand-made spec (tests, old builds) still loads.
    in_port: str | None = None
    out_port: str | None = None
    control_bundle: str | None = None
    dma_length_bits: int | None = None
    library: str | None = None
    c_abi: dict | None = None
    planned: dict | None = None  # the planner's images/s etc. (host/batch_model.py)

    @classmethod
    def from_dict(cls, d: dict, source: str = "io spec") -> "IOSpec":
        try:
            inp, out = d["input"], d["output"]
            spec = cls(
                model=str(d["model"]), top=str(d["top"]), ip_name=str(d["ip_name"]),
                dma_name=str(d["dma_name"]), batch_register=str(d["batch_register"]),
                input=InputSpec(
                    shape=tuple(int(s) for s in inp["shape"]), dtype=str(inp["dtype"]),
                    frac_bits=int(inp["frac_bits"]), beat_bits=int(inp["beat_bits"]),
                    pixels_per_beat=int(inp["pixels_per_beat"]), beats_per_image=int(inp["beats_per_image"])),
                output=OutputSpec(
                    n_logits=int(out["n_logits"]), logit_bits=int(out["logit_bits"]),
                    frac_bits=int(out["frac_bits"]), signed=bool(out["signed"]),
                    beat_bits=int(out["beat_bits"]), lane_bits=int(out["lane_bits"]),
                    logits_per_beat=int(out["logits_per_beat"]), beats_per_image=int(out["beats_per_image"])),
                classes=tuple(str(c) for c in d["classes"]),
                max_batch=int(d["max_batch"]),
                in_port=d.get("in_port"), out_port=d.get("out_port"), control_bundle=d.get("control_bundle"),
                dma_length_bits=None if d.get("dma_length_bits") is None else int(d["dma_length_bits"]),
                library=d.get("library"), c_abi=dict(d["c_abi"]) if d.get("c_abi") is not None else None,
                planned=dict(d["planned"]) if d.get("planned") is not None else None,
            )
        except KeyError as e:
            raise SpecError(f"{source}: missing field {e.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise SpecError(f"{source}: malformed field ({e})") from None
        spec.check(source)
        return spec

    @classmethod
    def load(cls, path: str | os.PathLike) -> "IOSpec":
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SpecError(f"io spec {path} not found") from None
        except OSError as e:
            raise SpecError(f"cannot read io spec {path} ({e.strerror})") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f"io spec {path} is not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise SpecError(f"io spec {path}: expected a JSON object")
        return cls.from_dict(d, source=str(path))

    def check(self, source: str = "io spec") -> None:
        """Reject specs whose numbers contradict each other (a wrong spec silently garbles every image)."""
        i, o = self.input, self.output
        problems = []
        if i.dtype != "uint8":
            problems.append(f"input dtype {i.dtype!r} (only uint8 pixels are supported)")
        if i.beat_bits not in _BEAT_BITS or i.pixels_per_beat * 8 != i.beat_bits:
            problems.append(f"input beat_bits {i.beat_bits} with {i.pixels_per_beat} pixels per beat")
        elif i.beats_per_image != -(-i.bytes_per_image // i.pixels_per_beat):
            problems.append(f"input beats_per_image {i.beats_per_image} for {i.bytes_per_image} bytes "
                            f"at {i.pixels_per_beat} per beat")
        if o.beat_bits not in _BEAT_BITS or o.lane_bits not in _BEAT_BITS or o.lane_bits * o.logits_per_beat != o.beat_bits:
            problems.append(f"output beat_bits {o.beat_bits} with {o.logits_per_beat} lanes of {o.lane_bits} bits")
        elif o.beats_per_image != -(-o.n_logits // o.logits_per_beat):
            problems.append(f"output beats_per_image {o.beats_per_image} for {o.n_logits} logits "
                            f"at {o.logits_per_beat} per beat")
        if not 0 < o.logit_bits <= o.lane_bits:
            problems.append(f"logit_bits {o.logit_bits} does not fit a {o.lane_bits}-bit lane")
        if len(self.classes) != o.n_logits:
            problems.append(f"{len(self.classes)} class names for {o.n_logits} logits")
        if self.max_batch < 1:
            problems.append(f"max_batch {self.max_batch}")
        if problems:
            raise SpecError(f"{source}: inconsistent: " + "; ".join(problems))

    def in_beats(self, n_images: int) -> int:
        return n_images * self.input.beats_per_image

    def out_beats(self, n_images: int) -> int:
        return n_images * self.output.beats_per_image


def check_images(images: np.ndarray, spec: IOSpec) -> np.ndarray:
    """Return `images` as uint8 (N, *shape); accept one image without the batch axis."""
    a = np.asarray(images)
    shape = spec.input.shape
    if a.dtype != np.uint8:
        raise StreamError(f"images must be uint8 raw pixels, got dtype {a.dtype}")
    if a.shape == shape:
        a = a[None]
    elif a.shape[1:] != shape:
        raise StreamError(f"images must have shape (N, {', '.join(map(str, shape))}) "
                          f"or ({', '.join(map(str, shape))}), got {a.shape}")
    return a


def pack_images(images: np.ndarray, spec: IOSpec, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 images (N, *shape) -> input beats (N * beats_per_image,), written into `out` if given.

    `out` may be longer than needed (a DMA buffer sized for a bigger batch); the packed beats fill
    its first N * beats_per_image entries and the returned array is that view.
    """
    a = check_images(images, spec)
    n, i = len(a), spec.input
    n_beats = spec.in_beats(n)
    if out is None:
        out = np.empty(n_beats, dtype=i.beat_dtype)
    elif out.dtype != i.beat_dtype or out.ndim != 1 or len(out) < n_beats:
        raise StreamError(f"output buffer must be 1-D {i.beat_dtype} with >= {n_beats} beats, "
                          f"got {out.dtype} {out.shape}")
    view = out[:n_beats]
    as_bytes = view.view(np.uint8).reshape(n, i.beats_per_image * i.pixels_per_beat)
    as_bytes[:, :i.bytes_per_image] = a.reshape(n, i.bytes_per_image)
    as_bytes[:, i.bytes_per_image:] = 0
    return view


def unpack_images(beats: np.ndarray, n_images: int, spec: IOSpec) -> np.ndarray:
    """Input beats -> uint8 images (N, *shape): the inverse of pack_images (the emulator's golden
    path and the tests read the stream the way the accelerator does)."""
    i = spec.input
    b = _beats(beats, spec.in_beats(n_images), i.beat_dtype, "input")
    as_bytes = b.view(np.uint8).reshape(n_images, i.beats_per_image * i.pixels_per_beat)
    if np.any(as_bytes[:, i.bytes_per_image:]):
        raise StreamError("input stream has non-zero padding bytes after an image")
    return as_bytes[:, :i.bytes_per_image].reshape(n_images, *i.shape).copy()


def _beats(beats: np.ndarray, n_beats: int, dtype: np.dtype, what: str) -> np.ndarray:
    b = np.asarray(beats)
    if b.dtype != dtype:
        raise StreamError(f"{what} beats must be {dtype}, got {b.dtype}")
    if b.ndim != 1 or len(b) < n_beats:
        raise StreamError(f"{what} stream has {b.size} beats, {n_beats} expected")
    return np.ascontiguousarray(b[:n_beats])


def logit_range(spec: IOSpec) -> tuple[int, int]:
    o = spec.output
    return (-(1 << (o.logit_bits - 1)), (1 << (o.logit_bits - 1)) - 1) if o.signed else (0, (1 << o.logit_bits) - 1)


def unpack_logits(beats: np.ndarray, n_images: int, spec: IOSpec) -> np.ndarray:
    """Output beats -> raw integer logits int64 (N, n_logits) (value = raw / 2**frac_bits).

    Checks what the contract promises, so a misbehaving accelerator is caught here rather than
    showing up as wrong classes: each lane holds a sign-extended `logit_bits` value and the
    padding lanes are zero.
    """
    o = spec.output
    b = _beats(beats, spec.out_beats(n_images), o.beat_dtype, "output")
    lanes = b.view(o.lane_dtype).reshape(n_images, o.beats_per_image * o.logits_per_beat).astype(np.int64)
    raw, pad = lanes[:, :o.n_logits], lanes[:, o.n_logits:]
    lo, hi = logit_range(spec)
    bad = (raw < lo) | (raw > hi)
    if bad.any():
        img, k = map(int, np.argwhere(bad)[0])
        raise StreamError(f"output stream: image {img} logit {k} lane holds {raw[img, k]}, not a "
                          f"{'signed' if o.signed else 'unsigned'} {o.logit_bits}-bit value")
    if pad.any():
        raise StreamError("output stream: non-zero padding lane after an image's logits")
    return raw


def pack_logits(raw: np.ndarray, spec: IOSpec) -> tuple[np.ndarray, np.ndarray]:
    """Raw integer logits (N, n_logits) -> (output beats, TLAST flags): what the accelerator sends.

    Used by the emulator's golden path and by the tests; the inverse of unpack_logits.
    """
    o = spec.output
    r = np.asarray(raw)
    if r.ndim != 2 or r.shape[1] != o.n_logits or not np.issubdtype(r.dtype, np.integer):
        raise StreamError(f"raw logits must be integers of shape (N, {o.n_logits}), got {r.dtype} {r.shape}")
    lo, hi = logit_range(spec)
    if r.size and (r.min() < lo or r.max() > hi):
        raise StreamError(f"raw logits out of the {o.logit_bits}-bit range [{lo}, {hi}]")
    n = len(r)
    lanes = np.zeros((n, o.beats_per_image * o.logits_per_beat), dtype=o.lane_dtype)
    lanes[:, :o.n_logits] = r
    beats = lanes.reshape(-1).view(o.beat_dtype).copy()
    last = np.zeros(len(beats), dtype=np.uint8)
    if len(last):
        last[-1] = 1
    return beats, last


def check_tlast(last: np.ndarray, n_beats: int) -> None:
    """TLAST must be set on the last beat of the batch and nowhere else (the DMA's S2MM channel ends
    the transfer on TLAST, so an early one truncates the batch and a missing one hangs it)."""
    flags = np.asarray(last)[:n_beats]
    where = np.flatnonzero(flags)
    if len(where) != 1 or where[0] != n_beats - 1:
        raise StreamError(f"TLAST on beats {where.tolist()[:8]} of {n_beats}; expected only on beat {n_beats - 1}")


def logits_to_float(raw: np.ndarray, spec: IOSpec) -> np.ndarray:
    """Raw integer logits -> float64 values (exact: raw / 2**frac_bits)."""
    return np.asarray(raw, dtype=np.float64) / float(1 << spec.output.frac_bits)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Float64 softmax over the last axis (on the host: the chip has none, see DESIGN.md)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
