"""The planner against real C-synthesis reports: reconstruct each reported layer in hls4ml, cost
it with the planner, compare figure by figure.

    python -m hw.plan.calibration            # prior table "planner vs report", then the held-out table
    python -m hw.plan.calibration --per-layer  # ... with every held-out layer (hw.plan.fit)
    python -m hw.plan.calibration --extract  # re-read ../shared/vendor-reports into vendor_figures.json

Why a committed table: the reports are public tool output kept beside the project
(`../shared/vendor-reports/`, never copied in); `vendor_figures.json` carries only the figures
extracted from them, each with its source, so the check stays alive where the folder is absent. A
layer is matched to its report by hls4ml's own numbering (`config<index>` in the function name is
the layer's index in the ModelGraph), so a reconstruction that differs from the reported design
fails to match instead of being compared with the wrong function.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hw.flow.reports import ReportError, parse_csynth_xml
from hw.plan.resources import STORAGE, BudgetError, fifo_cost

ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = ROOT.parent / "shared" / "vendor-reports"
FIGURES = Path(__file__).with_name("vendor_figures.json")

MNIST = "xc7z020_mnist_cnn_hls4ml1.0_vivadohls2020.1"
LENET = "zcu102_lenet5_hls4ml1.0_vitishls2023.2"
SOURCES = {
    MNIST: "Spehic/Diplomska-hls4ml @ 08539a92, mnist/qkeras-pruned/my-hls-test: hls4ml 1.0.0, Vivado HLS 2020.1, "
           "xc7z020clg400-1, io_stream, Resource, 5 ns",
    LENET: "abdennour-GUESSOUM/Lenet5-hls4ml @ f6eb965b, lenet5_quantifié_8_4/myproject_prj/solution1: hls4ml 1.0.0, "
           "Vitis HLS 2023.2, xczu9eg, io_stream, Latency, 5 ns",
}
LAYER_FUNCTIONS = ("conv_2d_cl", "pooling2d_cl", "relu_array", "dense_array")
_CONFIG = re.compile(r"_config(\d+)_s$")


class CalibrationError(ValueError):
    """A report the calibration cannot parse or a layer it cannot reconstruct (names which)."""


# ------------------------------------------------------------------------------------------------
# Extraction: report files -> figures
# ------------------------------------------------------------------------------------------------
def _layer_figures(path: Path) -> dict | None:
    """Figures of one layer-level csynth XML (None for helper functions and the top)."""
    try:
        r = parse_csynth_xml(path.read_text(errors="replace"))
    except (ReportError, OSError) as e:
        raise CalibrationError(f"{path}: cannot parse ({e})") from None
    top = r["top"] or ""
    m = _CONFIG.search(top)
    if not m or not top.startswith(LAYER_FUNCTIONS):
        return None
    res = r["resources"]
    fig = {"function": top.split("_array")[0], "config": int(m.group(1)),
           "latency_min": r["latency_best_cycles"], "latency_max": r["latency_worst_cycles"],
           "dsp": res.get("DSP48E", res.get("DSP")), "bram18": res.get("BRAM_18K"), "lut_hls": res.get("LUT"),
           "ff_hls": res.get("FF")}
    pixel_loops = [lp for lp in r["loops"] if lp["name"] == "ReadInputHeight_ReadInputWidth"]
    if pixel_loops and fig["function"] == "conv_2d_cl":
        lp = pixel_loops[0]
        fig.update(pixels=lp["trip_count"], cycles_skip_pixel=lp["iteration_min"], cycles_output_pixel=lp["iteration_max"])
    return fig


def _fifo_rows(rpt: Path) -> list[dict]:
    """The FIFO table of a top-level csynth.rpt: one row per (depth, bits) with its count and BRAM18."""
    rows: dict[tuple, dict] = {}
    inside = False
    for line in rpt.read_text(errors="replace").splitlines():
        s = line.strip()
        if s.startswith("* FIFO:"):
            inside = True
            continue
        if inside and s.startswith("* ") and not s.startswith("* FIFO"):
            break
        cells = [c.strip() for c in s.strip("|").split("|")] if inside and s.startswith("|") else []
        if len(cells) < 7 or cells[0] in ("Name", "Total") or not cells[5].isdigit():
            continue
        stream = re.sub(r"(_V_data_\d+_V)?_U$", "", cells[0])
        key = (stream, int(cells[5]), int(cells[6]))
        row = rows.setdefault(key, {"stream": stream, "depth": key[1], "bits": key[2], "count": 0, "bram18": 0})
        row["count"] += 1
        row["bram18"] += int(cells[1])
    if not rows:
        raise CalibrationError(f"{rpt}: no FIFO table found")
    return list(rows.values())


def extract(reports_dir: Path = REPORTS_DIR) -> dict:
    """Every figure the calibration uses, read from the real reports."""
    out = {"sources": SOURCES, "layers": {}, "fifos": {}, "cosim": {}}
    for case in (MNIST, LENET):
        folder = reports_dir / case / "csynth"
        if not folder.is_dir():
            raise CalibrationError(f"{folder}: report folder missing")
        figs = [f for f in (_layer_figures(p) for p in sorted(folder.glob("*_csynth.xml"))) if f]
        out["layers"][case] = sorted(figs, key=lambda f: f["config"])
        out["fifos"][case] = _fifo_rows(folder / "myproject_csynth.rpt")
    cosim = (reports_dir / LENET / "cosim" / "myproject_cosim.rpt").read_text(errors="replace")
    m = re.search(r"\|\s*Verilog\|\s*Pass\|\s*(\d+)\|\s*(\d+)\|\s*(\d+)\|\s*(\d+)\|\s*(\d+)\|\s*(\d+)\|", cosim)
    if not m:
        raise CalibrationError(f"{reports_dir / LENET}/cosim/myproject_cosim.rpt: no passing Verilog row")
    top = parse_csynth_xml((reports_dir / LENET / "csynth" / "myproject_csynth.xml").read_text())
    out["cosim"][LENET] = {"cosim_latency_min": int(m.group(1)), "cosim_latency_max": int(m.group(3)),
                           "cosim_interval": int(m.group(4)), "csynth_interval": top["interval_min_cycles"],
                           "csynth_latency": top["latency_worst_cycles"]}
    return out


def load_figures(path: Path = FIGURES) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CalibrationError(f"{path}: cannot read the extracted figures ({e})") from None


# ------------------------------------------------------------------------------------------------
# Reconstruction: the reported designs rebuilt in hls4ml 1.x from their configs
# ------------------------------------------------------------------------------------------------
# Spehic MNIST CNN (hls4ml_config_reports.yml): 4-bit weights and biases fixed<4,1>, ReLU and pool
# outputs ufixed<4,0>, input fixed<16,6>, ReuseFactor 64 requested; result widths as in the reported
# function names (conv 25,12 / 18,11, dense 19,12 / 14,7). Softmax is left out (not planned).
_MNIST_RESULTS = {"qconv2d_1": "fixed<25,12>", "qconv2d_2": "fixed<18,11>", "qdense_1": "fixed<19,12>",
                  "qdense_2": "fixed<14,7>"}


def _mnist_cnn():
    import keras

    L = keras.layers
    inp = keras.Input((28, 28, 1), name="qconv2d_1_input")
    x = L.Conv2D(32, 3, name="qconv2d_1")(inp)
    x = L.Activation("relu", name="qconv2d_1_quantized_relu")(x)
    x = L.MaxPooling2D(2, name="max_pooling2d_1")(x)
    x = L.Conv2D(32, 3, name="qconv2d_2")(x)
    x = L.Activation("relu", name="qconv2d_2_quantized_relu")(x)
    x = L.MaxPooling2D(2, name="max_pooling2d_2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(32, name="qdense_1")(x)
    x = L.Activation("relu", name="qdense_1_quantized_relu")(x)
    x = L.Dense(10, name="qdense_2")(x)
    model = keras.Model(inp, x, name="spehic_mnist_cnn")
    cfg = {"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 64, "Strategy": "Resource"}, "LayerName": {}}
    for layer in model.layers:
        if layer.name in _MNIST_RESULTS:
            cfg["LayerName"][layer.name] = {
                "ReuseFactor": 64, "Strategy": "Resource",
                "Precision": {"weight": "fixed<4,1,TRN,WRAP>", "bias": "fixed<4,1,TRN,WRAP>",
                              "result": _MNIST_RESULTS[layer.name], "accum": _MNIST_RESULTS[layer.name]}}
        elif layer.name.endswith("relu") or layer.name.startswith("max_pool"):
            cfg["LayerName"][layer.name] = {"Precision": {"result": "ufixed<4,0,RND_CONV,SAT>"}}
    return model, cfg, "Vivado", "xc7z020clg400-1"


def _lenet_pool(shape):
    """One LeNet-5 pooling layer alone (its cycles do not depend on the rest of the network)."""
    import keras

    inp = keras.Input(shape, name="x")
    model = keras.Model(inp, keras.layers.MaxPooling2D(2, name="pool")(inp), name=f"lenet_pool_{shape[0]}")
    cfg = {"Model": {"Precision": "fixed<8,1>", "ReuseFactor": 1, "Strategy": "Latency"}}
    return model, cfg, "Vitis", "xczu9eg-ffvb1156-2-e"


def _convert(model, cfg, backend, part, keep_depths=True):
    """Planner layers of a reconstruction, with hls4ml's own stream depths (as in the reports)."""
    import hls4ml

    from hw.hls import patches
    from hw.plan.graph import layers_from_hls

    patches.apply()
    with tempfile.TemporaryDirectory(prefix="calib_") as tmp, contextlib.redirect_stdout(io.StringIO()):
        try:
            hm = hls4ml.converters.convert_from_keras_model(
                model, hls_config=cfg, output_dir=str(Path(tmp) / "prj"), backend=backend, io_type="io_stream",
                part=part, clock_period=5)
        except Exception as e:  # hls4ml raises bare Exceptions
            raise CalibrationError(f"{model.name}: hls4ml could not rebuild the reported design ({e})") from None
        index = {hl.name: hl.index for hl in hm.get_layers()}
        try:
            layers = layers_from_hls(hm)
        except BudgetError as e:
            raise CalibrationError(f"{model.name}: {e}") from None
    return layers, index


