#!/usr/bin/env python3
"""Energy per image, as SqueezeNet's paper argues it: weights fetched from on-chip SRAM vs from DDR.

Every figure is computed from the planner's per-layer table of an hls4ml design (hw.plan: MACs and
weight bits of each weighted layer) and per-access energies of Horowitz, "Computing's energy
problem (and what we can do about it)", ISSCC 2014, 45 nm (as carried in shared/FACTS.md):
32-bit DRAM read ~640 pJ, 32-bit read of an 8 KB SRAM ~5 pJ, 8-bit multiply ~0.2 pJ, 8-bit add
~0.03 pJ. The accelerator is weight-folded (hls4ml Resource strategy): each MAC reads its weight
once, so weight traffic per image = MACs x weight bits. Three weight sources:
  * on chip (this design): every weight use is an SRAM (BRAM/LUTRAM) read;
  * DDR, each weight once per image: the whole model streamed in per image (batch 1), each weight
    then reused from an on-chip buffer (its SRAM reads counted too) -- the best a DDR design does;
  * DDR, every use: no on-chip weight reuse at all.
These are 45 nm ASIC access energies, not XC7Z020 measurements: the ratios carry over, the
absolute joules do not. Vivado's report_power (collected by the flow where Vivado runs) is the
measurement for the chip; none exists here.

    python scripts/energy_per_image.py [--config hls_config/<model>.yml ...] [--plot docs/energy_per_image.png]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from host.deployed import config_path
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]
PJ = {"dram_read_32b": 640.0, "sram_read_32b": 5.0, "mult_8b": 0.2, "add_8b": 0.03}
SOURCE = "Horowitz, ISSCC 2014 (45 nm), per shared/FACTS.md"


def layer_macs(layer) -> int:
    """MACs per image of a weighted planner layer: output pixels x inputs per output x outputs."""
    px = int(layer.out_shape[0]) * int(layer.out_shape[1]) if len(layer.out_shape) == 3 else 1
    return px * layer.n_in * layer.n_out


def energy(plan) -> dict:
    """Per-image energies (uJ) of a hw.plan.Plan."""
    weighted = [l for l in plan.layers if l.has_weights]
    macs = sum(layer_macs(l) for l in weighted)
    use_words = sum(layer_macs(l) * l.w_bits for l in weighted) / 32  # 32-bit words of weight traffic
    model_words = sum(l.weight_bits for l in weighted) / 32
    compute = macs * (PJ["mult_8b"] + PJ["add_8b"])
    onchip = use_words * PJ["sram_read_32b"]
    return {"macs": macs, "weight_bits": int(model_words * 32), "compute_uJ": compute / 1e6,
            "weights_onchip_uJ": onchip / 1e6,
            "weights_ddr_once_uJ": (model_words * PJ["dram_read_32b"] + onchip) / 1e6,
            "weights_ddr_every_use_uJ": use_words * PJ["dram_read_32b"] / 1e6,
            "images_per_s": plan.images_per_s}


def table(rows: dict[str, dict]) -> str:
    out = ["| design | MACs/image | weight bits | compute | weights on chip | weights from DDR, once/image "
           "| weights from DDR, every use | on-chip total vs DDR once |",
           "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name, e in rows.items():
        on = e["compute_uJ"] + e["weights_onchip_uJ"]
        ddr = e["compute_uJ"] + e["weights_ddr_once_uJ"]
        out.append(f"| {name} | {e['macs']:,} | {e['weight_bits']:,} | {e['compute_uJ']:.2f} uJ | "
                   f"{e['weights_onchip_uJ']:.2f} uJ | {e['weights_ddr_once_uJ']:.2f} uJ | "
                   f"{e['weights_ddr_every_use_uJ']:.1f} uJ | {ddr / on:.1f}x |")
    return "\n".join(out)


def plot(rows: dict[str, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [("compute_uJ", "compute (8-bit MACs)"), ("weights_onchip_uJ", "weights on chip"),
             ("weights_ddr_once_uJ", "weights from DDR, once/image"), ("weights_ddr_every_use_uJ", "weights from DDR, every use")]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    w = 0.8 / len(kinds)
    for i, (k, label) in enumerate(kinds):
        ax.bar([j + i * w for j in range(len(rows))], [max(e[k], 1e-3) for e in rows.values()], w, label=label)
    ax.set_yscale("log")
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(rows))], list(rows), rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("energy per image (uJ, log)")
    ax.set_title(f"Energy per image from the planner's MACs and weights ({SOURCE})", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", help="hls4ml YAML of a design (repeatable); default: the deployed one")
    ap.add_argument("--plot", help="write a bar chart (PNG) here")
    add_verbose_flag(ap)
    args = ap.parse_args(argv)
    quiet_unless_verbose(args)
    from hw.plan import BudgetError, from_config
    from hw.plan.optimize import plan as plan_layers
    configs = args.config or [str(config_path())]
    rows = {}
    for c in configs:
        try:
            layers, cfg = from_config(c)
        except (BudgetError, OSError, ValueError) as e:
            print(f"error: {c}: {e}", file=sys.stderr)
            return 2
        rows[Path(c).stem] = energy(plan_layers(layers, clock_ns=cfg.clock_ns))
    print(f"Per-access energies: {', '.join(f'{k} {v:g} pJ' for k, v in PJ.items())} ({SOURCE}).")
    print(table(rows))
    if args.plot:
        plot(rows, Path(args.plot))
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
