"""Fit the planner's tool-dependent constants on some public builds and score it on the others.

    python -m hw.plan.fit          # leave-one-design-out table (markdown) and the targets

Why leave-one-design-out: a constant fitted on a build and scored on that same build says nothing
about the next design. Here each build in hw/plan/build_figures.json is predicted by a planner
whose constants were fitted on all the *other* builds; in-sample figures are printed beside the
held-out ones only for contrast.

What is fitted (per HLS tool version where the training builds have that version, else per tool
family, else over all training builds), each from the report figure it describes:
  * cycles: conv pixel-loop iteration without an output (skip) and on top of RF + ReuseLoop depth
    with one (out); io_stream Dense on top of beats + RF + depth; elementwise pipeline depth and
    the single-pixel case: medians of the training layers' residuals;
  * multiplier binding: the operand width up to which RF > 1 products stay in fabric, the DSP
    share of an RF <= n_in adder tree and the RF = 1 constant-multiplier width: the values (on a
    grid) with the fewest DSPs wrong on the training layers;
  * LUT/FF: one scale each from the planner's structural count to the HLS estimate (weighted and
    plain layers apart) and to placed/routed LUTs (median ratio);
  * the shell (hw.plan.shell) is not fitted: it comes from the routed PYNQ-Z2 design's hierarchy.
"""
from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass, field, replace

from hw.plan import builds as B
from hw.plan.cost import cost_layer
from hw.plan.graph import Layer
from hw.plan.resources import CycleModel, MemoryRule, MultRule

LUT_BITS_GRID = (0, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18)
SHARE_BITS_GRID = (0, 4, 6, 8, 12, 16, 99)
CONST_BITS_GRID = (0, 4, 6, 8, 10, 12, 16)
WEIGHT_LUT_BITS_GRID = (0, 128, 256, 512, 640, 1024)
MODELLED = ("conv", "pointwise", "dense", "pool", "relu", "pad", "concat", "add", "gap")

# The held-out targets of the planner issue: cycles median / worst relative error, DSP and BRAM18
# within one unit per layer, LUT vs placed median relative error.
TARGETS = {"cycles_median": 0.10, "cycles_worst": 0.25, "dsp_units": 1, "bram_units": 1, "lut_placed_median": 0.25}


@dataclass(frozen=True)
class ToolParams:
    """The planner constants of one HLS tool (fitted)."""

    cycles: CycleModel = field(default_factory=CycleModel)
    mult: MultRule = field(default_factory=MultRule)
    memory: MemoryRule = field(default_factory=MemoryRule)
    lut_hls_weighted: float = 1.0  # HLS LUT estimate / planner LUT, weighted layers
    lut_hls_plain: float = 1.0  # same, layers without weights
    lut_placed: float = 1.0  # placed or routed LUT / planner LUT
    ff_hls: float = 1.0  # HLS FF estimate / planner FF


# ------------------------------------------------------------------------------------------------
# Samples: every reported layer of every build, with the planner's structural costing
# ------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    build: str
    tool: str
    layer: Layer
    report: dict
    placed: dict | None = None  # per-layer placed figures (hierarchical report)

    @property
    def family(self) -> str:
        return self.tool.rsplit("_", 1)[0]


def samples(data: dict, keys=None) -> list[Sample]:
    out = []
    for key, entry in data.items():
        if keys is not None and key not in keys:
            continue
        tool = entry["build"]["tool"]
        placed_layers = (entry.get("placed") or {}).get("layers", {})
        for l in B.layers_of(entry):
            rep = entry["reports"].get(l.name)
            if rep is None or l.kind not in MODELLED or (l.has_weights and l.strategy != "resource"):
                continue
            out.append(Sample(key, tool, l, rep, placed_layers.get(l.name)))
    return out


def _group(items, tool: str, attr=lambda s: s):
    """Training items of the same tool version, else the same family, else all of them."""
    for pick in (lambda s: attr(s).tool == tool, lambda s: attr(s).family == tool.rsplit("_", 1)[0], lambda s: True):
        chosen = [s for s in items if pick(s)]
        if chosen:
            return chosen
    return []


def _median(values, default):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else default


# ------------------------------------------------------------------------------------------------
# Fitting
# ------------------------------------------------------------------------------------------------
def _cost(s: Sample, p: ToolParams) -> Layer:
    return cost_layer(s.layer, s.layer.rf, p.mult, p.cycles, fifo="full", memory=p.memory)


