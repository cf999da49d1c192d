"""SqueezeNet builders: Fire modules, the three bypass variants, float and HGQ2-quantized forms.

One builder makes both forms with identical layer names, so a float model (trained fast, with
batch norm) can hand its folded weights to the quantized model for a short quantization-aware
fine-tune. The quantized form follows the arithmetic contract of shared/DESIGN.md:
  * input is byte/256: the first conv's input quantizer is pinned to unsigned, 0 integer, 8 fraction bits;
  * activations are quantized per tensor (hls4ml io_stream needs that);
  * inside a Fire module the squeeze output is quantized once and the expand convs have no input
    quantizer (hls4ml refuses io_stream otherwise);
  * no softmax: the network ends in a 1x1 conv + global average pooling, whose output quantizer
    fixes the logits' fixed-point format.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
from keras import layers

VARIANTS = ("vanilla", "simple_bypass", "complex_bypass")


class ModelError(ValueError):
    """Bad architecture request or unusable model file."""


@dataclass(frozen=True)
class FireSpec:
    """One Fire module: squeeze 1x1 (s filters) -> expand 1x1 (e1) + expand 3x3 (e3) -> concat."""

    name: str
    squeeze: int
    expand1x1: int
    expand3x3: int

    @property
    def out_channels(self) -> int:
        return self.expand1x1 + self.expand3x3


@dataclass(frozen=True)
class QuantSpec:
    """Bit widths of the quantized form (sign bit included where signed)."""

    weight_bits: int = 8
    bias_bits: int = 12
    act_bits: int = 8
    logit_bits: int = 16


@dataclass(frozen=True)
class ArchSpec:
    """A small-input SqueezeNet: conv1 -> [fire | 'pool'] ... -> 1x1 conv -> global average pool."""

    input_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = 10
    conv1_filters: int = 32
    conv1_kernel: int = 3
    stages: tuple = (
        "pool",
        FireSpec("fire2", 16, 32, 32),
        FireSpec("fire3", 16, 32, 32),
        "pool",
        FireSpec("fire4", 24, 48, 48),
        FireSpec("fire5", 24, 48, 48),
    )
    dropout: float = 0.2
    variant: str = "vanilla"
    quant: QuantSpec = field(default_factory=QuantSpec)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = [s if isinstance(s, str) else asdict(s) for s in self.stages]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ArchSpec":
        d = dict(d)
        d["input_shape"] = tuple(d["input_shape"])
        d["stages"] = tuple(s if isinstance(s, str) else FireSpec(**s) for s in d["stages"])
        d["quant"] = QuantSpec(**d.get("quant", {}))
        return cls(**d)


DEFAULT_ARCH = ArchSpec()


# --------------------------------------------------------------------------------------------
# Layer factories: one for the float form, one for the quantized form, same names and shapes.
# --------------------------------------------------------------------------------------------
class _FloatLayers:
    """Float form: conv -> batch norm -> ReLU, for fast pre-training."""

    quantized = False

    def __init__(self, spec: ArchSpec):
        self.spec = spec

    def conv(self, x, filters, kernel, name, relu=True, **_):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=True, name=name)(x)
        if relu:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
        return x

    def maxpool(self, x, name):
        return layers.MaxPooling2D(2, name=name)(x)

    def add(self, a, b, name):
        return layers.Add(name=name)([a, b])

    def quantize(self, x, name):
        return x

    def gap(self, x, name):
        return layers.GlobalAveragePooling2D(name=name)(x)


class _QuantLayers:
    """HGQ2 form: per-tensor fixed-point quantizers with pinned bit widths."""

    quantized = True

    def __init__(self, spec: ArchSpec):
        from hgq.config import QuantizerConfig
        from hgq.constraints import MinMax

        self.spec = spec
        self._QC = QuantizerConfig
        self._MinMax = MinMax
        q = spec.quant
        # Weights and biases: signed, symmetric saturation, b (magnitude bits) pinned, i learned.
        self.kq = QuantizerConfig("kbi", "weight", b0=q.weight_bits - 1, bc=MinMax(q.weight_bits - 1, q.weight_bits - 1),
                                  heterogeneous_axis=(), homogeneous_axis=None)
        self.bq = QuantizerConfig("kbi", "weight", b0=q.bias_bits - 1, bc=MinMax(q.bias_bits - 1, q.bias_bits - 1),
                                  heterogeneous_axis=(), homogeneous_axis=None)

    def act(self, signed=False, bits=None):
        """Per-tensor activation quantizer: total width pinned, integer bits traced from data (WRAP)."""
        bits = bits or self.spec.quant.act_bits
        b = bits - 1 if signed else bits
        return self._QC("kbi", "datalane", k0=bool(signed), b0=b, bc=self._MinMax(b, b), i0=2,
                        heterogeneous_axis=(), homogeneous_axis=None)

    def input_q(self):
        """The contract's input format: unsigned, 0 integer bits, 8 fraction bits (= byte/256), frozen."""
        return self._QC("kif", "datalane", k0=False, i0=0, f0=8, trainable=False,
                        heterogeneous_axis=(), homogeneous_axis=None)

    def conv(self, x, filters, kernel, name, relu=True, iq="act", oq=False, **_):
        from hgq.layers import QConv2D

        kw = dict(kq_conf=self.kq, bq_conf=self.bq)
        if iq is None:
            kw["enable_iq"] = False
        else:
            kw["iq_conf"] = self.input_q() if iq == "input" else self.act(signed=(iq == "signed"))
        if oq:
            kw.update(enable_oq=True, oq_conf=self.act())
        return QConv2D(filters, kernel, padding="same", activation="relu" if relu else None, name=name, **kw)(x)

    def maxpool(self, x, name):
        from hgq.layers import QMaxPool2D

        return QMaxPool2D(2, name=name, iq_conf=self.act())(x)

    def add(self, a, b, name):
        """Exact sum of two tensors that are already quantized (or exact conv outputs)."""
        from hgq.layers import QAdd

        return QAdd(name=name, enable_iq=False)([a, b])

    def quantize(self, x, name):
        """Quantize a tensor once before it branches: hls4ml io_stream fuses a quantizer into its
        producer only when the producer feeds nothing else."""
        from hgq.layers import Quantizer

        return Quantizer(self.act(), name=name)(x)

    def gap(self, x, name):
        from hgq.layers import QGlobalAveragePooling2D

        q = self.spec.quant
        return QGlobalAveragePooling2D(name=name, iq_conf=self.act(signed=True, bits=q.logit_bits),
                                       enable_oq=True, oq_conf=self.act(signed=True, bits=q.logit_bits))(x)


