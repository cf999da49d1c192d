"""Planner layers read from an hls4ml project's generated C++ (`firmware/`): the network exactly as
the HLS tool compiled it.

Why: the public builds that ground the planner (`../shared/vendor-reports/`) ship their firmware
but rarely their Keras model, and a model rebuilt by hand would guess widths and ReuseFactors the
tool never saw. `myproject.cpp` gives the layer order and the type of every stream, `parameters.h`
each layer's `config<N>` struct (shapes, ReuseFactor, strategy, weight type), `defines.h` every
typedef's width. The config number N is the one in the name of every per-layer csynth report
(`conv_2d_cl_..._config5_s_csynth.xml`), so each reported layer meets its planner twin by name.

Layers that the planner does not cost (table activations, upsampling) come back with kind
`unmodelled` and their function name, so a caller can say why they are left out.
"""
from __future__ import annotations

import re
from pathlib import Path

from hw.plan.graph import Layer
from hw.plan.resources import BudgetError

_CALL = re.compile(r"nnet::(\w+)<([^;]*?)>\s*\(([^;]*?)\);")
_STRUCT = re.compile(r"struct\s+(\w+)\s*:\s*nnet::\w+\s*\{(.*?)\n\};", re.S)
_CONST = re.compile(r"static const (?:unsigned|int|bool)\s+(\w+)\s*=\s*([^;]+);")
_TYPEDEF_IN_STRUCT = re.compile(r"typedef\s+(\w+)\s+(\w+)\s*;")
_TYPEDEF = re.compile(r"typedef\s+(.+?)\s+(\w+)\s*;")
_STRATEGY = re.compile(r"strategy\s*=\s*nnet::(\w+)")
_WIDTH = re.compile(r"ap_u?(?:fixed|int)<\s*(\d+)")
_ARRAY = re.compile(r"nnet::array<\s*(.+)\s*,\s*([\d*\s]+)>$")

# nnet:: function -> planner kind
KINDS = {"conv_2d_cl": "conv", "conv_1d_cl": "conv", "pointwise_conv_2d_cl": "pointwise",
         "pointwise_conv_1d_cl": "pointwise", "dense": "dense", "pooling2d_cl": "pool", "pooling1d_cl": "pool",
         "relu": "relu", "linear": "relu", "zeropad2d_cl": "pad", "zeropad1d_cl": "pad", "clone_stream": "clone",
         "concatenate3d": "concat", "concatenate2d": "concat", "add": "add",
         "global_pooling2d_cl": "gap"}
SKIP = {"load_weights_from_txt"}


class FirmwareError(BudgetError):
    """A firmware folder the reader cannot interpret (names the file and what is missing)."""


_DEFINE = re.compile(r"^#define\s+(\w+)\s+(\d+)\s*$", re.M)


def _ints(body: str, macros: dict) -> dict:
    """The integer constants of a config struct; a product of numbers, macros and earlier constants
    (`N_LAYER_2`, `kernel_size * n_chan`) is evaluated, anything else is left out."""
    out = {}
    for name, expr in _CONST.findall(body):
        terms = [t.strip() for t in expr.strip().split("*")]
        vals = [int(t) if t.isdigit() else macros.get(t, out.get(t)) for t in terms]
        if expr.strip() in ("true", "false"):
            out[name] = expr.strip() == "true"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            prod = 1
            for v in vals:
                prod *= v
            out[name] = prod
    return out


def _type_table(defines: str) -> dict[str, str]:
    return {name: spec.strip() for spec, name in _TYPEDEF.findall(defines)}


def _resolve(types: dict, name: str) -> str:
    seen = set()
    while name in types and name not in seen:
        seen.add(name)
        name = types[name]
    return name


def _scalar_width(types: dict, name: str) -> int:
    spec = _resolve(types, name)
    m = _ARRAY.match(spec)
    if m:
        spec = _resolve(types, m.group(1).strip())
    w = _WIDTH.search(spec)
    if not w:
        raise FirmwareError(f"type {name!r} ({spec!r}) has no ap_fixed/ap_int width")
    return int(w.group(1))


def _array_size(types: dict, name: str) -> int:
    m = _ARRAY.match(_resolve(types, name))
    if not m:
        return 1
    size = 1
    for f in m.group(2).split("*"):
        size *= int(f.strip())
    return size


def _acc(types: dict, struct_types: dict) -> int:
    return _scalar_width(types, struct_types["accum_t"]) if "accum_t" in struct_types else 0


