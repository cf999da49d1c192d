"""hls4ml's YAML config (`hls_config/<model>.yml`): validation, overrides, and the round-trip editor.

Why: hls4ml silently "fixes" many config mistakes (an invalid ReuseFactor becomes the closest valid
one, an unknown layer name or a misspelt key is ignored) and only fails deep inside conversion or
hours into synthesis. Here the YAML is checked first against hls4ml's own vocabulary and rules, so a
typo is refused with the valid choices while every legitimate hls4ml key is accepted. The YAML is
the one home of the design's part, clock period and clock uncertainty (hls4ml, Vitis HLS and Vivado
all read them from here; `overrides` changes them for all three at once), and of each layer's
ReuseFactor/Strategy. The planner's edits go through ruamel.yaml, which keeps comments and order.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hw import chip

# hls4ml's vocabulary (hls4ml 1.3: utils/config.create_config, backends/vitis create_initial_config,
# model/graph.HLSConfig._parse_hls_config / parse_name_config, layer attributes read by the backends).
TOP_KEYS = ("KerasModel", "OutputDir", "ProjectName", "Backend", "Version", "Part", "ClockPeriod",
            "ClockUncertainty", "IOType", "WriterConfig", "HLSConfig", "InputData", "OutputPredictions")
REQUIRED_TOP_KEYS = ("KerasModel", "ProjectName", "Backend", "Part", "ClockPeriod", "IOType", "HLSConfig")
WRITER_KEYS = ("Namespace", "WriteWeightsTxt", "WriteTar", "TBOutputStream", "WriteEmulationConstants")
HLS_KEYS = ("Model", "LayerType", "LayerName", "Flows", "Optimizers", "SkipOptimizers")
MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy", "BramFactor", "TargetCycles", "ConvImplementation",
              "Compression", "PipelineStyle", "PipelineInterval", "TraceOutput")
LAYER_KEYS = ("Precision", "ReuseFactor", "Strategy", "TargetCycles", "ConvImplementation", "Compression", "Trace",
              "ParallelizationFactor", "TableSize", "TableType", "Implementation",
              "DspPacking")  # the project's own key: two products per DSP48E1 (hw.hls.dsp_packing)
STRATEGIES = ("Latency", "Resource", "Resource_Unrolled", "distributed_arithmetic", "DA")
PRECISION_VARS = ("default", "weight", "bias", "result", "accum", "table", "scale")
POSITIVE_INT_KEYS = ("ReuseFactor", "ParallelizationFactor", "TargetCycles", "TableSize", "PipelineInterval")
OVERRIDABLE = ("Part", "ClockPeriod", "ClockUncertainty")


class HlsError(ValueError):
    """A problem building the hls4ml project or the AXI library, with a message that names it."""


class ConfigError(HlsError):
    """An hls4ml config that this project (or hls4ml) cannot use."""


@dataclass
class HlsConfig:
    """A validated hls4ml config. `raw` is the YAML as hls4ml reads it (paths as written, overrides applied)."""

    path: Path
    raw: dict
    model_path: Path
    output_dir: Path | None
    overrides: dict = field(default_factory=dict)

    @property
    def project_name(self) -> str:
        return self.raw["ProjectName"]

    @property
    def part(self) -> str:
        return self.raw["Part"]

    @property
    def clock_ns(self) -> float:
        return float(self.raw["ClockPeriod"])

    @property
    def clock_uncertainty(self) -> str:
        return str(self.raw.get("ClockUncertainty") or chip.DEFAULT_CLOCK_UNCERTAINTY)

    @property
    def chip(self) -> chip.Chip:
        return chip.chip(self.part)

    @property
    def model_config(self) -> dict:
        return self.raw["HLSConfig"].get("Model") or {}

    @property
    def layer_config(self) -> dict:
        return self.raw["HLSConfig"].get("LayerName") or {}

    @property
    def reuse_factors(self) -> dict[str, int]:
        """Per-layer ReuseFactor from HLSConfig.LayerName (what the planner writes)."""
        return {name: c["ReuseFactor"] for name, c in self.layer_config.items() if "ReuseFactor" in c}

    def hls4ml_dict(self, keras_model, output_dir: Path) -> dict:
        """The dict for hls4ml.converters.convert_from_config: the YAML on top of the backend's defaults."""
        from hls4ml.utils.config import create_config

        r = self.raw
        base = create_config(output_dir=str(output_dir), project_name=r["ProjectName"], backend=r["Backend"],
                             part=r["Part"], clock_period=r["ClockPeriod"], clock_uncertainty=self.clock_uncertainty,
                             io_type=r["IOType"], write_weights_txt=True)
        base["WriterConfig"].update(r.get("WriterConfig") or {})
        base["HLSConfig"] = _plain(r["HLSConfig"])
        base["KerasModel"] = keras_model
        return base


