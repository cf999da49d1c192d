"""The public hls4ml builds that ground the planner: where each one is, what tool made it, and the
per-layer figures its reports give.

    python -m hw.plan.builds        # re-read ../shared/vendor-reports into hw/plan/build_figures.json

Why a committed figures file: the reports are public tool output kept beside the project
(`../shared/vendor-reports/`, never copied in); `build_figures.json` carries only what the planner
is scored on (each layer's description as the tool compiled it, and its reported cycles, DSP,
BRAM18, LUT, FF; placed/routed figures where the build has them), each build with its source
(repository @ commit, path), so the held-out check runs where the folder is absent.

A build enters with its firmware (hw.plan.firmware reads the layers from the generated C++) and
its csynth reports; a layer meets its report through hls4ml's config number (`..._config5_s`).
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from hw.flow.reports import ReportError, parse_csynth_xml
from hw.plan import firmware
from hw.plan.graph import Layer

ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = ROOT.parent / "shared" / "vendor-reports"
FIGURES = Path(__file__).with_name("build_figures.json")


class BuildError(ValueError):
    """A build whose files are missing or cannot be read (names the file)."""


@dataclass(frozen=True)
class Build:
    key: str  # short name used in tables
    tool: str  # "vivado_hls_2019.2" | "vivado_hls_2020.1" | "vitis_hls_2024.2" ...
    part: str
    source: str  # repository @ commit, path (where the reports come from)
    folder: str  # under vendor-reports
    firmware: str  # under folder
    reports: str  # csynth report folder under folder
    top: str  # the HLS top whose II / totals are the design's
    placed: str = ""  # Vivado utilization (placed or routed) under folder, if any
    placed_hier: bool = False  # report_utilization -hierarchical: per-layer LUT/FF/BRAM/DSP
    placed_ip: str = ""  # instance (hier.) of the HLS IP in the placed design
    notes: str = ""

    @property
    def family(self) -> str:
        return self.tool.rsplit("_", 1)[0]  # vivado_hls | vitis_hls

    @property
    def backend(self) -> str:
        return "Vitis" if self.family == "vitis_hls" else "Vivado"


_U = "xc7z020_cnn_4bit_and_16bit_resource_hls4ml1.0_vivadohls2020.1_placed"
_UNET = "src/hls4ml/hls4ml/main/{}/hls4ml_prj_pynq"
BUILDS = (
    Build("jet_rf64_7b", "vivado_hls_2019.2", "xc7z020clg400-1",
          "nicologhielmetti/hls4ml-pynq @ 527b709a, dma_test_pynq_stream/",
          "xc7z020_jettagger_resource_rf64_7bit_vivadohls2019.2_routed", "dma_test_pynq_stream/cpp_nn_v3/firmware",
          "dma_test_pynq_stream/cpp_nn_v3/myproject_prj/solution1/syn/report", "myproject",
          placed="dma_test_pynq_stream/dma_test_pynq_v2/util.rpt", placed_hier=True, placed_ip="myproject_axi_0",
          notes="jet tagger Dense 16-64-32-32-5, io_stream, Resource RF 64, 7-bit weights; PS7 + AXI DMA, routed"),
    Build("cnn_a35t_6b", "vitis_hls_2024.2", "xc7a35tcpg236-1",
          "tsopeter/753-FPGA @ 15644be9, best/best_model_prj/",
          "xc7a35t_cnn_6bit_resource_rf64_hls4ml1.0_vitishls2024.2", "best/best_model_prj/firmware",
          "best/best_model_prj/myproject_prj/solution1/syn/report", "myproject",
          notes="CNN 64x64, 5x5 stride-2 convs, io_stream, Resource RF 45-54, 6-bit weights; C synthesis only"),
    Build("unet_serial_16b", "vivado_hls_2020.1", "xc7z020clg400-1",
          "jeanleos/umons @ be78bfb1, " + _UNET.format("pynqz2m2"),
          _U, _UNET.format("pynqz2m2") + "/firmware", _UNET.format("pynqz2m2") + "/myproject_prj/solution1/syn/report",
          "myproject", placed=_UNET.format("pynqz2m2") + "/myproject_vivado_accelerator/project_1.runs/impl_1/"
          "design_1_wrapper_utilization_placed.rpt",
          notes="U-Net 32x32x3, ap_fixed<16,6>, Resource fully serial (RF = n_in*n_out); PS7 + AXI DMA, placed"),
    Build("unet_rf1_4b", "vivado_hls_2020.1", "xc7z020clg400-1",
          "jeanleos/umons @ be78bfb1, " + _UNET.format("estimate_depth_example"),
          _U, _UNET.format("estimate_depth_example") + "/firmware",
          _UNET.format("estimate_depth_example") + "/myproject_prj/solution1/syn/report", "myproject",
          placed=_UNET.format("estimate_depth_example") + "/myproject_vivado_accelerator/project_1.runs/impl_1/"
          "design_1_wrapper_utilization_placed.rpt",
          notes="U-Net 64x64x3, ap_fixed<4,2>, Resource RF 1, batch norm; PS7 + AXI DMA, placed"),
    Build("conv1d_a200t_8b", "vivado_hls_2020.1", "xc7a200tlffg1156-2L",
          "Berk-Bilgin/ML-fpga @ 2962ef64, model_3/hls4ml_prj/",
          "xc7a200t_conv1d_encoder_8bit_resource_vivadohls2020.1_synth", "model_3/hls4ml_prj/firmware",
          "model_3/hls4ml_prj/Encoder_prj/solution1/syn/report", "Encoder",
          notes="Conv1D encoder, io_stream, Resource RF 2-3, 8-bit weights, 24-bit data; synthesis only"),
)

# the instances of a PYNQ-Z2 block design around the accelerator (hls4ml's VivadoAccelerator / Pynq
# designs and this project's scripts/build_bitstream.sh: PS7, AXI DMA on HP0, interconnects, reset)
SHELL_PARTS = ("processing_system7_0", "axi_dma_0", "axi_mem_intercon", "ps7_0_axi_periph", "rst_ps7_0_100M")

# the per-layer function of each planner kind (the report that holds the whole layer)
_LAYER_FN = re.compile(r"^(conv_[12]d_cl|pointwise_conv_[12]d_cl|dense|pooling[12]d_cl|relu|linear|zeropad[12]d_cl|"
                       r"concatenate[123]d|global_pooling[12]d_cl)_array_.*_config(\d+)_s$")


def _layer_reports(folder: Path) -> dict[str, dict]:
    """config<N> -> figures of its layer-level csynth XML."""
    out = {}
    for path in sorted(folder.glob("*_csynth.xml")):
        try:
            r = parse_csynth_xml(path.read_text(errors="replace"))
        except (ReportError, OSError) as e:
            raise BuildError(f"{path}: cannot parse ({e})") from None
        m = _LAYER_FN.match(r["top"] or "")
        if not m:
            continue
        res = r["resources"]
        fig = {"function": m.group(1), "latency_min": r["latency_best_cycles"],
               "latency_max": r["latency_worst_cycles"], "ii_max": r.get("interval_max_cycles"),
               "dsp": res.get("DSP48E", res.get("DSP")), "bram18": res.get("BRAM_18K"), "lut_hls": res.get("LUT"),
               "ff_hls": res.get("FF")}
        px = [lp for lp in r["loops"] if lp["name"] in ("ReadInputHeight_ReadInputWidth", "ReadInputWidth")]
        if px and px[0]["iteration_min"] is not None:
            fig.update(pixels=px[0]["trip_count"], cycles_skip_pixel=px[0]["iteration_min"],
                       cycles_output_pixel=px[0]["iteration_max"])
        out[f"config{m.group(2)}"] = fig
    return out


def _top(folder: Path, top: str) -> dict:
    path = folder / f"{top}_csynth.xml"
    if not path.is_file():
        path = folder / "csynth.xml"
    try:
        r = parse_csynth_xml(path.read_text(errors="replace"))
    except (ReportError, OSError) as e:
        raise BuildError(f"{path}: cannot parse ({e})") from None
    res = r["resources"]
    return {"ii": r.get("interval_max_cycles"), "latency_max": r["latency_worst_cycles"],
            "dsp": res.get("DSP48E", res.get("DSP")), "bram18": res.get("BRAM_18K"), "lut_hls": res.get("LUT"),
            "ff_hls": res.get("FF")}


_CELL = re.compile(r"^\s*(\d+)")


def _hier_rows(text: str):
    """(depth, instance, {column: value}) of each row of a hierarchical report_utilization."""
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = line.strip().strip("|").split("|")
        names = [c.strip() for c in cells]
        if names[0] == "Instance":
            header = names
            continue
        if header is None or len(cells) != len(header):
            continue
        depth = (len(cells[0]) - len(cells[0].lstrip())) // 2
        vals = {}
        for h, c in zip(header[2:], names[2:]):
            m = _CELL.match(c)
            vals[h] = int(m.group(1)) if m else None
        yield depth, names[0], vals


def _placed(path: Path, build: Build) -> dict:
    """Whole-design and, for a hierarchical report, IP and per-layer placed/routed figures."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise BuildError(f"{path}: cannot read ({e})") from None
    out: dict = {"file": str(path.relative_to(REPORTS_DIR))}
    if build.placed_hier:
        rows = list(_hier_rows(text))
        if not rows:
            raise BuildError(f"{path}: no hierarchical utilization table")
        conv = lambda v: {"lut": v["Total LUTs"], "ff": v["FFs"],  # noqa: E731
                          "bram18": 2 * (v["RAMB36"] or 0) + (v["RAMB18"] or 0), "dsp": v["DSP48 Blocks"]}
        out["design"] = conv(rows[0][2])
        ip = [v for _, name, v in rows if name == build.placed_ip]
        if not ip:
            raise BuildError(f"{path}: instance {build.placed_ip!r} not found")
        out["ip"] = conv(ip[0])
        out["layers"] = {f"config{m.group(1)}": conv(v) for _, name, v in rows
                         if (m := re.search(r"_config(\d+)_U0$", name))}
        # the block design around the IP: the whole design less the IP, and its named parts
        out["shell"] = {k: out["design"][k] - out["ip"][k] for k in out["design"]}
        # the HLS IP less its network (grp_myproject...): the AXI wrapper hls4ml wrapped around it
        inner = [v for _, name, v in rows if name.startswith("grp_myproject")]
        if inner:
            out["wrapper"] = {k: out["ip"][k] - conv(inner[0])[k] for k in out["ip"]}
        out["shell_parts"] = {}
        for _, name, v in rows:
            if name in SHELL_PARTS and name not in out["shell_parts"]:
                out["shell_parts"][name] = conv(v)
        return out
    from hw.flow.reports import parse_utilization

    try:
        u = parse_utilization(text)
    except ReportError as e:
        raise BuildError(f"{path}: {e}") from None
    out["design"] = {"lut": int(u.lut), "ff": int(u.ff), "bram18": int(round(2 * u.bram_tiles)), "dsp": int(u.dsp)}
    return out


