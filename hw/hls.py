"""hls4ml project of the quantized SqueezeNet: config validation, conversion, C simulation, AXI top.

Why this module: hls4ml silently "fixes" many config mistakes (an invalid ReuseFactor becomes the
closest valid one, an unknown layer name or key is ignored) and only fails deep inside conversion
or hours into synthesis. Here the YAML (hls4ml's own `convert_from_config` format) is checked first,
against hls4ml's own rules, and every problem is reported with the allowed choices. Then the model
is converted with hls4ml's `convert_from_config`, the C simulation is compiled, the stream
contract (`io_spec.json`, docs/INTERFACES.md) is derived from the converted model's precisions, and
the AXI top wrapper (hls_config/axi_top.cpp) is compiled with the firmware into the emulator's
shared library.

    python -m hw.hls --config hls_config/squeezenet_fmnist.yml --out build/hls/squeezenet_fmnist
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO / "hls_config"
WRAPPER_FILES = ("axi_top.cpp", "axi_top.h", "axi_sdata_sim.h")  # synthesized: copied into firmware/
RUNNER_FILE = "axi_run.cpp"  # C-ABI runner for the emulator: project root, never synthesized
PROJECT_HEADER = "axi_top_project.h"  # generated: hls4ml top, its stream types, image geometry
AXI_TOP = "squeezenet_axi"
AXI_LIBRARY = f"lib{AXI_TOP}.so"

# Stream contract constants (docs/INTERFACES.md).
BEAT_BITS = 64
LANE_BITS = 32
INPUT_FRAC_BITS = 8
DMA_LENGTH_BITS = 26  # AXI DMA buffer length register width of the PYNQ-Z2 block design

# Keys of hls4ml's YAML format that this project uses, with why each is constrained.
TOP_KEYS = {
    "KerasModel": "path of the HGQ2 .keras model (relative to the config file)",
    "OutputDir": "hls4ml project directory (relative to the config file); --out overrides it",
    "ProjectName": "hls4ml top function name (a C identifier)",
    "Backend": "hls4ml backend: Vitis",
    "Part": "FPGA part, e.g. xc7z020clg400-1",
    "ClockPeriod": "clock period in ns",
    "ClockUncertainty": "clock uncertainty, e.g. 27%",
    "IOType": "io_stream (the AXI wrapper streams pixels)",
    "WriterConfig": "hls4ml writer options",
    "HLSConfig": "Model and LayerName settings",
}
REQUIRED_TOP_KEYS = ("KerasModel", "ProjectName", "Backend", "Part", "ClockPeriod", "IOType", "HLSConfig")
WRITER_KEYS = ("Namespace", "WriteWeightsTxt", "WriteTar", "TBOutputStream", "WriteEmulationConstants")
HLS_KEYS = ("Model", "LayerName")
MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy")
LAYER_KEYS = ("Precision", "ReuseFactor", "Strategy", "Trace")
STRATEGIES = ("Latency", "Resource")
PRECISION_VARS = ("default", "weight", "bias", "result", "accum")


class HlsError(ValueError):
    """A problem building the hls4ml project or the AXI library, with a message that names it."""


class ConfigError(HlsError):
    """An hls4ml config that this project (or hls4ml) cannot use."""


class ContractError(HlsError):
    """A converted model that does not meet the stream contract of docs/INTERFACES.md."""


# --------------------------------------------------------------------------------------------
# Config: hls4ml's YAML format, validated before anything long runs.
# --------------------------------------------------------------------------------------------
@dataclass
class HlsConfig:
    """A validated hls4ml config. `raw` is the YAML as hls4ml reads it (paths as written)."""

    path: Path
    raw: dict
    model_path: Path
    output_dir: Path | None

    @property
    def project_name(self) -> str:
        return self.raw["ProjectName"]

    @property
    def model_config(self) -> dict:
        return self.raw["HLSConfig"].get("Model") or {}

    @property
    def layer_config(self) -> dict:
        return self.raw["HLSConfig"].get("LayerName") or {}

    @property
    def reuse_factors(self) -> dict[str, int]:
        """Per-layer ReuseFactor from HLSConfig.LayerName (what the budget planner writes)."""
        return {name: c["ReuseFactor"] for name, c in self.layer_config.items() if "ReuseFactor" in c}

    def hls4ml_dict(self, keras_model, output_dir: Path) -> dict:
        """The dict for hls4ml.converters.convert_from_config: the YAML on top of the backend's defaults."""
        from hls4ml.utils.config import create_config

        r = self.raw
        base = create_config(output_dir=str(output_dir), project_name=r["ProjectName"], backend=r["Backend"],
                             part=r["Part"], clock_period=r["ClockPeriod"],
                             clock_uncertainty=r.get("ClockUncertainty"), io_type=r["IOType"],
                             write_weights_txt=True)
        base["WriterConfig"].update(r.get("WriterConfig") or {})
        hls = r["HLSConfig"]
        base["HLSConfig"] = {"Model": dict(hls.get("Model") or {}),
                             "LayerName": {k: dict(v) for k, v in (hls.get("LayerName") or {}).items()}}
        base["KerasModel"] = keras_model
        return base


