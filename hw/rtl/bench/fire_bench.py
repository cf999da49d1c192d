"""cocotb bench of a streaming Fire module: bit-exact against hw.golden.fire_forward, every beat.

The same tests run on hw/rtl/fire.v and on Vitis-HLS-exported RTL of a one-Fire hls4ml project
(DESIGN.md "Fire-module RTL interface"): only the port prefixes and the case file differ. The case
(FireParams, frame size, how many frames, seed) comes from the pickle named by $FIRE_CASE, written
by tests/rtl/simrun.py.
"""
from __future__ import annotations

import itertools
import json
import os
import pickle
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

from hw.golden import fire_forward

CLOCK_NS = 10


def load_case() -> dict:
    with open(os.environ["FIRE_CASE"], "rb") as f:
        return pickle.load(f)


def _bus(dut, prefix: str) -> AxiStreamBus:
    """AXI-Stream bus from Vitis-HLS names (<prefix>_TDATA/_TVALID/_TREADY), every signal required:
    from_prefix's optional-signal lookup would silently drop a misnamed TVALID/TREADY."""
    bus = AxiStreamBus.from_prefix(dut, prefix)
    for sig in ("tdata", "tvalid", "tready"):
        if not hasattr(bus, sig):
            raise AssertionError(f"DUT has no {prefix}_T{sig[1:].upper()} port")
    return bus


def pause_gen(rng: np.random.Generator, p: float):
    """Random pause pattern: stall with probability p each cycle (in bursts, to vary gaps)."""
    while True:
        n = int(rng.integers(1, 6))
        stall = bool(rng.random() < p)
        for _ in range(n):
            yield stall


async def drive_ap_start(dut, source: AxiStreamSource):
    """ap_ctrl_hs as Vitis's co-simulation drives it: ap_start high while input is queued, and once
    the input has run dry only until the call in progress has signalled ap_ready. Held high for ever
    (as this bench did before it met real Vitis output: LeNet-5 from Vitis HLS 2023.2), the next
    call's pipelined loop waits on its first input and keeps the last pixel of the previous frame
    in flight (the pipeline stalls as a whole), so the last frame's output never appears."""
    clk, start = dut.ap_clk, dut.ap_start
    start.value = 0
    while True:
        await RisingEdge(clk)
        await ReadOnly()
        handshake = bool(int(dut.ap_ready.value)) and bool(int(start.value))
        await FallingEdge(clk)  # drive between edges
        if not source.idle():
            start.value = 1
        elif handshake:
            start.value = 0


