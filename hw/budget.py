"""On-chip budget planner and folding optimizer for an hls4ml io_stream SqueezeNet on the XC7Z020.

Why: a model that does not fit should be refused in a second, not after hours of synthesis. The
planner walks the Keras model (HGQ2 or float), rebuilds the dataflow graph hls4ml 1.3 (Vitis backend,
io_stream, Resource strategy) will emit, and estimates per layer the weight bits, memories,
multipliers and cycles per image; the optimizer picks each layer's ReuseFactor (RF).

Graph (what hls4ml inserts, checked against a real conversion of the deployed model):
  * a 'same' kxk conv (k > 1) gets a `zp2d_<conv>` zero-padding layer in front;
  * a conv with ReLU becomes conv (pre-activation stream) + `<conv>_relu`;
  * a tensor read by two layers goes through a `clone_<tensor>` layer (one stream per reader);
  * Dropout disappears; batch norm is folded into the conv.

Model and assumptions (estimates, not synthesis results; no Vivado here to calibrate them):
  * Weight bits: HGQ2 layers use hls4ml's own `minimal_kif` on the quantized kernel (the width
    hls4ml gives the weight array); float layers use the assumed width.
  * Resource-strategy dense kernel (nnet_dense_resource.h): block_factor = n_in*n_out/RF products per
    cycle, a ReuseLoop of RF cycles per output pixel. kxk convs keep the weights as a ROM of depth RF
    and width block_factor*bits bound to BRAM (`ROM_nP_BRAM` for RF > 1), split into BRAM18 with the
    best of the 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36 aspect ratios; RF = 1 makes them constants.
    The io_stream pointwise (1x1) template partitions its weights completely (nnet_sepconv2d_stream.h),
    so they are LUT ROMs: width * ceil(RF/64) LUT6 (0 for RF = 1, folded into the multipliers).
  * Line buffer of a kxk conv: (k-1) rows x padded width x channels x bits in ap_shift_reg, i.e.
    SRL32 LUTs: (k-1) * C * bits * ceil(W_pad/32) (LUTRAM-capable).
  * Streams: hls4ml's default FIFO depth is the whole feature map (pixels of the tensor), width
    C*bits. A FIFO of depth <= 2 is registers; depth <= 64 is LUTRAM (RAM64M: 4 LUTs per 64x3);
    deeper is BRAM18 (same aspect-ratio split). A bypass (Add) reads a full-map FIFO like any other.
    `fifo='min'` models the depths a FIFO-depth optimisation would leave instead (see fifo_depths).
    Stream widths of pre-activation/ReLU outputs are estimated from the quantizers (act + 4 bits
    before ReLU; act + 1 after it unless the conv has an output quantizer or every reader an input
    quantizer), within ~2 bits of hls4ml's bit-exact widths on the deployed model.
  * Multipliers (MultRule): 'auto' = Vitis HLS default as modelled here: a product whose narrower
    operand has <= 4 bits goes to LUTs, otherwise one DSP48E1 (25x18) per product (two if wider);
    'fabric' = every product in LUTs (`config_op mul -impl fabric`); 'pack' = two products of
    <= 8-bit operands per DSP48E1 (WP486 INT8 packing, needs a custom kernel, not stock hls4ml).
    A LUT multiplier costs a*w/2 + a + w LUTs. Each lane adds an accumulator adder; lanes reading the
    same window element share an RF:1 input mux (LUT6 = 4:1 mux per bit); 200 LUTs of control per layer.
  * Cycles per image (CycleModel): kxk conv and pointwise conv: every input pixel costs `pixel`
    cycles (read, shift, counters; the pixel loop of the Resource strategy is not pipelined) and every
    output pixel RF + `dense` cycles (ReuseLoop + pipeline depth + cast/write); pooling, ReLU, padding,
    clone, concat, add and global pooling are pipelined at ~1 cycle per pixel.
  * Throughput = f_clk / max(ii_cycles) (dataflow; full-map FIFOs never stall). Latency estimate =
    max(ii) + sum of each layer's fill time (cycles before its first output).
Valid ReuseFactors come from hls4ml's own `_validate_reuse_factor`, so a planned RF is never replaced.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

BRAM18_BITS = 18 * 1024
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


class BudgetError(ValueError):
    """The model does not fit, or the planner was given something it cannot use."""


@dataclass(frozen=True)
class Chip:
    name: str = "xc7z020clg400-1"
    bram18: int = 280
    dsp: int = 220
    lut: int = 53200
    lutram: int = 17400


XC7Z020 = Chip()


@dataclass(frozen=True)
class Budget:
    """What the plan may use; default: the whole chip except 20 % of its BRAM."""

    bram18: int = int(0.8 * XC7Z020.bram18)
    dsp: int = XC7Z020.dsp
    lut: int = XC7Z020.lut
    lutram: int = XC7Z020.lutram


@dataclass(frozen=True)
class MultRule:
    impl: str = "auto"  # auto | fabric | pack
    lut_max_bits: int = 4

    def cost(self, a_bits: int, w_bits: int) -> tuple[float, int]:
        """(DSP48E1, LUT) of one product of an a_bits x w_bits multiply."""
        if self.impl not in ("auto", "fabric", "pack"):
            raise BudgetError(f"unknown multiplier rule {self.impl!r}; choose auto, fabric or pack")
        lut_mult = a_bits * w_bits // 2 + a_bits + w_bits
        if self.impl == "fabric" or min(a_bits, w_bits) <= self.lut_max_bits:
            return 0.0, lut_mult
        if self.impl == "pack" and max(a_bits, w_bits) <= 8:
            return 0.5, 0
        lo, hi = sorted((a_bits, w_bits))
        return (1.0 if lo <= 18 and hi <= 25 else 2.0), 0


@dataclass(frozen=True)
class CycleModel:
    pixel: int = 3  # per input pixel of a conv (read + line-buffer shift + counters)
    dense: int = 5  # per output pixel on top of RF (ReuseLoop depth, accumulator init, cast, write)


@dataclass
class Layer:
    """One hls4ml layer of the dataflow: static shape info plus what the plan chose for it."""

    name: str
    kind: str  # conv | pointwise | pool | relu | pad | clone | concat | add | gap
    in_shape: tuple
    out_shape: tuple
    kernel: int = 1
    n_in: int = 0
    n_out: int = 0
    w_bits: int = 0
    b_bits: int = 0
    a_bits: int = 0
    out_bits: int = 0
    n_outputs: int = 1  # streams leaving this layer (clone: one per reader)
    merge_outputs: int = 0  # of those, streams read by a concat/add (must absorb the branch skew)
    rf: int = 1
    weight_bits: int = 0
    mults: int = 0
    dsp: float = 0.0
    lut: int = 0
    lutram: int = 0
    bram18: int = 0
    weight_bram18: int = 0
    weight_lut_rom: int = 0
    fifo_bram18: int = 0
    fifo_lutram: int = 0
    ii_cycles: int = 0
    fill_cycles: int = 0

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "pointwise")

    @property
    def params(self) -> int:
        return self.n_in * self.n_out + self.n_out if self.has_weights else 0


def memory_bram18(depth: int, width: int) -> int:
    """BRAM18 needed for a depth x width memory, best aspect ratio (all columns the same shape)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)


