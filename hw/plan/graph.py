"""The planner's view of the network: read from the ModelGraph hls4ml actually built.

Why hls4ml's graph and not the Keras model: the planner must cost what will be synthesized, i.e.
the layers hls4ml inserts (`zp2d_<conv>` padding, `<conv>_relu`, `clone_<tensor>` for a tensor
read twice; dropout gone, batch norm folded), the widths its bit-exact precision pass gave every
weight and stream, the ReuseFactor it applied and the stream depths hw.hls.fifo set. Layers,
strategies or options the cost model does not cover are refused by name, never planned as
something else.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hw.plan.resources import BudgetError

WEIGHTED = {"Conv2D": "conv", "PointwiseConv2D": "pointwise", "Dense": "dense"}
PLAIN = {"ZeroPadding2D": "pad", "Pooling2D": "pool", "GlobalPooling2D": "gap", "Clone": "clone",
         "Concatenate": "concat", "Merge": "add", "Reshape": "reshape"}
SKIPPED = {"Input"}  # the top-level input port: the AXI wrapper's stream, costed as part of the wrapper


DA = "distributed_arithmetic"  # hls4ml's strategy name for da4ml's multiplier-free kernels


@dataclass
class Layer:
    """One hls4ml layer of the dataflow: static shape info plus what the plan chose for it."""

    name: str
    kind: str  # conv | pointwise | dense | pool | relu | pad | clone | concat | add | gap | reshape
    in_shape: tuple
    out_shape: tuple
    kernel: int = 1
    n_in: int = 0
    n_out: int = 0
    w_bits: int = 0
    b_bits: int = 0
    a_bits: int = 0
    out_bits: int = 0
    acc_bits: int = 0  # accumulator width as hls4ml typed it (0: a + w + log2(n_in), the full width)
    n_outputs: int = 1  # streams leaving this layer (clone: one per reader)
    stream_depths: tuple = ()  # depth of each output stream as the hls4ml project sets it (hw.hls.fifo)
    strategy: str = ""  # hls4ml's strategy attribute of a weighted layer
    backend: str = "Vitis"  # hls4ml backend = HLS tool (Vitis HLS or Vivado HLS): how FIFOs are stored
    in_pack: int = 0  # elements per input stream beat (io_stream Dense: beats = n_in / in_pack)
    da_cost: float = 0.0  # distributed_arithmetic: da4ml's cost of the constant-matrix adder graph
    dsp_packing: bool = False  # two products per DSP48E1 (hw.hls.dsp_packing; config key DspPacking)
    rf: int = 1
    weight_bits: int = 0
    mults: int = 0
    dsp: float = 0.0
    lut: int = 0
    lutram: int = 0
    bram18: int = 0
    weight_bram18: int = 0
    weight_lut_rom: int = 0
    index_bram18: int = 0  # RF > n_in: hls4ml's output-index table (hw.plan.resources.MemoryRule)
    index_lut: int = 0
    ff: int = 0  # flip-flops (estimate: accumulators, operand registers, control)
    fifo_bram18: int = 0
    fifo_lutram: int = 0
    fifo_lut: int = 0  # logic of the output FIFOs (registers' mux, pointers): resources.fifo_logic_lut
    ii_cycles: int = 0
    fill_cycles: int = 0

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "pointwise", "dense")

    @property
    def params(self) -> int:
        return self.n_in * self.n_out + self.n_out if self.has_weights else 0


def _hw(shape) -> tuple:
    s = tuple(int(x) for x in shape)
    return s if len(s) == 3 else (1, 1) + s


def _width(var) -> int:
    return int(var.type.precision.width)


def layers_from_hls(hls_model) -> list[Layer]:
    """Planner layers of a converted hls4ml ModelGraph (see module docstring)."""
    out = []
    backend = hls_model.config.backend.name
    by_output = {o: hl for hl in hls_model.get_layers() for o in hl.outputs}
    for hl in hls_model.get_layers():
        cls = hl.class_name
        if cls in SKIPPED:
            continue
        ov = hl.get_output_variable()
        iv = hl.get_input_variable()
        outs = [hls_model.output_vars[n] for n in hl.outputs]
        depths = tuple(int(v.pragma[1]) if isinstance(getattr(v, "pragma", None), tuple) else 0 for v in outs)
        common = dict(name=hl.name, in_shape=_hw(iv.shape), out_shape=_hw(ov.shape), a_bits=_width(iv),
                      out_bits=_width(ov), n_outputs=len(outs), stream_depths=depths, backend=backend)
        if cls in WEIGHTED:
            strategy = str(hl.get_attr("strategy") or "").lower()
            if strategy not in ("resource", DA):
                raise BudgetError(f"{hl.name}: Strategy {hl.get_attr('strategy')!r} is not modelled by the planner "
                                  "(only Resource and distributed_arithmetic); set one of them for this layer")
            pf = int((hls_model.config.get_layer_config(hl) or {}).get("ParallelizationFactor", 1))
            if pf != 1:
                raise BudgetError(f"{hl.name}: ParallelizationFactor {pf} is not modelled by the planner (only 1)")
            if int(hl.get_attr("stride_height", 1) or 1) != 1 and cls == "PointwiseConv2D":
                raise BudgetError(f"{hl.name}: strided pointwise conv is not modelled")
            in_pack = 0
            if cls == "Dense":
                k, n_in, n_out = 1, int(hl.get_attr("n_in")), int(hl.get_attr("n_out"))
                src = by_output.get(hl.inputs[0])  # io_stream Flatten is an alias of the stream before it
                stream = src.get_input_variable() if src is not None and src.class_name == "Reshape" else iv
                in_pack = int(stream.shape[-1])
            else:
                k = int(hl.get_attr("filt_height"))
                if int(hl.get_attr("filt_width")) != k:
                    raise BudgetError(f"{hl.name}: only square kernels are modelled")
                n_in, n_out = k * k * int(hl.get_attr("n_chan")), int(hl.get_attr("n_filt"))
            bias = hl.weights.get("bias")
            acc = hl.get_attr("accum_t")
            common["acc_bits"] = int(acc.precision.width) if acc is not None and hasattr(acc, "precision") else 0
            out.append(Layer(kind=WEIGHTED[cls], kernel=k, n_in=n_in, n_out=n_out, w_bits=_width(hl.weights["weight"]),
                             b_bits=_width(bias) if bias is not None else 0, rf=int(hl.get_attr("reuse_factor")),
                             strategy=strategy, in_pack=in_pack, dsp_packing=bool(hl.get_attr("dsp_packing", False)),
                             da_cost=float(hl.attributes.get("da_kernel_cost", 0) or 0), **common))
        elif cls == "Activation":
            act = str(hl.get_attr("activation")).lower()
            if act != "relu":
                raise BudgetError(f"{hl.name}: activation {act!r} is not modelled by the planner (relu only)")
            out.append(Layer(kind="relu", **common))
        elif cls in PLAIN:
            kernel = int(hl.get_attr("pool_height") or 1) if cls == "Pooling2D" else 1
            n_in = len(hl.inputs) if cls in ("Concatenate", "Merge") else 0
            out.append(Layer(kind=PLAIN[cls], kernel=kernel, n_in=n_in, **common))
        else:
            raise BudgetError(f"{hl.name}: hls4ml layer {cls} is not modelled by the budget planner")
    return out


def from_config(config_path: str | os.PathLike, model_path: str | os.PathLike | None = None,
                overrides: dict | None = None) -> tuple[list[Layer], object]:
    """(planner layers, HlsConfig) of a model converted with its hls4ml YAML (nothing written)."""
    from hw.hls.config import HlsError
    from hw.hls.convert import convert_graph
    from hw.model import ModelError

    with tempfile.TemporaryDirectory(prefix="plan_") as tmp:
        try:
            hls_model, cfg, _ = convert_graph(config_path, model_path, Path(tmp) / "prj", overrides)
        except (HlsError, ModelError) as e:
            raise BudgetError(str(e)) from None
        return layers_from_hls(hls_model), cfg


def from_keras(model, assumed_bits: int | None = None, part: str | None = None) -> list[Layer]:
    """Planner layers of a Keras model without a YAML (float reference networks, unit tests):
    converted with hls4ml's Vitis backend, io_stream, Resource strategy, ReuseFactor 1, and for a
    float model every weight and stream at `assumed_bits` (ap_fixed<bits, bits/2>)."""
    import contextlib
    import io

    import hls4ml

    from hw import chip
    from hw.hls import fifo, patches

    patches.apply()
    quantized = any(hasattr(l, "kq") for l in model.layers)
    kw = {}
    if not quantized:
        b = assumed_bits or 8
        kw["default_precision"] = f"ap_fixed<{b},{max(b // 2, 1)}>"
    with tempfile.TemporaryDirectory(prefix="plan_") as tmp, contextlib.redirect_stdout(io.StringIO()):
        cfg = hls4ml.utils.config_from_keras_model(model, granularity="name" if quantized else "model",
                                                   backend="Vitis", **kw)
        cfg["Model"]["Strategy"] = "Resource"
        cfg["Model"]["ReuseFactor"] = 1
        try:
            hm = hls4ml.converters.convert_from_keras_model(
                model, hls_config=cfg, output_dir=str(Path(tmp) / "prj"), backend="Vitis", io_type="io_stream",
                part=part or chip.XC7Z020.name)
        except Exception as e:  # hls4ml raises bare Exceptions
            raise BudgetError(f"hls4ml could not convert {model.name} ({type(e).__name__}: {e})") from None
        fifo.apply_stream_depths(hm)
        return layers_from_hls(hm)
