"""The arithmetic contract: per-tensor fixed-point formats and requantization, read from HGQ2.

Why one module: the golden model, the planner, training metadata and the Fire RTL generator all need
"how wide is this quantizer, where is its binary point, how does it round and overflow". Reading
HGQ2's quantizers in more than one place let the readers disagree (max(k)+max(i)+max(f) in one,
max(k+i+f) in another); here is the only reader.

  * value = q / 2**frac for an integer q, `bits` wide (sign included);
  * requantize = round half up (HGQ2/ap_fixed RND) by the shift, then the overflow mode of the
    output quantizer: WRAP (two's complement), SAT or SAT_SYM;
  * the accelerator's input is raw uint8 bytes, value = byte / 256 (ufixed<8,0>).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OVERFLOW_MODES = ("WRAP", "SAT", "SAT_SYM")
INPUT_FRAC = 8  # the contract's input: raw uint8 bytes, value = byte / 256 (ufixed<8,0>)
INPUT_BITS = 8


class QuantError(ValueError):
    """A quantizer or tensor the fixed-point contract cannot represent exactly; the message names it."""


def requantize(acc: np.ndarray, shift: int, bits: int, signed: bool, overflow: str = "WRAP") -> np.ndarray:
    """Round half up by `shift` bits (left shift if negative), then fit into `bits` per `overflow`."""
    acc = np.asarray(acc, dtype=np.int64)
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"unknown overflow mode {overflow!r}; expected one of {OVERFLOW_MODES}")
    if bits <= 0:  # HGQ2: a quantizer with k + i + f <= 0 outputs zero
        return np.zeros_like(acc)
    if shift > 0:
        q = (acc + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    else:
        q = acc << np.int64(-shift)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if overflow == "WRAP":
        q = q & np.int64((1 << bits) - 1)
        if signed:
            q = np.where(q > hi, q - (1 << bits), q)
        return q
    if overflow == "SAT_SYM" and signed:
        lo = -hi
    return np.clip(q, lo, hi)


@dataclass(frozen=True)
class Format:
    """A per-tensor fixed-point format: value = q / 2**frac, `bits` wide (sign included)."""

    bits: int
    frac: int
    signed: bool
    overflow: str = "WRAP"

    @property
    def min(self) -> int:
        if self.bits <= 0:
            return 0
        if not self.signed:
            return 0
        return -(1 << (self.bits - 1)) + (1 if self.overflow == "SAT_SYM" else 0)

    @property
    def max(self) -> int:
        if self.bits <= 0:
            return 0
        return (1 << (self.bits - (1 if self.signed else 0))) - 1

    def quantize(self, q: np.ndarray, frac: int) -> np.ndarray:
        """Requantize integers at `frac` fraction bits into this format."""
        return requantize(q, frac - self.frac, self.bits, self.signed, self.overflow)

    def __str__(self) -> str:
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.bits},{self.bits - self.frac}>{'' if self.overflow == 'WRAP' else ' ' + self.overflow}"


INPUT_FORMAT = Format(INPUT_BITS, INPUT_FRAC, False, "WRAP")


# --------------------------------------------------------------------------------------------
# HGQ2 quantizers -> formats (the only reader of their k, i, f)
# --------------------------------------------------------------------------------------------
def quantizer_kif(q) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k, i, f arrays of an HGQ2 quantizer (a `Quantizer` layer or its inner fixed-point quantizer)."""
    inner = getattr(q, "quantizer", q)
    if not hasattr(inner, "kif"):
        raise QuantError(f"quantizer {type(inner).__name__} is not a fixed-point quantizer")
    return tuple(np.asarray(v, dtype=np.float64) for v in inner.kif)


def quantizer_width(q) -> int:
    """Widest element of a (per-tensor or per-channel) quantizer: max(k + i + f), sign bit included
    (HGQ2's `bits` leaves the sign out)."""
    k, i, f = quantizer_kif(q)
    return max(int(np.max(k + i + f)), 0)


def quantizer_format(q, where: str) -> Format:
    """The per-tensor Format of an HGQ2 `Quantizer` layer (fixed point, RND rounding)."""
    inner = getattr(q, "quantizer", q)
    name = type(inner).__name__
    if not hasattr(inner, "kif") or not hasattr(inner, "overflow_mode"):
        raise QuantError(f"{where}: quantizer {name} is not a fixed-point quantizer")
    if getattr(q, "scaler", None) is not None or getattr(q, "affine", None) is not None:
        raise QuantError(f"{where}: quantizer with a scaler/affine transform is not supported")
    if inner.round_mode != "RND":
        raise QuantError(f"{where}: round mode {inner.round_mode} is not supported (only RND)")
    if inner.overflow_mode not in OVERFLOW_MODES:
        raise QuantError(f"{where}: overflow mode {inner.overflow_mode} is not supported ({OVERFLOW_MODES})")
    k, i, f = quantizer_kif(inner)
    if k.size != 1 or i.size != 1 or f.size != 1:
        raise QuantError(f"{where}: activation quantizer is not per tensor (k/i/f shape {k.shape}); "
                          "io_stream needs heterogeneous_axis=()")
    k, i, f = int(k.ravel()[0]), int(i.ravel()[0]), int(f.ravel()[0])
    return Format(k + i + f, f, bool(k), inner.overflow_mode)


def weights_to_int(qvalues, quantizer, where: str) -> tuple[np.ndarray, int]:
    """Quantized float weights -> (integers, frac): integer = value * 2**max(f)."""
    f = quantizer_kif(quantizer)[2]
    frac = int(f.max())
    v = np.asarray(qvalues, dtype=np.float64) * 2.0 ** frac
    ints = np.round(v)
    if not np.array_equal(ints, v):
        raise QuantError(f"{where}: quantized values are not integers at {frac} fraction bits")
    return ints.astype(np.int64), frac