def _plain(v):
    """ruamel's commented maps/sequences -> plain dicts/lists (what hls4ml expects)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _where(*keys) -> str:
    return ".".join(str(k) for k in keys)


def _check_keys(d, allowed, where: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__} {d!r}")
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {k!r}{hint}; hls4ml's keys here: {', '.join(allowed)}")


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
        if p == "auto":  # hls4ml's own keyword: its precision-inference pass picks the width
            continue
        try:
            parsed = get_backend("Vitis").convert_precision_string(p)
        except Exception as e:  # hls4ml raises ValueError, AttributeError, IndexError... for bad strings
            raise ConfigError(f"{w}: hls4ml cannot parse precision {p!r} ({type(e).__name__}: {e})") from None
        width = getattr(parsed, "width", None)
        if width is not None and width <= 0:
            raise ConfigError(f"{w}: precision {p!r} has no bits")


def _check_settings(d: dict, allowed, where: str) -> None:
    _check_keys(d, allowed, where)
    for key, value in d.items():
        w = _where(where, key)
        if key == "Precision":
            _check_precision(value, w)
        elif key in POSITIVE_INT_KEYS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{w}: {key} must be a positive integer, got {value!r}")
        elif key == "Strategy" and (not isinstance(value, str) or value.lower() not in [s.lower() for s in STRATEGIES]):
            raise ConfigError(f"{w}: unknown Strategy {value!r}; hls4ml's strategies: {', '.join(STRATEGIES)}")
        elif key in ("Trace", "TraceOutput", "Compression", "DspPacking") and not isinstance(value, bool):
            raise ConfigError(f"{w}: expected true or false, got {value!r}")


def _resolve(path_value, base: Path, where: str) -> Path:
    if not isinstance(path_value, str) or not path_value:
        raise ConfigError(f"{where}: expected a path string, got {path_value!r}")
    p = Path(path_value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def parse_config(raw, path: str | os.PathLike = "<config>", overrides: dict | None = None) -> HlsConfig:
    """Validate an hls4ml config dict (everything that does not need the model).

    `overrides` (Part, ClockPeriod, ClockUncertainty) replace the YAML's values for hls4ml, Vitis HLS
    and Vivado alike (e.g. scripts/build_bitstream.sh --clock-ns)."""
    path = Path(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(overrides, OVERRIDABLE, "override")
    _check_keys(raw, TOP_KEYS, "config")
    raw = {**raw, **overrides}
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
    try:
        chip.chip(raw["Part"])
    except chip.ChipError as e:
        raise ConfigError(f"Part: {e}") from None
    cp = raw["ClockPeriod"]
    if isinstance(cp, bool) or not isinstance(cp, (int, float)) or not cp > 0:
        raise ConfigError(f"ClockPeriod: expected a positive number of ns, got {cp!r}")
    cu = raw.get("ClockUncertainty")
    if cu is not None and not re.fullmatch(r"\d+(\.\d+)?%?", str(cu)):
        raise ConfigError(f"ClockUncertainty: expected ns or a percentage like '27%', got {cu!r}")
    _check_keys(raw.get("WriterConfig") or {}, WRITER_KEYS, "WriterConfig")
    hls = raw["HLSConfig"]
    _check_keys(hls, HLS_KEYS, "HLSConfig")
    _check_settings(hls.get("Model") or {}, MODEL_KEYS, "HLSConfig.Model")
    for section in ("LayerType", "LayerName"):
        entries = hls.get(section) or {}
        if not isinstance(entries, dict):
            raise ConfigError(f"HLSConfig.{section}: expected a mapping of name -> settings, got {entries!r}")
        for name, lc in entries.items():
            _check_settings(lc, LAYER_KEYS, _where("HLSConfig", section, name))
    base = path.resolve().parent
    model_path = _resolve(raw["KerasModel"], base, "KerasModel")
    out = _resolve(raw["OutputDir"], base, "OutputDir") if raw.get("OutputDir") is not None else None
    return HlsConfig(path=path, raw=raw, model_path=model_path, output_dir=out, overrides=overrides)


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()  # round-trip: comments, key order and flow style survive an edit
    y.preserve_quotes = True
    return y


def read_yaml(path: str | os.PathLike):
    """The YAML mapping of a config file (ruamel round-trip types), with one-line errors."""
    from ruamel.yaml import YAMLError

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None
    try:
        raw = _yaml().load(text)
    except YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return raw


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> HlsConfig:
    """Read and validate an hls4ml YAML config (no model needed; see check_against_model)."""
    raw = read_yaml(path)
    try:
        return parse_config(_plain(raw), path, overrides)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def write_layer_settings(path: str | os.PathLike, settings: dict[str, dict]) -> None:
    """Set HLSConfig.LayerName.<layer>.<key> = value for each layer (None removes the key), keeping comments and order
    (ruamel.yaml round trip); the result is validated before the file is replaced."""
    path = Path(path)
    raw = read_yaml(path)
    hls = raw.get("HLSConfig")
    if not isinstance(hls, dict):
        raise ConfigError(f"{path}: no HLSConfig mapping (not an hls4ml config)")
    if hls.get("LayerName") is None:
        hls["LayerName"] = {}
    layers = hls["LayerName"]
    for name, values in settings.items():
        if layers.get(name) is None:
            layers[name] = {}
        for key, value in values.items():
            if value is None:  # None: remove the key (e.g. DspPacking on a layer the plan no longer packs)
                layers[name].pop(key, None)
            else:
                layers[name][key] = value
    try:
        parse_config(_plain(raw), path)
    except ConfigError as e:
        raise ConfigError(f"{path}: edit refused, file unchanged: {e}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        _yaml().dump(raw, f)
    os.replace(tmp, path)


def write_reuse(path: str | os.PathLike, reuse: dict[str, int]) -> None:
    """Set each layer's ReuseFactor in the YAML (the planner's --write)."""
    write_layer_settings(path, {name: {"ReuseFactor": int(rf)} for name, rf in reuse.items()})


# --------------------------------------------------------------------------------------------
# hls4ml's ReuseFactor rule: its public backend API, the only copy in the project.
# --------------------------------------------------------------------------------------------
def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """ReuseFactors hls4ml's Vitis backend accepts for an n_in x n_out multiply (dense or conv kernel)."""
    from hls4ml.backends import get_backend

    return list(get_backend("Vitis").get_valid_reuse_factors(int(n_in), int(n_out)))