def _fit_memory(ss: list[Sample]) -> MemoryRule:
    """The weight-table size up to which the tool keeps it out of BRAM (grid; fewest BRAM18 wrong;
    ties: the middle value)."""
    if not ss:
        return MemoryRule()
    scored = []
    for bits in WEIGHT_LUT_BITS_GRID:
        rule = MemoryRule(weight_lut_max_bits=bits)
        err = 0
        for s in ss:
            c = cost_layer(s.layer, s.layer.rf, MultRule(), CycleModel(), fifo="full", memory=rule)
            err += abs(c.weight_bram18 + c.index_bram18 - s.report["bram18"])
        scored.append((err, bits))
    best = min(e for e, _ in scored)
    ties = [b for e, b in scored if e == best]
    return MemoryRule(weight_lut_max_bits=ties[len(ties) // 2])


def fit(train: list[Sample], tool: str) -> ToolParams:
    """Constants for `tool`, from the training samples (see module docstring)."""
    base = CycleModel()
    rd = CycleModel.reuse_depth
    convs = [s for s in _group([s for s in train if s.layer.kind == "conv"], tool)]
    dense = [s for s in _group([s for s in train if s.layer.kind == "dense"], tool)]
    skip = _median([s.report.get("cycles_skip_pixel") for s in convs], base.skip_pixel)
    extra = lambda ss: [s.report["cycles_output_pixel"] - s.layer.rf - rd(s.layer.rf, s.layer.n_in)  # noqa: E731
                        for s in ss if s.report.get("cycles_output_pixel")]
    regime = lambda s: "rf1" if s.layer.rf == 1 else ("gt" if s.layer.rf > s.layer.n_in else "le")  # noqa: E731
    allconv = [s for s in train if s.layer.kind == "conv"]
    by_regime = {r: _median(extra(_group([s for s in allconv if regime(s) == r], tool)), None) for r in ("rf1", "le", "gt")}
    out = by_regime["le"] if by_regime["le"] is not None else _median(extra(convs), base.out_pixel)
    dio = _median([s.report["latency_max"] - math.ceil(s.layer.n_in / max(s.layer.in_pack, 1)) - s.layer.rf
                   - rd(s.layer.rf, s.layer.n_in) for s in dense], base.dense_io)
    px = lambda s: s.layer.in_shape[0] * s.layer.in_shape[1]  # noqa: E731
    relus = [s for s in train if s.layer.kind == "relu"]
    depth = _median([s.report["latency_max"] - px(s) for s in _group([s for s in relus if px(s) > 1], tool)],
                    base.elementwise_depth)
    single = _median([s.report["latency_max"] for s in _group([s for s in relus if px(s) == 1], tool)],
                     base.single_pixel)
    rnd = lambda v: None if v is None else round(v)  # noqa: E731
    cycles = replace(base, skip_pixel=round(skip), out_pixel=round(out), dense_io=round(dio),
                     elementwise_depth=round(depth), single_pixel=round(single),
                     out_pixel_rf1=rnd(by_regime["rf1"]), out_pixel_gt_nin=rnd(by_regime["gt"]))
    mult = _fit_mult(_group([s for s in train if s.layer.has_weights and s.report.get("dsp") is not None], tool))
    memory = _fit_memory(_group([s for s in train if s.layer.has_weights and s.report.get("bram18") is not None], tool))
    p = ToolParams(cycles, mult, memory)
    weighted = _group([s for s in train if s.layer.has_weights], tool)
    plain = _group([s for s in train if not s.layer.has_weights], tool)
    ratio = lambda ss, rep, mine: _median([s.report[rep] / mine(_cost(s, p)) for s in ss  # noqa: E731
                                          if s.report.get(rep) and mine(_cost(s, p)) > 0], 1.0)
    lut = lambda c: c.lut + c.lutram - c.fifo_lutram  # noqa: E731
    placed = _group([s for s in train if s.placed and s.placed.get("lut")], tool)
    return replace(p, lut_hls_weighted=ratio(weighted, "lut_hls", lut), lut_hls_plain=ratio(plain, "lut_hls", lut),
                   ff_hls=ratio(_group(train, tool), "ff_hls", lambda c: c.ff),
                   lut_placed=_median([s.placed["lut"] / max(lut(_cost(s, p)), 1) for s in placed], 1.0))


def _fit_mult(ss: list[Sample]) -> MultRule:
    """The binding rule (on the grid) with the fewest wrong DSPs. Where the training layers leave a
    threshold open, the tie keeps the value nearest the prior (MultRule's defaults: RF = 1 constant
    products <= 8 bits in fabric, every RF > 1 product a DSP, half of an adder tree's)."""
    if not ss:
        return MultRule()
    scored = []
    for lb in LUT_BITS_GRID:
        for sb in SHARE_BITS_GRID:
            for cb in CONST_BITS_GRID:
                rule = MultRule(const_lut_max_bits=cb, lut_max_bits=lb, share_max_bits=sb)
                err = sum(abs(cost_layer(s.layer, s.layer.rf, rule, CycleModel(), fifo="full").dsp - s.report["dsp"])
                          for s in ss)
                scored.append((err, lb, sb, cb))
    best = min(e for e, *_ in scored)
    ties = [t for t in scored if t[0] == best]
    prior = MultRule()
    near = lambda vals, p: min(vals, key=lambda v: (abs(v - p), v))  # noqa: E731
    lb = near({t[1] for t in ties}, prior.lut_max_bits)
    sb = near({t[2] for t in ties if t[1] == lb}, prior.share_max_bits)
    cb = near({t[3] for t in ties if t[1] == lb and t[2] == sb}, prior.const_lut_max_bits)
    return MultRule(const_lut_max_bits=cb, lut_max_bits=lb, share_max_bits=sb)


# ------------------------------------------------------------------------------------------------
# Prediction and errors
# ------------------------------------------------------------------------------------------------
@dataclass
class LayerError:
    build: str
    layer: str
    kind: str
    figure: str  # cycles | dsp | bram18 | lut_hls | lut_placed | ff_hls
    report: float
    planner: float

    @property
    def rel(self) -> float | None:
        return None if not self.report else (self.planner - self.report) / self.report

    @property
    def units(self) -> float:
        return self.planner - self.report


def predict(s: Sample, p: ToolParams) -> list[LayerError]:
    c = _cost(s, p)
    lut = (c.lut + c.lutram - c.fifo_lutram) * (p.lut_hls_weighted if c.has_weights else p.lut_hls_plain)
    if c.kind == "conv" and s.report.get("cycles_output_pixel") is not None:
        # the report bounds a conv by its pixel loop: every input pixel on the short path (best case)
        # or on the output path (worst case); the planner's own figure lies between, as it must
        px = s.layer.in_shape[0] * s.layer.in_shape[1]
        out = [LayerError(s.build, s.layer.name, s.layer.kind, "cycles", s.report["latency_max"],
                          px * p.cycles.output_pixel(c.rf, c.n_in) + 1),
               LayerError(s.build, s.layer.name, s.layer.kind, "cycles", s.report["latency_min"],
                          px * p.cycles.skip_pixel + 1)]
    else:
        out = [LayerError(s.build, s.layer.name, s.layer.kind, "cycles", s.report["latency_max"], c.ii_cycles)]
    if c.has_weights:
        out += [LayerError(s.build, s.layer.name, s.layer.kind, "dsp", s.report["dsp"] or 0, math.ceil(c.dsp)),
                LayerError(s.build, s.layer.name, s.layer.kind, "bram18", s.report["bram18"] or 0,
                           c.weight_bram18 + c.index_bram18)]
    out.append(LayerError(s.build, s.layer.name, s.layer.kind, "lut_hls", s.report["lut_hls"] or 0, round(lut)))
    out.append(LayerError(s.build, s.layer.name, s.layer.kind, "ff_hls", s.report["ff_hls"] or 0, round(c.ff * p.ff_hls)))
    if s.placed and s.placed.get("lut") is not None:
        out.append(LayerError(s.build, s.layer.name, s.layer.kind, "lut_placed", s.placed["lut"],
                              round((c.lut + c.lutram - c.fifo_lutram) * p.lut_placed)))
    return out


def _design_raw_lut(entry: dict, p: ToolParams) -> int:
    """The planner's structural LUT count of a build's modelled layers and their FIFOs."""
    tot = 0
    for l in B.layers_of(entry):
        if l.kind not in MODELLED or (l.has_weights and l.strategy != "resource"):
            continue
        c = cost_layer(l, l.rf, p.mult, p.cycles, fifo="full", memory=p.memory)
        tot += c.lut + c.lutram + c.fifo_lut
    return tot


def _placed_ip_lut(entry: dict, data: dict) -> int | None:
    """Placed/routed LUT of the network alone (layers and FIFOs, what the planner counts): the
    hierarchy's IP less its AXI wrapper, or a flat design less the block design and a wrapper
    (hw.plan.shell, from the one hierarchical PYNQ-Z2 report)."""
    from hw.plan import shell

    placed = entry.get("placed")
    if not placed:
        return None
    if "ip" in placed:
        return placed["ip"]["lut"] - placed.get("wrapper", {}).get("lut", 0)
    return placed["design"]["lut"] - shell.pynq_z2(data).lut


def _worst_cycles(c: Layer, p: ToolParams) -> int:
    """The figure csynth reports for a layer: a conv's pixel loop all on the output path."""
    if c.kind == "conv":
        return c.in_shape[0] * c.in_shape[1] * p.cycles.output_pixel(c.rf, c.n_in) + 1
    return c.ii_cycles


def design_errors(key: str, entry: dict, p: ToolParams, lut_scale: float | None, data: dict) -> list[LayerError]:
    """Whole-design rows: the top's II against the slowest layer, placed IP LUT against the planner's."""
    out = []
    costed = [cost_layer(l, l.rf, p.mult, p.cycles, fifo="full", memory=p.memory) for l in B.layers_of(entry)
              if l.kind in MODELLED and not (l.has_weights and l.strategy != "resource")]
    if entry["top"].get("ii") and costed:
        out.append(LayerError(key, "(design)", "top", "ii_design", entry["top"]["ii"],
                              max(_worst_cycles(c, p) for c in costed)))
    ip = _placed_ip_lut(entry, data)
    if ip is not None and lut_scale is not None:
        out.append(LayerError(key, "(design)", "top", "lut_placed_design", ip, round(lut_scale * _design_raw_lut(entry, p))))
    return out


def _fit_design_lut(data: dict, keys, params: dict) -> float | None:
    ratios = [_placed_ip_lut(data[k], data) / _design_raw_lut(data[k], params[k]) for k in keys
              if _placed_ip_lut(data[k], data) is not None]
    return statistics.median(ratios) if ratios else None


def leave_one_out(data: dict | None = None) -> tuple[list[LayerError], dict[str, ToolParams]]:
    """Every build's layers predicted by constants fitted on the other builds only."""
    data = data or B.load()
    everything = samples(data)
    errors, params = [], {}
    for key, entry in data.items():
        tool = entry["build"]["tool"]
        p = fit([s for s in everything if s.build != key], tool)
        params[key] = p
        for s in (s for s in everything if s.build == key):
            errors += predict(s, p)
        others = [k for k in data if k != key]
        train_params = {k: fit([s for s in everything if s.build != key], data[k]["build"]["tool"]) for k in others}
        errors += design_errors(key, entry, p, _fit_design_lut(data, others, train_params), data)
    return errors, params


def in_sample(data: dict | None = None) -> list[LayerError]:
    """The same table with constants fitted on every build, the scored one included (contrast only)."""
    data = data or B.load()
    everything = samples(data)
    params = {k: fit(everything, e["build"]["tool"]) for k, e in data.items()}
    scale = _fit_design_lut(data, list(data), params)
    out = []
    for key, entry in data.items():
        out += [e for s in everything if s.build == key for e in predict(s, params[key])]
        out += design_errors(key, entry, params[key], scale, data)
    return out


@dataclass
class Summary:
    cycles_median: float
    cycles_worst: float
    dsp_within: tuple[int, int]  # layers within one DSP, layers
    bram_within: tuple[int, int]
    lut_hls_median: float
    lut_placed_median: float | None  # whole-design placed/routed LUT of the HLS IP
    ff_hls_median: float
    small_worst_cycles: float = 0  # layers under SMALL_CYCLES cycles: worst error in cycles

    def misses(self) -> list[str]:
        t, out = TARGETS, []
        if self.cycles_median > t["cycles_median"]:
            out.append(f"cycles median {100 * self.cycles_median:.1f} % > {100 * t['cycles_median']:.0f} %")
        if self.cycles_worst > t["cycles_worst"]:
            out.append(f"cycles worst {100 * self.cycles_worst:.1f} % > {100 * t['cycles_worst']:.0f} %")
        if self.dsp_within[0] < self.dsp_within[1]:
            out.append(f"DSP within one unit on {self.dsp_within[0]} of {self.dsp_within[1]} layers")
        if self.bram_within[0] < self.bram_within[1]:
            out.append(f"BRAM18 within one unit on {self.bram_within[0]} of {self.bram_within[1]} layers")
        if self.lut_placed_median is not None and self.lut_placed_median > t["lut_placed_median"]:
            out.append(f"LUT vs placed median {100 * self.lut_placed_median:.0f} % > {100 * t['lut_placed_median']:.0f} %")
        return out


SMALL_CYCLES = 100  # layers below this many cycles cannot set a design's II; shown in cycles instead


def summarize(errors: list[LayerError]) -> Summary:
    rel = lambda figs: [abs(e.rel) for e in errors if e.figure in figs and e.rel is not None]  # noqa: E731
    within = lambda fig: (sum(abs(e.units) <= TARGETS["dsp_units"] for e in errors if e.figure == fig),  # noqa: E731
                          sum(e.figure == fig for e in errors))
    placed = rel(("lut_placed_design",))
    cyc = [abs(e.rel) for e in errors if e.figure in ("cycles", "ii_design") and e.report >= SMALL_CYCLES]
    small = [abs(e.units) for e in errors if e.figure == "cycles" and e.report < SMALL_CYCLES]
    med = lambda v: statistics.median(v) if v else None  # noqa: E731
    return Summary(med(cyc) or 0.0, max(cyc, default=0.0), within("dsp"), within("bram18"), med(rel(("lut_hls",))),
                   med(placed), med(rel(("ff_hls",))), max(small, default=0))


def markdown(errors: list[LayerError], contrast: list[LayerError] | None = None, per_layer: bool = True) -> str:
    builds = list(dict.fromkeys(e.build for e in errors))
    lines = ["| build (held out) | layers | cycles median / worst | DSP within 1 | BRAM18 within 1 | LUT vs HLS median | "
             "LUT vs placed median | FF vs HLS median |", "|---|--:|--:|--:|--:|--:|--:|--:|"]
    pct = lambda v: "n/a" if v is None else f"{100 * v:.0f} %"  # noqa: E731
    for b in builds + ["all"]:
        es = [e for e in errors if b == "all" or e.build == b]
        s = summarize(es)
        n = len({(e.build, e.layer) for e in es})
        lines.append(f"| {b} | {n} | {pct(s.cycles_median)} / {pct(s.cycles_worst)} | {s.dsp_within[0]}/{s.dsp_within[1]} | "
                     f"{s.bram_within[0]}/{s.bram_within[1]} | {pct(s.lut_hls_median)} | {pct(s.lut_placed_median)} | "
                     f"{pct(s.ff_hls_median)} |")
    total = summarize(errors)
    lines += ["", "Held out, all builds: " + ("every target met" if not total.misses() else
                                               "targets missed: " + "; ".join(total.misses())) + ". "
              f"Cycle errors are relative over layers of >= {SMALL_CYCLES} cycles and the designs' II; layers "
              f"below that (one-pixel ReLUs, Dense of a few beats) cannot set a design's II: worst "
              f"{total.small_worst_cycles:.0f} cycles there."]
    if contrast:
        c = summarize(contrast)
        lines.append(f"In sample (constants fitted on every build, the scored one included; contrast only): cycles "
                     f"median {pct(c.cycles_median)} / worst {pct(c.cycles_worst)}, DSP within 1 "
                     f"{c.dsp_within[0]}/{c.dsp_within[1]}, BRAM18 within 1 {c.bram_within[0]}/{c.bram_within[1]}, "
                     f"LUT vs placed median {pct(c.lut_placed_median)}.")
    if per_layer:
        lines += ["", "| build | layer | kind | figure | report | planner (held out) | error |", "|---|---|---|---|--:|--:|--:|"]
        for e in errors:
            err = f"{100 * e.rel:+.0f} %" if e.rel is not None else f"{e.units:+.0f}"
            lines.append(f"| {e.build} | {e.layer} | {e.kind} | {e.figure} | {e.report:,.0f} | {e.planner:,.0f} | {err} |")
    return "\n".join(lines)


def report(per_layer: bool = True) -> str:
    """The held-out table (with the in-sample contrast line), as `python -m hw.plan.fit` prints it."""
    data = B.load()
    errors, _ = leave_one_out(data)
    return markdown(errors, in_sample(data), per_layer=per_layer)


def main(argv=None) -> int:
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m hw.plan.fit", description=__doc__.split("\n")[0])
    ap.add_argument("--summary", action="store_true", help="the per-build table only, no per-layer rows")
    ap.add_argument("--out", type=Path, help="also write the markdown to this file")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        text = report(per_layer=not a.summary)
    except B.BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text)
    if a.out:
        a.out.write_text(f"<!-- generated by: python -m hw.plan.fit{' --summary' if a.summary else ''} --out {a.out} -->\n\n"
                         + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
