"""Per-layer cost of an hls4ml io_stream layer on the XC7Z020, and the Plan that sums them.

Model and assumptions (estimates, not synthesis results; no Vivado here to calibrate them):
  * Weight bits: the width hls4ml gives each weight and bias array (from the graph).
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
    `fifo='min'` costs every stream at the depth the hls4ml project sets (hw.hls.fifo, read from the
    graph). Stream widths are the ones hls4ml's precision pass gave (read from the graph).
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
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from hw.chip import XC7Z020, Chip
from hw.plan.graph import Layer
from hw.plan.resources import BRAM18_BITS, Budget, BudgetError, CycleModel, MultRule, fifo_cost, memory_bram18

FIFO_MODES = ("full", "min")
DEFAULT_FIFO = "min"  # the depths hw.hls.fifo sets in the project


def _pixels(shape) -> int:
    return int(shape[0]) * int(shape[1])


def fifo_depths(layer: Layer, mode: str = DEFAULT_FIFO) -> list[int]:
    """Depth of each output stream: 'full' = hls4ml's default (the whole feature map), 'min' = the
    depths the project sets (hw.hls.fifo), as read from the converted graph."""
    if mode == "full":
        return [_pixels(layer.out_shape)] * layer.n_outputs
    if mode != "min":
        raise BudgetError(f"unknown FIFO mode {mode!r}; choose one of {', '.join(FIFO_MODES)}")
    return list(layer.stream_depths)


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
