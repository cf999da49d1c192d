#!/usr/bin/env python3
"""Plot fixed-point test accuracy against on-chip weight memory for every trained model.

Reads the metadata that hw/model/train.py writes (hw/models/*.json) and draws one point per model,
labelled by name, variant and weight/activation bits, with the on-chip weight budget: half of the
XC7Z020's block RAM (140 BRAM36 x 36 Kb / 2 = 2,520 Kb, the "2.5 Mb" of the project goal).
Kb = 1024 bits, as in Xilinx's BRAM sizes. Prints the points as a table too.

    python scripts/plot_accuracy_memory.py [--models-dir hw/models] [--out docs/accuracy_vs_memory.png]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hw.chip import BRAM18_BITS, XC7Z020
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]
BUDGET_KBIT = XC7Z020.bram18 * BRAM18_BITS / 1024 / 2  # half of the XC7Z020's block RAM (hw/chip.py)
TARGET_ACCURACY = 92.0  # issue 2: deployed model >= 92.0 % in fixed point
REQUIRED = ("fixed_point_test_accuracy", "weight_bits_total")


class PlotError(ValueError):
    """No usable model metadata, or a file that is not JSON."""


def read_points(models_dir: Path) -> tuple[list[dict], list[str]]:
    """One point per model JSON; files without the metadata fields are reported, not plotted."""
    points, skipped = [], []
    for path in sorted(models_dir.glob("*.json")):
        try:
            meta = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PlotError(f"{path}: not readable JSON ({e})") from None
        missing = [k for k in REQUIRED if not isinstance(meta, dict) or k not in meta]
        if missing:
            skipped.append(f"{path.name} (no {', '.join(missing)})")
            continue
        arch = meta.get("architecture", {})
        quant = arch.get("quant", {})
        points.append({
            "name": meta.get("name", path.stem),
            "variant": arch.get("variant", "?"),
            "bits": f"w{quant.get('weight_bits', '?')}a{quant.get('act_bits', '?')}",
            "kbit": meta["weight_bits_total"] / 1024,
            "accuracy": 100.0 * meta["fixed_point_test_accuracy"],
        })
    if not points:
        raise PlotError(f"{models_dir}: no model metadata (*.json with {' and '.join(REQUIRED)})")
    return points, skipped


def plot(points: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colours = {"vanilla": "tab:blue", "simple_bypass": "tab:orange", "complex_bypass": "tab:green"}
    for variant in dict.fromkeys(p["variant"] for p in points):
        sel = [p for p in points if p["variant"] == variant]
        ax.scatter([p["kbit"] for p in sel], [p["accuracy"] for p in sel], s=40, zorder=3,
                   color=colours.get(variant, "tab:gray"), label=variant.replace("_", " "))
    for p in points:
        ax.annotate(f"{p['name']}\n{p['variant']} {p['bits']}", (p["kbit"], p["accuracy"]),
                    textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.axhline(TARGET_ACCURACY, color="gray", linestyle=":", linewidth=1)
    ax.axvline(BUDGET_KBIT, color="tab:red", linestyle="--", linewidth=1)
    lo, hi = ax.get_ylim()
    ax.text(BUDGET_KBIT, (lo + hi) / 2, f"weight budget {BUDGET_KBIT:,.0f} Kb\n(half the XC7Z020 BRAM) ",
            color="tab:red", fontsize=7, va="center", ha="right")
    ax.text(0, TARGET_ACCURACY, f" target {TARGET_ACCURACY:.0f} %", color="gray", fontsize=7, va="bottom")
    ax.set_xlim(0, max(BUDGET_KBIT, max(p["kbit"] for p in points)) * 1.1)
    ax.set_xlabel("on-chip weight memory (Kb = 1024 bits)")
    ax.set_ylabel("Fashion-MNIST test accuracy, fixed point (%)")
    ax.set_title("SqueezeNet variants: accuracy vs weight memory")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=REPO / "hw" / "models")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "accuracy_vs_memory.png")
    add_verbose_flag(ap)
    args = ap.parse_args(argv)
    quiet_unless_verbose(args, tensorflow=False)
    try:
        points, skipped = read_points(args.models_dir)
    except PlotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(f"{'model':28s} {'variant':15s} {'bits':7s} {'weights (Kb)':>12s} {'accuracy (%)':>12s}")
    for p in sorted(points, key=lambda p: p["kbit"]):
        print(f"{p['name']:28s} {p['variant']:15s} {p['bits']:7s} {p['kbit']:12.1f} {p['accuracy']:12.2f}")
    plot(points, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
