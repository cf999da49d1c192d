"""Integer arithmetic of the golden model: conv, Fire module, max pooling and global average
pooling on integer arrays (the shared contract with the Fire RTL, hw/rtl).

  * a conv accumulates exactly: acc = sum(x * w) << prod_shift + bias, at `acc_frac` fraction bits
    (bias is stored already aligned to acc_frac; prod_shift >= 0 aligns the products);
  * ReLU (if any) then requantize to the output format (hw.quant.requantize).

Global average pooling: HGQ2 quantizes the input (iq), Keras/TensorFlow sums the H*W values in
float32 (exact: the sum stays below 2**24) and divides by H*W in float32 (one IEEE rounding to 24
significant bits), then the output quantizer computes floor(y * 2**f + 0.5) in float32 (a second
IEEE rounding of the `+ 0.5`). `gap_forward` reproduces both roundings in integer arithmetic, so the
golden logits equal Keras' bit for bit; the exactly rounded mean can differ (see `gap_exact_from_sum`).

Fast path: convolutions run as im2col + BLAS matmul on integer-valued floats, which is exact when
every partial sum is an integer below 2**24 (float32) or 2**53 (float64); `conv2d_acc` checks that
bound from the actual operands and falls back to int64 otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.quant import Format, QuantError, requantize

GoldenError = QuantError  # one error type for everything the integer contract cannot represent
_F32_SIG = 24  # significant bits of an IEEE float32
_CHUNK_ELEMS = 1 << 24  # im2col elements per matmul chunk (bounds memory to ~128 MB in float64)


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

    @property
    def out_format(self) -> Format:
        return Format(self.out_bits, self.out_frac, self.out_signed, self.overflow)


def _exact_dtype(bound: int):
    """The cheapest dtype in which integer dot products with partial sums below `bound` are exact
    in any summation order (float32 below 2**24, float64 below 2**53), else int64."""
    if bound < (1 << 24):
        return np.float32
    if bound < (1 << 53):
        return np.float64
    return np.int64


def conv2d_acc(x: np.ndarray, p: ConvParams) -> np.ndarray:
    """Exact accumulator of a 'same' conv. x: int (N, H, W, Cin) or (H, W, Cin).

    im2col + one BLAS matmul per chunk of images; the dtype is chosen from the actual bound
    max|x| * max_o sum|w[:, o]| so that the float result is the exact integer."""
    single = x.ndim == 3
    x = np.asarray(x)
    if single:
        x = x[None]
    kh, kw, cin, cout = p.weight.shape
    n, h, w, c = x.shape
    if c != cin:
        raise ValueError(f"input has {c} channels, conv expects {cin}")
    wmat = np.asarray(p.weight, dtype=np.int64).reshape(kh * kw * cin, cout)
    xmax = int(np.abs(x).max(initial=0)) if x.size else 0
    dt = _exact_dtype(xmax * int(np.abs(wmat).sum(axis=0).max(initial=0)))
    xd, wd = x.astype(dt), wmat.astype(dt)
    # TensorFlow 'same' padding puts the odd extra row/column at the bottom/right.
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    acc = np.empty((n, h, w, cout), dtype=np.int64)
    step = max(1, _CHUNK_ELEMS // max(h * w * kh * kw * cin, 1))
    for s in range(0, n, step):
        xs = xd[s:s + step]
        m = len(xs)
        if kh == 1 and kw == 1:
            cols = xs.reshape(-1, cin)
        else:
            xp = np.pad(xs, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
            cols = np.empty((m, h, w, kh * kw, cin), dtype=dt)
            for i in range(kh):
                for j in range(kw):
                    cols[:, :, :, i * kw + j, :] = xp[:, i:i + h, j:j + w, :]
            cols = cols.reshape(-1, kh * kw * cin)
        acc[s:s + step] = (cols @ wd).reshape(m, h, w, cout)
    acc = (acc << np.int64(p.prod_shift)) + np.asarray(p.bias, dtype=np.int64)
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


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------
def maxpool2d(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """'valid' max pooling of (N, H, W, C) integers (quantize first, then max: HGQ2's order)."""
    (ph, pw), (sh, sw) = pool, strides
    n, h, w, c = x.shape
    oh, ow = (h - ph) // sh + 1, (w - pw) // sw + 1
    if (ph, pw) == (sh, sw):
        return x[:, :oh * ph, :ow * pw].reshape(n, oh, ph, ow, pw, c).max(axis=(2, 4))
    out = None
    for i in range(ph):
        for j in range(pw):
            win = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out = win if out is None else np.maximum(out, win)
    return out


def _bit_length(a: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values below 2**53 (exact through float64 frexp)."""
    return np.frexp(a.astype(np.float64))[1].astype(np.int64)


def _round_sig(mag: np.ndarray, sticky: np.ndarray, sig: int = _F32_SIG) -> tuple[np.ndarray, np.ndarray]:
    """IEEE round-half-even of the non-negative value mag + (a fraction in (0, 1) where sticky) to
    `sig` significant bits. Returns (m, d) with the rounded value = m * 2**d (d >= 0)."""
    d = np.maximum(_bit_length(mag) - sig, 0)
    low = mag & ((np.int64(1) << d) - 1)
    half = np.where(d > 0, np.int64(1) << np.maximum(d - 1, 0), 0)
    head = mag >> d
    above = np.where(d > 0, (low > half) | ((low == half) & sticky), False)
    tie = (d > 0) & (low == half) & ~sticky
    up = above | (tie & ((head & 1) == 1))
    # d == 0 (mag has <= sig bits) is exact only without sticky: callers guarantee d > 0 there.
    return head + up.astype(np.int64), d


def f32_round_half_up(num: np.ndarray, p: np.ndarray) -> np.ndarray:
    """floor(fl32(z + 0.5)) for z = num / 2**p exactly representable in float32 (p >= 0 per element):
    HGQ2's RND rounding as float32 computes it, including the rounding of the addition itself."""
    num = np.asarray(num, dtype=np.int64)
    p = np.asarray(p, dtype=np.int64)
    # Write z + 0.5 = t / 2**(p + 1) exactly, then round t to 24 significant bits, then floor.
    if p.size and (p.max() > 60 or np.abs(num).max() >= (1 << 52) or (np.int64(1) << p).max() >= (1 << 52)):
        raise GoldenError("value out of the exactly emulated float32 range")
    t = 2 * num + (np.int64(1) << p)
    mag, neg = np.abs(t), t < 0
    m, d = _round_sig(mag, np.zeros(mag.shape, dtype=bool))
    t_rounded = np.where(neg, -m, m) << d
    return t_rounded >> (p + 1)


def f32_div(s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """fl32(s / n) for integers |s| < 2**24, as (num, p): value = num / 2**p, exactly as an IEEE
    float32 division (round half to even to 24 significant bits) computes it."""
    s = np.asarray(s, dtype=np.int64)
    if n <= 0 or n >= (1 << 13):
        raise GoldenError(f"average over {n} values: divisor out of the supported range [1, 8191]")
    if np.abs(s).max(initial=0) >= (1 << _F32_SIG):
        raise GoldenError("global average pooling sum reaches 2**24: float32 would round the sum itself")
    a = np.abs(s)
    nbits = int(n).bit_length()
    # Scale so that the quotient has 26-27 bits: then rounding to 24 bits always drops 2-3 bits.
    e = _F32_SIG + nbits + 2 - _bit_length(a)
    e = np.where(a == 0, 0, e)
    scaled = a << e
    q, r = scaled // n, scaled % n
    m, d = _round_sig(q, r > 0)
    # value = m * 2**d / 2**e; reduce to p >= 0 by folding 2**d into the exponent
    p = e - d
    num = np.where(p >= 0, m, m << np.maximum(-p, 0))
    p = np.maximum(p, 0)
    num = np.where(s < 0, -num, num)
    return np.where(a == 0, 0, num), np.where(a == 0, 0, p)


def gap_from_sum(s: np.ndarray, count: int, in_frac: int, out: Format) -> np.ndarray:
    """Output-quantized mean of `count` values whose integer sum (at in_frac) is `s`, as HGQ2
    computes it in float32: fl32(s / count), then floor(fl32(mean * 2**out.frac + 0.5)), then
    the overflow mode of `out`. All in integer arithmetic."""
    num, p = f32_div(s, count)  # mean = num / 2**(p + in_frac)
    if out.bits <= 0:
        return np.zeros_like(num)
    # z = mean * 2**out.frac = num / 2**(p + in_frac - out.frac), then floor(fl32(z + 0.5)).
    sh = p + in_frac - out.frac
    num = np.where(sh < 0, num << np.maximum(-sh, 0), num)
    sh = np.maximum(sh, 0)
    if np.abs(num).max(initial=0) >= (1 << 52):
        raise GoldenError("global average pooling output out of the exactly emulated range")
    r = f32_round_half_up(num, sh)  # at out.frac fraction bits
    return requantize(r, 0, out.bits, out.signed, out.overflow)


def gap_forward(q: np.ndarray, in_frac: int, out: Format) -> np.ndarray:
    """HGQ2/TensorFlow global average pooling of quantized (N, H, W, C) integers at `in_frac`,
    followed by the output quantizer `out`, reproduced in integer arithmetic. The float32 sum is
    exact (f32_div refuses sums >= 2**24), so only the division and the rounding can differ from
    exact arithmetic; both are emulated."""
    n, h, w, c = q.shape
    return gap_from_sum(q.reshape(n, h * w, c).sum(axis=1), h * w, in_frac, out)


def gap_exact_from_sum(s: np.ndarray, count: int, in_frac: int, out: Format) -> np.ndarray:
    """The mean rounded exactly (round half up of the true quotient), i.e. what an ideal integer
    divider computes; compared with gap_from_sum to measure how often float32 changes a logit."""
    s = np.asarray(s, dtype=np.int64)
    sh = in_frac - out.frac
    if sh >= 0:  # round_half_up(s / (count * 2**sh)) = floor((2 s + D) / (2 D))
        den = count << sh
        r = (2 * s + den) // (2 * den)
    else:
        r = (2 * (s << -sh) + count) // (2 * count)
    return requantize(r, 0, out.bits, out.signed, out.overflow)
