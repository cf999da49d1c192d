"""What the planner may spend and what each primitive costs: budget, multiplier mapping, cycle
constants, BRAM18 aspect ratios and stream FIFO storage (estimates; none calibrated against Vivado)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from hw.chip import BRAM18_BITS, XC7Z020  # noqa: F401  (BRAM18_BITS re-exported for reports)

BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


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