def closest_reuse_factor(valid: list[int], rf: int) -> int:
    """What hls4ml substitutes for an invalid ReuseFactor."""
    from hls4ml.backends import get_backend

    return int(get_backend("Vitis").get_closest_reuse_factor(valid, rf))


def mult_size(layer) -> tuple[int, int] | None:
    """(n_in, n_out) of a Keras layer's matrix multiply as hls4ml counts it, None without weights."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return None
    shape = tuple(int(s) for s in kernel.shape)
    if len(shape) < 2:
        return None
    n_in = 1
    for s in shape[:-1]:
        n_in *= s
    return n_in, shape[-1]  # Conv: kh * kw * c_in inputs per output, c_out outputs


def check_against_model(cfg: HlsConfig, model) -> None:
    """Layer names must exist in the model and every multiplying layer's ReuseFactor must be valid."""
    layers = {layer.name: layer for layer in model.layers}
    for name in cfg.layer_config:
        if name not in layers:
            close = difflib.get_close_matches(name, layers, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"HLSConfig.LayerName: unknown layer {name!r}{hint}; the model's layers are: "
                              f"{', '.join(layers)}")
    model_rf = cfg.model_config.get("ReuseFactor", 1)
    for name, layer in layers.items():
        lc = cfg.layer_config.get(name, {})
        rf, where = (lc["ReuseFactor"], _where("HLSConfig.LayerName", name, "ReuseFactor")) if "ReuseFactor" in lc \
            else (model_rf, "HLSConfig.Model.ReuseFactor")
        size = mult_size(layer)
        if size is None:
            continue
        valid = valid_reuse_factors(*size)
        if rf not in valid:
            raise ConfigError(f"{where}: ReuseFactor {rf} is not valid for layer {name!r} "
                              f"({type(layer).__name__}, {size[0]} inputs x {size[1]} outputs); "
                              f"valid: {', '.join(map(str, valid))}")