def fifo_cost(depth: int, width: int) -> tuple[int, int]:
    """(BRAM18, LUTRAM LUTs) of one stream FIFO."""
    if depth <= 2:
        return 0, 0
    if depth <= 64:
        return 0, 4 * math.ceil(width / 3) * math.ceil(depth / 64)
    return memory_bram18(depth, width), 0


# ------------------------------------------------------------------------------------------------
# hls4ml's reuse-factor rule
# ------------------------------------------------------------------------------------------------
def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """ReuseFactors hls4ml accepts for a dense/conv kernel (its own check, over divisors of n_in*n_out)."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    n = n_in * n_out
    divs = sorted({d for i in range(1, math.isqrt(n) + 1) if n % i == 0 for d in (i, n // i)})
    return [rf for rf in divs if FPGABackend._validate_reuse_factor(None, n_in, n_out, rf)]


def closest_reuse_factor(valid: list[int], rf: int) -> int:
    """What hls4ml substitutes for an invalid RF (its get_closest_reuse_factor)."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    return FPGABackend.get_closest_reuse_factor(None, valid, rf)


# ------------------------------------------------------------------------------------------------
# Keras model -> hls4ml-like layer graph
# ------------------------------------------------------------------------------------------------
def _q_bits(q) -> int:
    """Total width (sign included) of an HGQ2 per-tensor quantizer."""
    import numpy as np

    qq = q.quantizer
    k = int(np.max(np.asarray(qq.k)))
    if hasattr(qq, "b"):
        return k + int(np.max(np.asarray(qq.b)))
    return k + int(np.max(np.asarray(qq.i))) + int(np.max(np.asarray(qq.f)))


def _const_bits(values) -> int:
    """Width hls4ml gives a constant array (its minimal_kif, maximised over the tensor)."""
    import numpy as np
    from hls4ml.utils.qinterval import minimal_kif

    k, i, f = minimal_kif(np.asarray(values, dtype=np.float64))
    return max(int(np.max(k)) + int(np.max(i)) + int(np.max(f)), 1)


def _enabled(layer, which: str) -> bool:
    return getattr(layer, f"enable_{which}", False) and getattr(layer, which, None) is not None


def _src(t) -> str:
    return t._keras_history[0].name


def _hw(shape) -> tuple:
    s = tuple(int(x) for x in shape[1:])
    return s if len(s) == 3 else (1, 1) + s


