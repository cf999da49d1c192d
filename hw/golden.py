"""Integer golden model of the quantized SqueezeNet: the reference that the C simulation and the RTL
are checked against, derived from the trained model's quantizers and independent of hls4ml.

Arithmetic (one definition, shared with hw/rtl and the RTL bench):
  * every tensor between layers is an integer array `q` with a fixed-point format (bits, frac,
    signed): value = q / 2**frac;
  * a conv accumulates exactly: acc = sum(x * w) << prod_shift + bias, at `acc_frac` fraction bits
    (bias is stored already aligned to acc_frac; prod_shift >= 0 aligns the products);
  * ReLU (if any) then requantize to the output format: round half up (HGQ2/ap_fixed 'RND'), i.e.
    (acc + 2**(shift-1)) >> shift for shift > 0, acc << -shift otherwise; then the overflow mode
    of the output quantizer: WRAP (two's complement / modulo), SAT or SAT_SYM.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OVERFLOW_MODES = ("WRAP", "SAT", "SAT_SYM")


def requantize(acc: np.ndarray, shift: int, bits: int, signed: bool, overflow: str = "WRAP") -> np.ndarray:
    """Round half up by `shift` bits (left shift if negative), then fit into `bits` per `overflow`."""
    acc = np.asarray(acc, dtype=np.int64)
    if shift > 0:
        q = (acc + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    else:
        q = acc << np.int64(-shift)
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"unknown overflow mode {overflow!r}; expected one of {OVERFLOW_MODES}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if overflow == "WRAP":
        q = q & np.int64((1 << bits) - 1)
        if signed:
            q = np.where(q > hi, q - (1 << bits), q)
        return q
    if overflow == "SAT_SYM" and signed:
        lo = -hi
    return np.clip(q, lo, hi)


@dataclass
class ConvParams:
    """One quantized conv (stride 1, 'same' padding, zero pad) in integer form."""

    weight: np.ndarray  # int64 (kh, kw, cin, cout), value = weight / 2**w_frac
    bias: np.ndarray  # int64 (cout,), already at acc_frac
    w_frac: int
    in_frac: int
    acc_frac: int  # >= in_frac + w_frac
    relu: bool
    out_bits: int
    out_frac: int
    out_signed: bool
    overflow: str = "WRAP"

    @property
    def prod_shift(self) -> int:
        return self.acc_frac - self.in_frac - self.w_frac

    @property
    def out_shift(self) -> int:
        return self.acc_frac - self.out_frac


def conv2d_acc(x: np.ndarray, p: ConvParams) -> np.ndarray:
    """Exact accumulator of a 'same' conv. x: int (N, H, W, Cin) or (H, W, Cin)."""
    single = x.ndim == 3
    x = np.asarray(x, dtype=np.int64)
    if single:
        x = x[None]
    kh, kw, cin, cout = p.weight.shape
    n, h, w, c = x.shape
    if c != cin:
        raise ValueError(f"input has {c} channels, conv expects {cin}")
    ph, pw = kh // 2, kw // 2
    xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    cols = np.stack([xp[:, i:i + h, j:j + w, :] for i in range(kh) for j in range(kw)], axis=3)  # N,H,W,K,C
    acc = np.einsum("nhwkc,kco->nhwo", cols, p.weight.reshape(kh * kw, cin, cout).astype(np.int64))
    acc = (acc << np.int64(p.prod_shift)) + p.bias.astype(np.int64)
    return acc[0] if single else acc


def conv2d(x: np.ndarray, p: ConvParams) -> np.ndarray:
    """Quantized conv: accumulate, ReLU, requantize to the output format."""
    acc = conv2d_acc(x, p)
    if p.relu:
        acc = np.maximum(acc, 0)
    return requantize(acc, p.out_shift, p.out_bits, p.out_signed, p.overflow)


@dataclass
class FireParams:
    """A Fire module in integer form, the unit that hw/rtl implements.

    Input: unsigned `in_bits`-bit pixels (all channels per beat) at in_frac. Output: concat of
    expand1x1 then expand3x3 channels, both requantized to the same (Fire output) format.
    """

    name: str
    squeeze: ConvParams
    expand1x1: ConvParams
    expand3x3: ConvParams
    in_bits: int

    @property
    def in_channels(self) -> int:
        return self.squeeze.weight.shape[2]

    @property
    def out_channels(self) -> int:
        return self.expand1x1.weight.shape[3] + self.expand3x3.weight.shape[3]


def fire_forward(x: np.ndarray, fire: FireParams) -> np.ndarray:
    """Integer Fire module: (N,)H,W,Cin -> (N,)H,W,E1+E3."""
    s = conv2d(x, fire.squeeze)
    return np.concatenate([conv2d(s, fire.expand1x1), conv2d(s, fire.expand3x3)], axis=-1)