def _where(*keys) -> str:
    return ".".join(str(k) for k in keys)


def _check_keys(d, allowed, where: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__} {d!r}")
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(allowed)}")


def _check_precision(value, where: str) -> None:
    """Parse with hls4ml's own precision parser (the one conversion uses)."""
    from hls4ml.backends import get_backend

    items = value.items() if isinstance(value, dict) else [(None, value)]
    for var, p in items:
        w = where if var is None else _where(where, var)
        if var is not None and var not in PRECISION_VARS:
            raise ConfigError(f"{w}: unknown precision variable {var!r}; allowed: {', '.join(PRECISION_VARS)}")
        if not isinstance(p, str):
            raise ConfigError(f"{w}: precision must be a string like 'ap_fixed<16,6>', got {p!r}")
        try:
            parsed = get_backend("Vitis").convert_precision_string(p)
        except Exception as e:  # hls4ml raises ValueError, AttributeError, IndexError... for bad strings
            raise ConfigError(f"{w}: hls4ml cannot parse precision {p!r} ({type(e).__name__}: {e})") from None
        width = getattr(parsed, "width", None)
        if width is not None and width <= 0:
            raise ConfigError(f"{w}: precision {p!r} has no bits")


def _check_reuse(value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: ReuseFactor must be a positive integer, got {value!r}")


def _check_strategy(value, where: str) -> None:
    if not isinstance(value, str) or value.lower() not in [s.lower() for s in STRATEGIES]:
        raise ConfigError(f"{where}: unknown Strategy {value!r}; allowed: {', '.join(STRATEGIES)}")


def _resolve(path_value, base: Path, where: str) -> Path:
    if not isinstance(path_value, str) or not path_value:
        raise ConfigError(f"{where}: expected a path string, got {path_value!r}")
    p = Path(path_value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def parse_config(raw, path: str | os.PathLike = "<config>") -> HlsConfig:
    """Validate an hls4ml config dict (everything that does not need the model)."""
    path = Path(path)
    _check_keys(raw, tuple(TOP_KEYS), "config")
    missing = [k for k in REQUIRED_TOP_KEYS if k not in raw]
    if missing:
        raise ConfigError(f"config: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if str(raw["Backend"]).lower() != "vitis":
        raise ConfigError(f"Backend: {raw['Backend']!r} is not supported; use Vitis (the current hls4ml backend)")
    if raw["IOType"] != "io_stream":
        raise ConfigError(f"IOType: {raw['IOType']!r}; the AXI wrapper needs io_stream")
    if not isinstance(raw["ProjectName"], str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", raw["ProjectName"]):
        raise ConfigError(f"ProjectName: {raw['ProjectName']!r} is not a C identifier (it names the top function)")
    if not isinstance(raw["Part"], str) or not raw["Part"]:
        raise ConfigError(f"Part: expected an FPGA part name, got {raw['Part']!r}")
    cp = raw["ClockPeriod"]
    if isinstance(cp, bool) or not isinstance(cp, (int, float)) or not cp > 0:
        raise ConfigError(f"ClockPeriod: expected a positive number of ns, got {cp!r}")
    writer = raw.get("WriterConfig") or {}
    _check_keys(writer, WRITER_KEYS, "WriterConfig")
    hls = raw["HLSConfig"]
    _check_keys(hls, HLS_KEYS, "HLSConfig")
    model_cfg = hls.get("Model") or {}
    _check_keys(model_cfg, MODEL_KEYS, "HLSConfig.Model")
    if "Precision" in model_cfg:
        _check_precision(model_cfg["Precision"], "HLSConfig.Model.Precision")
    if "ReuseFactor" in model_cfg:
        _check_reuse(model_cfg["ReuseFactor"], "HLSConfig.Model.ReuseFactor")
    if "Strategy" in model_cfg:
        _check_strategy(model_cfg["Strategy"], "HLSConfig.Model.Strategy")
    layers = hls.get("LayerName") or {}
    if not isinstance(layers, dict):
        raise ConfigError(f"HLSConfig.LayerName: expected a mapping of layer name -> settings, got {layers!r}")
    for name, lc in layers.items():
        w = _where("HLSConfig.LayerName", name)
        _check_keys(lc, LAYER_KEYS, w)
        if "Precision" in lc:
            _check_precision(lc["Precision"], _where(w, "Precision"))
        if "ReuseFactor" in lc:
            _check_reuse(lc["ReuseFactor"], _where(w, "ReuseFactor"))
        if "Strategy" in lc:
            _check_strategy(lc["Strategy"], _where(w, "Strategy"))
        if "Trace" in lc and not isinstance(lc["Trace"], bool):
            raise ConfigError(f"{_where(w, 'Trace')}: expected true or false, got {lc['Trace']!r}")
    base = path.resolve().parent
    model_path = _resolve(raw["KerasModel"], base, "KerasModel")
    out = _resolve(raw["OutputDir"], base, "OutputDir") if raw.get("OutputDir") is not None else None
    return HlsConfig(path=path, raw=raw, model_path=model_path, output_dir=out)


def load_config(path: str | os.PathLike) -> HlsConfig:
    """Read and validate an hls4ml YAML config (no model needed; see check_against_model)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    try:
        return parse_config(raw, path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def mult_size(layer) -> tuple[int, int] | None:
    """(n_in, n_out) of a layer's matrix multiply as hls4ml counts it, None for layers without weights."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return None
    shape = tuple(int(s) for s in kernel.shape)
    if len(shape) < 2:
        return None
    return int(np.prod(shape[:-1])), shape[-1]  # Conv: kh * kw * c_in inputs per output, c_out outputs


def valid_reuse_factors(layer) -> list[int] | None:
    """hls4ml's valid ReuseFactors of a layer (its Vitis backend's rule); None if any positive int works."""
    from hls4ml.backends import get_backend

    size = mult_size(layer)
    if size is None:
        return None
    return get_backend("Vitis").get_valid_reuse_factors(*size)


def check_against_model(cfg: HlsConfig, model) -> None:
    """Layer names must exist in the model and every multiplying layer's ReuseFactor must be valid."""
    layers = {layer.name: layer for layer in model.layers}
    for name in cfg.layer_config:
        if name not in layers:
            raise ConfigError(f"HLSConfig.LayerName: unknown layer {name!r}; the model's layers are: "
                              f"{', '.join(layers)}")
    model_rf = cfg.model_config.get("ReuseFactor", 1)
    for name, layer in layers.items():
        lc = cfg.layer_config.get(name, {})
        rf, where = (lc["ReuseFactor"], _where("HLSConfig.LayerName", name, "ReuseFactor")) if "ReuseFactor" in lc \
            else (model_rf, "HLSConfig.Model.ReuseFactor")
        valid = valid_reuse_factors(layer)
        if valid is not None and rf not in valid:
            n_in, n_out = mult_size(layer)
            raise ConfigError(f"{where}: ReuseFactor {rf} is not valid for layer {name!r} "
                              f"({type(layer).__name__}, {n_in} inputs x {n_out} outputs); "
                              f"valid: {', '.join(map(str, valid))}")


# --------------------------------------------------------------------------------------------
# Conversion, contract checks, project files.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamFormats:
    """What the AXI wrapper and the io spec need from the converted model."""

    input_shape: tuple[int, int, int]
    input_type: str
    output_type: str
    n_logits: int
    logit_bits: int
    logit_frac_bits: int
    logit_signed: bool


def stream_formats(hls_model) -> StreamFormats:
    """Read the converted model's I/O formats and check them against the stream contract."""
    from hls4ml.model.types import FixedPrecisionType

    ins, outs = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(ins) != 1 or len(outs) != 1:
        raise ContractError(f"the AXI wrapper needs one input and one output, the model has {len(ins)} and {len(outs)}")
    iv, ov = ins[0], outs[0]
    ip, op = iv.type.precision, ov.type.precision
    if len(iv.shape) != 3:
        raise ContractError(f"input shape {list(iv.shape)}: expected (height, width, channels)")
    if not (isinstance(ip, FixedPrecisionType) and ip.width == INPUT_FRAC_BITS and ip.integer == 0 and not ip.signed):
        raise ContractError(f"input precision {ip} of the converted model: the stream contract needs ufixed<8,0> "
                            f"(byte/256); pin the first conv's input quantizer to unsigned 0 integer, 8 fraction bits")
    if len(ov.shape) != 1:
        raise ContractError(f"output shape {list(ov.shape)}: expected a vector of logits")
    if not isinstance(op, FixedPrecisionType) or not 0 < op.width <= LANE_BITS:
        raise ContractError(f"output precision {op}: logits must be fixed point of at most {LANE_BITS} bits")
    return StreamFormats(tuple(int(s) for s in iv.shape), iv.type.name, ov.type.name, int(ov.shape[0]),
                         int(op.width), int(op.width - op.integer), bool(op.signed))


def _model_metadata(model_path: Path) -> dict:
    meta = model_path.with_suffix(".json")
    try:
        return json.loads(meta.read_text()) if meta.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def class_names(model_path: Path, n: int) -> list[str]:
    """Class names from the model's metadata (its dataset), else '0'..'n-1'."""
    from hw import data

    meta = _model_metadata(model_path)
    names = meta.get("classes")
    if names is None:
        known = {"fashion-mnist": data.FASHION_MNIST_CLASSES, "cifar10": getattr(data, "CIFAR10_CLASSES", None)}
        names = known.get(meta.get("dataset"))
    names = list(names) if names is not None else []
    return names if len(names) == n else [str(i) for i in range(n)]


def max_batch(in_bytes_per_image: int) -> int:
    """Largest power-of-two batch whose input fits one DMA transfer (length register of DMA_LENGTH_BITS)."""
    return 1 << int(math.floor(math.log2((2 ** DMA_LENGTH_BITS - 1) / in_bytes_per_image)))


def io_spec(fmt: StreamFormats, model_name: str, classes: list[str]) -> dict:
    """The stream contract (docs/INTERFACES.md) for this model."""
    h, w, c = fmt.input_shape
    pixels_per_beat = BEAT_BITS // 8
    in_beats = -(-(h * w * c) // pixels_per_beat)
    lanes = BEAT_BITS // LANE_BITS
    return {
        "model": model_name,
        "top": AXI_TOP,
        "ip_name": f"{AXI_TOP}_0",
        "dma_name": "axi_dma_0",
        "batch_register": "n_images",
        "input": {"shape": [h, w, c], "dtype": "uint8", "frac_bits": INPUT_FRAC_BITS, "beat_bits": BEAT_BITS,
                  "pixels_per_beat": pixels_per_beat, "beats_per_image": in_beats},
        "output": {"n_logits": fmt.n_logits, "logit_bits": fmt.logit_bits, "frac_bits": fmt.logit_frac_bits,
                   "signed": fmt.logit_signed, "beat_bits": BEAT_BITS, "lane_bits": LANE_BITS,
                   "logits_per_beat": lanes, "beats_per_image": -(-fmt.n_logits // lanes)},
        "classes": classes,
        "max_batch": max_batch(in_beats * pixels_per_beat),
    }


def _project_header(project_name: str, fmt: StreamFormats) -> str:
    h, w, c = fmt.input_shape
    return (
        "// Generated by hw/hls.py from the converted model; do not edit (rewritten on every conversion).\n"
        "#ifndef AXI_TOP_PROJECT_H_\n#define AXI_TOP_PROJECT_H_\n\n"
        f'#include "{project_name}.h"\n\n'
        f"#define AXI_NN_TOP {project_name}\n"
        f"typedef {fmt.input_type} axi_nn_in_t;\n"
        f"typedef {fmt.output_type} axi_nn_out_t;\n\n"
        f"static const unsigned AXI_IMAGE_PIXELS = {h * w}; // {h} x {w}, raster order\n"
        f"static const unsigned AXI_IMAGE_CHANNELS = {c};\n"
        f"static const unsigned AXI_N_LOGITS = {fmt.n_logits};\n\n#endif\n"
    )


def _copy_if_changed(src: Path, dst: Path) -> None:
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


def install_wrapper(project_dir: str | os.PathLike) -> None:
    """Copy the AXI wrapper templates from hls_config/ into the project (firmware/ and the runner)."""
    project_dir = Path(project_dir)
    for name in WRAPPER_FILES:
        _copy_if_changed(TEMPLATE_DIR / name, project_dir / "firmware" / name)
    _copy_if_changed(TEMPLATE_DIR / RUNNER_FILE, project_dir / RUNNER_FILE)


def _filter_hls4ml_output(text: str) -> None:
    """hls4ml prints per-layer chatter; keep its warnings visible."""
    for line in text.splitlines():
        if "warning" in line.lower():
            print(line, file=sys.stderr)


def convert(config_path: str | os.PathLike, out_dir: str | os.PathLike | None = None,
            model_path: str | os.PathLike | None = None):
    """Validate the config, convert the model with hls4ml and write the project, the AXI wrapper
    sources and `<out>/io_spec.json`. Returns the (not yet compiled) hls4ml ModelGraph."""
    from hw import hls4ml_patches
    from hw.model import load_model

    cfg = load_config(config_path)
    model_path = Path(model_path).resolve() if model_path is not None else cfg.model_path
    out = Path(out_dir).resolve() if out_dir is not None else cfg.output_dir
    if out is None:
        raise ConfigError(f"{config_path}: no OutputDir in the config and no output directory given")
    keras_model = load_model(model_path)
    try:
        check_against_model(cfg, keras_model)
    except ConfigError as e:
        raise ConfigError(f"{config_path}: {e} (model {model_path})") from None

    import hls4ml

    hls4ml_patches.apply()
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            hls_model = hls4ml.converters.convert_from_config(cfg.hls4ml_dict(keras_model, out))
    except Exception as e:  # hls4ml raises bare Exceptions; keep its message, drop the traceback
        _filter_hls4ml_output(log.getvalue())
        raise HlsError(f"hls4ml could not convert {model_path} ({type(e).__name__}: {e})") from None
    _filter_hls4ml_output(log.getvalue())
    apply_stream_depths(hls_model)
    fmt = stream_formats(hls_model)

    out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(log):
        hls_model.write()
    (out / "firmware" / PROJECT_HEADER).write_text(_project_header(cfg.project_name, fmt))
    install_wrapper(out)
    spec = io_spec(fmt, model_path.stem, class_names(model_path, fmt.n_logits))
    (out / "io_spec.json").write_text(json.dumps(spec, indent=2) + "\n")
    return hls_model


def apply_stream_depths(hls_model) -> dict[str, int]:
    """Set every inter-layer FIFO to the depth the budget planner assumes (hw.budget.fifo_depths,
    mode 'min') instead of hls4ml's default of a whole feature map, which alone would take ~74 % of
    the XC7Z020's block RAM. A stream read by a Concatenate/Merge absorbs the branch skew (one padded
    row + 3 pixels); every other stream is a 2-deep handshake. Depths do not change the C
    simulation (unbounded hls::stream); they are what Vitis HLS synthesizes. Returns name -> depth."""
    from hw.budget import CHAIN_FIFO_DEPTH, join_fifo_depth

    joins = ("Concatenate", "Merge")
    readers: dict[str, list[str]] = {}
    for layer in hls_model.get_layers():
        for name in layer.inputs:
            readers.setdefault(name, []).append(layer.class_name)
    depths = {}
    for name, var in hls_model.output_vars.items():
        if not (isinstance(getattr(var, "pragma", None), tuple) and var.pragma[0] == "stream"):
            continue
        shape = tuple(var.shape)
        pixels = int(np.prod(shape[:-1]))
        if any(kind in joins for kind in readers.get(name, [])):
            depth = join_fifo_depth(int(shape[1]) if len(shape) == 3 else 1, pixels)
        else:
            depth = min(pixels, CHAIN_FIFO_DEPTH)
        var.pragma = ("stream", depth)
        depths[var.name] = depth
    return depths


def compile_csim(hls_model) -> None:
    """Compile hls4ml's C simulation (g++) and load it for `hls_model.predict`."""
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            hls_model.compile()
    except Exception as e:
        tail = "\n".join(log.getvalue().splitlines()[-20:])
        raise HlsError(f"C simulation did not compile ({e}):\n{tail}") from None


def read_io_spec(project_dir: str | os.PathLike) -> dict:
    path = Path(project_dir) / "io_spec.json"
    if not path.exists():
        raise HlsError(f"{path} not found: run `python -m hw.hls --config ... --out {project_dir}` first")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------------
# AXI wrapper shared library (the emulator's C simulation of the whole accelerator).
# --------------------------------------------------------------------------------------------
def _cxx_flags(cxx: str) -> list[str]:
    """The flags of hls4ml's build_lib.sh, so both libraries compute identically."""
    def probe(*f):
        return subprocess.run([cxx, "-Werror", "-fsyntax-only", *f, "-xc++", "-", "-o", "/dev/null"],
                              input="", capture_output=True, text=True).returncode == 0

    flags = ["-O3", "-fPIC", "-shared"]
    flags.append("-std=c++23" if probe("-std=c++23") else "-std=c++11")
    if probe("-fno-gnu-unique"):
        flags.append("-fno-gnu-unique")
    return flags


def _library_sources(project_dir: Path) -> tuple[list[Path], list[Path]]:
    fw = project_dir / "firmware"
    sources = sorted(fw.glob("*.cpp")) + [project_dir / RUNNER_FILE]
    hashed = sorted(p for p in fw.rglob("*") if p.is_file() and p.suffix in (".h", ".hpp", ".cpp"))
    return sources, hashed + [project_dir / RUNNER_FILE]


def build_axi_library(project_dir: str | os.PathLike, force: bool = False) -> Path:
    """Compile the firmware + AXI wrapper + runner into `<project>/libsqueezenet_axi.so`.

    Cached: the library is rebuilt only when a source, header, flag or the compiler changes (a
    full build costs ~20 s of g++). The wrapper templates are refreshed from hls_config/ first.
    """
    project_dir = Path(project_dir).resolve()
    if not (project_dir / "firmware" / PROJECT_HEADER).exists():
        raise HlsError(f"{project_dir} is not a converted project (no firmware/{PROJECT_HEADER}); "
                       f"run `python -m hw.hls --config ... --out {project_dir}` first")
    install_wrapper(project_dir)
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise HlsError(f"C++ compiler {cxx!r} not found (install g++)")
    flags = _cxx_flags(cxx)
    includes = [f"-I{project_dir / 'firmware'}", f"-I{project_dir / 'firmware' / 'ap_types'}",
                f'-DWEIGHTS_DIR="{project_dir / "firmware" / "weights"}"']  # as hls4ml's build_lib.sh
    sources, hashed = _library_sources(project_dir)
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256(json.dumps([flags, version]).encode())
    for p in hashed:
        digest.update(str(p.relative_to(project_dir)).encode() + b"\0" + p.read_bytes())
    lib, stamp = project_dir / AXI_LIBRARY, project_dir / (AXI_LIBRARY + ".sha256")
    if not force and lib.exists() and stamp.exists() and stamp.read_text().strip() == digest.hexdigest():
        return lib
    tmp = lib.with_name(f".{lib.name}.{os.getpid()}.tmp")
    cmd = [cxx, *flags, *includes, *map(str, sources), "-o", str(tmp)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=project_dir)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(res.stderr.splitlines()[-30:])
        raise HlsError(f"AXI library did not compile ({' '.join(cmd)}):\n{tail}")
    os.replace(tmp, lib)  # atomic: a concurrent reader never sees a half-written library
    stamp.write_text(digest.hexdigest() + "\n")
    return lib


def _check_weight_files(project_dir: Path) -> None:
    """The C simulation reads the weights from firmware/weights/*.txt on its first call and exits
    the process if one is missing: refuse early instead."""
    header_dir = project_dir / "firmware" / "weights"
    missing = [h.with_suffix(".txt").name for h in sorted(header_dir.glob("*.h")) if not h.with_suffix(".txt").exists()]
    if not header_dir.is_dir() or missing:
        raise HlsError(f"{header_dir}: weight files missing ({', '.join(missing) or 'no weights directory'}); "
                       f"re-run `python -m hw.hls` for this project")


class AxiLibrary:
    """ctypes binding of `squeezenet_axi_run` (the C ABI of docs/INTERFACES.md)."""

    ERRORS = {-1: "wrong number of input beats", -2: "output buffer too small", -3: "null pointer",
              -4: "stream mismatch inside the wrapper", -5: "batch too large"}

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        _check_weight_files(self.path.parent)
        self._lib = ctypes.CDLL(str(self.path))
        f = self._lib.squeezenet_axi_run
        f.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                      ctypes.c_uint32]
        f.restype = ctypes.c_int
        for name in ("squeezenet_axi_in_beats_per_image", "squeezenet_axi_out_beats_per_image"):
            getattr(self._lib, name).restype = ctypes.c_uint32
        self.in_beats_per_image = int(self._lib.squeezenet_axi_in_beats_per_image())
        self.out_beats_per_image = int(self._lib.squeezenet_axi_out_beats_per_image())

    def run_raw(self, beats: np.ndarray, n_images: int, out_capacity: int | None = None):
        """Call the C function as is: (its result: beats written or a negative error code,
        output beats, TLAST flags)."""
        beats = np.ascontiguousarray(beats, dtype=np.uint64)
        cap = n_images * self.out_beats_per_image if out_capacity is None else out_capacity
        out = np.zeros(max(cap, 1), dtype=np.uint64)
        last = np.zeros(max(cap, 1), dtype=np.uint8)
        code = self._lib.squeezenet_axi_run(beats.ctypes.data, len(beats), out.ctypes.data, last.ctypes.data,
                                            cap, n_images)
        return code, out, last

    def run(self, beats: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray]:
        """Input beats of a batch -> (output beats uint64, TLAST flags uint8)."""
        n, out, last = self.run_raw(beats, n_images)
        if n < 0:
            raise HlsError(f"squeezenet_axi_run: {self.ERRORS.get(n, 'error')} (code {n})")
        return out[:n], last[:n]


# --------------------------------------------------------------------------------------------
# Raw integers: bit-exactness is integer equality.
# --------------------------------------------------------------------------------------------
def to_raw(values, frac_bits: int) -> np.ndarray:
    """Fixed-point values -> their raw integers (value * 2**frac_bits); refuses values off the grid."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0 ** frac_bits
    raw = np.rint(scaled)
    off = raw != scaled
    if off.any():
        raise ValueError(f"{int(off.sum())} values are not multiples of 2**-{frac_bits}, e.g. "
                         f"{np.asarray(values).ravel()[np.flatnonzero(off.ravel())[0]]!r}")
    return raw.astype(np.int64)


def csim_predict(hls_model, images_uint8: np.ndarray) -> np.ndarray:
    """hls4ml C simulation on raw uint8 images (the network input is byte / 256)."""
    x = np.ascontiguousarray(np.asarray(images_uint8, dtype=np.float64) / 256.0)
    with contextlib.redirect_stdout(io.StringIO()):
        y = hls_model.predict(x)
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw.hls", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="hls4ml YAML config (hls_config/<model>.yml)")
    p.add_argument("--out", help="project directory (default: the config's OutputDir)")
    p.add_argument("--model", help="override the config's KerasModel path")
    args = p.parse_args(argv)
    from hw.model import ModelError

    try:
        t0 = time.perf_counter()
        hls_model = convert(args.config, args.out, args.model)
        out = Path(hls_model.config.get_output_dir())
        t1 = time.perf_counter()
        print(f"wrote hls4ml project {out} and {out / 'io_spec.json'} ({t1 - t0:.1f} s)", flush=True)
        compile_csim(hls_model)
        t2 = time.perf_counter()
        print(f"compiled the C simulation ({t2 - t1:.1f} s)", flush=True)
        lib = build_axi_library(out)
        print(f"AXI library {lib} ({time.perf_counter() - t2:.1f} s)", flush=True)
    except (HlsError, ModelError) as e:
        print(f"hw.hls: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