def read(firmware: str | Path, backend: str) -> list[Layer]:
    """Planner layers, in dataflow order, of the hls4ml project whose `firmware/` folder is given;
    each is named `config<N>` after its report (N = the number in its config struct)."""
    fw = Path(firmware)
    tops = [p for p in sorted(fw.glob("*.cpp")) if not p.stem.endswith(("_axi", "_bridge", "_test"))]
    try:
        if len(tops) != 1:
            raise OSError(f"expected one top-level .cpp, found {[p.name for p in tops] or 'none'}")
        top = tops[0].read_text()
        params = (fw / "parameters.h").read_text()
        defines = (fw / "defines.h").read_text()
    except OSError as e:
        raise FirmwareError(f"{fw}: not an hls4ml firmware folder ({e})") from None
    types = _type_table(defines)
    macros = {k: int(v) for k, v in _DEFINE.findall(defines)}
    structs = {name: body for name, body in _STRUCT.findall(params)}
    layers = []
    for fn, targs, _args in _CALL.findall(top):
        if fn in SKIP:
            continue
        targs = [t.strip() for t in targs.split(",")]
        cfg_name = targs[-1]
        m = re.search(r"(\d+)$", cfg_name)
        if fn == "clone_stream":
            n = int(targs[-1])
            in_t = targs[0]
            c = _array_size(types, in_t)
            layers.append(Layer(name=f"clone_{in_t}", kind="clone", in_shape=(n // c, 1, c), out_shape=(n // c, 1, c),
                                a_bits=_scalar_width(types, in_t), out_bits=_scalar_width(types, in_t),
                                n_outputs=2, backend=backend))
            continue
        if not m or cfg_name not in structs:
            raise FirmwareError(f"{tops[0]}: call nnet::{fn} names config {cfg_name!r}, "
                                f"which {fw / 'parameters.h'} does not define")
        name = f"config{m.group(1)}"
        body = structs[cfg_name]
        c = _ints(body, macros)
        in_t, out_t = targs[0], targs[-2]
        a_bits, out_bits = _scalar_width(types, in_t), _scalar_width(types, out_t)
        common = dict(name=name, a_bits=a_bits, out_bits=out_bits, backend=backend)
        kind = KINDS.get(fn, "unmodelled")
        if kind in ("conv", "pointwise"):
            strat = _STRATEGY.search(body)
            tw = {t: s for s, t in _TYPEDEF_IN_STRUCT.findall(body)}
            h_in, h_out = c.get("in_height", 1), c.get("out_height", 1)
            kh = c.get("filt_height", 1)
            kw = c.get("filt_width", 1)
            n_in, n_out = kh * kw * c["n_chan"], c["n_filt"]
            if "weight_t" not in tw:
                raise FirmwareError(f"{fw / 'parameters.h'}: {cfg_name} has no weight_t")
            layers.append(Layer(kind="pointwise" if kh * kw == 1 else "conv", kernel=kh if kh > 1 else 1,
                                in_shape=(h_in, c["in_width"], c["n_chan"]), out_shape=(h_out, c["out_width"], n_out),
                                n_in=n_in, n_out=n_out, w_bits=_scalar_width(types, tw["weight_t"]),
                                b_bits=_scalar_width(types, tw.get("bias_t", tw["weight_t"])),
                                rf=int(c["reuse_factor"]), strategy=(strat.group(1) if strat else "latency").lower(),
                                in_pack=c["n_chan"], acc_bits=_acc(types, tw), **common))
        elif kind == "dense":
            strat = _STRATEGY.search(body)
            tw = {t: s for s, t in _TYPEDEF_IN_STRUCT.findall(body)}
            layers.append(Layer(kind="dense", in_shape=(1, 1, c["n_in"]), out_shape=(1, 1, c["n_out"]),
                                n_in=c["n_in"], n_out=c["n_out"], w_bits=_scalar_width(types, tw["weight_t"]),
                                b_bits=_scalar_width(types, tw.get("bias_t", tw["weight_t"])),
                                rf=int(c["reuse_factor"]), strategy=(strat.group(1) if strat else "latency").lower(),
                                in_pack=_array_size(types, in_t), acc_bits=_acc(types, tw), **common))
        elif kind == "pool":
            layers.append(Layer(kind="pool", kernel=c.get("pool_height", c.get("pool_width", 1)),
                                in_shape=(c.get("in_height", 1), c["in_width"], c["n_filt"]),
                                out_shape=(c.get("out_height", 1), c["out_width"], c["n_filt"]), **common))
        elif kind == "pad":
            layers.append(Layer(kind="pad", in_shape=(c.get("in_height", 1), c["in_width"], c["n_chan"]),
                                out_shape=(c.get("out_height", 1), c["out_width"], c["n_chan"]), **common))
        elif kind == "concat":
            ch1 = _array_size(types, targs[0])
            ch = _array_size(types, out_t)
            px = c["n_elem1_0"] * c.get("n_elem1_1", 1) if "n_elem1_2" in c else c["n_elem1_0"]
            layers.append(Layer(kind="concat", n_in=2, in_shape=(px, 1, ch1), out_shape=(px, 1, ch), **common))
        else:  # elementwise / table / unmodelled: shape from n_in and the stream's array size
            ch = _array_size(types, in_t)
            n = c.get("n_in", ch)
            layers.append(Layer(kind=kind if kind != "unmodelled" else f"unmodelled:{fn}",
                                in_shape=(max(n // ch, 1), 1, ch), out_shape=(max(n // ch, 1), 1, ch), **common))
    if not layers:
        raise FirmwareError(f"{tops[0]}: no nnet:: layer calls found")
    return layers
