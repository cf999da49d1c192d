"""What the PYNQ-Z2 design costs around the network: PS7, AXI DMA, interconnects, reset, AXI wrapper.

Why a figure from a routed design and not a guess: the block design that scripts/build_bitstream.sh
makes (PS7, AXI DMA in simple mode on HP0, AXI interconnects on GP0 and HP0, proc_sys_reset) is the
one hls4ml's PYNQ flows make, and the one public PYNQ-Z2 build with a hierarchical routed
utilization report (hw.plan.builds `jet_rf64_7b`: nicologhielmetti/hls4ml-pynq @ 527b709a, Vivado
2019.2, xc7z020) gives every instance of it: the whole design less the HLS IP is the block design,
the IP less its network (`grp_myproject`) is the AXI wrapper. The wrapper there also converts
float I/O; this project's wrapper (hw/hls AXI top) packs bytes, so its share is an upper bound.
This project's block-design Tcl (hw/flow/tcl/vivado/block_design.tcl) has the same parts: PS7, one
AXI DMA (simple mode, both channels), the two interconnects and proc_sys_reset.
"""
from __future__ import annotations

from dataclasses import dataclass

from hw.plan import builds as B

SOURCE_BUILD = "jet_rf64_7b"


@dataclass(frozen=True)
class Shell:
    lut: int = 0
    ff: int = 0
    bram18: int = 0
    dsp: int = 0
    source: str = "none"

    def __add__(self, other: "Shell") -> "Shell":
        return Shell(self.lut + other.lut, self.ff + other.ff, self.bram18 + other.bram18, self.dsp + other.dsp,
                     f"{self.source} + {other.source}")


def block_design(data: dict | None = None) -> Shell:
    """PS7 + AXI DMA + interconnects + reset, routed (the design less the HLS IP)."""
    placed = (data or B.load())[SOURCE_BUILD]["placed"]
    s = placed["shell"]
    return Shell(s["lut"], s["ff"], s["bram18"], s["dsp"], f"{SOURCE_BUILD} routed: design less HLS IP")


def axi_wrapper(data: dict | None = None) -> Shell:
    """The HLS IP's AXI wrapper around the network (routed; float I/O conversion included)."""
    w = (data or B.load())[SOURCE_BUILD]["placed"]["wrapper"]
    return Shell(w["lut"], w["ff"], w["bram18"], w["dsp"], f"{SOURCE_BUILD} routed: HLS IP less its network")


def pynq_z2(data: dict | None = None) -> Shell:
    """Everything a PYNQ-Z2 bitstream adds to the network's layers and FIFOs."""
    data = data or B.load()
    return block_design(data) + axi_wrapper(data)
