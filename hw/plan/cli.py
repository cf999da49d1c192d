"""On-chip plan of an hls4ml design on the XC7Z020: per-layer table, totals, folding optimizer.

    python -m hw.plan                      # the deployed model's hls4ml YAML, as configured
    python -m hw.plan --optimize --write   # choose each layer's ReuseFactor and write it into the YAML
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

from host.deployed import config_path as deployed_config
from hw.hls.config import HlsError, read_yaml, write_layer_settings
from hw.plan.cost import DEFAULT_FIFO, FIFO_MODES, Plan
from hw.plan.graph import from_config
from hw.plan.optimize import optimize, plan
from hw.plan.resources import Budget, BudgetError

DEFAULT_CONFIG = deployed_config()  # the deployed design (host.deployed)


def check_design(config_path, model_path=None, overrides: dict | None = None) -> tuple[Plan, list[str]]:
    """The plan of a configured design and one line per resource over budget ([] = fits): what
    the bitstream flow's preflight asks before any vendor step."""
    layers, cfg = from_config(config_path, model_path, overrides)
    budget = Budget(bram18=int(0.8 * cfg.chip.bram18), dsp=cfg.chip.dsp, lut=cfg.chip.lut, lutram=cfg.chip.lutram)
    p = plan(layers, budget=budget, clock_ns=cfg.clock_ns)
    return p, p.overruns()


DA_MAX_PRODUCTS = 2304  # the 1x1 layers and conv1 of the Fire nets; da4ml's solve of the 3x3 ones takes minutes each


def with_da_costs(layers, config_path, model_path=None, clock_ns=None, max_products: int = DA_MAX_PRODUCTS):
    """The same layers, each weighted one of at most `max_products` weights carrying da4ml's cost of
    its distributed_arithmetic kernel (from one conversion with that strategy on those layers;
    nothing written), so that the optimizer can weigh DA against the Resource strategy per layer."""
    raw = json.loads(json.dumps(read_yaml(config_path)))
    base = Path(config_path).resolve().parent
    for key in ("KerasModel", "OutputDir"):
        if key in raw and not Path(str(raw[key])).is_absolute():
            raw[key] = str((base / str(raw[key])).resolve())
    small = [l.name for l in layers if l.has_weights and l.n_in * l.n_out <= max_products]
    raw["HLSConfig"]["LayerName"] = {n: {"Strategy": "distributed_arithmetic", "ReuseFactor": 1} for n in small}
    with tempfile.TemporaryDirectory(prefix="plan_da_") as tmp:
        p = Path(tmp) / "da.yml"
        p.write_text(yaml.safe_dump(raw))
        da_layers, _ = from_config(p, model_path, {"ClockPeriod": clock_ns})
    cost = {l.name: l.da_cost for l in da_layers if l.has_weights}
    return [replace(l, da_cost=cost.get(l.name, 0.0)) if l.has_weights else l for l in layers]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.plan", description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="Keras/HGQ2 model file (default: the config's KerasModel)")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG),
                    help="hls4ml YAML config: the design to plan, its ReuseFactors (and --write into it); "
                         "default: the deployed model's")
    ap.add_argument("--optimize", action="store_true", help="choose ReuseFactors with the folding optimizer")
    ap.add_argument("--write", action="store_true", help="write the chosen ReuseFactors into --config")
    ap.add_argument("--clock-ns", type=float, help="override the config's ClockPeriod")
    ap.add_argument("--bram-fraction", type=float, default=0.8, help="share of the chip's BRAM18 allowed (0.8)")
    ap.add_argument("--cap", type=float, default=1.0,
                    help="share of the chip's DSP and LUT allowed (1.0; the co-design target is 0.8)")
    ap.add_argument("--da", action="store_true",
                    help="also offer hls4ml's distributed_arithmetic (da4ml) per layer: converts once with it "
                         "on every weighted layer to learn da4ml's cost of each (minutes)")
    ap.add_argument("--pack", action="store_true",
                    help="also offer the packed kernel per layer (two products per DSP48E1, hw.hls.dsp_packing); "
                         "--write then sets DspPacking where the optimizer chose it")
    ap.add_argument("--mult", default="auto", choices=("auto", "fabric", "pack"), help="multiplier mapping rule")
    ap.add_argument("--fifo", default=DEFAULT_FIFO, choices=FIFO_MODES,
                    help="stream FIFO depths: hls4ml's default full feature map, or optimised minimum")
    ap.add_argument("--band", action="store_true",
                    help="plan against the budget with the held-out error band (hw.plan.band.measured): each "
                         "network figure times the worst report/planner ratio seen on public builds")
    ap.add_argument("--no-shell", action="store_true",
                    help="leave out the PYNQ-Z2 shell (PS7, AXI DMA, interconnects, AXI wrapper; hw.plan.shell)")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's and hls4ml's own output")
    a = ap.parse_args(argv)
    if not a.verbose:
        from hw.quiet import quiet

        quiet()
    try:
        if a.write and not a.optimize:
            raise BudgetError("--write needs --optimize")
        if a.pack and not a.optimize:
            raise BudgetError("--pack needs --optimize (a config's own DspPacking settings are always costed)")
        if not 0 < a.bram_fraction <= 1 or not 0 < a.cap <= 1:
            raise BudgetError("--bram-fraction and --cap must be in (0, 1]")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        layers, cfg = from_config(a.config, a.model, {"ClockPeriod": a.clock_ns})
        if a.da:
            layers = with_da_costs(layers, a.config, a.model, a.clock_ns)
        budget = Budget(bram18=int(a.bram_fraction * cfg.chip.bram18), dsp=int(a.cap * cfg.chip.dsp),
                        lut=int(a.cap * cfg.chip.lut), lutram=int(a.cap * cfg.chip.lutram))
        from hw.plan import band as bands
        from hw.plan.shell import Shell

        fitted = bands.production()
        kw = dict(budget=budget, mult=replace(fitted.mult, impl=a.mult), clock_ns=cfg.clock_ns, fifo=a.fifo,
                  band=bands.measured() if a.band else None)
        if a.no_shell:
            kw["shell"] = Shell()
        if a.optimize:
            p = optimize(layers, pack=a.pack, **kw)
        else:
            p = plan(layers, **kw)
        if a.write:
            try:
                write_layer_settings(a.config, p.layer_settings())
            except HlsError as e:
                raise BudgetError(str(e)) from None
        if a.json:
            print(json.dumps(p.to_dict(), indent=1))
        else:
            print(p.markdown())
            for line in p.overruns():
                print("OVER BUDGET:", line)
            if a.write:
                print(f"\nwrote ReuseFactor, Strategy and DspPacking of {len(p.reuse)} layers into {a.config}")
        return 0 if p.fits else 2
    except BudgetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
