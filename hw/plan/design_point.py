"""One trained net -> its planned design point: converted with the project's YAML settings (its own
per-layer ReuseFactors dropped) and folded by the optimizer under a cap. The sweep report and the
Optuna study (hw.model.study) plan every net this one way, so their rows compare."""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Global settings (IOType, precisions, FIFO mode) every net is planned with; per-layer RFs are dropped.
SETTINGS_YAML = REPO / "hls_config" / "squeezenet_fmnist.yml"


def budget_at(cap: float = 0.8):
    """BRAM18, DSP, LUT and LUTRAM of the XC7Z020 times `cap` (the co-design target is 0.8)."""
    from hw.chip import XC7Z020
    from hw.plan import Budget

    return Budget(bram18=int(cap * XC7Z020.bram18), dsp=int(cap * XC7Z020.dsp), lut=int(cap * XC7Z020.lut),
                  lutram=int(cap * XC7Z020.lutram))


def limiting(p) -> str:
    """Which capped resource is closest to its cap at the optimum (what stops a smaller II)."""
    b = p.budget
    shares = {"BRAM18": p.bram18 / b.bram18, "DSP": p.dsp / b.dsp, "LUT": p.lut / b.lut}
    k = max(shares, key=shares.get)
    return f"{k} {shares[k]:.0%} of cap"


def plan_model(model_path: Path, tmp: Path, da: bool = True, pack: bool = False, cap: float = 0.8) -> dict:
    """Optimizer plan of a model under SETTINGS_YAML's settings: {"fits": False, "why": ...} or the
    plan's images/s, II, bottleneck, BRAM18, DSP, LUT, weight bits, limiting resource, DA and packed layers."""
    import yaml

    from hw.hls.config import read_yaml
    from hw.plan import BudgetError, from_config
    from hw.plan.optimize import optimize

    raw = json.loads(json.dumps(read_yaml(SETTINGS_YAML)))  # plain dict
    raw["KerasModel"] = str(Path(model_path).resolve())
    raw["OutputDir"] = str(tmp / Path(model_path).stem)
    raw["HLSConfig"]["LayerName"] = {}
    cfg_path = tmp / f"{Path(model_path).stem}.yml"
    cfg_path.write_text(yaml.safe_dump(raw))
    layers, cfg = from_config(cfg_path)
    if da:
        from hw.plan.cli import with_da_costs

        layers = with_da_costs(layers, cfg_path)
    try:
        p = optimize(layers, budget=budget_at(cap), clock_ns=cfg.clock_ns, pack=pack)
    except BudgetError as e:
        lines = str(e).splitlines()
        return {"fits": False, "why": " ".join(l.strip() for l in lines[:2]).split(" (largest")[0]}
    return {"fits": True, "images_per_s": round(p.images_per_s, 1), "ii_cycles": p.ii_cycles,
            "bottleneck": p.bottleneck.name, "bram18": p.bram18, "dsp": round(p.dsp), "lut": p.lut,
            "weight_bits": p.weight_bits, "limit": limiting(p),
            "da_layers": [l.name for l in p.layers if l.strategy == "distributed_arithmetic"],
            "packed_layers": [l.name for l in p.layers if l.dsp_packing]}
