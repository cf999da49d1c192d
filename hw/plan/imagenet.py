"""ImageNet SqueezeNet v1.0/v1.1 through the planner: why they cannot sit on the XC7Z020."""
from __future__ import annotations

import math

from hw.chip import BRAM18_BITS, XC7Z020
from hw.plan.cost import DEFAULT_FIFO
from hw.plan.graph import from_keras
from hw.plan.optimize import optimize
from hw.plan.resources import Budget, BudgetError


def refusal_rows(variants=("1.0", "1.1"), bits=(8, 4), budget: Budget | None = None, fifo: str = DEFAULT_FIFO) -> list[dict]:
    """SqueezeNet v1.0/v1.1 (ImageNet, float Keras) at an assumed width: weight bits vs chip, and why refused."""
    from hw.model import squeezenet_v1_0, squeezenet_v1_1

    budget = budget or Budget()
    rows = []
    for v in variants:
        model = squeezenet_v1_0() if v == "1.0" else squeezenet_v1_1()
        for b in bits:
            layers = from_keras(model, assumed_bits=b)
            params = sum(l.params for l in layers)
            row = {"variant": f"v{v}", "bits": b, "params": params, "weight_bits": 0,
                   "chip_bram_bits": XC7Z020.bram18 * BRAM18_BITS, "budget_bram_bits": budget.bram18 * BRAM18_BITS}
            try:
                p = optimize(layers, budget=budget, fifo=fifo)
                row.update(weight_bits=p.weight_bits, refused=False, reason="fits")
            except BudgetError as e:
                row.update(weight_bits=sum(l.n_in * l.n_out * b + l.n_out * b for l in layers if l.has_weights),
                           refused=True, reason=str(e).split("\n", 1)[1].strip().replace("\n  ", "; "))
            rows.append(row)
    return rows


def refusal_markdown(rows) -> str:
    out = ["| model | weight bits/param | params | weight bits | weights alone, BRAM18 (perfect packing) | "
           "BRAM bits (chip / 80 % budget) | result |",
           "|---|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        out.append(f"| SqueezeNet {r['variant']} | {r['bits']} | {r['params']:,} | {r['weight_bits']:,} "
                   f"({r['weight_bits'] / r['chip_bram_bits']:.2f}x chip) | "
                   f"{math.ceil(r['weight_bits'] / BRAM18_BITS):,} of {r['budget_bram_bits'] // BRAM18_BITS} | "
                   f"{r['chip_bram_bits']:,} / "
                   f"{r['budget_bram_bits']:,} | {'REFUSED: ' + r['reason'] if r['refused'] else 'fits'} |")
    return "\n".join(out)
