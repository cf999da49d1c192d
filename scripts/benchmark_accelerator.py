"""Modeled accelerator figures for the README: per-layer plan of the deployed model, balanced folding
vs one uniform ReuseFactor, images/s at 100 MHz, and the ImageNet SqueezeNet refusal table.

Every figure comes from hw.budget's analytical model (see its docstring), not from synthesis.
Usage: python scripts/benchmark_accelerator.py [--config hls_config/<model>.yml] [--clock-ns 10]
(default: the deployed design, host.deployed)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from host.deployed import config_path
from hw.quiet import add_verbose_flag, quiet_unless_verbose

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def compare_designs(configs: list[str], clock_ns: float) -> None:
    """One table: each design as its YAML configures it (per-layer RF and Strategy) and the same
    network at the smallest uniform ReuseFactor that fits, all under an 80 % cap on BRAM18, DSP and
    LUT; throughput ratios against the first design as configured."""
    from pathlib import Path

    from hw import plan as B
    from hw.chip import XC7Z020

    cap = B.Budget(bram18=int(0.8 * XC7Z020.bram18), dsp=int(0.8 * XC7Z020.dsp), lut=int(0.8 * XC7Z020.lut),
                   lutram=int(0.8 * XC7Z020.lutram))
    rows = []
    for c in configs:
        layers, cfg = B.from_config(c)
        configured = B.plan(layers, budget=cap, clock_ns=cfg.clock_ns)
        try:
            uni = B.uniform_baseline(layers, budget=cap, clock_ns=cfg.clock_ns)
        except B.BudgetError:
            uni = None
        rows.append((Path(c).stem, cfg.model_path.stem, configured, uni))
    ref = rows[0][2].images_per_s
    print("\n## Designs side by side (calibrated planner, BRAM18/DSP/LUT each <= 80 %)\n")
    print("| design | model | as configured: images/s | vs first | BRAM18 | DSP | LUT | fits | DA layers "
          "| uniform RF | images/s | vs first |")
    print("|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|")
    for name, model, p, u in rows:
        da = sum(1 for l in p.layers if l.strategy == "distributed_arithmetic")
        uni = (f"{u.uniform_rf} | {u.images_per_s:,.0f} | {u.images_per_s / ref:.2f}x" if u else "none fits | | ")
        print(f"| {name} | {model} | {p.images_per_s:,.0f} | {p.images_per_s / ref:.2f}x | {p.bram18} | {p.dsp:.0f} | "
              f"{p.lut:,} | {'yes' if p.fits else 'NO'} | {da} | {uni} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(config_path()), help="hls4ml YAML of the design (default: the deployed one)")
    ap.add_argument("--clock-ns", type=float, help="override the YAML's ClockPeriod")
    ap.add_argument("--skip-imagenet", action="store_true")
    ap.add_argument("--compare", nargs="+", metavar="YAML",
                    help="designs side by side (the first is the reference): as configured, and each network "
                         "at one uniform ReuseFactor, every resource capped at 80 %%")
    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    from hw import plan as B
    from hw.plan import imagenet

    try:
        layers, cfg = B.from_config(a.config, overrides={"ClockPeriod": a.clock_ns})
    except B.BudgetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.clock_ns = cfg.clock_ns
    mhz = 1000 / a.clock_ns
    print(f"# Accelerator model: {cfg.model_path.name} ({a.config}, the graph hls4ml builds) at {mhz:.0f} MHz "
          "(analytical estimates, hw/plan/)\n")

    results = []
    for fifo in B.FIFO_MODES:
        for mult in ("auto", "pack", "fabric"):
            kw = dict(mult=B.MultRule(mult), clock_ns=a.clock_ns, fifo=fifo)
            t = time.perf_counter()
            try:
                best = B.optimize(layers, **kw)
                uni = B.uniform_baseline(layers, **kw)
                results.append((fifo, mult, best, uni, time.perf_counter() - t, None))
            except B.BudgetError as e:
                results.append((fifo, mult, None, None, time.perf_counter() - t, str(e)))

    deployed = next(r for r in results if r[0] == B.DEFAULT_FIFO and r[1] == "auto")
    print(f"## Deployed plan (FIFO depths '{B.DEFAULT_FIFO}' as hw/hls/ sets them, default multiplier mapping), "
          "balanced folding\n")
    if deployed[2] is not None:
        print(deployed[2].markdown())
    else:
        print("REFUSED:", deployed[5])
    print("\n## Balanced folding vs one uniform ReuseFactor (same budget: BRAM18 <= 80 %, 220 DSP, 53,200 LUT)\n")
    print("| FIFO depths | multipliers | balanced: II cycles (bottleneck) | images/s | BRAM18 | DSP | LUT | "
          "uniform RF | uniform: II cycles | images/s | ratio | optimizer time |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for fifo, mult, best, uni, dt, err in results:
        if best is None:
            print(f"| {fifo} | {mult} | refused: {err.splitlines()[-1].strip()} | | | | | | | | | {dt:.2f} s |")
            continue
        print(f"| {fifo} | {mult} | {best.ii_cycles:,} ({best.bottleneck.name}) | {best.images_per_s:,.0f} | "
              f"{best.bram18} | {best.dsp} | {best.lut:,} | {uni.uniform_rf} | {uni.ii_cycles:,} | "
              f"{uni.images_per_s:,.0f} | {best.images_per_s / uni.images_per_s:.2f}x | {dt:.2f} s |")
    ok = [r for r in results if r[2] is not None]
    top = max(ok, key=lambda r: r[2].images_per_s)
    p = top[2]
    print(f"\nBest modeled throughput: {p.images_per_s:,.0f} images/s at {mhz:.0f} MHz "
          f"(FIFO depths '{top[0]}', multipliers '{top[1]}'), bottleneck {p.bottleneck.name} "
          f"(RF {p.bottleneck.rf}, {p.ii_cycles:,} cycles/image).")
    if p.images_per_s < 10_000:
        nxt = [l for l in p.layers if l.has_weights and l.ii_cycles > 1e9 / a.clock_ns / 10_000]
        print("10,000 images/s not reached: these layers exceed "
              f"{1e9 / a.clock_ns / 10_000:,.0f} cycles/image: "
              + ", ".join(f"{l.name} ({l.ii_cycles:,} at RF {l.rf})" for l in nxt)
              + f"; the next smaller valid RF of the bottleneck does not fit the budget "
                f"(used: BRAM18 {p.bram18}, DSP {p.dsp}, LUT {p.lut:,}).")
    print("\nPer-Fire-module II of the best plan (cycles per image; RTL: multiplies per cycle = mults):\n")
    print("| layer | RF | mults (products/cycle) | II cycles |\n|---|--:|--:|--:|")
    for l in p.layers:
        if l.has_weights:
            print(f"| {l.name} | {l.rf} | {l.mults} | {l.ii_cycles:,} |")
    if a.compare:
        compare_designs(a.compare, a.clock_ns)
    if not a.skip_imagenet:
        print("\n## ImageNet SqueezeNet on the XC7Z020 (float Keras models, assumed weight width)\n")
        print(imagenet.refusal_markdown(imagenet.refusal_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
