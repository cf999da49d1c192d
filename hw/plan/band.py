"""The planner as the project uses it: constants fitted for the target HLS tool on every public
build, and the error band those constants showed on builds they were not fitted on.

Why both: hw.plan.fit scores each build with constants fitted on the others (leave-one-design-out).
The project plans with constants fitted on all of them (more evidence, same procedure), and quotes
the held-out errors as its band: a planned figure times its band factor is what the ground truth
says the tool may really use. `python -m hw.plan --band` plans against the cap with it.
"""
from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

from hw.plan import builds as B
from hw.plan import fit as F

TARGET_TOOL = "vitis_hls_2024.2"  # docs/BUILD.md: Vitis HLS 2023.2 or newer; the newest public build here


@dataclass(frozen=True)
class Band:
    """Factors on the network's planned figures (the shell is a routed figure, no band): the worst
    held-out ratio report / planner over the public builds, never below 1."""

    lut: float = 1.0
    dsp: float = 1.0
    bram18: float = 1.0
    ii: float = 1.0
    source: str = "none"


@functools.lru_cache(maxsize=None)
def production(tool: str = TARGET_TOOL) -> F.ToolParams:
    """Constants for `tool`, fitted on every public build (hw/plan/build_figures.json)."""
    data = B.load()
    p = F.fit(F.samples(data), tool)
    scale = F._fit_design_lut(data, list(data), {k: F.fit(F.samples(data), e["build"]["tool"]) for k, e in data.items()})
    return F.ToolParams(p.cycles, p.mult, p.memory, p.lut_hls_weighted, p.lut_hls_plain, scale or 1.0, p.ff_hls)


@functools.lru_cache(maxsize=None)
def measured() -> Band:
    """The band from the leave-one-design-out errors (design level: summed weighted-layer DSP and
    weight/index BRAM18 per build, the top's II, the network's placed LUT)."""
    errors, _ = F.leave_one_out(B.load())
    sums = defaultdict(lambda: [0.0, 0.0])
    for e in errors:
        if e.figure in ("dsp", "bram18"):
            s = sums[(e.build, e.figure)]
            s[0] += e.report
            s[1] += e.planner
    worst = lambda fig: max([1.0] + [r / p for (b, f), (r, p) in sums.items() if f == fig and p > 0])  # noqa: E731
    ratio = lambda fig: max([1.0] + [e.report / e.planner for e in errors if e.figure == fig and e.planner])  # noqa: E731
    n = len({e.build for e in errors})
    return Band(lut=ratio("lut_placed_design"), dsp=worst("dsp"), bram18=worst("bram18"), ii=ratio("ii_design"),
                source=f"worst held-out report/planner ratio over {n} public builds (hw.plan.fit)")