# ------------------------------------------------------------------------------------------------
# Comparison
# ------------------------------------------------------------------------------------------------
@dataclass
class Row:
    case: str
    layer: str
    figure: str
    report: float
    planner: float
    kind: str  # cycles | dsp | bram | lut | ff | fifo

    @property
    def error(self) -> float | None:
        if self.report in (0, None) or self.planner is None:
            return None if self.report != self.planner else 0.0
        return (self.planner - self.report) / self.report


def _plan_layers(layers, fifo="min"):
    """Costed with the prior constants (resources.py defaults) this table was fitted with; the
    held-out scoring of the fitted ones is hw.plan.fit."""
    from hw.plan.optimize import plan
    from hw.plan.resources import CycleModel, MemoryRule, MultRule
    from hw.plan.shell import Shell

    return plan(layers, fifo=fifo, mult=MultRule(), cycles=CycleModel(), memory=MemoryRule(), shell=Shell(),
                lut_scale=1.0).layers


def compare(figures: dict | None = None) -> list[Row]:
    """One Row per (reported layer, figure): the planner's value next to the report's."""
    from hw.plan.resources import CycleModel

    figures = figures or load_figures()
    cyc = CycleModel()
    rows: list[Row] = []
    layers, index = _convert(*_mnist_cnn())
    costed = {l.name: l for l in _plan_layers(layers)}
    by_config = {index[name]: costed[name] for name in costed}
    for fig in figures["layers"][MNIST]:
        l = by_config.get(fig["config"])
        if l is None:
            raise CalibrationError(f"{MNIST}: reported function {fig['function']}_config{fig['config']} has no "
                                   "layer of that index in the reconstruction")
        add = lambda figure, planner, kind, rep=None: rows.append(  # noqa: E731
            Row(MNIST, l.name, figure, fig[figure] if rep is None else rep, planner, kind))
        if l.kind == "conv":
            in_px = l.in_shape[0] * l.in_shape[1]
            add("cycles_skip_pixel", cyc.skip_pixel, "cycles")
            add("cycles_output_pixel", cyc.output_pixel(l.rf, l.n_in), "cycles")
            add("latency_min", in_px * cyc.skip_pixel + 1, "cycles")
            add("latency_max", in_px * cyc.output_pixel(l.rf, l.n_in) + 1, "cycles")
        else:
            add("latency_max", l.ii_cycles, "cycles")
        if l.has_weights:
            add("dsp", l.dsp, "dsp")
            add("bram18", l.weight_bram18, "bram")
        add("lut_hls", l.lut + l.lutram - l.fifo_lutram, "lut")
        add("ff_hls", None, "ff")  # flip-flops are not modelled by the planner
    for fig, shape in zip([f for f in figures["layers"][LENET] if f["function"] == "pooling2d_cl"],
                          ((24, 24, 6), (8, 8, 16))):
        (pool,) = [l for l in _plan_layers(_convert(*_lenet_pool(shape))[0]) if l.kind == "pool"]
        rows.append(Row(LENET, f"pool config{fig['config']} {'x'.join(map(str, shape))}", "latency_max",
                        fig["latency_max"], pool.ii_cycles, "cycles"))
    for case, rule in ((MNIST, STORAGE["vivado"]), (LENET, STORAGE["vitis"])):
        for f in figures["fifos"][case]:
            if f["depth"] <= 2:
                continue
            per = fifo_cost(f["depth"], f["bits"], 1, rule)[0]
            rows.append(Row(case, f"{f['stream']} ({f['count']} x {f['depth']}x{f['bits']})", "fifo_bram18",
                            f["bram18"], per * f["count"], "fifo"))
    return rows


