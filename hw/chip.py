"""The target chip and board: part, resources, board part, PS-PL ports, clock defaults. The one copy.

Why one module: the planner's budget, the Vivado preflight, the block design and the plots all need
the same XC7Z020 figures (shared/FACTS.md). The design's own part, clock period and clock
uncertainty are set in the hls4ml YAML (hls_config/<model>.yml) and read from there by hls4ml,
Vitis HLS and Vivado alike; this module supplies what the YAML does not say (resources of the part
it names, the board) and refuses a part it has no figures for.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chip:
    """Programmable-logic resources of one part (DS190 / shared/FACTS.md)."""

    name: str
    bram18: int
    dsp: int
    lut: int
    lutram: int  # LUTs usable as distributed RAM (SLICEM)
    ff: int


XC7Z020 = Chip(name="xc7z020clg400-1", bram18=280, dsp=220, lut=53200, lutram=17400, ff=106400)
CHIPS = {XC7Z020.name: XC7Z020}

BRAM18_BITS = 18 * 1024
BOARD_PART = "tul.com.tw:pynq-z2:part0:1.0"  # PYNQ-Z2 board files (Vivado board store)
HP_PORT_BITS = 64  # S_AXI_HP0 data width, and the AXI DMA's memory-mapped side
DMA_LENGTH_BITS = 26  # AXI DMA buffer length register width (c_sg_length_width): 64 MiB - 1 per transfer
DEFAULT_CLOCK_NS = 10.0  # FCLK_CLK0 = 100 MHz, the PYNQ norm
DEFAULT_CLOCK_UNCERTAINTY = "27%"  # what hls4ml's Vitis backend and Vitis HLS use when none is set


class ChipError(ValueError):
    """A part this project has no resource figures for."""


def chip(part: str) -> Chip:
    """Resources of `part` (as written in the YAML's Part)."""
    try:
        return CHIPS[part]
    except KeyError:
        raise ChipError(f"part {part!r}: no resource figures in hw/chip.py (known: {', '.join(CHIPS)})") from None


def fclk_mhz(clock_ns: float) -> float:
    """FCLK_CLK0 frequency for a clock period, as the PS7 configuration takes it."""
    return float(f"{1000.0 / clock_ns:.6g}")
