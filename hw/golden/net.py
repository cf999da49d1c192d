"""Integer golden model of the quantized SqueezeNet: the reference that the C simulation and the RTL
are checked against, derived from the trained model's quantizers and independent of hls4ml.

Where the formats come from (`extract`): HGQ2 quantizers (hw.quant), never hls4ml.
  * kernel/bias quantizers: integer = quantized float * 2**f (f = the quantizer's fraction bits);
  * activation quantizers (per tensor): k, i, f -> bits = k + i + f, frac = f, signed = k, their
    overflow mode; a quantizer with k + i + f <= 0 outputs zero (as HGQ2 does);
  * a conv without an output quantizer hands its exact (ReLU'd) accumulator to the quantizer(s)
    that consume it: the next layer's input quantizer, through concatenation and dropout.
So a Fire module's input format is its squeeze's input quantizer and its output format is the
quantizer that consumes the concat (next squeeze's iq, a pooling iq, the classifier's iq or a
bypass QAdd's iq). `GoldenNet.fires` is the one derivation of that boundary (the RTL bench and the
Fire HLS export both read it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw.golden.arith import ConvParams, FireParams, GoldenError, conv2d_acc, fire_forward, gap_forward, maxpool2d
from hw.quant import INPUT_FORMAT, INPUT_FRAC, Format, quantizer_format, weights_to_int


@dataclass
class Tensor:
    """Integers at `frac` fraction bits; exact (unbounded) unless a quantizer produced it."""

    q: np.ndarray
    frac: int


@dataclass
class Layer:
    """One step of the integer network (one Keras layer), for per-layer inspection."""

    name: str
    kind: str  # input | conv | fire | maxpool | concat | add | identity | gap
    inputs: list
    in_formats: list  # Format (or None: the input is already quantized) per input
    conv: ConvParams | None = None  # conv: out_* fields describe its output quantizer if any
    out_format: Format | None = None  # format of the output if quantized (oq or fused consumer)
    fire: FireParams | None = None
    pool: tuple | None = None
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        fmts = ", ".join(str(f) for f in self.in_formats if f is not None)
        return f"Layer({self.name}: {self.kind}, in [{fmts}], out {self.out_format})"


def _conv_params(layer, in_fmt: Format, where: str) -> tuple[ConvParams, int]:
    cfg = layer.get_config()
    if tuple(cfg.get("strides", (1, 1))) != (1, 1) or tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
        raise GoldenError(f"{where}: only stride 1, dilation 1 convolutions are supported")
    if cfg.get("groups", 1) != 1 or cfg.get("data_format", "channels_last") != "channels_last":
        raise GoldenError(f"{where}: grouped or channels_first convolutions are not supported")
    kh, kw = layer.kernel_size
    if cfg.get("padding") != "same" and (kh, kw) != (1, 1):
        raise GoldenError(f"{where}: padding {cfg.get('padding')!r} is not supported (use 'same')")
    act = getattr(layer.activation, "__name__", str(layer.activation))
    if act not in ("relu", "linear"):
        raise GoldenError(f"{where}: activation {act!r} is not supported (relu or none)")
    w, w_frac = weights_to_int(layer.qkernel, layer.kq, f"{where} kernel")
    if layer.use_bias:
        b, b_frac = weights_to_int(layer.qbias, layer.bq, f"{where} bias")
    else:
        b, b_frac = np.zeros(w.shape[-1], dtype=np.int64), 0
    acc_frac = max(in_fmt.frac + w_frac, b_frac)
    bias = b << np.int64(acc_frac - b_frac)
    p = ConvParams(weight=w, bias=bias, w_frac=w_frac, in_frac=in_fmt.frac, acc_frac=acc_frac,
                   relu=(act == "relu"), out_bits=0, out_frac=acc_frac, out_signed=True)
    return p, int(np.abs(w).sum(axis=(0, 1, 2)).max(initial=0))


def _layer_inputs(layer) -> list:
    inp = layer.input
    return list(inp) if isinstance(inp, (list, tuple)) else [inp]


def _iq_formats(layer, n_inputs: int) -> list:
    if not getattr(layer, "enable_iq", False):
        return [None] * n_inputs
    iq = layer.iq
    qs = list(iq) if n_inputs > 1 else [iq]
    return [quantizer_format(q, f"{layer.name} input quantizer") for q in qs]


class GoldenNet:
    """The integer network: `forward(x_uint8) -> raw int64 logits`, value = raw / 2**logit_frac."""

    def __init__(self, layers: list, input_name: str, output_name: str, input_shape: tuple):
        self.layers = layers
        self.input_name = input_name
        self.output_name = output_name
        self.input_shape = tuple(input_shape)
        last = {l.name: l for l in layers}[output_name]
        self.logit_format: Format = last.out_format
        self.logit_frac: int = last.out_format.frac

    @property
    def fires(self) -> list:
        """FireParams of every Fire module, in network order."""
        return [l.fire for l in self.layers if l.kind == "fire"]

    def layer(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(f"no layer named {name!r}; layers: {', '.join(l.name for l in self.layers)}")

    def forward(self, x: np.ndarray, return_all: bool = False, batch_size: int = 256):
        """Raw int64 logits (N, n_classes) of uint8 images (N, H, W, C) (value = byte / 256).

        return_all=True also returns every layer's output Tensor (by layer name)."""
        x = np.asarray(x)
        if x.ndim == len(self.input_shape):
            x = x[None]
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            raise GoldenError(f"input shape {x.shape}: expected (N, {', '.join(map(str, self.input_shape))})")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.integer) or x.size and (x.min() < 0 or x.max() > 255):
                raise GoldenError(f"input must be uint8 pixel bytes (0..255), got dtype {x.dtype}")
        if return_all:
            t = self._forward_all(x)
            return t[self.output_name].q, t
        if len(x) <= batch_size:
            return self._forward_all(x)[self.output_name].q
        # Chunks of images keep the intermediate tensors small (cache-friendly, bounded memory).
        return np.concatenate([self._forward_all(x[s:s + batch_size])[self.output_name].q
                               for s in range(0, len(x), batch_size)])

    def _forward_all(self, x: np.ndarray) -> dict:
        t: dict[str, Tensor] = {}
        for l in self.layers:
            ins = []
            for src, fmt in zip(l.inputs, l.in_formats):
                a = t[src]
                ins.append(a if fmt is None else Tensor(fmt.quantize(a.q, a.frac), fmt.frac))
            t[l.name] = self._run(l, ins, x)
        return t

    @staticmethod
    def _run(l: Layer, ins: list, x: np.ndarray) -> Tensor:
        if l.kind == "input":
            return Tensor(x.astype(np.int64), INPUT_FRAC)
        if l.kind == "conv":
            acc = conv2d_acc(ins[0].q, l.conv)
            if l.conv.relu:
                acc = np.maximum(acc, 0)
            if l.out_format is None:
                return Tensor(acc, l.conv.acc_frac)
            return Tensor(l.out_format.quantize(acc, l.conv.acc_frac), l.out_format.frac)
        if l.kind == "fire":
            return Tensor(fire_forward(ins[0].q, l.fire), l.out_format.frac)
        if l.kind == "maxpool":
            return Tensor(maxpool2d(ins[0].q, *l.pool), ins[0].frac)
        if l.kind in ("concat", "add"):
            frac = max(a.frac for a in ins)
            qs = [a.q << np.int64(frac - a.frac) for a in ins]
            return Tensor(np.concatenate(qs, axis=-1) if l.kind == "concat" else sum(qs), frac)
        if l.kind == "identity":
            return ins[0]
        if l.kind == "gap":
            return Tensor(gap_forward(ins[0].q, ins[0].frac, l.out_format), l.out_format.frac)
        raise GoldenError(f"{l.name}: unknown step kind {l.kind!r}")

    def accumulator_bounds(self) -> dict:
        """Per conv: worst-case |accumulator| in bits from the formats (max |input| * max column
        sum of |w|, before bias): below 24 the float32 conv of Keras cannot round, so Keras and
        the integers must agree exactly."""
        out = {}
        for l in self.layers:
            convs = [(l.name, l.conv, l.in_formats[0])] if l.kind == "conv" else []
            if l.kind == "fire":
                f = l.fire
                sq_fmt = f.squeeze.out_format
                convs = [(f"{l.name}/squeeze", f.squeeze, l.params["squeeze_in"]),
                         (f"{l.name}/expand1x1", f.expand1x1, sq_fmt), (f"{l.name}/expand3x3", f.expand3x3, sq_fmt)]
            for name, p, fmt in convs:
                xmax = max(abs(fmt.min), fmt.max)
                wsum = int(np.abs(p.weight).sum(axis=(0, 1, 2)).max(initial=0))
                bmax = int(np.abs(p.bias).max(initial=0))
                bound = (xmax * wsum << p.prod_shift) + bmax
                out[name] = max(bound, 1).bit_length()
        return out