class TB:
    """Owns clock, reset, AXI-Stream source and sink, the golden model and the protocol checker."""

    def __init__(self, dut, case: dict, seed_offset: int = 0):
        self.dut = dut
        self.case = case
        self.fire = case["fire"]
        self.h, self.w = case["h"], case["w"]
        self.cin = self.fire.in_channels
        self.cout = self.fire.out_channels
        self.in_bits = self.fire.in_bits
        self.rng = np.random.default_rng(case["seed"] * 1000 + seed_offset)
        cocotb.start_soon(Clock(dut.ap_clk, CLOCK_NS, unit="ns").start())
        in_bus, out_bus = _bus(dut, case["in_prefix"]), _bus(dut, case["out_prefix"])
        if len(in_bus.tdata) % self.cin or len(out_bus.tdata) % self.cout:
            raise AssertionError(f"TDATA widths {len(in_bus.tdata)}/{len(out_bus.tdata)} are not whole "
                                 f"lanes of {self.cin} input / {self.cout} output channels")
        # one AXI "byte" = one channel lane: a frame's tdata is the HWC array flattened
        self.source = AxiStreamSource(in_bus, dut.ap_clk, dut.ap_rst_n, reset_active_level=False,
                                      byte_lanes=self.cin)
        self.sink = AxiStreamSink(out_bus, dut.ap_clk, dut.ap_rst_n, reset_active_level=False,
                                  byte_lanes=self.cout)
        self.in_lane = len(in_bus.tdata) // self.cin
        self.out_lane = len(out_bus.tdata) // self.cout
        self.in_bus, self.out_bus = in_bus, out_bus
        self.accepted = 0  # input beats accepted since the last reset
        self.protocol_errors: list[str] = []
        self.out_times: list[int] = []  # cycle of every output handshake
        self.cycle = 0
        self.in_reset = False
        cocotb.start_soon(self._monitor())
        if hasattr(dut, "ap_start"):
            cocotb.start_soon(drive_ap_start(dut, self.source))


    async def _monitor(self):
        """Count handshakes and check AXI-Stream rules on the output: once TVALID is high it stays
        high with TDATA unchanged until TREADY takes the beat."""
        prev_stalled, prev_data = False, None
        ob = self.out_bus
        while True:
            await RisingEdge(self.dut.ap_clk)
            await ReadOnly()
            self.cycle += 1
            if self.in_reset:
                prev_stalled = False
                continue
            v, r = int(ob.tvalid.value), int(ob.tready.value)
            if prev_stalled:
                if not v:
                    self.protocol_errors.append(f"cycle {self.cycle}: out TVALID dropped before TREADY")
                elif int(ob.tdata.value) != prev_data:
                    self.protocol_errors.append(f"cycle {self.cycle}: out TDATA changed while stalled")
            prev_stalled = bool(v and not r)
            prev_data = int(ob.tdata.value) if prev_stalled else None
            if v and r:
                self.out_times.append(self.cycle)
            if int(self.in_bus.tvalid.value) and int(self.in_bus.tready.value):
                self.accepted += 1

    async def reset(self, cycles: int = 4):
        """Synchronous active-low reset; protocol checks pause until it has settled."""
        self.in_reset = True
        self.dut.ap_rst_n.value = 0
        self.source.clear()
        await ClockCycles(self.dut.ap_clk, cycles)
        self.dut.ap_rst_n.value = 1
        await ClockCycles(self.dut.ap_clk, 2)
        self.sink.clear()
        self.accepted = 0
        self.in_reset = False

    def set_pauses(self, idle: bool, backpressure: bool, p: float = 0.35):
        self.source.set_pause_generator(pause_gen(self.rng, p) if idle else None)
        self.sink.set_pause_generator(pause_gen(self.rng, p) if backpressure else None)

    # ------------------------------------------------------------------ data
    def random_frames(self, n: int) -> np.ndarray:
        return self.rng.integers(0, 1 << self.in_bits, size=(n, self.h, self.w, self.cin), dtype=np.int64)

    def expected(self, x: np.ndarray) -> np.ndarray:
        """Golden output as the raw lane bit patterns the DUT drives (two's complement, extended
        to the lane width: lanes wider than the format occur in byte-padded HLS streams)."""
        return fire_forward(x, self.fire) & ((1 << self.out_lane) - 1)

    async def send(self, x: np.ndarray):
        for frame in x:
            await self.source.send(frame.reshape(-1).tolist())

    async def _collect(self, n: int, beats: list, done: Event):
        for _ in range(n):
            f = await self.sink.recv()
            beats.append(f.tdata)
        done.set()

    async def run_frames(self, x: np.ndarray, what: str) -> int:
        """Stream frames x (N,H,W,Cin) back to back, compare every output beat; return pixels."""
        exp = self.expected(x).reshape(-1, self.cout)
        beats: list = []
        done = Event()
        cocotb.start_soon(self._collect(len(exp), beats, done))
        await self.send(x)
        budget = (len(exp) * self.case["cycles_per_pixel"] * 4 + 20 * self.w + 2000) * CLOCK_NS
        try:
            await with_timeout(done.wait(), budget, "ns")
        except Exception as e:  # SimTimeoutError
            raise AssertionError(f"{what}: only {len(beats)} of {len(exp)} output beats within "
                                 f"{budget} ns ({type(e).__name__})") from None
        await ClockCycles(self.dut.ap_clk, 4 * self.case["cycles_per_pixel"] + 10)
        extra = self.sink.count()
        self.check(exp, beats, what)
        assert extra == 0, f"{what}: {extra} extra output beat(s) after the last expected one"
        assert not self.protocol_errors, f"{what}: AXI-Stream violations: {self.protocol_errors[:5]}"
        return len(exp)

    def check(self, exp: np.ndarray, beats: list, what: str):
        got = np.array(beats, dtype=np.int64).reshape(exp.shape)
        bad = np.argwhere(got != exp)
        if len(bad):
            px, ch = (int(v) for v in bad[0])
            frame, rest = divmod(px, self.h * self.w)
            r, c = divmod(rest, self.w)
            if os.environ.get("FIRE_DEBUG"):
                self.dut._log.error("bad lanes (pixel, ch): %s", bad.tolist())
            raise AssertionError(
                f"{what}: {len(bad)} mismatching lanes in {len(np.unique(bad[:, 0]))} of {len(exp)} beats; "
                f"first: frame {frame} pixel ({r},{c}) channel {ch}: got {got[px, ch]}, expected {exp[px, ch]}")
        self.dut._log.info("%s: %d beats bit-exact", what, len(exp))


