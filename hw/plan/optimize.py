"""Plans at given ReuseFactors, the folding optimizer and the uniform-ReuseFactor baseline.

Valid ReuseFactors come from hls4ml's public backend API (hw.hls.config), so a planned RF is never
replaced by hls4ml.
"""
from __future__ import annotations

from dataclasses import replace

from hw.chip import DEFAULT_CLOCK_NS, XC7Z020
from hw.hls.config import closest_reuse_factor, valid_reuse_factors
from hw.plan.cost import DEFAULT_FIFO, Plan, cost_layer
from hw.plan.graph import DA, from_keras
from hw.plan.resources import Budget, BudgetError, CycleModel, MemoryRule, MultRule, PackedProducts

_DEFAULT = object()


def _model(mult, cycles, memory, shell, band, lut_scale):
    """The constants not given: the target tool's fitted ones (hw.plan.band.production), the
    PYNQ-Z2 shell (hw.plan.shell), no band; lut_scale from the fit unless given."""
    from hw.plan import band as bands
    from hw.plan import shell as shells

    p = bands.production()
    return (mult or p.mult, cycles or p.cycles, memory or p.memory,
            shells.pynq_z2() if shell is _DEFAULT else shell, band, p.lut_placed if lut_scale is None else lut_scale)


def _as_layers(model_or_layers, assumed_bits):
    if isinstance(model_or_layers, list):
        return model_or_layers
    return from_keras(model_or_layers, assumed_bits)


def plan(model, reuse: dict | None = None, *, budget: Budget | None = None, mult: MultRule | None = None,
         cycles: CycleModel | None = None, clock_ns: float = DEFAULT_CLOCK_NS, assumed_bits: int = 8,
         uniform: int | None = None, fifo: str = DEFAULT_FIFO, memory: MemoryRule | None = None, shell=_DEFAULT,
         band=None, lut_scale: float | None = None) -> Plan:
    """Cost every layer (planner layers from hw.plan.graph, or a Keras model) at the given ReuseFactors.

    `reuse` maps layer name -> RF (missing layers: the RF hls4ml applied, from the graph); an RF
    hls4ml would refuse raises BudgetError with the valid choices. `uniform` gives every layer
    hls4ml's closest valid RF to that value instead.
    """
    layers = _as_layers(model, assumed_bits)
    mult, cycles, memory, shell, band, lut_scale = _model(mult, cycles, memory, shell, band, lut_scale)
    reuse = dict(reuse or {})
    names = {l.name for l in layers if l.has_weights}
    unknown = sorted(set(reuse) - names)
    if unknown:
        raise BudgetError(f"ReuseFactor given for unknown layer(s) {', '.join(unknown)}; "
                          f"layers with weights: {', '.join(sorted(names))}")
    costed = []
    for l in layers:
        rf = 1
        if l.has_weights:
            valid = valid_reuse_factors(l.n_in, l.n_out)
            if uniform is not None:
                rf = closest_reuse_factor(valid, uniform)
            else:
                rf = int(reuse.get(l.name, l.rf))
                if rf not in valid:
                    raise BudgetError(f"{l.name}: ReuseFactor {rf} is not valid for n_in={l.n_in}, n_out={l.n_out}; "
                                      f"valid: {', '.join(map(str, valid))}")
        costed.append(cost_layer(l, rf, mult, cycles, fifo, memory))
    return Plan(costed, budget or Budget(), XC7Z020, clock_ns, mult, fifo, shell, lut_scale, band)


# ------------------------------------------------------------------------------------------------
# Folding optimizer
# ------------------------------------------------------------------------------------------------
def _choices(layer, mult, cycles, fifo, memory, pack=False):
    """(ii, costed layer) for each implementation of the layer: hls4ml's Resource strategy at every
    valid RF (DSP or LUT products by the MultRule; RF 1 at <= 8 bits is LUT shift-adds); with `pack`,
    the packed kernel (two products per DSP48E1, hw.hls.dsp_packing) at every RF it serves; and, where
    the layer was converted with distributed_arithmetic (so da4ml's cost is known), that too."""
    res = replace(layer, strategy="resource", dsp_packing=False)
    rfs = valid_reuse_factors(layer.n_in, layer.n_out)
    out = [(c.ii_cycles, c) for c in (cost_layer(res, rf, mult, cycles, fifo, memory) for rf in rfs)]
    if pack:
        packed = replace(res, dsp_packing=True)
        out += [(c.ii_cycles, c) for c in (cost_layer(packed, rf, mult, cycles, fifo, memory) for rf in rfs
                                           if PackedProducts.allowed(layer.a_bits, layer.w_bits, rf, layer.n_in))]
    if layer.da_cost > 0:
        c = cost_layer(replace(layer, strategy=DA), 1, mult, cycles, fifo, memory)
        out.append((c.ii_cycles, c))
    return out


