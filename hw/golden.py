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

Where the formats come from (`extract`): HGQ2 quantizers, never hls4ml.
  * kernel/bias quantizers: integer = quantized float * 2**f (f = the quantizer's fraction bits);
  * activation quantizers (per tensor): k, i, f -> bits = k + i + f, frac = f, signed = k, their
    overflow mode; a quantizer with k + i + f <= 0 outputs zero (as HGQ2 does);
  * a conv without an output quantizer hands its exact (ReLU'd) accumulator to the quantizer(s)
    that consume it: the next layer's input quantizer, through concatenation and dropout.
So a Fire module's input format is its squeeze's input quantizer and its output format is the
quantizer that consumes the concat (next squeeze's iq, a pooling iq, the classifier's iq or a
bypass QAdd's iq).

Global average pooling: HGQ2 quantizes the input (iq), Keras/TensorFlow sums the H*W values in
float32 (exact: the sum stays below 2**24) and divides by H*W in float32 (one IEEE rounding to 24
significant bits), then the output quantizer computes floor(y * 2**f + 0.5) in float32 (a second
IEEE rounding of the `+ 0.5`). `gap_forward` reproduces both roundings in integer arithmetic, so the
golden logits equal Keras' bit for bit; the exactly rounded mean can differ (see `gap_exact`).

Fast path: convolutions run as im2col + BLAS matmul on integer-valued floats, which is exact when
every partial sum is an integer below 2**24 (float32) or 2**53 (float64); `conv2d_acc` checks that
bound from the actual operands and falls back to int64 otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OVERFLOW_MODES = ("WRAP", "SAT", "SAT_SYM")
INPUT_FRAC = 8  # the contract's input: raw uint8 bytes, value = byte / 256 (ufixed<8,0>)
_F32_SIG = 24  # significant bits of an IEEE float32
_CHUNK_ELEMS = 1 << 24  # im2col elements per matmul chunk (bounds memory to ~128 MB in float64)


class GoldenError(ValueError):
    """A model or input the integer golden model cannot represent exactly; the message names it."""


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


INPUT_FORMAT = Format(8, INPUT_FRAC, False, "WRAP")


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


# --------------------------------------------------------------------------------------------
# Extraction from an HGQ2 Keras model
# --------------------------------------------------------------------------------------------
def quantizer_format(q, where: str) -> Format:
    """The per-tensor Format of an HGQ2 `Quantizer` layer (fixed point, RND rounding)."""
    inner = getattr(q, "quantizer", q)
    name = type(inner).__name__
    if not hasattr(inner, "kif") or not hasattr(inner, "overflow_mode"):
        raise GoldenError(f"{where}: quantizer {name} is not a fixed-point quantizer")
    if getattr(q, "scaler", None) is not None or getattr(q, "affine", None) is not None:
        raise GoldenError(f"{where}: quantizer with a scaler/affine transform is not supported")
    if inner.round_mode != "RND":
        raise GoldenError(f"{where}: round mode {inner.round_mode} is not supported (only RND)")
    if inner.overflow_mode not in OVERFLOW_MODES:
        raise GoldenError(f"{where}: overflow mode {inner.overflow_mode} is not supported ({OVERFLOW_MODES})")
    k, i, f = (np.asarray(v, dtype=np.float64) for v in inner.kif)
    if k.size != 1 or i.size != 1 or f.size != 1:
        raise GoldenError(f"{where}: activation quantizer is not per tensor (k/i/f shape {k.shape}); "
                          "io_stream needs heterogeneous_axis=()")
    k, i, f = int(k.ravel()[0]), int(i.ravel()[0]), int(f.ravel()[0])
    return Format(k + i + f, f, bool(k), inner.overflow_mode)


def _weights_to_int(qvalues, quantizer, where: str) -> tuple[np.ndarray, int]:
    """Quantized float weights -> (integers, frac): integer = value * 2**max(f)."""
    inner = quantizer.quantizer
    f = np.asarray(inner.kif[2], dtype=np.float64)
    frac = int(f.max())
    v = np.asarray(qvalues, dtype=np.float64) * 2.0 ** frac
    ints = np.round(v)
    if not np.array_equal(ints, v):
        raise GoldenError(f"{where}: quantized values are not integers at {frac} fraction bits")
    return ints.astype(np.int64), frac


@dataclass
class Tensor:
    """Integers at `frac` fraction bits; exact (unbounded) unless a quantizer produced it."""

    q: np.ndarray
    frac: int


@dataclass
class Layer:
    """One step of the integer network (one Keras layer), for per-layer inspection."""

    name: str
    kind: str  # input | conv | fire | maxpool | concat | add | identity | gap
    inputs: list
    in_formats: list  # Format (or None: the input is already quantized) per input
    conv: ConvParams | None = None  # conv: out_* fields describe its output quantizer if any
    out_format: Format | None = None  # format of the output if quantized (oq or fused consumer)
    fire: FireParams | None = None
    pool: tuple | None = None
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        fmts = ", ".join(str(f) for f in self.in_formats if f is not None)
        return f"Layer({self.name}: {self.kind}, in [{fmts}], out {self.out_format})"


def _conv_params(layer, in_fmt: Format, where: str) -> tuple[ConvParams, int]:
    cfg = layer.get_config()
    if tuple(cfg.get("strides", (1, 1))) != (1, 1) or tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
        raise GoldenError(f"{where}: only stride 1, dilation 1 convolutions are supported")
    if cfg.get("groups", 1) != 1 or cfg.get("data_format", "channels_last") != "channels_last":
        raise GoldenError(f"{where}: grouped or channels_first convolutions are not supported")
    kh, kw = layer.kernel_size
    if cfg.get("padding") != "same" and (kh, kw) != (1, 1):
        raise GoldenError(f"{where}: padding {cfg.get('padding')!r} is not supported (use 'same')")
    act = getattr(layer.activation, "__name__", str(layer.activation))
    if act not in ("relu", "linear"):
        raise GoldenError(f"{where}: activation {act!r} is not supported (relu or none)")
    w, w_frac = _weights_to_int(layer.qkernel, layer.kq, f"{where} kernel")
    if layer.use_bias:
        b, b_frac = _weights_to_int(layer.qbias, layer.bq, f"{where} bias")
    else:
        b, b_frac = np.zeros(w.shape[-1], dtype=np.int64), 0
    acc_frac = max(in_fmt.frac + w_frac, b_frac)
    bias = b << np.int64(acc_frac - b_frac)
    p = ConvParams(weight=w, bias=bias, w_frac=w_frac, in_frac=in_fmt.frac, acc_frac=acc_frac,
                   relu=(act == "relu"), out_bits=0, out_frac=acc_frac, out_signed=True)
    return p, int(np.abs(w).sum(axis=(0, 1, 2)).max(initial=0))


def _layer_inputs(layer) -> list:
    inp = layer.input
    return list(inp) if isinstance(inp, (list, tuple)) else [inp]


def _iq_formats(layer, n_inputs: int) -> list:
    if not getattr(layer, "enable_iq", False):
        return [None] * n_inputs
    iq = layer.iq
    qs = list(iq) if n_inputs > 1 else [iq]
    return [quantizer_format(q, f"{layer.name} input quantizer") for q in qs]


class GoldenNet:
    """The integer network: `forward(x_uint8) -> raw int64 logits`, value = raw / 2**logit_frac."""

    def __init__(self, layers: list, input_name: str, output_name: str, input_shape: tuple):
        self.layers = layers
        self.input_name = input_name
        self.output_name = output_name
        self.input_shape = tuple(input_shape)
        last = {l.name: l for l in layers}[output_name]
        self.logit_format: Format = last.out_format
        self.logit_frac: int = last.out_format.frac

    @property
    def fires(self) -> list:
        """FireParams of every Fire module, in network order."""
        return [l.fire for l in self.layers if l.kind == "fire"]

    def layer(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(f"no layer named {name!r}; layers: {', '.join(l.name for l in self.layers)}")

    def forward(self, x: np.ndarray, return_all: bool = False, batch_size: int = 256):
        """Raw int64 logits (N, n_classes) of uint8 images (N, H, W, C) (value = byte / 256).

        return_all=True also returns every layer's output Tensor (by layer name)."""
        x = np.asarray(x)
        if x.ndim == len(self.input_shape):
            x = x[None]
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise GoldenError(f"input shape {x.shape}: expected (N, {', '.join(map(str, self.input_shape))})")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.integer) or x.size and (x.min() < 0 or x.max() > 255):
                raise GoldenError(f"input must be uint8 pixel bytes (0..255), got dtype {x.dtype}")
        if return_all:
            t = self._forward_all(x)
            return t[self.output_name].q, t
        if len(x) <= batch_size:
            return self._forward_all(x)[self.output_name].q
        # Chunks of images keep the intermediate tensors small (cache-friendly, bounded memory).
        return np.concatenate([self._forward_all(x[s:s + batch_size])[self.output_name].q
                               for s in range(0, len(x), batch_size)])

    def _forward_all(self, x: np.ndarray) -> dict:
        t: dict[str, Tensor] = {}
        for l in self.layers:
            ins = []
            for src, fmt in zip(l.inputs, l.in_formats):
                a = t[src]
                ins.append(a if fmt is None else Tensor(fmt.quantize(a.q, a.frac), fmt.frac))
            t[l.name] = self._run(l, ins, x)
        return t

    @staticmethod
    def _run(l: Layer, ins: list, x: np.ndarray) -> Tensor:
        if l.kind == "input":
            return Tensor(x.astype(np.int64), INPUT_FRAC)
        if l.kind == "conv":
            acc = conv2d_acc(ins[0].q, l.conv)
            if l.conv.relu:
                acc = np.maximum(acc, 0)
            if l.out_format is None:
                return Tensor(acc, l.conv.acc_frac)
            return Tensor(l.out_format.quantize(acc, l.conv.acc_frac), l.out_format.frac)
        if l.kind == "fire":
            return Tensor(fire_forward(ins[0].q, l.fire), l.out_format.frac)
        if l.kind == "maxpool":
            return Tensor(maxpool2d(ins[0].q, *l.pool), ins[0].frac)
        if l.kind in ("concat", "add"):
            frac = max(a.frac for a in ins)
            qs = [a.q << np.int64(frac - a.frac) for a in ins]
            return Tensor(np.concatenate(qs, axis=-1) if l.kind == "concat" else sum(qs), frac)
        if l.kind == "identity":
            return ins[0]
        if l.kind == "gap":
            return Tensor(gap_forward(ins[0].q, ins[0].frac, l.out_format), l.out_format.frac)
        raise GoldenError(f"{l.name}: unknown step kind {l.kind!r}")

    def accumulator_bounds(self) -> dict:
        """Per conv: worst-case |accumulator| in bits from the formats (max |input| * max column
        sum of |w|, before bias): below 24 the float32 conv of Keras cannot round, so Keras and
        the integers must agree exactly."""
        out = {}
        for l in self.layers:
            convs = [(l.name, l.conv, l.in_formats[0])] if l.kind == "conv" else []
            if l.kind == "fire":
                f = l.fire
                sq_fmt = f.squeeze.out_format
                convs = [(f"{l.name}/squeeze", f.squeeze, l.params["squeeze_in"]),
                         (f"{l.name}/expand1x1", f.expand1x1, sq_fmt), (f"{l.name}/expand3x3", f.expand3x3, sq_fmt)]
            for name, p, fmt in convs:
                xmax = max(abs(fmt.min), fmt.max)
                wsum = int(np.abs(p.weight).sum(axis=(0, 1, 2)).max(initial=0))
                bmax = int(np.abs(p.bias).max(initial=0))
                bound = (xmax * wsum << p.prod_shift) + bmax
                out[name] = max(bound, 1).bit_length()
        return out


def extract(model, fuse_fires: bool = True) -> GoldenNet:
    """Derive the integer network from a trained HGQ2 Keras model's quantizers (not from hls4ml).

    fuse_fires=False keeps every Keras layer as its own step (no FireParams): the tests use it to
    check that the fused Fire modules (the RTL's unit) compute the same integers."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise GoldenError("the golden model supports one input and one output")
    name_of: dict[int, str] = {}
    layers: list[Layer] = []
    by_name: dict[str, Layer] = {}

    def src_names(layer):
        return [name_of[id(t)] for t in _layer_inputs(layer)]

    for layer in model.layers:
        cls = layer.__class__.__name__
        where = f"layer {layer.name} ({cls})"
        if cls == "InputLayer":
            name_of[id(layer.output)] = layer.name
            step = Layer(layer.name, "input", [], [], out_format=INPUT_FORMAT)
        else:
            srcs = src_names(layer)
            fmts = _iq_formats(layer, len(srcs))
            if cls == "QConv2D":
                if fmts[0] is None:
                    prod = by_name[srcs[0]]
                    if prod.out_format is None:
                        raise GoldenError(f"{where}: input quantizer disabled and its input {srcs[0]} is not quantized")
                    in_fmt = prod.out_format
                else:
                    in_fmt = fmts[0]
                p, _ = _conv_params(layer, in_fmt, where)
                out_fmt = quantizer_format(layer.oq, f"{layer.name} output quantizer") if layer.enable_oq else None
                if out_fmt is not None:
                    p.out_bits, p.out_frac, p.out_signed, p.overflow = out_fmt.bits, out_fmt.frac, out_fmt.signed, out_fmt.overflow
                step = Layer(layer.name, "conv", srcs, fmts, conv=p, out_format=out_fmt)
            elif cls in ("QMaxPooling2D", "MaxPooling2D"):
                cfg = layer.get_config()
                if cfg.get("padding", "valid") != "valid":
                    raise GoldenError(f"{where}: only 'valid' max pooling is supported")
                if fmts[0] is None and by_name[srcs[0]].out_format is None:
                    raise GoldenError(f"{where}: max pooling of an unquantized tensor")
                pool = (tuple(cfg["pool_size"]), tuple(cfg["strides"] or cfg["pool_size"]))
                step = Layer(layer.name, "maxpool", srcs, fmts, pool=pool,
                             out_format=fmts[0] or by_name[srcs[0]].out_format)
            elif cls == "Concatenate":
                if layer.get_config().get("axis", -1) not in (-1, 3):
                    raise GoldenError(f"{where}: only channel concatenation is supported")
                step = Layer(layer.name, "concat", srcs, fmts)
            elif cls == "QAdd":
                step = Layer(layer.name, "add", srcs, fmts)
            elif cls == "Quantizer":  # standalone quantizer (a branching tensor quantized once, hw.model)
                fmt = quantizer_format(layer, f"{layer.name} quantizer")
                step = Layer(layer.name, "identity", srcs, [fmt], out_format=fmt)
            elif cls in ("Dropout", "Activation") and (cls == "Dropout" or layer.get_config().get("activation") == "linear"):
                step = Layer(layer.name, "identity", srcs, fmts, out_format=by_name[srcs[0]].out_format)
            elif cls == "QGlobalAveragePooling2D":
                cfg = layer.get_config()
                if cfg.get("keepdims") or cfg.get("data_format", "channels_last") != "channels_last":
                    raise GoldenError(f"{where}: keepdims/channels_first global pooling is not supported")
                if not layer.enable_oq:
                    raise GoldenError(f"{where}: global average pooling needs an output quantizer "
                                      "(its float mean has no fixed-point format otherwise)")
                if fmts[0] is None and by_name[srcs[0]].out_format is None:
                    raise GoldenError(f"{where}: global average pooling needs an input quantizer")
                out_fmt = quantizer_format(layer.oq, f"{layer.name} output quantizer")
                step = Layer(layer.name, "gap", srcs, fmts, out_format=out_fmt)
            else:
                raise GoldenError(f"{where}: layer type {cls} is not supported by the golden model")
            name_of[id(layer.output)] = layer.name
        layers.append(step)
        by_name[step.name] = step

    out_name = name_of[id(model.outputs[0])]
    if by_name[out_name].out_format is None:
        raise GoldenError(f"output layer {out_name} has no output quantizer: logits have no fixed-point format")
    if fuse_fires:
        layers = _fuse_fires(layers)
    return GoldenNet(layers, layers[0].name, out_name, model.inputs[0].shape[1:])


def _consumer_formats(name: str, layers_by_name: dict, users: dict) -> list:
    """The quantizer formats that consume tensor `name`, looking through identity/dropout."""
    fmts = []
    for user, k in users.get(name, []):
        f = user.in_formats[k]
        if f is not None:
            fmts.append(f)
        elif user.kind == "identity":
            fmts.extend(_consumer_formats(user.name, layers_by_name, users))
        else:
            fmts.append(None)
    return fmts


def _fuse_fires(layers: list) -> list:
    """Replace squeeze -> (expand1x1 || expand3x3) -> concat by one `fire` step (FireParams), whose
    output format is that of the quantizer consuming the concat (all consumers must agree)."""
    by_name = {l.name: l for l in layers}
    users: dict[str, list] = {}
    for l in layers:
        for k, s in enumerate(l.inputs):
            users.setdefault(s, []).append((l, k))
    replaced: dict[str, Layer] = {}
    drop: set[str] = set()
    for cat in layers:
        if cat.kind != "concat" or len(cat.inputs) != 2 or any(f is not None for f in cat.in_formats):
            continue
        e1, e3 = (by_name[s] for s in cat.inputs)
        if e1.kind != "conv" or e3.kind != "conv" or e1.out_format or e3.out_format:
            continue
        if e1.inputs != e3.inputs or e1.in_formats != [None] or e3.in_formats != [None]:
            continue
        sq = by_name[e1.inputs[0]]
        if sq.kind != "conv" or sq.out_format is None or sq.in_formats[0] is None or sq.conv.weight.shape[:2] != (1, 1):
            continue
        if {u.name for u, _ in users[sq.name]} != {e1.name, e3.name} or len(users[e1.name]) != 1 or len(users[e3.name]) != 1:
            continue
        if sq.in_formats[0].signed:
            continue  # the Fire RTL takes unsigned inputs
        fmts = _consumer_formats(cat.name, by_name, users)
        if not fmts or any(f is None for f in fmts) or len(set(fmts)) != 1:
            continue  # several differently formatted consumers: keep the generic steps
        out = fmts[0]
        convs = []
        for c in (e1, e3):
            p = ConvParams(**{**c.conv.__dict__})
            p.out_bits, p.out_frac, p.out_signed, p.overflow = out.bits, out.frac, out.signed, out.overflow
            convs.append(p)
        base = cat.name[:-len("_concat")] if cat.name.endswith("_concat") else cat.name
        fp = FireParams(name=base, squeeze=sq.conv, expand1x1=convs[0], expand3x3=convs[1], in_bits=sq.in_formats[0].bits)
        fire = Layer(cat.name, "fire", sq.inputs, sq.in_formats, out_format=out, fire=fp,
                     params={"squeeze": sq.name, "expand1x1": e1.name, "expand3x3": e3.name,
                             "squeeze_in": sq.in_formats[0]})
        replaced[cat.name] = fire
        drop |= {sq.name, e1.name, e3.name}
    return [replaced.get(l.name, l) for l in layers if l.name not in drop]