def extract(model, fuse_fires: bool = True) -> GoldenNet:
    """Derive the integer network from a trained HGQ2 Keras model's quantizers (not from hls4ml).

    fuse_fires=False keeps every Keras layer as its own step (no FireParams): the tests use it to
    check that the fused Fire modules (the RTL's unit) compute the same integers."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise GoldenError("the golden model supports one input and one output")
    name_of: dict[int, str] = {}
    layers: list[Layer] = []
    by_name: dict[str, Layer] = {}

    def src_names(layer):
        return [name_of[id(t)] for t in _layer_inputs(layer)]

    for layer in model.layers:
        cls = layer.__class__.__name__
        where = f"layer {layer.name} ({cls})"
        if cls == "InputLayer":
            name_of[id(layer.output)] = layer.name
            step = Layer(layer.name, "input", [], [], out_format=INPUT_FORMAT)
        else:
            srcs = src_names(layer)
            fmts = _iq_formats(layer, len(srcs))
            if cls == "QConv2D":
                if fmts[0] is None:
                    prod = by_name[srcs[0]]
                    if prod.out_format is None:
                        raise GoldenError(f"{where}: input quantizer disabled and its input {srcs[0]} is not quantized")
                    in_fmt = prod.out_format
                else:
                    in_fmt = fmts[0]
                p, _ = _conv_params(layer, in_fmt, where)
                out_fmt = quantizer_format(layer.oq, f"{layer.name} output quantizer") if layer.enable_oq else None
                if out_fmt is not None:
                    p.out_bits, p.out_frac, p.out_signed, p.overflow = out_fmt.bits, out_fmt.frac, out_fmt.signed, out_fmt.overflow
                step = Layer(layer.name, "conv", srcs, fmts, conv=p, out_format=out_fmt)
            elif cls in ("QMaxPooling2D", "MaxPooling2D"):
                cfg = layer.get_config()
                if cfg.get("padding", "valid") != "valid":
                    raise GoldenError(f"{where}: only 'valid' max pooling is supported")
                if fmts[0] is None and by_name[srcs[0]].out_format is None:
                    raise GoldenError(f"{where}: max pooling of an unquantized tensor")
                pool = (tuple(cfg["pool_size"]), tuple(cfg["strides"] or cfg["pool_size"]))
                step = Layer(layer.name, "maxpool", srcs, fmts, pool=pool,
                             out_format=fmts[0] or by_name[srcs[0]].out_format)
            elif cls == "Concatenate":
                if layer.get_config().get("axis", -1) not in (-1, 3):
                    raise GoldenError(f"{where}: only channel concatenation is supported")
                step = Layer(layer.name, "concat", srcs, fmts)
            elif cls == "QAdd":
                step = Layer(layer.name, "add", srcs, fmts)
            elif cls == "Quantizer":  # standalone quantizer (a branching tensor quantized once, hw.model)
                fmt = quantizer_format(layer, f"{layer.name} quantizer")
                step = Layer(layer.name, "identity", srcs, [fmt], out_format=fmt)
            elif cls in ("Dropout", "Activation") and (cls == "Dropout" or layer.get_config().get("activation") == "linear"):
                step = Layer(layer.name, "identity", srcs, fmts, out_format=by_name[srcs[0]].out_format)
            elif cls == "QGlobalAveragePooling2D":
                cfg = layer.get_config()
                if cfg.get("keepdims") or cfg.get("data_format", "channels_last") != "channels_last":
                    raise GoldenError(f"{where}: keepdims/channels_first global pooling is not supported")
                if not layer.enable_oq:
                    raise GoldenError(f"{where}: global average pooling needs an output quantizer "
                                      "(its float mean has no fixed-point format otherwise)")
                if fmts[0] is None and by_name[srcs[0]].out_format is None:
                    raise GoldenError(f"{where}: global average pooling needs an input quantizer")
                out_fmt = quantizer_format(layer.oq, f"{layer.name} output quantizer")
                step = Layer(layer.name, "gap", srcs, fmts, out_format=out_fmt)
            else:
                raise GoldenError(f"{where}: layer type {cls} is not supported by the golden model")
            name_of[id(layer.output)] = layer.name
        layers.append(step)
        by_name[step.name] = step

    out_name = name_of[id(model.outputs[0])]
    if by_name[out_name].out_format is None:
        raise GoldenError(f"output layer {out_name} has no output quantizer: logits have no fixed-point format")
    if fuse_fires:
        layers = _fuse_fires(layers)
    return GoldenNet(layers, layers[0].name, out_name, model.inputs[0].shape[1:])


def _consumers(name: str, users: dict) -> list:
    """(layer, input index, format) of every step that quantizes tensor `name` on its way in, looking
    through identity/dropout; format None where a consumer takes the tensor unquantized."""
    out = []
    for user, k in users.get(name, []):
        f = user.in_formats[k]
        if f is None and user.kind == "identity":
            out.extend(_consumers(user.name, users))
        else:
            out.append((user, k, f))
    return out


def _fuse_fires(layers: list) -> list:
    """Replace squeeze -> (expand1x1 || expand3x3) -> concat by one `fire` step (FireParams), whose
    output format is that of the quantizer consuming the concat (all consumers must agree)."""
    by_name = {l.name: l for l in layers}
    users: dict[str, list] = {}
    for l in layers:
        for k, s in enumerate(l.inputs):
            users.setdefault(s, []).append((l, k))
    replaced: dict[str, Layer] = {}
    drop: set[str] = set()
    for cat in layers:
        if cat.kind != "concat" or len(cat.inputs) != 2 or any(f is not None for f in cat.in_formats):
            continue
        e1, e3 = (by_name[s] for s in cat.inputs)
        if e1.kind != "conv" or e3.kind != "conv" or e1.out_format or e3.out_format:
            continue
        if e1.inputs != e3.inputs or e1.in_formats != [None] or e3.in_formats != [None]:
            continue
        sq = by_name[e1.inputs[0]]
        if sq.kind != "conv" or sq.out_format is None or sq.in_formats[0] is None or sq.conv.weight.shape[:2] != (1, 1):
            continue
        if {u.name for u, _ in users[sq.name]} != {e1.name, e3.name} or len(users[e1.name]) != 1 or len(users[e3.name]) != 1:
            continue
        if sq.in_formats[0].signed:
            continue  # the Fire RTL takes unsigned inputs
        consumers = _consumers(cat.name, users)
        fmts = [f for _, _, f in consumers]
        if not fmts or any(f is None for f in fmts) or len(set(fmts)) != 1:
            continue  # several differently formatted consumers: keep the generic steps
        out = fmts[0]
        convs = []
        for c in (e1, e3):
            p = ConvParams(**{**c.conv.__dict__})
            p.out_bits, p.out_frac, p.out_signed, p.overflow = out.bits, out.frac, out.signed, out.overflow
            convs.append(p)
        base = cat.name[:-len("_concat")] if cat.name.endswith("_concat") else cat.name
        fp = FireParams(name=base, squeeze=sq.conv, expand1x1=convs[0], expand3x3=convs[1], in_bits=sq.in_formats[0].bits)
        fire = Layer(cat.name, "fire", sq.inputs, sq.in_formats, out_format=out, fire=fp,
                     params={"squeeze": sq.name, "expand1x1": e1.name, "expand3x3": e3.name,
                             "squeeze_in": sq.in_formats[0],
                             # the Keras layers whose input quantizer sets the Fire output format
                             "output_quantized_by": [u.name for u, _, _ in consumers]})
        replaced[cat.name] = fire
        drop |= {sq.name, e1.name, e3.name}
    return [replaced.get(l.name, l) for l in layers if l.name not in drop]