def fire_module(f, x, fire: FireSpec, input_quantized: bool = False):
    """Squeeze 1x1 -> (expand 1x1 || expand 3x3) -> concat. Expand 1x1 channels come first."""
    s = f.conv(x, fire.squeeze, 1, f"{fire.name}_squeeze", oq=True, iq=None if input_quantized else "act")
    e1 = f.conv(s, fire.expand1x1, 1, f"{fire.name}_expand1x1", iq=None)
    e3 = f.conv(s, fire.expand3x3, 3, f"{fire.name}_expand3x3", iq=None)
    return layers.Concatenate(name=f"{fire.name}_concat")([e1, e3])


def build_squeezenet(spec: ArchSpec = DEFAULT_ARCH, quantized: bool = True, name: str | None = None) -> keras.Model:
    """Build the SqueezeNet of `spec` in float (quantized=False) or HGQ2 form.

    Variants (Iandola et al. 2016, section 6): 'vanilla'; 'simple_bypass' adds identity bypasses
    around Fire modules whose input and output channel counts match; 'complex_bypass' adds a 1x1
    conv bypass around the others too.
    """
    if spec.variant not in VARIANTS:
        raise ModelError(f"unknown variant {spec.variant!r}; choose one of {', '.join(VARIANTS)}")
    f = _QuantLayers(spec) if quantized else _FloatLayers(spec)
    inp = keras.Input(spec.input_shape, name="pixels")  # hls4ml rejects an input layer named 'input'
    x = f.conv(inp, spec.conv1_filters, spec.conv1_kernel, "conv1", iq="input")
    channels = spec.conv1_filters
    n_pool = 0
    x_quantized = False
    for stage in spec.stages:
        if stage == "pool":
            n_pool += 1
            x = f.maxpool(x, f"pool{n_pool}")
            x_quantized = True  # max pooling's input quantizer already fixed the format
            continue
        if not isinstance(stage, FireSpec):
            raise ModelError(f"unknown stage {stage!r}: expected 'pool' or a FireSpec")
        bypass = spec.variant == "complex_bypass" or channels == stage.out_channels
        if spec.variant == "vanilla" or not bypass:
            y = fire_module(f, x, stage)
        else:
            if not x_quantized:  # the Fire input branches: quantize it once, before the branch
                x = f.quantize(x, f"{stage.name}_in_q")
            y = fire_module(f, x, stage, input_quantized=True)
            if channels != stage.out_channels:
                x = f.conv(x, stage.out_channels, 1, f"{stage.name}_bypass_conv", relu=False, iq=None)
            y = f.add(x, y, f"{stage.name}_bypass")
        x, channels, x_quantized = y, stage.out_channels, False
    if spec.dropout:
        x = layers.Dropout(spec.dropout, name="dropout")(x)
    x = f.conv(x, spec.num_classes, 1, "classifier", relu=False)
    x = f.gap(x, "logits")
    return keras.Model(inp, x, name=name or f"squeezenet_{spec.variant}")