def cycle_error_stats(rows: list[Row]) -> tuple[float, float]:
    """(median, worst) absolute relative error of the cycle rows."""
    errs = [abs(r.error) for r in rows if r.kind == "cycles"]
    return statistics.median(errs), max(errs)


def markdown(rows: list[Row], figures: dict | None = None) -> str:
    figures = figures or load_figures()
    short = {MNIST: "MNIST CNN, Vivado HLS 2020.1", LENET: "LeNet-5, Vitis HLS 2023.2"}
    out = ["| design (report) | layer | figure | report | planner | error |", "|---|---|---|--:|--:|--:|"]
    for r in rows:
        err = "n/a" if r.error is None else f"{100 * r.error:+.1f} %"
        planner = "not modelled" if r.planner is None else f"{r.planner:,.0f}"
        out.append(f"| {short[r.case]} | {r.layer} | {r.figure} | {r.report:,.0f} | {planner} | {err} |")
    med, worst = cycle_error_stats(rows)
    c = figures["cosim"][LENET]
    out += ["", f"Cycle rows: median error {100 * med:.1f} %, worst {100 * worst:.1f} %. "
            f"DSP rows: {sum(r.error == 0 for r in rows if r.kind == 'dsp')}/{sum(r.kind == 'dsp' for r in rows)} exact. "
            f"LeNet-5 RTL co-simulation interval {c['cosim_interval']:,} cycles vs C-synthesis {c['csynth_interval']:,}.",
            "", "Sources: " + "; ".join(f"{short[k]}: {v}" for k, v in figures["sources"].items()) + "."]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.plan.calibration", description=__doc__.split("\n")[0])
    ap.add_argument("--extract", action="store_true", help=f"re-read the reports into {FIGURES.name}")
    ap.add_argument("--reports", type=Path, default=REPORTS_DIR, help="vendor-reports folder")
    ap.add_argument("--per-layer", action="store_true", help="the held-out table layer by layer")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        if a.extract:
            FIGURES.write_text(json.dumps(extract(a.reports), indent=1, ensure_ascii=False) + "\n")
            print(f"wrote {FIGURES}")
        print("## Prior constants vs the two builds they were fitted on (in sample)\n")
        print(markdown(compare()))
        from hw.plan import fit

        print("\n## Leave-one-design-out: each build scored by constants fitted on the others (hw.plan.fit)\n")
        print(fit.report(per_layer=a.per_layer))
        return 0
    except CalibrationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
