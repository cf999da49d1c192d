"""hw.model: paper parameter counts, the Fire/bypass structure of both forms, hls4ml io_stream
conversion of the quantized form, and clear errors for bad requests and bad model files."""
from __future__ import annotations

import numpy as np
import pytest

from hw.model import (
    DEFAULT_ARCH,
    VARIANTS,
    ArchSpec,
    FireSpec,
    ModelError,
    build_squeezenet,
    load_model,
    squeezenet_v1_0,
    squeezenet_v1_1,
)

FIRES = [s for s in DEFAULT_ARCH.stages if isinstance(s, FireSpec)]
# Layers that pass a tensor through without changing its shape or meaning (walked over when
# following the graph back from a layer to the conv/pool/add that produced its input).
TRANSPARENT = {"BatchNormalization", "ReLU", "Activation", "Dropout", "Quantizer"}


def test_imagenet_reference_parameter_counts():
    """Iandola et al. (2016), Table 1 / the v1.1 release notes."""
    assert squeezenet_v1_0().count_params() == 1_248_424
    assert squeezenet_v1_1().count_params() == 1_235_496


def _inputs(layer) -> list:
    if not layer._inbound_nodes:
        return []
    return [t._keras_history.operation for t in layer._inbound_nodes[0].input_tensors]


def _source(layer):
    """The nearest producer of `layer` that is not a pass-through layer."""
    while type(layer).__name__ in TRANSPARENT:
        (layer,) = _inputs(layer)
    return layer


def _sources(model, name) -> list[str]:
    return [_source(l).name for l in _inputs(model.get_layer(name))]


def _kernel(model, name) -> tuple:
    return tuple(model.get_layer(name).kernel.shape)


def _expected_bypasses(variant) -> dict[str, bool]:
    """fire name -> True if its bypass is a 1x1 conv, False if identity; absent if no bypass."""
    out, ch = {}, DEFAULT_ARCH.conv1_filters
    for f in FIRES:
        if variant != "vanilla":
            if ch == f.out_channels:
                out[f.name] = False
            elif variant == "complex_bypass":
                out[f.name] = True
        ch = f.out_channels
    return out


@pytest.fixture(scope="module")
def models():
    return {(v, q): build_squeezenet(ArchSpec(variant=v), quantized=q) for v in VARIANTS for q in (False, True)}


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "hgq2"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_structure(models, variant, quantized):
    m = models[variant, quantized]
    assert tuple(m.input_shape) == (None, 28, 28, 1) and tuple(m.output_shape) == (None, 10)
    kinds = {type(l).__name__ for l in m.layers}
    assert not any("Dense" in k for k in kinds), kinds
    assert not any("Softmax" in k for k in kinds), kinds
    # Head: final 1x1 conv to the classes, then global average pooling as the last layer.
    assert "GlobalAveragePooling2D" in type(m.layers[-1]).__name__ and m.layers[-1].name == "logits"
    assert _sources(m, "logits") == ["classifier"]
    assert _kernel(m, "classifier") == (1, 1, FIRES[-1].out_channels, 10)

    prev = "pool1"  # delayed downsampling: conv1 -> pool1 -> fire2, fire3 -> pool2 -> fire4, fire5
    for f in FIRES:
        cin = m.get_layer(prev).output.shape[-1]
        n = f.name
        assert _kernel(m, f"{n}_squeeze") == (1, 1, cin, f.squeeze)
        assert _kernel(m, f"{n}_expand1x1") == (1, 1, f.squeeze, f.expand1x1)
        assert _kernel(m, f"{n}_expand3x3") == (3, 3, f.squeeze, f.expand3x3)
        assert _sources(m, f"{n}_squeeze") == [prev]
        assert _sources(m, f"{n}_expand1x1") == [f"{n}_squeeze"]
        assert _sources(m, f"{n}_expand3x3") == [f"{n}_squeeze"]
        assert _sources(m, f"{n}_concat") == [f"{n}_expand1x1", f"{n}_expand3x3"]  # expand 1x1 channels first
        assert m.get_layer(f"{n}_concat").output.shape[1:] == (m.get_layer(prev).output.shape[1],) * 2 + (f.out_channels,)
        bypass = _expected_bypasses(variant).get(n)
        if bypass is None:
            assert f"{n}_bypass" not in {l.name for l in m.layers}
            prev = f"{n}_concat"
        else:
            first = f"{n}_bypass_conv" if bypass else prev
            assert _sources(m, f"{n}_bypass") == [first, f"{n}_concat"]
            if bypass:
                assert _kernel(m, f"{n}_bypass_conv") == (1, 1, cin, f.out_channels)
                assert _sources(m, f"{n}_bypass_conv") == [prev]
            prev = f"{n}_bypass"
        if n == "fire3":
            assert _sources(m, "pool2") == [prev]
            prev = "pool2"
    assert _sources(m, "classifier") == [prev]