def extract_layers(model, assumed_bits: int = 8) -> list[Layer]:
    """Rebuild hls4ml's io_stream layer list from a Keras model (see module docstring)."""
    import numpy as np

    inputs = model.layers
    model_quant = any(hasattr(l, "kq") for l in inputs)  # HGQ2 model (else float, assumed widths)
    consumers: dict[str, list] = {}
    alias: dict[str, str] = {}  # keras layer -> layer whose output it forwards (Dropout, BN)
    for l in inputs:
        if type(l).__name__ == "InputLayer":
            continue
        for t in (l.input if isinstance(l.input, list) else [l.input]):
            consumers.setdefault(_src(t), []).append(l)
    out: list[Layer] = []
    stream: dict[str, tuple[str, int]] = {}  # keras name -> (hls producer, bits per channel)

    def resolve(name):
        while name in alias:
            name = alias[name]
        return name

    def readers(kname):
        """Keras layers reading kname's output, looking through Dropout/BN."""
        res = []
        for c in consumers.get(kname, []):
            res += readers(c.name) if type(c).__name__ in ("Dropout", "BatchNormalization") else [c]
        return res

    def quantized_reader(kname):
        rs = readers(kname)
        return bool(rs) and all(_enabled(r, "iq") or hasattr(r, "iqs") for r in rs)

    def finish(kname, layer: Layer):
        """Emit layer; add a clone if its output feeds several layers."""
        rs = readers(kname)
        merges = sum(type(r).__name__ in ("Concatenate", "QConcatenate", "Add", "QAdd") for r in rs)
        if len(rs) > 1:
            out.append(layer)
            layer = Layer(f"clone_{layer.name}", "clone", layer.out_shape, layer.out_shape,
                          out_bits=layer.out_bits, n_outputs=len(rs))
        layer.merge_outputs = merges
        out.append(layer)
        stream[kname] = (layer.name, layer.out_bits)

    for l in inputs:
        cls = type(l).__name__
        if cls == "InputLayer":
            bits = assumed_bits
            stream[l.name] = (l.name, bits)
            continue
        ins = l.input if isinstance(l.input, list) else [l.input]
        srcs = [resolve(_src(t)) for t in ins]
        in_bits = stream[srcs[0]][1]
        in_shape, out_shape = _hw(ins[0].shape), _hw(l.output.shape)
        quant = model_quant
        if cls in ("Dropout", "BatchNormalization"):
            alias[l.name] = srcs[0]
            continue
        if cls in ("Conv2D", "QConv2D"):
            k = int(l.kernel_size[0])
            if int(l.kernel_size[1]) != k:
                raise BudgetError(f"{l.name}: only square kernels are modelled")
            a_bits = _q_bits(l.iq) if _enabled(l, "iq") else in_bits
            if hasattr(l, "qkernel"):
                w_bits = _const_bits(np.asarray(l.qkernel))
                b_bits = _const_bits(np.asarray(l.qbias)) if getattr(l, "use_bias", True) else 0
            else:
                w_bits = b_bits = assumed_bits
            act = getattr(getattr(l, "activation", None), "__name__", "linear")
            if quant:
                oq = _q_bits(l.oq) if _enabled(l, "oq") else None
                act_bits = oq or assumed_bits
            else:
                oq, act_bits = None, assumed_bits
            pre_bits = act_bits + 4
            pad = l.padding == "same" and k > 1
            conv_in = in_shape
            if pad:
                conv_in = (in_shape[0] + k - 1, in_shape[1] + k - 1, in_shape[2])
                out.append(Layer(f"zp2d_{l.name}", "pad", in_shape, conv_in, out_bits=a_bits))
            n_in, n_out = k * k * in_shape[2], out_shape[2]
            conv = Layer(l.name, "conv" if k > 1 else "pointwise", conv_in, out_shape, kernel=k, n_in=n_in,
                         n_out=n_out, w_bits=w_bits, b_bits=b_bits, a_bits=a_bits,
                         out_bits=pre_bits if act == "relu" else (16 if quant else pre_bits))
            if act == "relu":
                out.append(conv)
                relu_bits = oq if oq else act_bits + (1 if quant and not quantized_reader(l.name) else 0)
                finish(l.name, Layer(f"{l.name}_relu", "relu", out_shape, out_shape, out_bits=relu_bits))
            elif act == "linear":
                finish(l.name, conv)
            else:
                raise BudgetError(f"{l.name}: activation {act!r} is not modelled (relu or linear)")
            continue
        if cls == "ReLU":
            finish(l.name, Layer(l.name, "relu", in_shape, out_shape, out_bits=in_bits))
            continue
        if cls in ("MaxPooling2D", "QMaxPool2D", "QMaxPooling2D", "AveragePooling2D", "QAveragePooling2D"):
            bits = _q_bits(l.iq) if _enabled(l, "iq") else in_bits
            finish(l.name, Layer(l.name, "pool", in_shape, out_shape, kernel=int(l.pool_size[0]),
                                 a_bits=bits, out_bits=bits))
            continue
        if cls in ("GlobalAveragePooling2D", "QGlobalAveragePooling2D", "GlobalMaxPooling2D"):
            bits = _q_bits(l.oq) if _enabled(l, "oq") else (16 if quant else assumed_bits)
            finish(l.name, Layer(l.name, "gap", in_shape, out_shape, out_bits=bits))
            continue
        if cls in ("Concatenate", "QConcatenate", "Add", "QAdd"):
            bits = max(stream[s][1] for s in srcs)
            if quant and quantized_reader(l.name):  # hls4ml narrows it to the next input quantizer
                bits = min(bits, min(_q_bits(r.iq) for r in readers(l.name)))
            kind = "concat" if "Concat" in cls else "add"
            finish(l.name, Layer(l.name, kind, in_shape, out_shape, out_bits=bits, n_in=len(srcs)))
            continue
        raise BudgetError(f"{l.name}: layer type {cls} is not modelled by the budget planner")
    return out