#: Prices of (DSP, BRAM18, LUT) in the per-layer pick: equal shares first, then one resource made
#: dearer, so that when DSPs (or BRAM, or LUTs) run out the layers move to the others (a DSP-bound
#: design trades DSP products for LUT adder graphs, e.g. distributed_arithmetic).
PRICES = ((1, 1, 1), (4, 1, 1), (16, 1, 1), (1, 4, 1), (1, 16, 1), (1, 1, 4), (4, 4, 1), (16, 16, 1))


def _pick(choices, target, budget: Budget, price=(1, 1, 1)):
    """Cheapest choice whose II meets the target: least priced sum of each budgeted resource's share."""
    ok = [c for ii, c in choices if ii <= target]
    if not ok:
        return None
    pd, pb, pl = price
    share = lambda c: (pd * c.dsp / max(budget.dsp, 1) + pb * c.bram18 / max(budget.bram18, 1)
                       + pl * (c.lut + c.lutram) / max(budget.lut, 1) + c.lutram / max(budget.lutram, 1))
    return min(ok, key=lambda c: (share(c), -c.rf))


def optimize(model, *, budget: Budget | None = None, mult: MultRule | None = None, cycles: CycleModel | None = None,
             clock_ns: float = DEFAULT_CLOCK_NS, assumed_bits: int = 8, fifo: str = DEFAULT_FIFO,
             memory: MemoryRule | None = None, shell=_DEFAULT, band=None, lut_scale: float | None = None,
             pack: bool = False) -> Plan:
    """Smallest bottleneck II under the budget: every weighted layer gets its cheapest RF meeting it
    (with `pack`, also the packed kernel: the DSP-dear PRICES pick it where DSPs bind).

    Scans the candidate IIs (every layer's II at every valid RF) from the smallest up; the first
    target whose cheapest per-layer choices (under one of the PRICES) fit the budget is the optimum
    for this per-layer rule.
    Raises BudgetError (layer by layer) if even the largest RFs do not fit.
    """
    layers = _as_layers(model, assumed_bits)
    budget = budget or Budget()
    mult, cycles, memory, shell, band, lut_scale = _model(mult, cycles, memory, shell, band, lut_scale)
    fixed = [cost_layer(l, 1, mult, cycles, fifo, memory) for l in layers if not l.has_weights]
    floor = max((l.ii_cycles for l in fixed), default=0)
    options = {l.name: _choices(l, mult, cycles, fifo, memory) for l in layers if l.has_weights}
    # with `pack`, each target is tried with and without the packed choices: the per-layer pick is
    # greedy, and a packed layer's unpacking LUTs can tip a LUT-bound design over where the plain
    # choices fit; offering packing must never plan a design slower than not offering it
    option_sets = [options]
    if pack:
        option_sets.append({l.name: _choices(l, mult, cycles, fifo, memory, pack=True) for l in layers if l.has_weights})
    targets = sorted({ii for opts in option_sets for ch in opts.values() for ii, _ in ch if ii >= floor} | {floor})

    def build(target, price=(1, 1, 1), options=options):
        chosen = {n: _pick(ch, target, budget, price) for n, ch in options.items()}
        if any(c is None for c in chosen.values()):
            return None
        return Plan([chosen[l.name] if l.has_weights else cost_layer(l, 1, mult, cycles, fifo, memory) for l in layers],
                    budget, XC7Z020, clock_ns, mult, fifo, shell, lut_scale, band)

    for t in targets:
        for opts in option_sets:
            for price in PRICES:
                p = build(t, price, opts)
                if p is None:
                    break  # some layer cannot meet this II at all
                if p.fits:
                    p.price = price  # the (DSP, BRAM18, LUT) prices the per-layer picks were made at
                    return p
    worst = build(targets[-1]) or plan(layers, {n: ch[-1][1].rf for n, ch in options.items()}, budget=budget,
                                       mult=mult, cycles=cycles, clock_ns=clock_ns, fifo=fifo, memory=memory,
                                       shell=shell, band=band, lut_scale=lut_scale)
    raise BudgetError("model does not fit the budget even at the largest ReuseFactors:\n  "
                      + "\n  ".join(worst.overruns()))


def uniform_baseline(model, *, budget: Budget | None = None, mult: MultRule | None = None,
                     cycles: CycleModel | None = None, clock_ns: float = DEFAULT_CLOCK_NS, assumed_bits: int = 8,
                     fifo: str = DEFAULT_FIFO, shell=_DEFAULT, band=None) -> Plan:
    """The same network with one ReuseFactor for all layers (Resource strategy): the smallest that fits."""
    layers = [replace(l, strategy="resource") if l.has_weights else l for l in _as_layers(model, assumed_bits)]
    top = max(l.n_in * l.n_out for l in layers if l.has_weights)
    seen = set()
    for r in range(1, top + 1):
        key = tuple(closest_reuse_factor(valid_reuse_factors(l.n_in, l.n_out), r) for l in layers if l.has_weights)
        if key in seen:
            continue
        seen.add(key)
        p = plan(layers, budget=budget, mult=mult, cycles=cycles, clock_ns=clock_ns, uniform=r, fifo=fifo,
                 shell=shell, band=band)
        if p.fits:
            p.uniform_rf = r
            return p
    raise BudgetError("no uniform ReuseFactor fits the budget")
