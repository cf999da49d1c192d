"""hw.hls.fifosim: the deployed design's stream FIFO depths on the real hls4ml kernels, every
dataflow process concurrent and every stream bounded to its STREAM depth."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from conftest import DEPLOYED_CONFIG  # noqa: E402
from hw.hls import fifosim as F  # noqa: E402

N_IMAGES = 100


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from hw.hls.axi_library import build_axi_library
    from hw.hls.convert import convert

    out = tmp_path_factory.mktemp("fifosim") / "prj"
    convert(DEPLOYED_CONFIG, out)
    build_axi_library(out)  # the ordinary (sequential, unbounded) C simulation to compare with
    return out


@pytest.fixture(scope="module")
def sim(project, tmp_path_factory):
    return F.FifoSim.build(project, tmp_path_factory.mktemp("fifosim_build"))


@pytest.fixture(scope="module")
def batch(project):
    return F.test_beats(project, N_IMAGES)


def test_deployed_depths_complete_back_to_back_bit_exact(sim, project, batch):
    from host.emulation.csim_library import AxiLibrary
    from host.stream import IOSpec, check_tlast

    beats, _ = batch
    run = sim.run(beats, N_IMAGES)
    assert run.ok, run.message()
    spec = IOSpec.load(project / "io_spec.json")
    lib = AxiLibrary(project / spec.library, spec)
    ref_beats, ref_last = lib.run(beats, N_IMAGES)
    assert np.array_equal(run.out_beats, ref_beats)  # raw logit integers, every beat
    assert np.array_equal(run.out_last, ref_last)
    check_tlast(run.out_last, spec.out_beats(N_IMAGES))
    by = {f["name"]: f for f in run.fifos}
    assert set(sim.depths) <= set(by)
    for name, depth in sim.depths.items():
        assert by[name]["depth"] == depth and 1 <= by[name]["peak"] <= depth
        assert by[name]["occupancy"] == 0  # drained at the end of the batch


def test_too_shallow_fire_join_is_reported_as_deadlock(sim, batch):
    beats, _ = batch
    n = 2
    run = sim.run(beats[: n * len(beats) // N_IMAGES], n, {"layer12_out": 4})  # fire2 concat's 1x1 input
    assert run.status == "deadlock"
    msg = run.message()
    assert run.causes() == ["fire2_concat waits on empty layer14_out while its input layer12_out is full "
                            "(depth 4, written by fire2_expand1x1_relu)"], msg
    assert run.seconds < 10


def test_minimal_join_depths_below_deployed_and_hold_together(sim, batch):
    beats, _ = batch
    n = 2
    b = beats[: n * len(beats) // N_IMAGES]
    joins = F.join_fifos(sim)
    assert len(joins) == 4  # the early (expand1x1) input of each Fire concat; the 3x3 side is 2 deep
    mins = sim.min_depths(b, n, joins)
    assert all(1 <= mins[j] <= sim.depths[j] for j in joins)
    assert sim.run(b, n, {j: mins[j] - 1 for j in joins if mins[j] > 1}).status == "deadlock" or all(
        mins[j] == 1 for j in joins)
    assert sim.run(b, n, mins).ok  # the per-FIFO minima also hold all at once


def test_unknown_fifo_override_is_named(sim, batch):
    with pytest.raises(F.FifoSimError, match="unknown FIFO.*layer999_out"):
        sim.run(batch[0], N_IMAGES, {"layer999_out": 3})
