"""The stream contract at the accelerator's AXI boundary: its one definition, and what it generates.

Why one module: the C++ wrapper, the ctypes binding, the Vivado block design, the PYNQ driver and
the emulator must agree on beat and lane widths, binary points, TLAST, the top function, port,
register and instance names and the DMA length width. `StreamContract` holds those choices; at
conversion time `io_spec()` writes them (with the converted model's formats) into
`<project>/io_spec.json`, and `project_header()` into the wrapper's generated header
`firmware/axi_top_project.h`. Everything else reads one of those two files: the wrapper
(hw/hls/axi/axi_top.*), host/ (io spec), the Tcl config (hw/flow/tclgen.py, io spec). Change a
field here (or pass another StreamContract to hw.hls.convert) and all of them follow.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from hw import chip
from hw.hls.config import HlsError
from hw.quant import INPUT_BITS, INPUT_FRAC

BEAT_WIDTHS = (8, 16, 32, 64)  # what the C ABI (one uint64 per beat) and host/stream.py carry


class ContractError(HlsError):
    """A converted model or a contract that does not meet the stream contract (docs/INTERFACES.md)."""


@dataclass(frozen=True)
class StreamContract:
    """The choices of the AXI boundary; defaults are the deployed design's."""

    beat_bits: int = 64  # input and output AXI-Stream TDATA width
    lane_bits: int = 32  # one logit per lane, sign-extended raw integer
    top: str = "squeezenet_axi"  # HLS top function = IP name (VLNV xilinx.com:hls:<top>:1.0)
    in_port: str = "in_stream"
    out_port: str = "out_stream"
    batch_register: str = "n_images"  # s_axilite register (with the ap_ctrl block)
    control_bundle: str = "control"  # s_axilite bundle -> interface s_axi_control
    dma_name: str = "axi_dma_0"
    dma_length_bits: int = chip.DMA_LENGTH_BITS

    def __post_init__(self):
        if self.beat_bits not in BEAT_WIDTHS:
            raise ContractError(f"beat_bits {self.beat_bits}: choose one of {BEAT_WIDTHS}")
        if self.lane_bits not in BEAT_WIDTHS or self.lane_bits > self.beat_bits:
            raise ContractError(f"lane_bits {self.lane_bits}: a power of two from 8 to beat_bits ({self.beat_bits})")

    @property
    def ip_name(self) -> str:
        return f"{self.top}_0"

    @property
    def library(self) -> str:
        """File name of the emulator's shared library (the AXI top's C simulation)."""
        return f"lib{self.top}.so"

    @property
    def c_abi(self) -> dict:
        """Symbols of the runner (hw/hls/axi/axi_run.cpp), named after the top."""
        return {"run": f"{self.top}_run", "in_beats_per_image": f"{self.top}_in_beats_per_image",
                "out_beats_per_image": f"{self.top}_out_beats_per_image"}


DEFAULT_CONTRACT = StreamContract()


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


def stream_formats(hls_model, contract: StreamContract = DEFAULT_CONTRACT) -> StreamFormats:
    """Read the converted model's I/O formats and check them against the stream contract."""
    from hls4ml.model.types import FixedPrecisionType

    ins, outs = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(ins) != 1 or len(outs) != 1:
        raise ContractError(f"the AXI wrapper needs one input and one output, the model has {len(ins)} and {len(outs)}")
    iv, ov = ins[0], outs[0]
    ip, op = iv.type.precision, ov.type.precision
    if len(iv.shape) != 3:
        raise ContractError(f"input shape {list(iv.shape)}: expected (height, width, channels)")
    if not (isinstance(ip, FixedPrecisionType) and ip.width == INPUT_BITS and ip.width - ip.integer == INPUT_FRAC
            and not ip.signed):
        raise ContractError(f"input precision {ip} of the converted model: the stream contract needs ufixed<8,0> "
                            f"(byte/256); pin the first conv's input quantizer to unsigned 0 integer, 8 fraction bits")
    if len(ov.shape) != 1:
        raise ContractError(f"output shape {list(ov.shape)}: expected a vector of logits")
    if not isinstance(op, FixedPrecisionType) or not 0 < op.width <= contract.lane_bits:
        raise ContractError(f"output precision {op}: logits must be fixed point of at most {contract.lane_bits} bits")
    return StreamFormats(tuple(int(s) for s in iv.shape), iv.type.name, ov.type.name, int(ov.shape[0]),
                         int(op.width), int(op.width - op.integer), bool(op.signed))


