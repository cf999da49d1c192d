"""Fire-module RTL export: one Fire module of the trained model as a standalone hls4ml project
(Vitis backend, io_stream), checked bit-exact here (hls4ml C simulation == Keras == hw.golden
fire_forward), then exported by Vitis HLS as Verilog, with a thin shim that gives it the port names
of the RTL bench (ap_clk, ap_rst_n, in_*, out_*; docs/INTERFACES.md, HLS_FIRE_RTL_DIR).

The sub-model reuses the trained layers (fireN_squeeze, _expand1x1, _expand3x3) and ends in the
input quantizer of the layer that consumes the Fire output in the full model: that is the Fire
output format of hw.golden's FireParams, so the exported RTL and the golden model agree.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from hw.flow import tclgen

SHIM_SUFFIX = "_hls"  # module <fire>_hls: the bench-facing wrapper


class FireExportError(RuntimeError):
    """The Fire module cannot be cut out, converted or exported."""


def _consumer_quantizer(model, fire_step):
    """The quantizer that sets the Fire output format, as hw.golden derived it (the one derivation
    of the Fire boundary): the input quantizer of the layer consuming <fire>_concat, or that
    standalone Quantizer layer itself."""
    names = fire_step.params.get("output_quantized_by") or []
    if not names:
        raise FireExportError(f"no quantizer consumes {fire_step.name}: the Fire output has no fixed-point format")
    layer = model.get_layer(names[0])
    return layer if type(layer).__name__ == "Quantizer" else layer.iq


def fire_submodel(model, fire: str, net=None):
    """Keras model: Input (fire's input shape) -> squeeze -> expand1x1 || expand3x3 -> concat -> quantizer."""
    import keras

    try:
        sq, e1, e3 = (model.get_layer(f"{fire}_{p}") for p in ("squeeze", "expand1x1", "expand3x3"))
    except ValueError:
        fires = sorted({l.name.split("_")[0] for l in model.layers if l.name.endswith("_squeeze")})
        raise FireExportError(f"model has no Fire module {fire!r} (Fire modules: {', '.join(fires)})") from None
    inp = keras.Input(tuple(sq.input.shape[1:]), name=f"{fire}_in")
    s = sq(inp)
    y = keras.layers.Concatenate(name=f"{fire}_concat")([e1(s), e3(s)])
    from hw import golden

    net = net or golden.extract(model)
    steps = [l for l in net.layers if l.kind == "fire" and l.fire.name == fire]
    if not steps:
        raise FireExportError(f"hw.golden does not treat {fire} as a Fire module")
    y = _consumer_quantizer(model, steps[0])(y)
    return keras.Model(inp, y, name=fire)


def _hls_config(sub, hls_cfg) -> dict:
    """hls4ml config of the sub-model: Resource strategy, ReuseFactors of the full model's YAML."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(sub, granularity="name", backend="Vitis")
    cfg["Model"]["Strategy"] = "Resource"
    for name, lc in cfg.get("LayerName", {}).items():
        rf = hls_cfg.reuse_factors.get(name)
        if rf:
            lc["ReuseFactor"] = rf
    return cfg


def write_fire_project(model_path: Path, hls_cfg, fire: str, out_dir: Path, n_check: int = 8, seed: int = 0) -> dict:
    """Write the one-Fire hls4ml project under out_dir/hls and check its C simulation bit-exact."""
    import hls4ml

    from hw import golden
    from hw.hls import patches
    from hw.model import load_model

    patches.apply()
    model = load_model(model_path)
    net = golden.extract(model)
    sub = fire_submodel(model, fire, net)
    fps = [f for f in net.fires if f.name == fire]
    if not fps:
        raise FireExportError(f"hw.golden does not treat {fire} as a Fire module")
    fp = fps[0]
    prj = out_dir / "hls"
    hm = hls4ml.converters.convert_from_keras_model(
        sub, hls_config=_hls_config(sub, hls_cfg), output_dir=str(prj), project_name=fire,
        backend="Vitis", io_type="io_stream", part=hls_cfg.part, clock_period=hls_cfg.clock_ns,
        clock_uncertainty=hls_cfg.clock_uncertainty)
    hm.compile()  # writes the project and builds the C-simulation library with g++

    rng = np.random.default_rng(seed)
    h, w, cin = (int(d) for d in sub.input.shape[1:])
    x_int = rng.integers(0, 1 << fp.in_bits, size=(n_check, h, w, cin), dtype=np.int64)
    x = (x_int / float(1 << fp.squeeze.in_frac)).astype(np.float32)
    y_keras = np.asarray(sub.predict(x, verbose=0), dtype=np.float64)
    y_hls = np.asarray(hm.predict(np.ascontiguousarray(x)), dtype=np.float64).reshape(y_keras.shape)
    q_gold = golden.fire_forward(x_int, fp)
    out_frac = fp.expand1x1.out_frac
    scaled = y_hls * float(1 << out_frac)
    problems = []
    if not np.array_equal(y_hls, y_keras):
        problems.append(f"hls4ml C simulation differs from Keras in {int((y_hls != y_keras).sum())} values")
    if not np.array_equal(scaled, np.round(scaled)) or not np.array_equal(scaled.astype(np.int64), q_gold):
        problems.append("hls4ml C simulation differs from hw.golden.fire_forward")
    if problems:
        raise FireExportError(f"{fire}: " + "; ".join(problems))
    info = {"fire": fire, "project": str(prj), "in_bits": fp.in_bits, "in_frac": fp.squeeze.in_frac,
            "in_channels": fp.in_channels, "out_channels": fp.out_channels, "out_frac": out_frac,
            "out_bits": fp.expand1x1.out_bits, "height": h, "width": w, "checked_images": n_check}
    (out_dir / "fire.json").write_text(json.dumps(info, indent=1))
    return info


def fire_hls_settings(fire_dir: Path, fire: str, hls_cfg) -> dict:
    """Vitis HLS settings: hls4ml's top itself (its axis ports), no testbench (checked above), Verilog out."""
    prj = fire_dir / "hls"
    src = prj / "firmware" / f"{fire}.cpp"
    return tclgen.hls_settings(hls_project=f"{fire}_prj", top=fire, part=hls_cfg.part, clock_ns=hls_cfg.clock_ns,
                               clock_uncertainty=hls_cfg.clock_uncertainty, design_files=[src], tb_files=[],
                               include_dirs=[prj / "firmware"], run_csim=False)


# ---------------------------------------------------------------------------------------------
# Verilog shim with the bench's port names
# ---------------------------------------------------------------------------------------------
_PORT = re.compile(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?(\w+)\s*[;,)]", re.M)


def verilog_ports(text: str, module: str) -> dict[str, tuple[str, int]]:
    """{port: (direction, width)} of `module` in HLS-generated Verilog (ANSI or non-ANSI headers)."""
    m = re.search(rf"\bmodule\s+{re.escape(module)}\b(.*?)\bendmodule\b", text, re.S)
    if not m:
        raise FireExportError(f"module {module} not found in the exported Verilog")
    ports = {}
    for d, hi, lo, name in _PORT.findall(m.group(1)):
        ports[name] = (d, (int(hi) - int(lo) + 1) if hi else 1)
    return ports


def make_shim(top: str, ports: dict[str, tuple[str, int]]) -> str:
    """Verilog module <top>_hls: ap_clk, ap_rst_n, in_TDATA/TVALID/TREADY, out_TDATA/TVALID/TREADY."""
    def stream(direction):
        names = [p[:-len("_TDATA")] for p, (d, _) in ports.items() if p.endswith("_TDATA") and d == direction]
        if len(names) != 1:
            raise FireExportError(f"{top}: expected one {direction} AXI-Stream, found {names}")
        return names[0]

    si, so = stream("input"), stream("output")
    wi, wo = ports[f"{si}_TDATA"][1], ports[f"{so}_TDATA"][1]
    conns = {"ap_clk": "ap_clk", f"{si}_TDATA": "in_TDATA", f"{si}_TVALID": "in_TVALID", f"{si}_TREADY": "in_TREADY",
             f"{so}_TDATA": "out_TDATA", f"{so}_TVALID": "out_TVALID", f"{so}_TREADY": "out_TREADY"}
    tie = {"ap_start": "1'b1", "ap_continue": "1'b1"}  # free-running: one call per image, back to back
    if "ap_rst_n" in ports:
        conns["ap_rst_n"] = "ap_rst_n"
    elif "ap_rst" in ports:
        conns["ap_rst"] = "~ap_rst_n"
    else:
        raise FireExportError(f"{top}: no ap_rst_n/ap_rst port")
    lines = []
    for p, (d, _) in ports.items():
        if p in conns:
            lines.append(f"        .{p}({conns[p]})")
        elif p in tie:
            lines.append(f"        .{p}({tie[p]})")
        elif d == "output":
            lines.append(f"        .{p}()")
        else:
            raise FireExportError(f"{top}: unexpected input port {p} (cannot tie it off safely)")
    return (f"`timescale 1ns / 1ps\n"
            f"// Generated by hw/flow/fire.py: the bench's port names around the Vitis HLS top {top}.\n"
            f"module {top}{SHIM_SUFFIX} (\n"
            f"    input  wire ap_clk,\n    input  wire ap_rst_n,\n"
            f"    input  wire [{wi - 1}:0] in_TDATA,\n    input  wire in_TVALID,\n    output wire in_TREADY,\n"
            f"    output wire [{wo - 1}:0] out_TDATA,\n    output wire out_TVALID,\n    input  wire out_TREADY\n);\n"
            f"    {top} u_hls (\n" + ",\n".join(lines) + "\n    );\nendmodule\n")


def icarus_ready(text: str) -> str:
    """Vitis HLS Verilog as Icarus must see it: a `timescale in every source, and its combinational
    `always @ (*)` blocks as `always_comb`. Icarus runs `always @ (*)` only on a change of an input,
    so a block whose inputs settle at time 0 (e.g. `ap_block_state4 = (layer4_out_full_n == 1'b0)`
    with full_n constant 1) stays X forever and the pipeline never advances; always_comb also runs
    once at time 0 (IEEE 1800), which is what synthesis assumes."""
    if "`timescale" not in text:
        text = "`timescale 1ns / 1ps\n" + text
    return re.sub(r"\balways\s*@\s*\(\s*\*\s*\)", "always_comb", text)


def copy_fire_rtl(verilog_dir: Path, dest: Path, top: str, fire_dir: Path) -> dict:
    """Copy the exported Verilog (+ memory init files) and write the shim and a manifest into dest."""
    files = sorted(verilog_dir.glob("*.v")) if verilog_dir.is_dir() else []
    if not files:
        raise FireExportError(f"no Verilog in {verilog_dir}: run step fire_rtl (Vitis HLS) first")
    top_file = verilog_dir / f"{top}.v"
    if not top_file.exists():
        raise FireExportError(f"{top_file} missing from the export")
    ports = verilog_ports(top_file.read_text(), top)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in files + sorted(verilog_dir.glob("*.dat")):
        text = icarus_ready(f.read_text()) if f.suffix == ".v" else None
        (tmp / f.name).write_text(text) if text is not None else shutil.copyfile(f, tmp / f.name)
    (tmp / f"{top}{SHIM_SUFFIX}.v").write_text(make_shim(top, ports))
    meta = json.loads((fire_dir / "fire.json").read_text()) if (fire_dir / "fire.json").exists() else {}
    manifest = {**meta, "top": f"{top}{SHIM_SUFFIX}", "hls_top": top,
                "files": sorted(p.name for p in tmp.glob("*.v")), "source": str(verilog_dir)}
    (tmp / "fire_rtl.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return manifest
