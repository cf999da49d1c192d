#!/usr/bin/env python3
"""The microarchitecture sweep's front: fixed-point accuracy vs planned images/s vs on-chip memory.

Each trained net of hw.model.sweep (hw/models/sweep/<name>.json: the HGQ2 model's fixed-point
accuracy on all 10,000 test images, bit-exact with the C simulation by the project's contract) is
converted with hls4ml using squeezenet_fmnist's YAML settings and planned by the calibrated planner's
folding optimizer, choosing per layer between the Resource strategy (every valid RF) and, for the
small layers, hls4ml's distributed_arithmetic (da4ml's cost), with every resource capped at 80 % of the XC7Z020 (BRAM18, DSP, LUT). The
committed full-schedule designs (the deployed one, host.deployed, the one it replaced, and the
sweep's SR 0.5 and SR 0.75 points trained on the full schedule) are planned the same way and marked. Writes a table (stdout, and --markdown)
and a Pareto plot (PNG).

    python scripts/sweep_report.py [--plot docs/sweep_pareto.png] [--markdown docs/SWEEP.md]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from host.deployed import FRONT_DESIGNS, model_path
from hw.plan.design_point import plan_model
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]

# The committed full-schedule designs, as (row-name prefix, model, marker colour).
COLOURS = {"deployed": "red", "previous": "orange", "accurate": "tab:blue", "sr750": "tab:purple"}
COMMITTED = tuple((label, name, COLOURS[label]) for label, name in FRONT_DESIGNS)
MARKED = tuple(label for label, _, _ in COMMITTED)  # row-name prefixes of the committed full-schedule designs


def collect(tmp: Path) -> list[dict]:
    from hw.model.sweep import GRID, SWEEP_DIR

    rows = []
    for point in GRID:
        meta_path = SWEEP_DIR / f"{point.name}.json"
        if not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        row = {"name": point.name, "squeeze_ratio": point.squeeze_ratio, "pct3x3": point.pct3x3,
               "width": point.width, "w_bits": point.weight_bits, "params": meta["parameters"],
               "macs": meta["macs_per_image"], "accuracy": meta["fixed_point_test_accuracy"],
               "float_accuracy": meta["float_test_accuracy"], "schedule": f"{meta['float_epochs']}+{meta['qat_epochs']}",
               "test_images": meta["test_images"]}
        row.update(plan_model(SWEEP_DIR / f"{point.name}.keras", tmp))
        rows.append(row)
    for label, name, _ in COMMITTED:
        rows.append(committed_row(model_path(name), f"{label} ({name})", tmp))
    return rows


def committed_row(path: Path, label: str, tmp: Path) -> dict:
    """Sweep-table row of a committed model: SR and pct3x3 read from its first Fire module."""
    meta = json.loads(path.with_suffix(".json").read_text())
    fire = [s for s in meta["architecture"]["stages"] if isinstance(s, dict)][0]
    expand = fire["expand1x1"] + fire["expand3x3"]
    row = {"name": label, "squeeze_ratio": fire["squeeze"] / expand, "pct3x3": fire["expand3x3"] / expand,
           "width": 1.0, "w_bits": meta["architecture"]["quant"]["weight_bits"], "params": meta["parameters"],
           "macs": meta["macs_per_image"], "accuracy": meta["fixed_point_test_accuracy"],
           "float_accuracy": meta["float_test_accuracy"], "schedule": f"{meta['float_epochs']}+{meta['qat_epochs']}",
           "test_images": meta["test_images"]}
    row.update(plan_model(path, tmp))
    return row


def markdown(rows: list[dict]) -> str:
    out = ["| net | SR | pct3x3 | width | w bits | params | MACs | epochs | fixed-point acc | images/s (80 % cap) "
           "| BRAM18 | DSP | LUT | weight bits | bottleneck | limit | DA layers |",
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|"]
    for r in rows:
        plan = (f"{r['images_per_s']:,.0f} | {r['bram18']} | {r['dsp']} | {r['lut']:,} | {r['weight_bits']:,} | "
                f"{r['bottleneck']} | {r['limit']} | {', '.join(r['da_layers']) or '-'}") if r.get("fits") else f"does not fit | | | | | | {r.get('why', '')}"
        out.append(f"| {r['name']} | {r['squeeze_ratio']} | {r['pct3x3']} | {r['width']} | {r['w_bits']} | "
                   f"{r['params']:,} | {r['macs']:,} | {r['schedule']} | {100 * r['accuracy']:.2f} % | {plan} |")
    return "\n".join(out)


TARGET_IMAGES_PER_S = 10_000  # issue 12's throughput target at 100 MHz
TARGET_ACCURACY = 0.935  # and its fixed-point accuracy target


def targets(rows: list[dict]) -> list[str]:
    """What each target costs, over every row that fits (sweep and committed): the best accuracy at
    >= 10,000 images/s and the best images/s at >= 93.5 %, or that no row reaches the target."""
    fits = [r for r in rows if r.get("fits")]
    fast = [r for r in fits if r["images_per_s"] >= TARGET_IMAGES_PER_S]
    accurate = [r for r in fits if r["accuracy"] >= TARGET_ACCURACY]
    out = []
    if fast:
        b = max(fast, key=lambda r: (r["accuracy"], r["images_per_s"]))
        out.append(f"best accuracy at >= {TARGET_IMAGES_PER_S:,} images/s: {100 * b['accuracy']:.2f} % "
                   f"({b['name']}, {b['images_per_s']:,.0f} images/s, {b['schedule']} epochs; limit: {b['limit']})")
    else:
        out.append(f"best accuracy at >= {TARGET_IMAGES_PER_S:,} images/s: no row reaches {TARGET_IMAGES_PER_S:,} images/s")
    if accurate:
        b = max(accurate, key=lambda r: (r["images_per_s"], r["accuracy"]))
        out.append(f"best images/s at >= {100 * TARGET_ACCURACY:.1f} %: {b['images_per_s']:,.0f} images/s "
                   f"({b['name']}, {100 * b['accuracy']:.2f} %, {b['schedule']} epochs; limit: {b['limit']})")
    else:
        best = max(fits, key=lambda r: r["accuracy"])
        out.append(f"best images/s at >= {100 * TARGET_ACCURACY:.1f} %: no row reaches {100 * TARGET_ACCURACY:.1f} % "
                   f"(the most accurate: {best['name']}, {100 * best['accuracy']:.2f} % at {best['images_per_s']:,.0f} images/s)")
    both = [r for r in fast if r["accuracy"] >= TARGET_ACCURACY]
    out.append("both targets at once: " + (", ".join(r["name"] for r in both) if both else "no row"))
    return out


def pareto(rows: list[dict]) -> list[dict]:
    """Rows no other row beats in both accuracy and images/s (sweep rows only: one schedule)."""
    pts = [r for r in rows if r.get("fits") and not r["name"].startswith(MARKED)]
    return [r for r in pts if not any(o["accuracy"] >= r["accuracy"] and o["images_per_s"] >= r["images_per_s"]
                                      and o is not r and (o["accuracy"], o["images_per_s"]) != (r["accuracy"], r["images_per_s"])
                                      for o in pts)]


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fits = [r for r in rows if r.get("fits")]
    fig, ax = plt.subplots(figsize=(8, 5))
    sweep = [r for r in fits if not r["name"].startswith(MARKED)]
    sc = ax.scatter([r["images_per_s"] for r in sweep], [100 * r["accuracy"] for r in sweep],
                    s=[30 + r["weight_bits"] / 2000 for r in sweep], c=[r["bram18"] for r in sweep], cmap="viridis",
                    edgecolors="k", label="sweep (3+1 epochs)")
    for r in sweep:
        ax.annotate(r["name"], (r["images_per_s"], 100 * r["accuracy"]), fontsize=6, xytext=(4, 2),
                    textcoords="offset points")
    front = sorted(pareto(rows), key=lambda r: r["images_per_s"])
    ax.plot([r["images_per_s"] for r in front], [100 * r["accuracy"] for r in front], "k--", lw=0.8, label="Pareto front")
    colour = {label: c for label, _, c in COMMITTED}
    for r in fits:
        if r["name"].startswith(MARKED):
            ax.scatter([r["images_per_s"]], [100 * r["accuracy"]], marker="*", s=250,
                       c=colour[r["name"].split(" ")[0]], label=f"{r['name']} ({r['schedule']} epochs)")
    shown = [100 * r["accuracy"] for r in fits if r["accuracy"] >= 0.8]
    ax.set_ylim(min(shown) - 1, max(max(shown), 93.5) + 0.7)
    off = [f"{r['name']}: {100 * r['accuracy']:.1f} % (off the axis)" for r in fits if r["accuracy"] < 0.8]
    if off:
        ax.text(0.99, 0.02, "\n".join(off), transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.set_xscale("log")
    ax.axvline(10000, color="grey", lw=0.6, ls=":")
    ax.axhline(93.5, color="grey", lw=0.6, ls=":")
    fig.colorbar(sc, ax=ax, label="BRAM18 used (marker size: weight bits)")
    ax.set_xlabel("images/s at 100 MHz (calibrated planner, every resource <= 80 %)")
    ax.set_ylabel("fixed-point test accuracy, 10,000 images (%)")
    ax.set_title("SqueezeNet microarchitecture sweep on the XC7Z020 (Fashion-MNIST)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


SWEEP_HEADER = ("# The co-design sweep\n\nGenerated by `python scripts/sweep_report.py --markdown docs/SWEEP.md`: every "
                "sweep net and committed design re-planned at the 80 % cap by the planner of docs/PLANNER.md "
                "(modelled; sweep rows trained on the short schedule named in the epochs column).\n\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", default=str(REPO / "docs" / "sweep_pareto.png"))
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--json", default=str(REPO / "hw" / "models" / "sweep" / "summary.json"))
    add_verbose_flag(ap)
    args = ap.parse_args(argv)
    quiet_unless_verbose(args)
    with tempfile.TemporaryDirectory(prefix="sweep_") as tmp:
        rows = collect(Path(tmp))
    table = markdown(rows)
    print(table)
    print("Pareto front (sweep rows): " + ", ".join(r["name"] for r in pareto(rows)))
    summary = targets(rows)
    print("\n".join(summary))
    Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(SWEEP_HEADER + table + "\n\n" + "\n".join(f"* {line}" for line in summary) + "\n")
    plot(rows, Path(args.plot))
    print(f"wrote {args.plot} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
