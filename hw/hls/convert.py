"""hls4ml conversion of the quantized SqueezeNet: validated config -> hls4ml project, stream FIFO
depths, the stream contract's generated files, the AXI wrapper, and the C simulation.

    python -m hw.hls --config hls_config/squeezenet_fmnist.yml --out build/hls/squeezenet_fmnist   (hw.hls.cli)

Steps: hw.hls.config validates the YAML (hls4ml's own format) before anything long runs; hls4ml's
`convert_from_config` builds the ModelGraph; hw.hls.fifo sets the stream depths; hw.hls.contract
checks the I/O formats against the stream contract and writes `io_spec.json` and the wrapper's
generated header; hw.hls.axi_library compiles the AXI top for the emulator.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from hw.hls import dsp_packing, patches
from hw.hls.axi_library import build_axi_library, install_wrapper
from hw.hls.config import ConfigError, HlsError, check_against_model, load_config
from hw.hls.contract import DEFAULT_CONTRACT, StreamContract, stream_formats, write_contract_files
from hw.hls.fifo import apply_stream_depths


def convert_graph(config_path: str | os.PathLike, model_path: str | os.PathLike | None = None,
                  out_dir: str | os.PathLike | None = None, overrides: dict | None = None):
    """Validate the config and convert the model with hls4ml, stream depths applied (nothing
    written). Returns (ModelGraph, HlsConfig, model path). The planner reads this graph."""
    from hw.model import load_model

    cfg = load_config(config_path, overrides)
    model_path = Path(model_path).resolve() if model_path is not None else cfg.model_path
    out = Path(out_dir).resolve() if out_dir is not None else cfg.output_dir
    if out is None:
        raise ConfigError(f"{config_path}: no OutputDir in the config and no output directory given")
    keras_model = load_model(model_path)
    try:
        check_against_model(cfg, keras_model)
    except ConfigError as e:
        raise ConfigError(f"{config_path}: {e} (model {model_path})") from None
    return convert_keras(cfg, keras_model, out, str(model_path)), cfg, model_path


def convert_keras(cfg, keras_model, out: Path, what: str = "the model"):
    """hls4ml's convert_from_config on a validated config, quiet, stream depths applied."""
    import hls4ml

    patches.apply()
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            hls_model = hls4ml.converters.convert_from_config(cfg.hls4ml_dict(keras_model, out))
    except Exception as e:  # hls4ml raises bare Exceptions; keep its message, drop the traceback
        _filter_hls4ml_output(log.getvalue())
        raise HlsError(f"hls4ml could not convert {what} ({type(e).__name__}: {e})") from None
    _filter_hls4ml_output(log.getvalue())
    dsp_packing.apply(hls_model)  # the layers with DspPacking: true get the packed kernel
    apply_stream_depths(hls_model)
    return hls_model


def convert(config_path: str | os.PathLike, out_dir: str | os.PathLike | None = None,
            model_path: str | os.PathLike | None = None, contract: StreamContract = DEFAULT_CONTRACT,
            overrides: dict | None = None, planner=None):
    """Convert and write the project: hls4ml firmware, the AXI wrapper sources, the generated
    header and `<out>/io_spec.json`. Returns the (not yet compiled) hls4ml ModelGraph.

    `planner(hls_model, clock_ns) -> dict`, if given, supplies the io spec's planned rate (the board's
    throughput model reads it): conversion does not import the planner (a later step of the flow);
    the callers that need both (the CLI, the bitstream flow, the emulator) compose them with
    `hw.plan.planned_rate`."""
    hls_model, cfg, model_path = convert_graph(config_path, model_path, out_dir, overrides)
    fmt = stream_formats(hls_model, contract)
    out = Path(hls_model.config.get_output_dir())
    out.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        hls_model.write()
    write_contract_files(out, cfg.project_name, fmt, model_path.stem, class_names(model_path, fmt.n_logits), contract,
                         planned=planner(hls_model, cfg.clock_ns) if planner is not None else None)
    install_wrapper(out)
    return hls_model


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


def _filter_hls4ml_output(text: str) -> None:
    """hls4ml prints per-layer chatter; keep its warnings visible."""
    for line in text.splitlines():
        if "warning" in line.lower():
            print(line, file=sys.stderr)


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
