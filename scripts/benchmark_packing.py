#!/usr/bin/env python3
"""Images/s of each committed design before and after DSP packing, at the same cap (planner figures).

For every hls_config/*.yml the folding optimizer runs twice under the same budget (default 80 % of
the XC7Z020's BRAM18, DSP and LUT, shell included): with hls4ml's kernels only, and with the packed
kernel offered per layer (hw.hls.dsp_packing, two products per DSP48E1). It prints both plans'
images/s, DSP, LUT, the binding resource and the layers the optimizer packed. These are "modelled"
figures: the planner's (hw.plan, validated on held-out public builds; docs/PLANNER_HOLDOUT.md), and
the packed kernel's DSP and LUT cost is hw.plan.resources.PackedProducts until a real HLS report of
it exists. This restates the planner, it measures nothing on hardware.

    python scripts/benchmark_packing.py [--cap 0.8] [--markdown]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]


def _binding(p) -> str:
    """The resource closest to its budget (what stops a faster plan)."""
    shares = {"BRAM18": p.bram18 / max(p.budget.bram18, 1), "DSP": p.dsp / max(p.budget.dsp, 1),
              "LUT": p.lut / max(p.budget.lut, 1)}
    return max(shares, key=shares.get)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cap", type=float, default=0.8, help="share of BRAM18, DSP and LUT allowed (0.8)")
    ap.add_argument("--configs", nargs="*", help="hls4ml YAML configs (default: hls_config/*.yml)")
    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    from hw.plan import Budget, BudgetError, from_config
    from hw.plan.optimize import optimize

    configs = [Path(c) for c in a.configs] if a.configs else sorted((REPO / "hls_config").glob("*.yml"))
    print(f"| design | cap | images/s, hls4ml kernels | images/s, packing offered | DSP before -> after | "
          f"LUT before -> after | binding before / after | layers packed |")
    print("|---|--:|--:|--:|--:|--:|---|---|")
    for cfg_path in configs:
        layers, cfg = from_config(cfg_path)
        chip = cfg.chip
        budget = Budget(bram18=int(a.cap * chip.bram18), dsp=int(a.cap * chip.dsp), lut=int(a.cap * chip.lut),
                        lutram=int(a.cap * chip.lutram))
        plans = []
        for pack in (False, True):
            try:
                plans.append(optimize(layers, budget=budget, clock_ns=cfg.clock_ns, pack=pack))
            except BudgetError:
                plans.append(None)
        before, after = plans
        rate = lambda p: f"{p.images_per_s:,.0f}" if p else "does not fit"  # noqa: E731
        dsp = lambda p: f"{p.dsp:.0f}" if p else "-"  # noqa: E731
        lut = lambda p: f"{p.lut:,}" if p else "-"  # noqa: E731
        bind = lambda p: _binding(p) if p else "-"  # noqa: E731
        packed = [l.name for l in after.layers if l.dsp_packing] if after else []
        print(f"| {cfg_path.stem} | {a.cap:.0%} | {rate(before)} | {rate(after)} | {dsp(before)} -> {dsp(after)} | "
              f"{lut(before)} -> {lut(after)} | {bind(before)} / {bind(after)} | "
              f"{', '.join(packed) if packed else 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