# ------------------------------------------------------------------------------------------------
# Per-layer cost
# ------------------------------------------------------------------------------------------------
def _pixels(shape) -> int:
    return int(shape[0]) * int(shape[1])


FIFO_MODES = ("full", "min")
DEFAULT_FIFO = "min"  # hw/hls.py sets these depths in the hls4ml project (apply_stream_depths)


def stream_depths(p: "Plan") -> dict:
    """Per-layer output-stream depths the plan assumed (for hw/hls.py to apply as stream pragmas)."""
    return {l.name: fifo_depths(l, p.fifo) for l in p.layers}


def fifo_depths(layer: Layer, mode: str = "full") -> list[int]:
    """Depth of each output stream of a layer.

    'full': hls4ml's default (the whole feature map). 'min': what a FIFO-depth optimisation would leave:
    2 for a plain chain, and the branch skew (one padded row + 3 pixels, the line-buffer lag of a 3x3
    sibling) for a stream read by a concat or bypass add.
    """
    px = _pixels(layer.out_shape)
    if mode == "full":
        return [px] * layer.n_outputs
    if mode != "min":
        raise BudgetError(f"unknown FIFO mode {mode!r}; choose one of {', '.join(FIFO_MODES)}")
    skew = join_fifo_depth(int(layer.out_shape[1]), px)
    return [CHAIN_FIFO_DEPTH] * (layer.n_outputs - layer.merge_outputs) + [skew] * layer.merge_outputs


CHAIN_FIFO_DEPTH = 2


def join_fifo_depth(width: int, pixels: int) -> int:
    """Depth of a stream read by a concat or bypass add: the branch skew, i.e. one padded row + 3
    pixels (the line-buffer lag of a 3x3 sibling before its first output). hw/hls.py applies the
    same rule to the hls4ml project, so the plan and the design agree."""
    return min(pixels, width + 2 + 3)