def max_batch(in_bytes_per_image: int, dma_length_bits: int) -> int:
    """Largest power-of-two batch whose input fits one DMA transfer (its length register's width)."""
    return 1 << int(math.floor(math.log2((2 ** dma_length_bits - 1) / in_bytes_per_image)))


def io_spec(fmt: StreamFormats, model_name: str, classes: list[str],
            contract: StreamContract = DEFAULT_CONTRACT) -> dict:
    """The io spec (docs/INTERFACES.md) of this model under this contract."""
    h, w, c = fmt.input_shape
    pixels_per_beat = contract.beat_bits // INPUT_BITS
    in_beats = -(-(h * w * c) // pixels_per_beat)
    lanes = contract.beat_bits // contract.lane_bits
    return {
        "model": model_name,
        "top": contract.top,
        "ip_name": contract.ip_name,
        "dma_name": contract.dma_name,
        "batch_register": contract.batch_register,
        "in_port": contract.in_port,
        "out_port": contract.out_port,
        "control_bundle": contract.control_bundle,
        "dma_length_bits": contract.dma_length_bits,
        "library": contract.library,
        "c_abi": contract.c_abi,
        "input": {"shape": [h, w, c], "dtype": "uint8", "frac_bits": INPUT_FRAC, "beat_bits": contract.beat_bits,
                  "pixels_per_beat": pixels_per_beat, "beats_per_image": in_beats},
        "output": {"n_logits": fmt.n_logits, "logit_bits": fmt.logit_bits, "frac_bits": fmt.logit_frac_bits,
                   "signed": fmt.logit_signed, "beat_bits": contract.beat_bits, "lane_bits": contract.lane_bits,
                   "logits_per_beat": lanes, "beats_per_image": -(-fmt.n_logits // lanes)},
        "classes": classes,
        "max_batch": max_batch(in_beats * contract.beat_bits // 8, contract.dma_length_bits),
    }


def project_header(project_name: str, fmt: StreamFormats, contract: StreamContract = DEFAULT_CONTRACT) -> str:
    """firmware/axi_top_project.h: every constant and name the wrapper and the runner use."""
    h, w, c = fmt.input_shape
    abi = contract.c_abi
    return "\n".join([
        "// Generated by hw/hls/contract.py from the converted model and the stream contract;",
        "// do not edit (rewritten on every conversion).",
        "#ifndef AXI_TOP_PROJECT_H_", "#define AXI_TOP_PROJECT_H_", "",
        f'#include "{project_name}.h"', "",
        f"#define AXI_NN_TOP {project_name}",
        f"typedef {fmt.input_type} axi_nn_in_t;",
        f"typedef {fmt.output_type} axi_nn_out_t;", "",
        f"#define AXI_TOP_FN {contract.top}",
        f"#define AXI_IN_PORT {contract.in_port}",
        f"#define AXI_OUT_PORT {contract.out_port}",
        f"#define AXI_BATCH_REGISTER {contract.batch_register}",
        f"#define AXI_CONTROL_BUNDLE {contract.control_bundle}",
        f"#define AXI_RUN_FN {abi['run']}",
        f"#define AXI_IN_BEATS_FN {abi['in_beats_per_image']}",
        f"#define AXI_OUT_BEATS_FN {abi['out_beats_per_image']}",
        f"#define AXI_BEAT_BITS {contract.beat_bits}",
        f"#define AXI_LANE_BITS {contract.lane_bits}",
        f"#define AXI_PIXEL_BITS {INPUT_BITS}", "",
        f"static const unsigned AXI_IMAGE_PIXELS = {h * w}; // {h} x {w}, raster order",
        f"static const unsigned AXI_IMAGE_CHANNELS = {c};",
        f"static const unsigned AXI_N_LOGITS = {fmt.n_logits};", "", "#endif", ""])


def write_contract_files(project_dir: Path, project_name: str, fmt: StreamFormats, model_name: str,
                         classes: list[str], contract: StreamContract = DEFAULT_CONTRACT,
                         planned: dict | None = None) -> dict:
    """Write the generated header and io_spec.json of a converted project; returns the io spec.
    `planned`: the planner's figures for the board's throughput model (host/batch_model.py), which
    has no planner of its own on the board."""
    (project_dir / "firmware" / "axi_top_project.h").write_text(project_header(project_name, fmt, contract))
    spec = io_spec(fmt, model_name, classes, contract)
    if planned is not None:
        spec["planned"] = planned
    (project_dir / "io_spec.json").write_text(json.dumps(spec, indent=2) + "\n")
    return spec