def _record(case: dict, key: str, value):
    """Append a figure to the case's results JSON (read back by simrun/rtl_report)."""
    path = Path(case["results_json"])
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=1))


# ====================================================================== tests
@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def random_frames(dut, idle, backpressure):
    """Random input maps, several frames back to back, with and without idles / back-pressure."""
    case = load_case()
    tb = TB(dut, case, seed_offset=2 * int(idle) + int(backpressure))
    await tb.reset()
    tb.set_pauses(idle, backpressure)
    n = await tb.run_frames(tb.random_frames(case["frames"]), f"random idle={idle} bp={backpressure}")
    _record(case, f"random_pixels_{int(idle)}{int(backpressure)}", n)


@cocotb.test()
async def saturation_corners(dut):
    """All-zero, all-max and alternating maps (both phases), back to back under random stalls."""
    case = load_case()
    tb = TB(dut, case, seed_offset=7)
    await tb.reset()
    tb.set_pauses(True, True)
    top = (1 << tb.in_bits) - 1
    shape = (tb.h, tb.w, tb.cin)
    parity = np.indices(shape).sum(axis=0) % 2
    x = np.stack([np.zeros(shape, np.int64), np.full(shape, top, np.int64), parity * top, (1 - parity) * top])
    await tb.run_frames(x, "corners")


@cocotb.test()
async def reset_mid_frame(dut):
    """Reset asserted mid-frame (input and output in flight), then a clean frame must be exact."""
    case = load_case()
    tb = TB(dut, case, seed_offset=11)
    await tb.reset()
    tb.set_pauses(True, True)
    pixels = tb.h * tb.w
    cocotb.start_soon(tb.send(tb.random_frames(2)))
    stop_at = pixels + int(tb.rng.integers(0, pixels))  # somewhere in the second frame
    for _ in range(pixels * case["cycles_per_pixel"] * 8 + 1000):
        await RisingEdge(dut.ap_clk)
        if tb.accepted >= stop_at:
            break
    assert tb.accepted >= stop_at, f"only {tb.accepted} input beats accepted before the planned reset"
    await tb.reset(cycles=int(tb.rng.integers(1, 4)))
    await tb.run_frames(tb.random_frames(2), "after mid-frame reset")


@cocotb.test()
async def throughput(dut):
    """Cycles per frame with no stalls: spacing of first output beats of consecutive frames."""
    case = load_case()
    tb = TB(dut, case, seed_offset=13)
    await tb.reset()
    n = max(3, case.get("throughput_frames", 3))
    t0 = tb.cycle
    await tb.run_frames(tb.random_frames(n), "throughput")
    px = tb.h * tb.w
    firsts = [tb.out_times[k * px] for k in range(n)]
    periods = [b - a for a, b in itertools.pairwise(firsts)]
    _record(case, "frame_cycles", periods[-1])
    _record(case, "frame_periods", periods)
    _record(case, "first_frame_latency", firsts[0] - t0)
    dut._log.info("frame periods %s cycles, first-beat latency %d", periods, firsts[0] - t0)
