"""What the planner may spend and what each primitive costs: budget, multiplier mapping, cycle
constants, BRAM18 aspect ratios and stream FIFO storage.

Calibrated against real Vivado HLS 2020.1 / Vitis HLS 2023.2 C-synthesis reports (hw.plan.calibration,
hw/plan/vendor_figures.json; the README's "planner vs report" table gives the error of every row).
Each constant below names the report figure it was fitted to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hw.chip import BRAM18_BITS, XC7Z020  # noqa: F401  (BRAM18_BITS re-exported for reports)

BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
# A stream FIFO uses the BRAM18 as a true dual-port RAM: at most 18 bits wide. Reports: Vitis HLS 2023.2
# LeNet-5 64x400 -> 23, 144x48 -> 3, 16x128 -> 8; Vivado HLS 2020.1 per-channel 676x25 -> 2 (a weight
# ROM does use 512x36: 72x510 -> 15).
FIFO_BRAM18_SHAPES = BRAM18_SHAPES[:-1]


class BudgetError(ValueError):
    """The model does not fit, or the planner was given something it cannot model."""


@dataclass(frozen=True)
class Budget:
    """What the plan may use; default: the whole chip except 20 % of its BRAM."""

    bram18: int = int(0.8 * XC7Z020.bram18)
    dsp: int = XC7Z020.dsp
    lut: int = XC7Z020.lut
    lutram: int = XC7Z020.lutram


@dataclass(frozen=True)
class MultRule:
    """Which products of a Resource-strategy layer go to DSP48E1s and which to LUTs.

    'auto' is what the HLS tools did in the reports (hw.plan.calibration, hw.plan.fit):
      * RF = 1: the weights are constants; products with both operands <= const_lut_max_bits are LUT
        shift-adds (Vitis HLS 2023.2 LeNet-5, 8x8 bits: 0 DSP in every conv/dense), wider ones one DSP
        each (hls4ml's Dense 16->5 fixture, 16x16 bits: 73 DSP for 80 products).
      * RF > 1: products whose operands are both <= lut_max_bits are fabric (Vivado HLS 2019.2 jet
        tagger, 7x7 bits at RF 64: 0 DSP in fc2/fc3/output); the others are DSP multiply-adds, one per
        product when each lane has its own accumulator (RF > n_in) and, for an adder tree of n_in/RF
        products, a share `share_rf_le_nin` of them while the wider operand is <= share_max_bits
        (Vivado HLS 2020.1, 4x4 bits: 64/128) and all of them above (Vivado HLS 2020.1, 24x8 bits:
        160/160; Vitis HLS 2024.2, 6x6 bits: every product a `mac_muladd`). The per-tool values are fitted
        on the public builds (hw.plan.fit.TOOL_RULES); the defaults are the ones the project's
        designs were planned with.
    'fabric' = every product in LUTs (`config_op mul -impl fabric`); 'pack' = two products of
    <= 8-bit operands per DSP48E1 (WP486 INT8 packing, needs a custom kernel, not stock hls4ml).
    """

    impl: str = "auto"  # auto | fabric | pack
    const_lut_max_bits: int = 8
    lut_max_bits: int = 0  # RF > 1: both operands <= this -> fabric (0: never)
    share_rf_le_nin: float = 0.5
    share_max_bits: int = 99  # RF <= n_in: the share applies while the wider operand is <= this; all DSP above

    def dsp_share(self, a_bits: int, w_bits: int, rf: int, n_in: int) -> float:
        """Share of the layer's products (multipliers) that are DSP48E1s."""
        if self.impl not in ("auto", "fabric", "pack"):
            raise BudgetError(f"unknown multiplier rule {self.impl!r}; choose auto, fabric or pack")
        if self.impl == "fabric":
            return 0.0
        if self.impl == "pack" and max(a_bits, w_bits) <= 8:
            return 0.5
        if rf == 1:
            return 0.0 if max(a_bits, w_bits) <= self.const_lut_max_bits else 1.0
        if max(a_bits, w_bits) <= self.lut_max_bits:
            return 0.0
        if rf > n_in or max(a_bits, w_bits) > self.share_max_bits:
            return 1.0
        return self.share_rf_le_nin

    def dsp_per_product(self, a_bits: int, w_bits: int) -> int:
        lo, hi = sorted((a_bits, w_bits))
        return 1 if lo <= 18 and hi <= 25 else 2

    @staticmethod
    def lut_mult(a_bits: int, w_bits: int) -> int:
        """LUTs of one a_bits x w_bits product built in fabric (a weight read from a ROM)."""
        return a_bits * w_bits // 2 + a_bits + w_bits

    @staticmethod
    def lut_const_mult(a_bits: int, w_bits: int) -> int:
        """LUTs of a product by a constant weight (RF = 1: the weights are wired in and the tool
        builds shift-adds, one adder of ~a_bits per pair of weight bits). Vivado HLS 2020.1 U-Net,
        4x4 bits, RF 1: 2,298-14,679 LUT for 108-2,304 products with their 4-bit accumulators,
        i.e. 6-21 LUT a product."""
        return math.ceil(a_bits * w_bits / 4)


@dataclass(frozen=True)
class PackedProducts:
    """Cost of the project's packed kernel (hw.hls.dsp_packing): two products per DSP48E1.

    Evidence, not yet a report of this project's kernel (so "modelled"): the same multiplication
    form (an ap_int<25> of two 8-bit weights 16 bits apart, times an 8-bit operand) synthesized by
    Vivado HLS 2019.2 for the xc7z020 takes 1 DSP48E, 43 LUT and 26 FF for two products
    (Reconfigurable-Computing/Xilinx-INT8-Multiplication-Optimization @ 5ff8a9cf, INT8-HLS/DSP.png);
    Yosys synth_xilinx maps hw/rtl/dsp_pack2.v to 1 DSP48E1 + 1 LUT2 + 4 CARRY4. The LUT and FF per
    pair are that report's. Band: a tool that does not pack uses one DSP a product, i.e. x2, the
    general DSP band (hw.plan.band).
    """

    lut_per_pair: int = 43
    ff_per_pair: int = 26

    @staticmethod
    def allowed(a_bits: int, w_bits: int, rf: int, n_in: int) -> bool:
        """The kernel exists for these widths and this ReuseFactor (hw/hls/dsp_packing.refusal)."""
        from hw.quant.packing import PackingError, check_widths

        try:
            check_widths(w_bits, a_bits)
        except PackingError:
            return False
        return n_in % rf == 0 if rf <= n_in else rf % n_in == 0


@dataclass(frozen=True)
class MemoryRule:
    """Where the HLS tool puts hls4ml's RF > n_in output-index table.

    hls4ml's `dense_resource_rf_gt_nin_rem0` (nnet_dense_resource.h) fills `int outidx[rufactor]`
    in its IndexLoop; the tool narrows it to the ceil(log2(RF / n_in)) bits its values need and, the
    loop being constant, folds it into a ROM: no IndexLoop cycles in any report (U-Net RF 1152:
    ReuseLoop 1157 cycles; xc7a35t RF 50: 50-51). A table of more than rom_lut_max_bits bits is
    BRAM18, a smaller one LUT ROM. Reports: Vivado HLS 2020.1 keeps the 64x1 table in LUTs
    (MNIST CNN output dense) and puts the 1152x4 one in a BRAM_18K (U-Net conv, 16-bit); Vitis HLS
    2024.2 keeps a 50x1 table out of BRAM (xc7a35t conv1). The weights themselves carry
    `RESOURCE core=ROM_nP_BRAM` in the template, yet Vivado HLS 2020.1 leaves tables of up to
    640 bits out of BRAM (Conv1D encoder: RF 2, 40 x 8 bits deep 2 -> 0 BRAM_18K; 1,280 bits -> 18)
    while Vitis HLS 2024.2 puts a 300-bit table in a BRAM_18K: `weight_lut_max_bits` (fitted per
    tool, hw.plan.fit) is the size up to which a weight table stays in fabric.
    """

    rom_lut_max_bits: int = 1024
    weight_lut_max_bits: int = 0

    def weights(self, depth: int, width: int) -> tuple[int, int]:
        """(BRAM18, LUT) of a Resource-strategy weight table of `depth` words of `width` bits."""
        if depth * width <= self.weight_lut_max_bits:
            return 0, width * math.ceil(depth / 64)
        return memory_bram18(depth, width), 0

    def rom(self, depth: int, width: int) -> tuple[int, int]:
        """(BRAM18, LUT) of a depth x width constant table."""
        if depth <= 0 or width <= 0:
            return 0, 0
        if depth * width <= self.rom_lut_max_bits:
            return 0, width * math.ceil(depth / 64)
        return memory_bram18(depth, width), 0


def index_table(rf: int, n_in: int) -> tuple[int, int]:
    """(depth, bits) of hls4ml's RF > n_in output-index table; (0, 0) where the kernel has none."""
    if rf <= n_in or n_in <= 0:
        return 0, 0
    return rf, max(1, math.ceil(math.log2(max(rf // n_in, 2))))


@dataclass(frozen=True)
class CycleModel:
    """Cycles of the hls4ml io_stream kernels (Resource strategy: the pixel loop is not pipelined).

    Fitted to Vivado HLS 2020.1 csynth of an hls4ml 1.0 CNN on the xc7z020 (hw.plan.calibration):
    the conv pixel loop's iteration is 5 cycles for a pixel that produces no output and
    RF + reuse_depth + 5 for one that does (81 at RF 72 with depth 4, 84 at depth 6); the ReuseLoop's
    iteration latency is 4 when each lane has its own accumulator (RF > n_in) and
    5 + ceil(log2(n_in/RF) / 2) for an adder tree of n_in/RF products (6 at 4, 7 at 16); pooling reads
    a pixel every 2 cycles (II 2 in Vivado HLS 2020.1 and Vitis HLS 2023.2); an elementwise layer
    one pixel per cycle plus 4 of pipeline depth (a single pixel: 2 cycles, no loop).
    """

    skip_pixel: int = 5  # conv pixel loop iteration without an output (read, line-buffer shift, counters)
    out_pixel: int = 5  # on top of RF + reuse depth for a pixel with an output (call, cast, write)
    dense_io: int = 2  # io_stream Dense on top of the input beats and RF + reuse depth
    pool_ii: int = 2
    elementwise_depth: int = 4
    single_pixel: int = 2  # an elementwise layer on a one-pixel stream (Dense outputs): no loop

    @staticmethod
    def reuse_depth(rf: int, n_in: int) -> int:
        """Iteration latency of the Resource strategy's ReuseLoop."""
        if rf > n_in:
            return 4
        return 5 + math.ceil(math.log2(max(n_in // rf, 1)) / 2)

    out_pixel_rf1: int | None = None  # RF = 1 (constant weights, no ReuseLoop state); None: out_pixel
    out_pixel_gt_nin: int | None = None  # RF > n_in (dense_resource_rf_gt_nin_rem0); None: out_pixel

    def output_pixel(self, rf: int, n_in: int) -> int:
        """Cycles of a conv pixel-loop iteration that produces an output. The overhead on top of
        RF + ReuseLoop depth depends on the kernel variant hls4ml picks (RF = 1, RF <= n_in,
        RF > n_in), so each variant has its own constant where the reports show a different one."""
        extra = self.out_pixel
        if rf == 1 and self.out_pixel_rf1 is not None:
            extra = self.out_pixel_rf1
        elif rf > n_in and self.out_pixel_gt_nin is not None:
            extra = self.out_pixel_gt_nin
        return rf + self.reuse_depth(rf, n_in) + extra


@dataclass(frozen=True)
class StorageRule:
    """How the HLS tool stores a stream FIFO: Vivado HLS 2020.1 splits an hls4ml array stream into
    one FIFO per channel (reports: `layer2_out_V_data_0_V`, 32 FIFOs of 676x25); Vitis HLS keeps
    one packed FIFO (`layer2_out`, 576x132). A FIFO of more than 2 entries whose depth x width
    exceeds srl_max_bits goes to BRAM18 (Vitis: `config_storage -auto_srl_max_bits` default 1024;
    Vivado HLS 2020.1: 121x4 = 484 bits stayed in fabric, 169x4 = 676 went to BRAM)."""

    per_channel: bool = False
    srl_max_bits: int = 1024


STORAGE = {"vitis": StorageRule(False, 1024), "vivado": StorageRule(True, 512)}


def memory_bram18(depth: int, width: int, shapes=BRAM18_SHAPES) -> int:
    """BRAM18 needed for a depth x width memory, best aspect ratio (all columns the same shape)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in shapes)


def fifo_logic_lut(depth: int, width: int, channels: int = 1, rule: StorageRule = StorageRule()) -> int:
    """LUTs of a stream FIFO besides the storage fifo_cost counts: a FIFO of <= 2 entries is a
    shift register (one SRL/LUT a data bit) with ~4 LUT of flags (routed Vivado 2019.2 jet tagger:
    261 per-channel FIFOs, 3,745 LUT; 16-bit ones 23-25 LUT, 7-bit ones 5-9); a deeper one ~10 LUT
    of pointers and flags (its storage is LUTRAM or BRAM18: fifo_cost)."""
    n, bits = (channels, width) if rule.per_channel else (1, channels * width)
    if depth <= 0:
        return 0
    return n * (bits + 4 if depth <= 2 else 10)


def fifo_cost(depth: int, width: int, channels: int = 1, rule: StorageRule = StorageRule()) -> tuple[int, int]:
    """(BRAM18, LUTRAM LUTs) of one stream FIFO of `channels` x `width`-bit elements."""
    n, bits = (channels, width) if rule.per_channel else (1, channels * width)
    if depth <= 2:
        return 0, 0
    if depth * bits > rule.srl_max_bits:
        return n * memory_bram18(depth, bits, FIFO_BRAM18_SHAPES), 0
    return 0, n * bits * math.ceil(depth / 32)  # SRLC32E: one LUT per bit per 32 entries