MNIST = Build("mnist_cnn_4b", "vivado_hls_2020.1", "xc7z020clg400-1",
              "Spehic/Diplomska-hls4ml @ 08539a92, mnist/qkeras-pruned/my-hls-test/",
              "xc7z020_mnist_cnn_hls4ml1.0_vivadohls2020.1", "", "csynth", "myproject",
              notes="QKeras MNIST CNN, io_stream, Resource RF 72/50, 4-bit weights; no firmware published: "
                    "rebuilt in hls4ml from its config (hw.plan.calibration), matched by layer index")


def _mnist_layers() -> list[Layer]:
    """The MNIST CNN rebuilt in hls4ml (its firmware is not in the repository), named config<index>."""
    from dataclasses import replace

    from hw.plan import calibration as K

    layers, index = K._convert(*K._mnist_cnn())
    return [replace(l, name=f"config{index[l.name]}") for l in layers]


def extract(reports_dir: Path = REPORTS_DIR) -> dict:
    """Every build's layers (as compiled) and report figures, read from the real files."""
    builds = {}
    base = reports_dir / MNIST.folder
    if not base.is_dir():
        raise BuildError(f"{base}: report folder missing")
    builds[MNIST.key] = {"build": asdict(MNIST), "layers": [asdict(l) for l in _mnist_layers()],
                         "reports": _layer_reports(base / MNIST.reports), "top": _top(base / MNIST.reports, MNIST.top)}
    for b in BUILDS:
        base = reports_dir / b.folder
        if not base.is_dir():
            raise BuildError(f"{base}: report folder missing")
        layers = firmware.read(base / b.firmware, b.backend)
        figs = _layer_reports(base / b.reports)
        entry = {"build": asdict(b), "layers": [asdict(l) for l in layers], "reports": figs,
                 "top": _top(base / b.reports, b.top)}
        if b.placed:
            entry["placed"] = _placed(base / b.placed, b)
        builds[b.key] = entry
    return builds


def load(path: Path = FIGURES) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BuildError(f"{path}: cannot read the extracted build figures ({e})") from None


def layers_of(entry: dict) -> list[Layer]:
    """Planner layers of one build entry of build_figures.json."""
    fields = Layer.__dataclass_fields__
    return [Layer(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields})
            for d in entry["layers"]]


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hw.plan.builds", description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=Path, default=REPORTS_DIR, help="vendor-reports folder")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        data = extract(a.reports)
    except (BuildError, firmware.FirmwareError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    FIGURES.write_text(json.dumps(data, indent=1) + "\n")
    counts = ", ".join(f"{k} ({len(v['reports'])} layer reports)" for k, v in data.items())
    print(f"wrote {FIGURES}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
