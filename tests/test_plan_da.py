"""The planner's distributed_arithmetic (da4ml) option, layer by layer next to the Resource strategy."""
from __future__ import annotations

from dataclasses import replace

from hw.plan import Budget, Layer
from hw.plan.cost import DA_DEPTH, cost_layer
from hw.plan.graph import DA
from hw.plan.optimize import optimize, plan
from hw.plan.resources import CycleModel, MultRule


def pointwise(name="sq", da_cost=0.0):
    return Layer(name=name, kind="pointwise", in_shape=(14, 14, 64), out_shape=(14, 14, 16), n_in=64, n_out=16,
                 w_bits=8, b_bits=12, a_bits=8, out_bits=8, stream_depths=(2,), strategy="resource", rf=64,
                 da_cost=da_cost)


def test_da_layer_costs_no_dsp_and_no_weight_memory_at_one_pixel_per_cycle():
    L = cost_layer(replace(pointwise(da_cost=3000.0), strategy=DA), 1, MultRule(), CycleModel())
    assert (L.dsp, L.weight_bram18, L.weight_lut_rom, L.mults) == (0, 0, 0, 0)
    assert L.ii_cycles == 14 * 14 + DA_DEPTH
    assert L.lut == 3000 + 16 * 8 + 200
    assert L.weight_bits == 64 * 16 * 8 + 16 * 12  # still on-chip weights, held in the logic


def test_optimizer_takes_da_where_dsps_run_out_and_writes_the_strategy():
    layers = [pointwise("a", 3000.0), pointwise("b", 0.0)]
    tight = Budget(bram18=224, dsp=8, lut=53200, lutram=17400)
    p = optimize(layers, budget=tight)
    by = {l.name: l for l in p.layers}
    assert by["a"].strategy == DA and by["b"].strategy == "resource"  # no da4ml cost known for b
    assert p.layer_settings()["a"] == {"ReuseFactor": 1, "Strategy": "distributed_arithmetic", "DspPacking": None}
    assert p.layer_settings()["b"]["Strategy"] == "Resource"
    # without the DA option the same budget gives a slower design
    slower = optimize([pointwise("a", 0.0), pointwise("b", 0.0)], budget=tight)
    assert slower.ii_cycles > p.ii_cycles


def test_configured_da_layer_is_planned_as_da():
    p = plan([replace(pointwise(da_cost=500.0), strategy=DA, rf=1)])
    assert p.layers[0].strategy == DA and p.dsp == 0