def test_bypass_counts():
    """Simple bypass: identity around fire3 and fire5 (channels match); complex adds 1x1 convs around fire2, fire4."""
    assert _expected_bypasses("vanilla") == {}
    assert _expected_bypasses("simple_bypass") == {"fire3": False, "fire5": False}
    assert _expected_bypasses("complex_bypass") == {"fire2": True, "fire3": False, "fire4": True, "fire5": False}


@pytest.mark.parametrize("variant", VARIANTS)
def test_float_and_quantized_forms_share_conv_names_and_shapes(models, variant):
    """train.fold_batchnorm copies float weights into the HGQ2 model by layer name."""
    convs = {q: {l.name: tuple(l.kernel.shape) for l in models[variant, q].layers if hasattr(l, "kernel")}
             for q in (False, True)}
    assert convs[False] == convs[True]


def test_vanilla_layer_names_match_interfaces(models):
    """docs/INTERFACES.md lists the vanilla layer names that the HLS config, golden model and RTL use."""
    names = {l.name for l in models["vanilla", True].layers}
    expected = {"pixels", "conv1", "pool1", "pool2", "dropout", "classifier", "logits"}
    expected |= {f"fire{i}_{p}" for i in range(2, 6) for p in ("squeeze", "expand1x1", "expand3x3", "concat")}
    assert names == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_quantized_contract(models, variant):
    """Input quantizer passes every byte/256 unchanged; expand convs have no input quantizer (io_stream)."""
    m = models[variant, True]
    conv1 = m.get_layer("conv1")
    x = np.arange(256, dtype=np.float32).reshape(1, 16, 16, 1) / 256
    assert np.array_equal(np.asarray(conv1.iq(x)), x)
    assert not np.array_equal(np.asarray(conv1.iq(x + 1 / 1024)), x + 1 / 1024)  # finer values are rounded
    for f in FIRES:
        assert not m.get_layer(f"{f.name}_expand1x1").enable_iq
        assert not m.get_layer(f"{f.name}_expand3x3").enable_iq
    assert m.get_layer("logits").enable_oq  # the logits' fixed-point format is pinned


def test_unknown_variant():
    with pytest.raises(ModelError, match="unknown variant 'resnet'; choose one of vanilla, simple_bypass, complex_bypass"):
        build_squeezenet(ArchSpec(variant="resnet"))


def test_arch_spec_round_trips_through_json_dict():
    import json

    spec = ArchSpec(variant="complex_bypass")
    assert ArchSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_load_model_bad_files(tmp_path, deployed_model_path):
    with pytest.raises(ModelError, match="nothing.keras: model file not found"):
        load_model(tmp_path / "nothing.keras")
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a keras archive at all")
    with pytest.raises(ModelError, match="garbage.keras: cannot load model"):
        load_model(garbage)
    truncated = tmp_path / "truncated.keras"
    raw = deployed_model_path.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelError, match="truncated.keras: cannot load model") as e:
        load_model(truncated)
    assert "\n" not in str(e.value)


def test_load_model_deployed(deployed_model):
    """The committed model (stand-in or trained) loads as the vanilla HGQ2 architecture."""
    assert tuple(deployed_model.output_shape) == (None, 10)
    assert any(type(l).__name__ == "QConv2D" for l in deployed_model.layers)


# ------------------------------------------------------------------------------ hls4ml io_stream
def _convert(model, out_dir):
    import hls4ml

    import hw.hls.patches

    hw.hls.patches.apply()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    return hls4ml.converters.convert_from_keras_model(
        model, output_dir=str(out_dir), backend="Vitis", io_type="io_stream", hls_config=cfg,
        part="xc7z020clg400-1", project_name="squeezenet")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("variant", VARIANTS)
def test_hgq2_form_converts_to_io_stream(models, variant, tmp_path):
    """Conversion only (no C compile): every activation quantizer must fuse into its producer.

    hls4ml 1.3.0 fuses a quantizer only when its input feeds nothing else, else conversion raises
    "Heterogenous quantization for activations is only supported with IOType=io_parallel"; a bypass
    makes the Fire input branch, so the model must quantize it once before the branch.
    """
    hm = _convert(models[variant, True], tmp_path / variant)
    kinds = [l.class_name for l in hm.get_layers()]
    assert "FixedPointQuantizer" not in kinds
    assert kinds.count("Concatenate") == len(FIRES)
    assert hm.config.get_config_value("IOType") == "io_stream"


def test_imagenet_v1_0_pools_in_ceil_mode_like_the_reference():
    """Caffe's SqueezeNet v1.0 (and torchvision's, ceil_mode=True) reaches conv10 at 13x13 and
    ~0.82 G multiply-accumulates (shared/FACTS.md); floor-mode pooling gave 12x12 and ~5 % fewer."""
    from hw.model import conv_macs

    for build in (squeezenet_v1_0, squeezenet_v1_1):
        m = build()
        assert tuple(m.get_layer("conv10").output.shape[1:3]) == (13, 13)
    macs = sum(conv_macs(squeezenet_v1_0()).values())
    assert 0.81e9 < macs < 0.83e9, macs