def cost_layer(layer: Layer, rf: int, mult: MultRule, cyc: CycleModel, fifo: str = DEFAULT_FIFO) -> Layer:
    """A copy of `layer` with every resource and cycle figure filled in for ReuseFactor rf."""
    L = replace(layer, rf=rf)
    in_px, out_px = _pixels(L.in_shape), _pixels(L.out_shape)
    width = int(L.out_shape[2]) * L.out_bits
    for depth in fifo_depths(L, fifo):
        fb, fl = fifo_cost(depth, width)
        L.fifo_bram18 += fb
        L.fifo_lutram += fl
    L.lutram = L.fifo_lutram
    L.bram18 = L.fifo_bram18
    if not L.has_weights:
        L.ii_cycles = in_px if L.kind in ("pool", "gap", "pad", "relu", "clone") else out_px
        L.fill_cycles = L.in_shape[1] + 2 if L.kind == "pool" else (in_px if L.kind == "gap" else 2)
        L.lut = 30 + (int(L.out_shape[2]) * L.out_bits // 4 if L.kind in ("pool", "add", "relu") else 0)
        L.rf = 1
        return L
    n = L.n_in * L.n_out
    L.mults = n // rf
    L.weight_bits = n * L.w_bits + L.n_out * L.b_bits
    dsp1, lut1 = mult.cost(L.a_bits, L.w_bits)
    L.dsp = dsp1 * L.mults
    acc_bits = L.a_bits + L.w_bits + math.ceil(math.log2(L.n_in))
    # Lanes that read the same kernel-window element share one RF:1 input mux (n_in/RF distinct ones
    # for RF <= n_in); for RF > n_in each lane's accumulator index also walks RF/n_in outputs.
    in_mux = max(1, L.n_in // rf) * L.a_bits * math.ceil((min(rf, L.n_in) - 1) / 3)
    acc_mux = L.mults * acc_bits * math.ceil((rf // L.n_in - 1) / 3) if rf > L.n_in else 0
    L.lut = L.mults * (lut1 + acc_bits) + in_mux + acc_mux + 200
    width = L.mults * L.w_bits
    if rf > 1 and L.kind == "conv":
        L.weight_bram18 = memory_bram18(rf, width)
    elif rf > 1:
        L.weight_lut_rom = width * math.ceil(rf / 64)
    L.lut += L.weight_lut_rom
    L.bram18 += L.weight_bram18
    if L.kind == "conv":
        L.lutram += (L.kernel - 1) * int(L.in_shape[2]) * L.a_bits * math.ceil(int(L.in_shape[1]) / 32)
    L.ii_cycles = in_px * cyc.pixel + out_px * (rf + cyc.dense)
    L.fill_cycles = ((L.kernel - 1) * int(L.in_shape[1]) + L.kernel) * cyc.pixel + rf + cyc.dense
    return L


# ------------------------------------------------------------------------------------------------
# Plan
# ------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    layers: list
    budget: Budget = field(default_factory=Budget)
    chip: Chip = XC7Z020
    clock_ns: float = 10.0
    mult: MultRule = field(default_factory=MultRule)
    fifo: str = DEFAULT_FIFO

    def _sum(self, attr):
        return sum(getattr(l, attr) for l in self.layers)

    @property
    def bram18(self) -> int:
        return self._sum("bram18")

    @property
    def dsp(self) -> int:
        return math.ceil(self._sum("dsp"))

    @property
    def lut(self) -> int:
        return self._sum("lut") + self.lutram

    @property
    def lutram(self) -> int:
        return self._sum("lutram")

    @property
    def weight_bits(self) -> int:
        return self._sum("weight_bits")

    @property
    def mults(self) -> int:
        return self._sum("mults")

    @property
    def bottleneck(self) -> Layer:
        return max(self.layers, key=lambda l: l.ii_cycles)

    @property
    def ii_cycles(self) -> int:
        return self.bottleneck.ii_cycles

    @property
    def images_per_s(self) -> float:
        return 1e9 / self.clock_ns / self.ii_cycles

    @property
    def latency_cycles(self) -> int:
        return self.ii_cycles + self._sum("fill_cycles")

    @property
    def latency_us(self) -> float:
        return self.latency_cycles * self.clock_ns / 1000

    @property
    def reuse(self) -> dict:
        return {l.name: l.rf for l in self.layers if l.has_weights}

    def layer(self, name) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)

    def overruns(self) -> list[str]:
        """One line per resource over budget, naming the layers that use most of it."""
        lines = []
        for res, used, avail in (("BRAM18", self.bram18, self.budget.bram18), ("DSP48E1", self.dsp, self.budget.dsp),
                                 ("LUT", self.lut, self.budget.lut), ("LUTRAM", self.lutram, self.budget.lutram)):
            if used <= avail:
                continue
            attr = {"BRAM18": "bram18", "DSP48E1": "dsp", "LUT": "lut", "LUTRAM": "lutram"}[res]
            top = sorted(self.layers, key=lambda l: -getattr(l, attr))[:5]
            who = ", ".join(f"{l.name} {math.ceil(getattr(l, attr)):,}" for l in top if getattr(l, attr) > 0)
            lines.append(f"{res}: needs {used:,} > {avail:,} available (largest: {who})")
        return lines

    @property
    def fits(self) -> bool:
        return not self.overruns()

    def totals(self) -> dict:
        return {"weight_bits": self.weight_bits, "bram18": self.bram18, "dsp": self.dsp, "lut": self.lut,
                "lutram": self.lutram, "multipliers": self.mults, "ii_cycles": self.ii_cycles,
                "bottleneck": self.bottleneck.name, "images_per_s": round(self.images_per_s, 1),
                "latency_cycles": self.latency_cycles, "latency_us": round(self.latency_us, 2),
                "clock_ns": self.clock_ns, "mult_rule": self.mult.impl, "fifo": self.fifo, "fits": self.fits,
                "budget": asdict(self.budget), "chip": asdict(self.chip)}

    def to_dict(self) -> dict:
        return {"layers": [{**asdict(l), "params": l.params} for l in self.layers], "totals": self.totals(),
                "overruns": self.overruns()}

    def markdown(self) -> str:
        """Per-layer table and totals as markdown (for the README)."""
        rows = ["| layer | kind | out (HxWxC) | RF | weight bits | mults | DSP | LUT | BRAM18 (w+fifo) | LUTRAM | II cycles |",
                "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for l in self.layers:
            shape = "x".join(str(int(s)) for s in l.out_shape)
            rows.append(f"| {l.name} | {l.kind} | {shape} | {l.rf if l.has_weights else ''} | {l.weight_bits:,} | "
                        f"{l.mults} | {math.ceil(l.dsp)} | {l.lut:,} | {l.bram18} ({l.weight_bram18}+{l.fifo_bram18}) | "
                        f"{l.lutram:,} | {l.ii_cycles:,} |")
        c, b = self.chip, self.budget
        pct = lambda u, a: f"{100 * u / a:.0f} %"
        rows += ["", "| total | used | budget | chip |", "|---|--:|--:|--:|",
                 f"| weight bits | {self.weight_bits:,} | | {c.bram18 * BRAM18_BITS:,} (BRAM) |",
                 f"| BRAM18 | {self.bram18} ({pct(self.bram18, c.bram18)}) | {b.bram18} | {c.bram18} |",
                 f"| DSP48E1 | {self.dsp} ({pct(self.dsp, c.dsp)}) | {b.dsp} | {c.dsp} |",
                 f"| LUT (incl. LUTRAM) | {self.lut:,} ({pct(self.lut, c.lut)}) | {b.lut:,} | {c.lut:,} |",
                 f"| LUTRAM | {self.lutram:,} ({pct(self.lutram, c.lutram)}) | {b.lutram:,} | {c.lutram:,} |",
                 f"| multipliers (products/cycle) | {self.mults} | | |",
                 f"| II (cycles/image), bottleneck | {self.ii_cycles:,} ({self.bottleneck.name}) | | |",
                 f"| throughput @ {1000 / self.clock_ns:.0f} MHz | {self.images_per_s:,.0f} images/s | | |",
                 f"| latency (estimate) | {self.latency_cycles:,} cycles = {self.latency_us:,.1f} us | | |"]
        return "\n".join(rows)


def _as_layers(model_or_layers, assumed_bits):
    if isinstance(model_or_layers, list):
        return model_or_layers
    return extract_layers(model_or_layers, assumed_bits)


def plan(model, reuse: dict | None = None, *, budget: Budget | None = None, mult: MultRule | None = None,
         cycles: CycleModel | None = None, clock_ns: float = 10.0, assumed_bits: int = 8, uniform: int | None = None,
         fifo: str = DEFAULT_FIFO) -> Plan:
    """Cost every layer of `model` (Keras model or extract_layers() output) at the given ReuseFactors.

    `reuse` maps layer name -> RF (missing layers: 1); an RF hls4ml would refuse raises BudgetError with
    the valid choices. `uniform` gives every layer hls4ml's closest valid RF to that value instead.
    """
    layers = _as_layers(model, assumed_bits)
    mult, cycles = mult or MultRule(), cycles or CycleModel()
    reuse = dict(reuse or {})
    names = {l.name for l in layers if l.has_weights}
    unknown = sorted(set(reuse) - names)
    if unknown:
        raise BudgetError(f"ReuseFactor given for unknown layer(s) {', '.join(unknown)}; "
                          f"layers with weights: {', '.join(sorted(names))}")
    costed = []
    for l in layers:
        rf = 1
        if l.has_weights:
            valid = valid_reuse_factors(l.n_in, l.n_out)
            if uniform is not None:
                rf = closest_reuse_factor(valid, uniform)
            else:
                rf = int(reuse.get(l.name, 1))
                if rf not in valid:
                    raise BudgetError(f"{l.name}: ReuseFactor {rf} is not valid for n_in={l.n_in}, n_out={l.n_out}; "
                                      f"valid: {', '.join(map(str, valid))}")
        costed.append(cost_layer(l, rf, mult, cycles, fifo))
    return Plan(costed, budget or Budget(), XC7Z020, clock_ns, mult, fifo)


# ------------------------------------------------------------------------------------------------
# Folding optimizer
# ------------------------------------------------------------------------------------------------
def _choices(layer, mult, cycles, fifo):
    """(ii, costed layer) for each valid RF, smallest II first."""
    return [(c.ii_cycles, c) for c in (cost_layer(layer, rf, mult, cycles, fifo)
                                       for rf in valid_reuse_factors(layer.n_in, layer.n_out))]


def _pick(choices, target, budget: Budget):
    """Cheapest choice whose II meets the target: least summed share of each budgeted resource."""
    ok = [c for ii, c in choices if ii <= target]
    if not ok:
        return None
    share = lambda c: (c.dsp / max(budget.dsp, 1) + c.bram18 / max(budget.bram18, 1)
                       + (c.lut + c.lutram) / max(budget.lut, 1) + c.lutram / max(budget.lutram, 1))
    return min(ok, key=lambda c: (share(c), -c.rf))


def optimize(model, *, budget: Budget | None = None, mult: MultRule | None = None, cycles: CycleModel | None = None,
             clock_ns: float = 10.0, assumed_bits: int = 8, fifo: str = DEFAULT_FIFO) -> Plan:
    """Smallest bottleneck II under the budget: every weighted layer gets its cheapest RF meeting it.

    Scans the candidate IIs (every layer's II at every valid RF) from the smallest up; the first
    target whose cheapest per-layer choices fit the budget is the optimum for this per-layer rule.
    Raises BudgetError (layer by layer) if even the largest RFs do not fit.
    """
    layers = _as_layers(model, assumed_bits)
    budget, mult, cycles = budget or Budget(), mult or MultRule(), cycles or CycleModel()
    fixed = [cost_layer(l, 1, mult, cycles, fifo) for l in layers if not l.has_weights]
    floor = max((l.ii_cycles for l in fixed), default=0)
    options = {l.name: _choices(l, mult, cycles, fifo) for l in layers if l.has_weights}
    targets = sorted({ii for ch in options.values() for ii, _ in ch if ii >= floor} | {floor})

    def build(target):
        chosen = {n: _pick(ch, target, budget) for n, ch in options.items()}
        if any(c is None for c in chosen.values()):
            return None
        return Plan([chosen[l.name] if l.has_weights else cost_layer(l, 1, mult, cycles, fifo) for l in layers],
                    budget, XC7Z020, clock_ns, mult, fifo)

    for t in targets:
        p = build(t)
        if p is not None and p.fits:
            return p
    worst = build(targets[-1]) or plan(layers, {n: ch[-1][1].rf for n, ch in options.items()}, budget=budget,
                                       mult=mult, cycles=cycles, clock_ns=clock_ns, fifo=fifo)
    raise BudgetError("model does not fit the budget even at the largest ReuseFactors:\n  "
                      + "\n  ".join(worst.overruns()))


def uniform_baseline(model, *, budget: Budget | None = None, mult: MultRule | None = None,
                     cycles: CycleModel | None = None, clock_ns: float = 10.0, assumed_bits: int = 8,
                     fifo: str = DEFAULT_FIFO) -> Plan:
    """The same network with one ReuseFactor for all layers: the smallest that fits the budget."""
    layers = _as_layers(model, assumed_bits)
    top = max(l.n_in * l.n_out for l in layers if l.has_weights)
    seen = set()
    for r in range(1, top + 1):
        key = tuple(closest_reuse_factor(valid_reuse_factors(l.n_in, l.n_out), r) for l in layers if l.has_weights)
        if key in seen:
            continue
        seen.add(key)
        p = plan(layers, budget=budget, mult=mult, cycles=cycles, clock_ns=clock_ns, uniform=r, fifo=fifo)
        if p.fits:
            p.uniform_rf = r
            return p
    raise BudgetError("no uniform ReuseFactor fits the budget")


# ------------------------------------------------------------------------------------------------
# hls4ml YAML: read and rewrite HLSConfig.LayerName.<layer>.ReuseFactor, keeping everything else
# ------------------------------------------------------------------------------------------------
def read_reuse(config_path) -> dict:
    """Per-layer ReuseFactors of an hls4ml YAML config (layers without one are not listed)."""
    import yaml

    cfg = _load_yaml(config_path)
    layers = ((cfg.get("HLSConfig") or {}).get("LayerName") or {})
    return {n: int(v["ReuseFactor"]) for n, v in layers.items() if isinstance(v, dict) and "ReuseFactor" in v}


def _load_yaml(path):
    import yaml

    p = Path(path)
    if not p.exists():
        raise BudgetError(f"{p}: hls4ml config not found")
    try:
        cfg = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise BudgetError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("HLSConfig"), dict):
        raise BudgetError(f"{p}: no HLSConfig mapping (not an hls4ml config)")
    return cfg


def write_reuse(config_path, reuse: dict) -> None:
    """Set HLSConfig.LayerName.<layer>.ReuseFactor for each layer, editing only those values in the text.

    Comments, key order and every other value stay as they were (the YAML is edited in place by node
    position, then re-parsed and compared with the expected result).
    """
    import copy

    import yaml

    p = Path(config_path)
    cfg = _load_yaml(p)
    text = p.read_text()
    expected = copy.deepcopy(cfg)
    exp_layers = expected["HLSConfig"].setdefault("LayerName", {}) or {}
    expected["HLSConfig"]["LayerName"] = exp_layers
    for name, rf in reuse.items():
        entry = exp_layers.get(name)
        if entry is None:
            exp_layers[name] = entry = {}
        entry["ReuseFactor"] = int(rf)

    def child(node, key):
        if not isinstance(node, yaml.MappingNode):
            return None, None
        for k, v in node.value:
            if k.value == key:
                return k, v
        return None, None

    root = yaml.compose(text)
    _, hls = child(root, "HLSConfig")
    lk, ln = child(hls, "LayerName")
    edits = []  # (start, end, replacement)
    appended = []
    for name, rf in reuse.items():
        key, lay = child(ln, name) if ln is not None else (None, None)
        if lay is None:
            appended.append((name, int(rf)))
            continue
        rk, rv = child(lay, "ReuseFactor")
        if rv is not None:
            edits.append((rv.start_mark.index, rv.end_mark.index, str(int(rf))))
        elif isinstance(lay, yaml.MappingNode) and lay.value and lay.flow_style is not True:
            first = lay.value[0][0]
            col = first.start_mark.column
            pos = first.start_mark.index
            edits.append((pos, pos, f"ReuseFactor: {int(rf)}\n" + " " * col))
        else:
            raise BudgetError(f"{p}: cannot edit LayerName.{name} (empty or flow-style mapping); "
                              "give it a block mapping first")
    if appended:
        if ln is None or (isinstance(ln, yaml.MappingNode) and ln.flow_style):
            raise BudgetError(f"{p}: HLSConfig.LayerName missing or flow-style; cannot add layers "
                              f"{', '.join(n for n, _ in appended)}")
        if ln.value:
            col = ln.value[0][0].start_mark.column
            pos = ln.end_mark.index
            if not text[:pos].endswith("\n"):
                block_prefix = "\n"
            else:
                block_prefix = ""
        else:
            raise BudgetError(f"{p}: HLSConfig.LayerName is empty; cannot add layers")
        block = "".join(f"{' ' * col}{n}:\n{' ' * (col + 2)}ReuseFactor: {rf}\n" for n, rf in appended)
        edits.append((pos, pos, block_prefix + block))
    for start, end, rep in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + rep + text[end:]
    if yaml.safe_load(text) != expected:
        raise BudgetError(f"{p}: internal error: edited YAML does not round-trip; file left unchanged")
    p.write_text(text)


# ------------------------------------------------------------------------------------------------
# ImageNet refusal table
# ------------------------------------------------------------------------------------------------
def refusal_rows(variants=("1.0", "1.1"), bits=(8, 4), budget: Budget | None = None, fifo: str = DEFAULT_FIFO) -> list[dict]:
    """SqueezeNet v1.0/v1.1 (ImageNet, float Keras) at an assumed width: weight bits vs chip, and why refused."""
    from hw.model import squeezenet_v1_0, squeezenet_v1_1

    budget = budget or Budget()
    rows = []
    for v in variants:
        model = squeezenet_v1_0() if v == "1.0" else squeezenet_v1_1()
        for b in bits:
            layers = extract_layers(model, assumed_bits=b)
            params = sum(l.params for l in layers)
            row = {"variant": f"v{v}", "bits": b, "params": params, "weight_bits": 0,
                   "chip_bram_bits": XC7Z020.bram18 * BRAM18_BITS, "budget_bram_bits": budget.bram18 * BRAM18_BITS}
            try:
                p = optimize(layers, budget=budget, fifo=fifo)
                row.update(weight_bits=p.weight_bits, refused=False, reason="fits")
            except BudgetError as e:
                row.update(weight_bits=sum(l.n_in * l.n_out * b + l.n_out * b for l in layers if l.has_weights),
                           refused=True, reason=str(e).split("\n", 1)[1].strip().replace("\n  ", "; "))
            rows.append(row)
    return rows


def refusal_markdown(rows) -> str:
    out = ["| model | weight bits/param | params | weight bits | weights alone, BRAM18 (perfect packing) | "
           "BRAM bits (chip / 80 % budget) | result |",
           "|---|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        out.append(f"| SqueezeNet {r['variant']} | {r['bits']} | {r['params']:,} | {r['weight_bits']:,} "
                   f"({r['weight_bits'] / r['chip_bram_bits']:.2f}x chip) | "
                   f"{math.ceil(r['weight_bits'] / BRAM18_BITS):,} of {r['budget_bram_bits'] // BRAM18_BITS} | "
                   f"{r['chip_bram_bits']:,} / "
                   f"{r['budget_bram_bits']:,} | {'REFUSED: ' + r['reason'] if r['refused'] else 'fits'} |")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.budget", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Keras/HGQ2 model file (.keras)")
    ap.add_argument("--config", help="hls4ml YAML config: read its ReuseFactors (and --write into it)")
    ap.add_argument("--optimize", action="store_true", help="choose ReuseFactors with the folding optimizer")
    ap.add_argument("--write", action="store_true", help="write the chosen ReuseFactors into --config")
    ap.add_argument("--clock-ns", type=float, default=10.0)
    ap.add_argument("--bram-fraction", type=float, default=0.8, help="share of the chip's BRAM18 allowed (0.8)")
    ap.add_argument("--mult", default="auto", choices=("auto", "fabric", "pack"), help="multiplier mapping rule")
    ap.add_argument("--fifo", default=DEFAULT_FIFO, choices=FIFO_MODES,
                    help="stream FIFO depths: hls4ml's default full feature map, or optimised minimum")
    ap.add_argument("--assumed-bits", type=int, default=8, help="width for float models")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    a = ap.parse_args(argv)
    try:
        if a.write and not (a.config and a.optimize):
            raise BudgetError("--write needs --config and --optimize")
        if not 0 < a.bram_fraction <= 1:
            raise BudgetError("--bram-fraction must be in (0, 1]")
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from hw.model import ModelError, load_model

        try:
            model = load_model(a.model)
        except ModelError as e:
            raise BudgetError(str(e)) from None
        budget = Budget(bram18=int(a.bram_fraction * XC7Z020.bram18))
        kw = dict(budget=budget, mult=MultRule(a.mult), clock_ns=a.clock_ns, fifo=a.fifo)
        layers = extract_layers(model, a.assumed_bits)
        if a.optimize:
            p = optimize(layers, **kw)
        else:
            p = plan(layers, read_reuse(a.config) if a.config else None, **kw)
        if a.write:
            write_reuse(a.config, p.reuse)
        if a.json:
            print(json.dumps(p.to_dict(), indent=1))
        else:
            print(p.markdown())
            for line in p.overruns():
                print("OVER BUDGET:", line)
            if a.write:
                print(f"\nwrote ReuseFactors of {len(p.reuse)} layers into {a.config}")
        return 0 if p.fits else 2
    except BudgetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
