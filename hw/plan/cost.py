"""Per-layer cost of an hls4ml io_stream layer on the XC7Z020, and the Plan that sums them.

Calibrated where real C-synthesis reports exist (hw.plan.calibration; constants and their evidence
in hw.plan.resources); everything else is still an estimate and says so in the README:
  * Weight bits: the width hls4ml gives each weight and bias array (from the graph).
  * Resource-strategy kernel (nnet_dense_resource.h): mults = n_in*n_out/RF products per cycle, a
    ReuseLoop of RF cycles per output pixel. kxk convs and io_stream Dense keep the weights as a ROM
    of depth RF and width mults*bits in BRAM18 (best of 16Kx1 .. 512x36; checked: 72x16 -> 1,
    72x510 -> 15, 50x2048 -> 57, 64x20 -> 1); RF = 1 makes them constants. The io_stream pointwise
    (1x1) template partitions its weights completely (nnet_sepconv2d_stream.h), so they are LUT
    ROMs: width * ceil(RF/64) LUT6 (unchecked: no report of a pointwise layer).
  * Line buffer of a kxk conv: (k-1) rows x padded width x channels x bits in ap_shift_reg, i.e.
    SRL32 LUTs: (k-1) * C * bits * ceil(W_pad/32) (LUTRAM-capable).
  * Streams (StorageRule by backend): hls4ml's default depth is the whole feature map; `fifo='min'`
    costs every stream at the depth the project sets (hw.hls.fifo, read from the graph). Depth <= 2
    is registers, a FIFO above the SRL bit threshold is BRAM18 at most 18 bits wide per column,
    smaller ones SRL32.
  * Multipliers (MultRule): the DSP share the HLS tools chose in the reports; the rest are LUT
    multipliers of a*w/2 + a + w LUTs (estimate). Each lane adds an accumulator adder; lanes
    reading the same window element share an RF:1 input mux; 200 LUTs of control per layer.
  * Cycles per image (CycleModel): kxk conv: every input pixel of the padded map costs
    `skip_pixel` cycles, and each of the ones with an output RF + reuse depth + `out_pixel`;
    pointwise: every pixel has an output; Dense: input beats + RF + reuse depth + `dense_io`;
    pooling 2 cycles per input pixel; ReLU, padding, clone, concat, add, global pooling 1 per pixel.
  * Throughput = f_clk / max(ii_cycles) (dataflow, no stall from shallow FIFOs assumed; the bounded
    FIFO simulation checks that they do not deadlock). Latency estimate = max(ii) + sum of each
    layer's fill time (cycles before its first output).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from hw.chip import XC7Z020, Chip
from hw.plan.graph import DA, Layer
from hw.plan.resources import (BRAM18_BITS, STORAGE, Budget, BudgetError, CycleModel, MemoryRule, MultRule,
                                PackedProducts, fifo_cost, fifo_logic_lut, index_table, memory_bram18)

FIFO_MODES = ("full", "min")
DEFAULT_FIFO = "min"  # the depths hw.hls.fifo sets in the project
DA_DEPTH = 8  # pipeline depth assumed for a da4ml adder graph (modelled, not from a report)
PACKED = PackedProducts()


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


def cost_layer(layer: Layer, rf: int, mult: MultRule, cyc: CycleModel, fifo: str = DEFAULT_FIFO,
               memory: MemoryRule = MemoryRule()) -> Layer:
    """A copy of `layer` with every resource and cycle figure filled in for ReuseFactor rf."""
    L = replace(layer, rf=rf)
    in_px, out_px = _pixels(L.in_shape), _pixels(L.out_shape)
    storage = STORAGE.get(L.backend.lower(), STORAGE["vitis"])
    fifo_logic = 0
    for depth in fifo_depths(L, fifo):
        fb, fl = fifo_cost(depth, L.out_bits, int(L.out_shape[2]), storage)
        L.fifo_bram18 += fb
        L.fifo_lutram += fl
        fifo_logic += fifo_logic_lut(depth, L.out_bits, int(L.out_shape[2]), storage)
    L.fifo_lut = fifo_logic
    L.lutram = L.fifo_lutram
    L.bram18 = L.fifo_bram18
    if not L.has_weights:
        L.rf = 1
        if L.kind == "reshape":  # io_stream Flatten: the next layer reads the same stream
            return L
        if L.kind == "pool":
            L.ii_cycles = in_px * cyc.pool_ii + 3
        elif L.kind == "relu":  # a single pixel is no loop: 2 cycles
            L.ii_cycles = in_px + cyc.elementwise_depth if in_px > 1 else cyc.single_pixel
        elif L.kind in ("gap", "clone"):
            L.ii_cycles = in_px
        else:  # pad (nnet::zeropad2d_cl writes every output pixel: 34x34 = 1,156 + 3 cycles in the
            L.ii_cycles = out_px  # U-Net report), concat, add: one output pixel per cycle
        L.fill_cycles = L.in_shape[1] + 2 if L.kind == "pool" else (in_px if L.kind == "gap" else 2)
        L.lut = 30 + (int(L.out_shape[2]) * L.out_bits // 4 if L.kind in ("pool", "add", "relu") else 0)
        L.ff = 20 + (int(L.out_shape[2]) * L.out_bits if L.kind in ("pool", "add", "concat") else 0)
        return L
    n = L.n_in * L.n_out
    if L.strategy == DA:
        return _cost_da(L, n, in_px, out_px)
    L.mults = n // rf
    L.weight_bits = n * L.w_bits + L.n_out * L.b_bits
    share = mult.dsp_share(L.a_bits, L.w_bits, rf, L.n_in)
    dsp_mults = math.ceil(share * L.mults)
    L.dsp = float(dsp_mults * mult.dsp_per_product(L.a_bits, L.w_bits))
    unpack_lut = unpack_ff = 0
    if L.dsp_packing:  # every product through the packed multiplication: one DSP per pair (PackedProducts)
        if not PACKED.allowed(L.a_bits, L.w_bits, rf, L.n_in):
            raise BudgetError(f"{L.name}: DspPacking is not available for {L.a_bits}-bit activations x {L.w_bits}-bit "
                              f"weights at ReuseFactor {rf} (n_in {L.n_in}); see hw/hls/dsp_packing.py")
        pairs = math.ceil(L.mults / 2)
        dsp_mults, L.dsp = L.mults, float(pairs)
        unpack_lut, unpack_ff = pairs * PACKED.lut_per_pair, pairs * PACKED.ff_per_pair
    acc_bits = L.acc_bits or L.a_bits + L.w_bits + math.ceil(math.log2(L.n_in))
    # Lanes that read the same kernel-window element share one RF:1 input mux (n_in/RF distinct ones
    # for RF <= n_in); for RF > n_in each lane's accumulator index also walks RF/n_in outputs.
    in_mux = max(1, L.n_in // rf) * L.a_bits * math.ceil((min(rf, L.n_in) - 1) / 3)
    acc_mux = L.mults * acc_bits * math.ceil((rf // L.n_in - 1) / 3) if rf > L.n_in else 0
    fabric = mult.lut_const_mult if rf == 1 else mult.lut_mult
    L.lut = ((L.mults - dsp_mults) * fabric(L.a_bits, L.w_bits) + L.mults * acc_bits + in_mux + acc_mux
             + unpack_lut + 200)
    width = L.mults * L.w_bits
    if rf > 1 and L.kind in ("conv", "dense"):
        L.weight_bram18, L.weight_lut_rom = memory.weights(rf, width)
    elif rf > 1:
        L.weight_lut_rom = width * math.ceil(rf / 64)
    depth, bits = index_table(rf, L.n_in)
    L.index_bram18, L.index_lut = memory.rom(depth, bits)
    L.lut += L.weight_lut_rom + L.index_lut
    L.bram18 += L.weight_bram18 + L.index_bram18
    # registers: each lane's accumulator and its two operands, the output word, control
    L.ff = L.mults * (acc_bits + L.a_bits + L.w_bits) + L.n_out * L.out_bits // max(rf // L.n_in, 1) + 100 + unpack_ff
    out_cost = cyc.output_pixel(rf, L.n_in)
    if L.kind == "conv":
        L.lutram += (L.kernel - 1) * int(L.in_shape[2]) * L.a_bits * math.ceil(int(L.in_shape[1]) / 32)
        # the k x k window (shift_line_buffer / compute_output_buffer): its shift and select logic,
        # ~half a LUT per window bit (HLS: 308-1,232 LUT for 200-2,304 window bits; placed ~1/3 of HLS)
        L.lut += L.kernel * L.kernel * int(L.in_shape[2]) * L.a_bits // 2
        L.ii_cycles = (in_px - out_px) * cyc.skip_pixel + out_px * out_cost
        L.fill_cycles = ((L.kernel - 1) * int(L.in_shape[1]) + L.kernel - 1) * cyc.skip_pixel + out_cost
    elif L.kind == "pointwise":
        L.ii_cycles = in_px * out_cost
        L.fill_cycles = out_cost
    else:  # dense: read the input beats, then one ReuseLoop
        beats = math.ceil(L.n_in / max(L.in_pack, 1))
        L.ii_cycles = beats + rf + cyc.reuse_depth(rf, L.n_in) + cyc.dense_io
        L.fill_cycles = L.ii_cycles
    return L


def _cost_da(L, n: int, in_px: int, out_px: int):
    """hls4ml's distributed_arithmetic strategy: da4ml compiles the constant weights into a
    multiplier-free adder graph (no DSP, no weight memory: the weights are the wiring), fully
    parallel, one pixel per cycle through the io_stream line buffer. LUTs = da4ml's own cost of the
    graph (its `cost`, LUT-equivalent adder bits) + the control and the accumulator-free output
    registers; uncalibrated: no C-synthesis report of a DA layer is among the vendor reports."""
    L.rf, L.mults, L.dsp, L.weight_bram18, L.weight_lut_rom = 1, 0, 0.0, 0, 0
    L.weight_bits = n * L.w_bits + L.n_out * L.b_bits
    L.lut = math.ceil(L.da_cost) + L.n_out * L.out_bits + 200
    if L.kind == "conv":
        L.lutram += (L.kernel - 1) * int(L.in_shape[2]) * L.a_bits * math.ceil(int(L.in_shape[1]) / 32)
        L.fill_cycles = (L.kernel - 1) * int(L.in_shape[1]) + L.kernel - 1 + DA_DEPTH
    else:
        L.fill_cycles = DA_DEPTH
    L.ii_cycles = in_px + DA_DEPTH
    return L


# ------------------------------------------------------------------------------------------------
# Plan
# ------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """A costed network plus what the bitstream adds (the shell) and how far the figures can be trusted.

    Totals = layers + FIFOs + shell. The network's LUT is the structural count times `lut_scale`
    (placed/planner, fitted on public placed builds: hw.plan.band.production); with a `band`
    (hw.plan.band.measured) the budget check uses each network figure times its held-out factor.
    """

    layers: list
    budget: Budget = field(default_factory=Budget)
    chip: Chip = XC7Z020
    clock_ns: float = 10.0
    mult: MultRule = field(default_factory=MultRule)
    fifo: str = DEFAULT_FIFO
    shell: object = None  # hw.plan.shell.Shell (None: no shell counted)
    lut_scale: float = 1.0
    band: object = None  # hw.plan.band.Band (None: plan as modelled)

    def _sum(self, attr):
        return sum(getattr(l, attr) for l in self.layers)

    def _shell(self, attr) -> int:
        return getattr(self.shell, attr) if self.shell is not None else 0

    @property
    def network_bram18(self) -> int:
        return self._sum("bram18")

    @property
    def network_dsp(self) -> int:
        return math.ceil(self._sum("dsp"))

    @property
    def network_lut(self) -> int:
        return round(self.lut_scale * (self._sum("lut") + self._sum("fifo_lut") + self.lutram))

    @property
    def bram18(self) -> int:
        return self.network_bram18 + self._shell("bram18")

    @property
    def dsp(self) -> int:
        return self.network_dsp + self._shell("dsp")

    @property
    def lut(self) -> int:
        return self.network_lut + self._shell("lut")

    @property
    def lutram(self) -> int:
        return self._sum("lutram")

    def banded(self) -> dict:
        """Each total with the network part times its band factor (the shell is routed, no band)."""
        b = self.band
        if b is None:
            return {"bram18": self.bram18, "dsp": self.dsp, "lut": self.lut}
        return {"bram18": math.ceil(self.network_bram18 * b.bram18) + self._shell("bram18"),
                "dsp": math.ceil(self.network_dsp * b.dsp) + self._shell("dsp"),
                "lut": math.ceil(self.network_lut * b.lut) + self._shell("lut")}

    def layer_settings(self) -> dict[str, dict]:
        """HLSConfig.LayerName settings of this plan: each weighted layer's ReuseFactor and Strategy."""
        return {l.name: {"ReuseFactor": int(l.rf), "Strategy": DA if l.strategy == DA else "Resource",
                         "DspPacking": True if l.dsp_packing and l.strategy != DA else None}
                for l in self.layers if l.has_weights}

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
        """One line per resource over budget (with the band, when the plan has one), naming the
        layers that use most of it."""
        lines = []
        banded = self.banded()
        for res, used, avail in (("BRAM18", banded["bram18"], self.budget.bram18), ("DSP48E1", banded["dsp"], self.budget.dsp),
                                 ("LUT", banded["lut"], self.budget.lut), ("LUTRAM", self.lutram, self.budget.lutram)):
            if used <= avail:
                continue
            attr = {"BRAM18": "bram18", "DSP48E1": "dsp", "LUT": "lut", "LUTRAM": "lutram"}[res]
            top = sorted(self.layers, key=lambda l: -getattr(l, attr))[:5]
            who = ", ".join(f"{l.name} {math.ceil(getattr(l, attr)):,}" for l in top if getattr(l, attr) > 0)
            extra = f" incl. shell {self._shell(attr):,}" if res != "LUTRAM" and self._shell(attr) else ""
            band = " with the held-out band" if self.band is not None and res != "LUTRAM" else ""
            lines.append(f"{res}: needs {used:,}{extra}{band} > {avail:,} available (largest: {who})")
        return lines

    @property
    def fits(self) -> bool:
        return not self.overruns()

    def totals(self) -> dict:
        shell = {k: self._shell(k) for k in ("lut", "ff", "bram18", "dsp")}
        band = None if self.band is None else {k: getattr(self.band, k) for k in ("lut", "dsp", "bram18", "ii")}
        return {"weight_bits": self.weight_bits, "bram18": self.bram18, "dsp": self.dsp, "lut": self.lut,
                "lutram": self.lutram, "network": {"bram18": self.network_bram18, "dsp": self.network_dsp,
                                                   "lut": self.network_lut, "lut_scale": self.lut_scale},
                "shell": shell, "band": band, "with_band": self.banded() if self.band is not None else None, "multipliers": self.mults, "ii_cycles": self.ii_cycles,
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
            rows.append(f"| {l.name} | {l.kind} | {shape} | {('DA' if l.strategy == DA else l.rf) if l.has_weights else ''} | {l.weight_bits:,} | "
                        f"{l.mults} | {math.ceil(l.dsp)} | {l.lut:,} | {l.bram18} ({l.weight_bram18}+{l.fifo_bram18}) | "
                        f"{l.lutram:,} | {l.ii_cycles:,} |")
        c, b = self.chip, self.budget
        pct = lambda u, a: f"{100 * u / a:.0f} %"
        wb = self.banded()
        sh = lambda k: f"{self._shell(k):,}" if self.shell is not None else "not counted"  # noqa: E731
        bd = lambda k: f"{wb[k]:,} ({pct(wb[k], getattr(c, k))})" if self.band is not None else "-"  # noqa: E731
        rows += ["", "| total | used (network + shell) | of which shell | with held-out band | budget | chip |",
                 "|---|--:|--:|--:|--:|--:|",
                 f"| weight bits | {self.weight_bits:,} | | | | {c.bram18 * BRAM18_BITS:,} (BRAM) |",
                 f"| BRAM18 | {self.bram18} ({pct(self.bram18, c.bram18)}) | {sh('bram18')} | {bd('bram18')} | {b.bram18} | {c.bram18} |",
                 f"| DSP48E1 | {self.dsp} ({pct(self.dsp, c.dsp)}) | {sh('dsp')} | {bd('dsp')} | {b.dsp} | {c.dsp} |",
                 f"| LUT (incl. LUTRAM) | {self.lut:,} ({pct(self.lut, c.lut)}) | {sh('lut')} | {bd('lut')} | {b.lut:,} | {c.lut:,} |",
                 f"| LUTRAM | {self.lutram:,} ({pct(self.lutram, c.lutram)}) | | | {b.lutram:,} | {c.lutram:,} |",
                 f"| multipliers (products/cycle) | {self.mults} | | | | |",
                 f"| II (cycles/image), bottleneck | {self.ii_cycles:,} ({self.bottleneck.name}) | | | | |",
                 f"| throughput @ {1000 / self.clock_ns:.0f} MHz | {self.images_per_s:,.0f} images/s | | | | |",
                 f"| latency (estimate) | {self.latency_cycles:,} cycles = {self.latency_us:,.1f} us | | | | |"]
        if self.band is not None:
            rows.append(f"\nBand (network figures x): LUT {self.band.lut:.2f}, DSP {self.band.dsp:.2f}, "
                        f"BRAM18 {self.band.bram18:.2f} ({self.band.source}).")
        return "\n".join(rows)