# --------------------------------------------------------------------------------------------
# ImageNet reference architectures (float), for parameter-count checks against the paper.
# --------------------------------------------------------------------------------------------
def _ceil_max_pool(x, name: str, size: int = 3, stride: int = 2):
    """3x3/2 max pooling with Caffe's (and torchvision's ceil_mode=True) output size, which the
    reference SqueezeNet uses; Keras only floors. The input follows a ReLU (>= 0), so zero padding
    the bottom/right edge leaves every window's maximum as ceil mode computes it."""
    n = int(x.shape[1])
    extra = (-(n - size)) % stride
    if extra:
        x = layers.ZeroPadding2D(((0, extra), (0, extra)), name=f"{name}_ceil_pad")(x)
    return layers.MaxPooling2D(size, strides=stride, name=name)(x)


def _imagenet_squeezenet(version: str) -> keras.Model:
    inp = keras.Input((224, 224, 3), name="pixels")
    fires = [FireSpec(f"fire{i}", s, e, e) for i, (s, e) in
             enumerate([(16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256)], start=2)]
    if version == "1.0":
        x = layers.Conv2D(96, 7, strides=2, activation="relu", name="conv1")(inp)
        pools_after = {"conv1", "fire4", "fire8"}
    else:
        x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inp)
        pools_after = {"conv1", "fire3", "fire5"}
    if "conv1" in pools_after:
        x = _ceil_max_pool(x, "pool1")
    for fire in fires:
        s = layers.Conv2D(fire.squeeze, 1, activation="relu", name=f"{fire.name}_squeeze")(x)
        e1 = layers.Conv2D(fire.expand1x1, 1, activation="relu", name=f"{fire.name}_expand1x1")(s)
        e3 = layers.Conv2D(fire.expand3x3, 3, padding="same", activation="relu", name=f"{fire.name}_expand3x3")(s)
        x = layers.Concatenate(name=f"{fire.name}_concat")([e1, e3])
        if fire.name in pools_after:
            x = _ceil_max_pool(x, f"pool_{fire.name}")
    x = layers.Dropout(0.5)(x)
    x = layers.Conv2D(1000, 1, activation="relu", name="conv10")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, x, name=f"squeezenet_v{version.replace('.', '_')}")


def squeezenet_v1_0() -> keras.Model:
    """SqueezeNet v1.0 for ImageNet (1,248,424 parameters)."""
    return _imagenet_squeezenet("1.0")


def squeezenet_v1_1() -> keras.Model:
    """SqueezeNet v1.1 for ImageNet (1,235,496 parameters)."""
    return _imagenet_squeezenet("1.1")


def conv_macs(model: keras.Model) -> dict[str, int]:
    """Multiply-accumulates per image of each conv layer (output pixels x kernel x in x out)."""
    out = {}
    for layer in model.layers:
        if getattr(layer, "kernel", None) is not None and len(layer.kernel.shape) == 4:  # Conv2D or QConv2D
            _, h, w, cout = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            out[layer.name] = int(h * w * kh * kw * cin * cout)
    return out


def load_model(path) -> keras.Model:
    """Load a saved (HGQ2 or float) model, with a clear error for a missing or corrupt file."""
    import os

    import hgq  # noqa: F401  (registers the HGQ2 layers with Keras' deserializer)

    if not os.path.exists(path):
        raise ModelError(f"{path}: model file not found")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a bad archive
        raise ModelError(f"{path}: cannot load model ({type(e).__name__}: {e})") from None
