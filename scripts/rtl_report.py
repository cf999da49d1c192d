#!/usr/bin/env python3
"""Figures of the Fire-module RTL for each Fire module of a trained model, as a markdown table:

  * cycles per frame measured in simulation (Icarus + the cocotb bench's `throughput` test:
    spacing of consecutive frames streamed with no stalls) vs the II hw.plan's plan predicts for
    that Fire module (its slowest layer, cycles per image), and their ratio (goal: within 10 %);
  * Yosys `synth_xilinx -family xc7` cell counts: LUT, FF, LUTRAM/SRL, RAMB18E1/RAMB36E1, DSP48E1.

The RTL of each module is folded to meet the plan's per-layer II (hw.rtl.generate.fold_for_pixel_cycles).

    python scripts/rtl_report.py [--model hw/models/<model>.keras] [--config hls_config/<model>.yml]
                                 [--fires fire2,fire4] [--no-sim] [--no-synth] [--out build/rtl_report]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from host.deployed import model_path
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CELL_GROUPS = {
    "LUT": re.compile(r"^LUT[1-6]$"),
    "FF": re.compile(r"^FD[RSCP]E$"),
    "LUTRAM/SRL": re.compile(r"^(RAM(32|64|128|256)[XM0-9SDP]*|SRL16E|SRLC32E)$"),
    "RAMB18": re.compile(r"^RAMB18E1$"),
    "RAMB36": re.compile(r"^RAMB36E1$"),
    "DSP48E1": re.compile(r"^DSP48E1$"),
    "CARRY4": re.compile(r"^CARRY4$"),
}


class ReportError(RuntimeError):
    pass


def yosys_cells(rtl, log_path: Path) -> dict[str, int]:
    """Run Yosys synth_xilinx (xc7) on the generated Fire module and group its cell counts."""
    if shutil.which("yosys") is None:
        raise ReportError("yosys is not installed (Debian package 'yosys')")
    srcs = " ".join(str(s) for s in rtl.sources)
    script = (f"read_verilog -defer -sv -I{rtl.out_dir} {srcs}; "
              f"synth_xilinx -family xc7 -top {rtl.toplevel}; stat")
    p = subprocess.run(["yosys", "-q", "-l", str(log_path), "-p", script], capture_output=True, text=True)
    if p.returncode != 0:
        raise ReportError(f"yosys failed on {rtl.fire.name} (log: {log_path}):\n{p.stderr[-2000:]}")
    text = log_path.read_text()
    stat = text[text.rfind("Number of cells:"):]
    counts = {k: 0 for k in CELL_GROUPS}
    for name, n in re.findall(r"^\s+(\w+)\s+(\d+)\s*$", stat, flags=re.M):
        for group, pat in CELL_GROUPS.items():
            if pat.match(name):
                counts[group] += int(n)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(model_path()), help="committed model (default: the deployed one)")
    ap.add_argument("--config", help="hls4ml YAML with the planned ReuseFactors "
                    "(default: hls_config/<model name>.yml if it exists)")
    ap.add_argument("--fires", help="comma-separated subset, e.g. fire2,fire4")
    ap.add_argument("--no-sim", action="store_true", help="skip the cycle measurement")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys")
    ap.add_argument("--out", default=str(REPO / "build" / "rtl_report"))
    ap.add_argument("--json", help="also write the figures to this JSON file")
    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)

    from hw import plan as P
    from hw.rtl.generate import (RTLError, fold_for_pixel_cycles, model_fires, pixel_cycles, plan_fire_ii,
                                 plan_pixel_cycles, write_fire_rtl)

    try:
        model_file = Path(a.model)
        if not model_file.exists():
            raise ReportError(f"{model_file}: model file not found")
        from hw.model import load_model

        model = load_model(model_file)
        cfg = Path(a.config) if a.config else REPO / "hls_config" / f"{model_file.stem}.yml"
        if not cfg.exists():
            raise ReportError(f"{cfg}: hls4ml config not found")
        try:
            planned = P.plan(P.from_config(cfg, model_file)[0])
        except P.BudgetError as e:
            raise ReportError(str(e)) from None
        fires = model_fires(model)
        if a.fires:
            want = set(a.fires.split(","))
            missing = want - {f.name for f, _, _ in fires}
            if missing:
                raise ReportError(f"--fires: {sorted(missing)} not in the model ({[f.name for f, _, _ in fires]})")
            fires = [t for t in fires if t[0].name in want]
        out = Path(a.out)
        rows = []
        for fire, h, w in fires:
            fold = fold_for_pixel_cycles(fire, plan_pixel_cycles(planned, fire, h, w))
            rtl = write_fire_rtl(fire, h, w, fold, out / fire.name / "rtl")
            row = {"fire": fire.name, "hw": f"{h}x{w}", "mults": fold.mults, "fold": fold,
                   "pixel_cycles": pixel_cycles(fire, fold), "implied": rtl.frame_cycles,
                   "planned": plan_fire_ii(planned, fire)}
            if not a.no_sim:
                from hw.rtl.bench.simrun import describe, run_fire_rtl

                res = run_fire_rtl(rtl, out / fire.name / "sim", test_filter=r"\.throughput$", seed=1,
                                   throughput_frames=3)
                if not res.ok:
                    raise ReportError(f"{fire.name}: throughput simulation failed:\n{describe(res)}")
                row["measured"] = res.figures["frame_cycles"]
                row["latency"] = res.figures["first_frame_latency"]
            if not a.no_synth:
                row["cells"] = yosys_cells(rtl, out / fire.name / "yosys.log")
            rows.append(row)
            print(f"{fire.name}: done", file=sys.stderr)
    except (ReportError, RTLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    print(f"Fire-module RTL, model {model_file.name}, ReuseFactors from "
          f"{cfg.relative_to(REPO) if cfg.is_relative_to(REPO) else cfg} (the graph hls4ml builds from it), "
          "100 MHz\n")
    print("| Fire | frame | mults/cycle (sq, e1, e3) | cycles/pixel (sq, e1, e3) | cycles/frame measured | "
          "planned II (hw.plan) | measured / planned | first-beat latency |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["fold"]
        pc = r["pixel_cycles"]
        meas = r.get("measured")
        plan = r["planned"]
        ratio = f"{meas / plan:.3f}" if meas and plan else "-"
        print(f"| {r['fire']} | {r['hw']} | {f.squeeze.mults}, {f.expand1x1.mults}, {f.expand3x3.mults} | "
              f"{pc['squeeze']}, {pc['expand1x1']}, {pc['expand3x3']} | "
              f"{meas if meas else '-'} (implied {r['implied']}) | {plan if plan else '- (no hw/plan/)'} | "
              f"{ratio} | {r.get('latency', '-')} |")
    if not a.no_synth:
        print("\nYosys 0.23 `synth_xilinx -family xc7` cell counts (no timing closure, no Vivado):\n")
        groups = list(CELL_GROUPS)
        print("| Fire | " + " | ".join(groups) + " |")
        print("|---|" + "---|" * len(groups))
        for r in rows:
            print(f"| {r['fire']} | " + " | ".join(str(r["cells"][g]) for g in groups) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps([{k: (str(v) if k == "fold" else v) for k, v in r.items()} for r in rows],
                                           indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
