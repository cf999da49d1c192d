"""cocotb bench of any Vitis-HLS-exported hls4ml `io_stream` top: its AXI-Stream output against the
C simulation of the same project's firmware, every beat, as raw integers.

The case (port prefixes, lanes per beat, input beats of every image, the C simulation's output
beats) comes from the JSON named by $HLS_CASE, written by hw.rtl.hls_check. Helpers (strict bus
lookup, pause patterns) are the Fire bench's.
"""
from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, SimTimeoutError, with_timeout
from cocotbext.axi import AxiStreamFrame, AxiStreamSink, AxiStreamSource
from hw.rtl.bench.fire_bench import _bus, drive_ap_start, pause_gen

CLOCK_NS = 5


def load_case() -> dict:
    with open(os.environ["HLS_CASE"]) as f:
        return json.load(f)


class TB:
    def __init__(self, dut, case: dict, seed: int):
        self.dut, self.case = dut, case
        self.rng = np.random.default_rng(seed)
        cocotb.start_soon(Clock(dut.ap_clk, CLOCK_NS, unit="ns").start())
        ib, ob = _bus(dut, case["in_prefix"]), _bus(dut, case["out_prefix"])
        for bus, lanes, what in ((ib, case["in_lanes"], "input"), (ob, case["out_lanes"], "output")):
            if len(bus.tdata) % lanes:
                raise AssertionError(f"{what} TDATA width {len(bus.tdata)} is not {lanes} whole lanes")
        self.source = AxiStreamSource(ib, dut.ap_clk, dut.ap_rst_n, reset_active_level=False,
                                      byte_lanes=case["in_lanes"])
        self.sink = AxiStreamSink(ob, dut.ap_clk, dut.ap_rst_n, reset_active_level=False,
                                  byte_lanes=case["out_lanes"])
        if hasattr(dut, "ap_start"):
            cocotb.start_soon(drive_ap_start(dut, self.source))
        self.ib, self.ob = ib, ob
        self.cycle, self.out_cycles, self.accepted = 0, [], 0
        cocotb.start_soon(self._count())

    async def _count(self):
        while True:
            await RisingEdge(self.dut.ap_clk)
            await ReadOnly()
            self.cycle += 1
            if int(self.ob.tvalid.value) and int(self.ob.tready.value):
                self.out_cycles.append(self.cycle)
            if int(self.ib.tvalid.value) and int(self.ib.tready.value):
                self.accepted += 1

    async def reset(self):
        self.dut.ap_rst_n.value = 0
        self.source.clear()
        await ClockCycles(self.dut.ap_clk, 4)
        self.dut.ap_rst_n.value = 1
        await ClockCycles(self.dut.ap_clk, 2)
        self.sink.clear()

    async def run_images(self, images: list[int]) -> list[list[int]]:
        for i in images:
            await self.source.send(AxiStreamFrame(self.case["inputs"][i]))
        beats = []
        n = sum(len(self.case["expected"][i]) for i in images)
        timeout = self.case["cycles_per_image"] * CLOCK_NS * (len(images) + 2) * 4
        while len(beats) < n:  # no TLAST on an hls4ml top: every beat is a frame of out_lanes lanes
            try:
                frame = await with_timeout(self.sink.recv(), timeout, "ns")
            except SimTimeoutError:
                ctl = {s: str(getattr(self.dut, s).value) for s in ("ap_start", "ap_idle", "ap_ready", "ap_done")
                       if hasattr(self.dut, s)}
                raise AssertionError(f"no output beat {len(beats) + 1} of {n} within {timeout:,.0f} ns: "
                                     f"{self.accepted} input beats accepted, control {ctl}") from None
            beats.append([int(v) for v in frame.tdata])
        return beats

    def check(self, got: list[list[int]], images: list[int]):
        want = [beat for i in images for beat in self.case["expected"][i]]
        bad = [k for k, (g, w) in enumerate(zip(got, want)) if g != w]
        assert len(got) == len(want) and not bad, (
            f"{len(bad)} of {len(want)} output beats differ; first: beat {bad[0]} got {got[bad[0]]} "
            f"want {want[bad[0]]}" if bad else f"{len(got)} beats, want {len(want)}")


def _record(key, value):
    path = load_case()["results_json"]
    d = json.load(open(path)) if os.path.exists(path) else {}
    d[key] = value
    json.dump(d, open(path, "w"), indent=1)


@cocotb.test()
async def back_to_back(dut):
    """Every image back to back, no stalls; output interval measured."""
    case = load_case()
    tb = TB(dut, case, 1)
    await tb.reset()
    images = list(range(len(case["inputs"])))
    tb.check(await tb.run_images(images), images)
    gaps = np.diff(tb.out_cycles)
    _record("interval_cycles", [int(g) for g in gaps])


@cocotb.test()
async def idle_and_backpressure(dut):
    """Random TVALID gaps on the input and TREADY stalls on the output."""
    case = load_case()
    tb = TB(dut, case, 2)
    await tb.reset()
    tb.source.set_pause_generator(pause_gen(tb.rng, 0.35))
    tb.sink.set_pause_generator(pause_gen(tb.rng, 0.35))
    images = list(range(len(case["inputs"])))
    tb.check(await tb.run_images(images), images)


@cocotb.test()
async def reset_mid_image(dut):
    """Half an image, reset, then a whole batch: no stale state leaks into the outputs."""
    case = load_case()
    tb = TB(dut, case, 3)
    await tb.reset()
    half = case["inputs"][0][: len(case["inputs"][0]) // 2]
    await tb.source.send(AxiStreamFrame(half))
    await with_timeout(tb.source.wait(), case["cycles_per_image"] * CLOCK_NS * 4, "ns")
    await ClockCycles(dut.ap_clk, 50)
    await tb.reset()
    images = list(range(len(case["inputs"])))
    tb.check(await tb.run_images(images), images)
