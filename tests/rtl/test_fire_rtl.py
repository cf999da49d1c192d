"""pytest entry of the Fire-module RTL regression (Icarus + cocotb, bench in hw/rtl/bench/fire_bench.py).

Each case generates the RTL's parameter/ROM files with hw.rtl.generate into its own build directory,
then runs the bench there, so cases are independent and can run in parallel (pytest -n).
Default run: random-weight modules of several shapes and foldings (>= 10,000 random pixels in
total, bit-exact), every Fire module of the deployed model with its trained weights (one frame
under random stalls), the HLS-RTL switch and the mutation test. `pytest -m slow` adds every test of
the bench on the deployed Fire modules and a long random sweep.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from host.deployed import config_path
from hw.rtl.bench.simrun import describe, run_bench, run_fire_rtl

from hw.golden import conv2d  # noqa: E402
from hw.rtl.generate import (  # noqa: E402
    ConvFold, FireFold, RTLError, fold_for_pixel_cycles, full_fold, model_fires,
    plan_pixel_cycles, random_fire_params, write_fire_rtl,
)

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")

N_RANDOM_TESTS = 4  # fire_bench.random_frames runs once per (idle, back-pressure) combination


@dataclass(frozen=True)
class RandomCase:
    """A random-weight Fire module: shape, frame, folding, formats and how many frames per test."""

    id: str
    shape: tuple  # cin, s, e1, e3
    hw: tuple
    fold: object  # FireFold, "full", or int cycles per pixel
    vary_formats: bool
    frames: int
    seed: int

    @property
    def random_pixels(self) -> int:
        return N_RANDOM_TESTS * self.frames * self.hw[0] * self.hw[1]


RANDOM_CASES = [
    # squeeze/expand like the deployed model (8-bit unsigned, WRAP), fully parallel channels
    RandomCase("c8s4e8-8x8-full", (8, 4, 8, 8), (8, 8), "full", False, 16, 1),
    # odd sizes, foldings that do not divide the channel counts, every requantizer mode
    RandomCase("c12s5e6e7-6x9-odd", (12, 5, 6, 7), (6, 9), FireFold(ConvFold(5, 2), ConvFold(2, 4), ConvFold(3, 3)),
               True, 16, 2),
    # deeper folding (many issue cycles per pixel), every requantizer mode
    RandomCase("c16s8e8-7x7-folded", (16, 8, 8, 8), (7, 7), 24, True, 16, 3),
    # frame-edge corner cases: one row, one column, one pixel
    RandomCase("c4s2e2-1x7", (4, 2, 2, 2), (1, 7), "full", True, 4, 4),
    RandomCase("c4s2e2-5x1", (4, 2, 2, 2), (5, 1), FireFold(ConvFold(1, 1), ConvFold(1, 2), ConvFold(2, 1)), True, 4, 5),
    RandomCase("c4s3e2-1x1", (4, 3, 2, 2), (1, 1), "full", True, 8, 6),
]
SLOW_CASES = [
    RandomCase("c32s16e32-14x14-full", (32, 16, 32, 32), (14, 14), "full", False, 2, 10),
    RandomCase("c24s12e16e20-10x10-odd", (24, 12, 16, 20), (10, 10), 40, True, 4, 11),
]


def _fold(fire, spec):
    if spec == "full":
        return full_fold(fire)
    if isinstance(spec, int):
        return fold_for_pixel_cycles(fire, spec)
    return spec


CHECKED_PIXELS: dict[str, int] = {}  # what the benches reported checking, per random case


def _run_random(case: RandomCase, tmp_path):
    rng = np.random.default_rng(case.seed)
    fire = random_fire_params(rng, *case.shape, name=f"rand_{case.id}", vary_formats=case.vary_formats)
    rtl = write_fire_rtl(fire, *case.hw, _fold(fire, case.fold), tmp_path / "rtl")
    res = run_fire_rtl(rtl, tmp_path / "sim", frames=case.frames, seed=case.seed)
    assert res.ok, describe(res)
    assert len(res.passed) == 7, describe(res)
    checked = sum(v for k, v in res.figures.items() if k.startswith("random_pixels_"))
    assert checked == case.random_pixels, f"bench checked {checked} random pixels, planned {case.random_pixels}"
    assert res.figures["frame_cycles"] == rtl.frame_cycles, (res.figures, rtl.frame_cycles)
    CHECKED_PIXELS[case.id] = checked


@pytest.mark.parametrize("case", RANDOM_CASES, ids=lambda c: c.id)
def test_random_fire(case, tmp_path):
    _run_random(case, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=lambda c: c.id)
def test_random_fire_sweep(case, tmp_path):
    _run_random(case, tmp_path)


def test_regression_covers_10k_random_pixels():
    """The pixels the benches of this run reported comparing bit-exactly (not the plan's arithmetic)."""
    if set(CHECKED_PIXELS) < {c.id for c in RANDOM_CASES}:
        pytest.skip("only meaningful after every test_random_fire case of this file ran in this session")
    assert sum(CHECKED_PIXELS.values()) >= 10_000, CHECKED_PIXELS


# ----------------------------------------------------------------------------- deployed model
@pytest.fixture(scope="module")
def deployed_fires(deployed_model):
    """(FireParams, H, W, fold) of each Fire module of the deployed model, folded as hw.plan plans
    the shipped hls4ml config (the graph hls4ml builds from it)."""
    from hw import plan as P

    cfg = config_path()  # the deployed design (host.deployed)
    planned = P.plan(P.from_config(cfg)[0])
    out = {}
    for fire, h, w in model_fires(deployed_model):
        target = plan_pixel_cycles(planned, fire, h, w)
        out[fire.name] = (fire, h, w, fold_for_pixel_cycles(fire, target))
    return out


DEPLOYED = ["fire2", "fire3", "fire4", "fire5"]


@pytest.mark.parametrize("name", DEPLOYED)
def test_deployed_fire(name, deployed_fires, tmp_path):
    """Trained weights, planner's folding: one random frame under source idles and back-pressure."""
    fire, h, w, fold = deployed_fires[name]
    rtl = write_fire_rtl(fire, h, w, fold, tmp_path / "rtl")
    res = run_fire_rtl(rtl, tmp_path / "sim", frames=1, seed=20,
                       test_filter=r"random_frames/idle=True/backpressure=True")
    assert res.ok and len(res.passed) == 1, describe(res)


@pytest.mark.slow
@pytest.mark.parametrize("name", DEPLOYED)
def test_deployed_fire_all(name, deployed_fires, tmp_path):
    """Trained weights: every bench test (corners, mid-frame reset, throughput, all stall modes)."""
    fire, h, w, fold = deployed_fires[name]
    rtl = write_fire_rtl(fire, h, w, fold, tmp_path / "rtl")
    res = run_fire_rtl(rtl, tmp_path / "sim", frames=2, seed=21)
    assert res.ok and len(res.passed) == 7, describe(res)
    assert res.figures["frame_cycles"] == rtl.frame_cycles


# ----------------------------------------------------------------------------- HLS-exported RTL
def test_hls_exported_fire(tmp_path, deployed_model_path):
    """The same bench on Vitis-HLS-exported Verilog of a one-Fire hls4ml project ($HLS_FIRE_RTL_DIR)."""
    d = os.environ.get("HLS_FIRE_RTL_DIR")
    if not d:
        pytest.skip("HLS_FIRE_RTL_DIR is not set: no Vitis-HLS-exported Fire RTL to test (needs Vivado)")
    src = Path(d)
    sources = sorted(src.glob("*.v")) + sorted(src.glob("*.sv"))
    if not src.is_dir() or not sources:
        pytest.skip(f"HLS_FIRE_RTL_DIR={d}: no directory with Verilog sources (*.v) there")
    from hw.model import load_model

    model = load_model(os.environ.get("HLS_FIRE_MODEL", str(deployed_model_path)))
    name = os.environ.get("HLS_FIRE_NAME", "fire2")
    fires = {f.name: (f, h, w) for f, h, w in model_fires(model)}
    if name not in fires:
        pytest.fail(f"HLS_FIRE_NAME={name}: the model's Fire modules are {sorted(fires)}")
    fire, h, w = fires[name]
    build = tmp_path / "sim"
    shutil.copytree(src, build)  # $readmemh files of the export resolve relative to the sim's cwd
    res = run_bench(fire=fire, h=h, w=w, sources=[build / s.name for s in sources], includes=[build],
                    toplevel=os.environ.get("HLS_FIRE_TOPLEVEL", "myproject"), build_dir=build,
                    frames=int(os.environ.get("HLS_FIRE_FRAMES", "2")), seed=30,
                    in_prefix=os.environ.get("HLS_FIRE_IN_PREFIX", "in"),
                    out_prefix=os.environ.get("HLS_FIRE_OUT_PREFIX", "out"),
                    cycles_per_pixel=int(os.environ.get("HLS_FIRE_CYCLES_PER_PIXEL", "400")))
    # throughput asserts nothing about HLS timing; every other test is the same exact comparison
    assert res.ok and len(res.passed) == 7, describe(res)


# ----------------------------------------------------------------------------- mutation test
MUTANT_SHAPE, MUTANT_HW = (4, 3, 4, 4), (4, 5)


def _mutant_rtl(tmp_path, tag):
    """A private copy of hw/rtl with its generated files, so a mutation touches nothing shared."""
    fire = random_fire_params(np.random.default_rng(40), *MUTANT_SHAPE, name="mutant")
    rtl = write_fire_rtl(fire, *MUTANT_HW, full_fold(fire), tmp_path / tag / "rtl")
    srcs = []
    for s in rtl.sources:
        dst = rtl.out_dir / s.name
        shutil.copy(s, dst)
        srcs.append(dst)
    return rtl, srcs


def _run_copy(rtl, srcs, build, test_filter):
    return run_bench(fire=rtl.fire, h=rtl.h, w=rtl.w, sources=srcs, includes=[rtl.out_dir],
                     toplevel=rtl.toplevel, build_dir=build, frames=2, seed=41, test_filter=test_filter,
                     cycles_per_pixel=9)


def _flip_one_weight(rtl) -> None:
    """Change one weight in the squeeze ROM image: flip the sign bit of w[cin=0, o] for the squeeze
    channel o most active on random inputs (a dead channel would hide the mutation)."""
    fire, fold = rtl.fire, rtl.fold.squeeze
    x = np.random.default_rng(0).integers(0, 1 << fire.in_bits, size=(4, rtl.h, rtl.w, fire.in_channels))
    o = int(np.argmax((conv2d(x, fire.squeeze) > 0).mean(axis=(0, 1, 2))))
    wb = int(re.search(r"S_WB = (\d+)", rtl.params_vh.read_text()).group(1))
    cpt = -(-fire.in_channels // fold.pi)
    addr, lane = (o // fold.po) * cpt, (o % fold.po) * fold.pi  # input channel 0: chunk 0, lane i = 0
    mem = rtl.out_dir / "squeeze_w.mem"
    lines = mem.read_text().split()
    lines[addr] = f"{int(lines[addr], 16) ^ (1 << (lane * wb + wb - 1)):0{len(lines[addr])}x}"
    mem.write_text("\n".join(lines) + "\n")


IGNORE_TREADY_ONCE = """    reg glitch_done;
    wire glitch = !glitch_done && out_TVALID && !out_TREADY;
    always @(posedge ap_clk) if (rst) glitch_done <= 1'b0; else if (glitch) glitch_done <= 1'b1;
    wire out_fire = out_TVALID && (out_TREADY || glitch);   // MUTANT: one stalled beat taken
"""


def test_mutants_are_caught(tmp_path):
    """The bench fails on broken RTL: one weight changed, and one cycle of back-pressure ignored.
    The unmutated copy of the same case passes first, so the failures come from the mutations."""
    rtl, srcs = _mutant_rtl(tmp_path, "orig")
    res = _run_copy(rtl, srcs, tmp_path / "orig" / "sim", r"random_frames/idle=False")
    assert res.ok and len(res.passed) == 2, "unmutated copy must pass: " + describe(res)

    rtl, srcs = _mutant_rtl(tmp_path, "weight")
    _flip_one_weight(rtl)
    res = _run_copy(rtl, srcs, tmp_path / "weight" / "sim", r"random_frames/idle=False/backpressure=False")
    assert not res.ok, "a changed weight went unnoticed: " + describe(res)
    assert any("mismatching lanes" in m for m in res.failed.values()), describe(res)

    rtl, srcs = _mutant_rtl(tmp_path, "tready")
    fire_v = rtl.out_dir / "fire.v"
    text = fire_v.read_text()
    pattern = r"    wire out_fire = out_TVALID && out_TREADY;\n"
    assert re.search(pattern, text), "mutation site not found in hw/rtl/fire.v (update this test)"
    fire_v.write_text(re.sub(pattern, IGNORE_TREADY_ONCE, text))
    res = _run_copy(rtl, srcs, tmp_path / "tready" / "sim", r"random_frames/idle=False/backpressure=True")
    assert not res.ok, "a beat dropped under back-pressure went unnoticed: " + describe(res)
    assert any("output beats" in m or "mismatching lanes" in m for m in res.failed.values()), describe(res)


# ----------------------------------------------------------------------------- generator errors
def test_generator_rejects_unimplementable_fire(tmp_path):
    fire = random_fire_params(np.random.default_rng(0), 4, 2, 2, 2)
    fire.expand3x3.out_bits = 6
    with pytest.raises(RTLError, match="share one output lane width"):
        write_fire_rtl(fire, 4, 4, full_fold(fire), tmp_path)
    fire = random_fire_params(np.random.default_rng(0), 4, 2, 2, 2)
    with pytest.raises(RTLError, match="floor of 9"):
        fold_for_pixel_cycles(fire, 8)


def test_generator_cli(tmp_path):
    """The CLI writes a parameter file for random weights and refuses a malformed shape cleanly."""
    import subprocess

    ok = subprocess.run([sys.executable, "-m", "hw.rtl.generate", "--random", "8,4,4,4", "--hw", "3,5",
                         "--cycles", "18", "--out", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    vh = (tmp_path / "fire_params.vh").read_text()
    assert "parameter integer H = 3," in vh and "parameter integer W = 5," in vh
    assert len(list(tmp_path.glob("*.mem"))) == 6
    bad = subprocess.run([sys.executable, "-m", "hw.rtl.generate", "--random", "1,2", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--random must be 4 positive integers" in bad.stderr
    assert "Traceback" not in bad.stderr
