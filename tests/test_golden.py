"""The integer golden model (hw/golden/) against everything it must equal, bit for bit:
the HGQ2 Keras model (real Fashion-MNIST, random small Fire-module models with corner values),
hls4ml's C simulation, an independent per-pixel loop implementation of the Fire arithmetic, and
IEEE float32 itself for the global-average-pooling division. Equality is integer equality."""
from __future__ import annotations

import ctypes
import hashlib
import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DEPLOYED_CONFIG
from hw import golden
from hw.golden import ConvParams, FireParams, Format, GoldenError

REPO = Path(__file__).resolve().parents[1]
CSIM_CACHE = REPO / "build" / "golden_csim"
HLS_CONFIG = DEPLOYED_CONFIG
N_KERAS = 300
N_CSIM = 100


def keras_raw(model, x_uint8: np.ndarray, frac: int) -> np.ndarray:
    """Keras logits as raw integers; fails if a value is off the 2**-frac grid."""
    y = model.predict(x_uint8.astype(np.float32) / 256.0, verbose=0, batch_size=512).astype(np.float64)
    raw = y * 2.0 ** frac
    assert np.array_equal(raw, np.round(raw)), "Keras logits are not on the golden model's fixed-point grid"
    return raw.astype(np.int64)


@pytest.fixture(scope="module")
def net(deployed_model):
    return golden.extract(deployed_model)


# --------------------------------------------------------------------------------------------
# The deployed model
# --------------------------------------------------------------------------------------------
def test_bit_exact_with_keras_on_fashion_mnist(deployed_model, net, fmnist):
    x = fmnist.x_test[:N_KERAS]
    expected = keras_raw(deployed_model, x, net.logit_frac)
    got = net.forward(x)
    assert got.dtype == np.int64 and got.shape == (N_KERAS, deployed_model.outputs[0].shape[-1])
    assert np.array_equal(got, expected), f"{int((got != expected).any(axis=1).sum())} of {N_KERAS} images differ"


def test_fused_fire_modules_equal_layer_by_layer(deployed_model, net, fmnist):
    """The FireParams handed to the RTL compute what the separate Keras layers compute."""
    plain = golden.extract(deployed_model, fuse_fires=False)
    assert not plain.fires
    x = fmnist.x_test[:64]
    _, fused_t = net.forward(x, return_all=True)
    _, plain_t = plain.forward(x, return_all=True)
    assert np.array_equal(net.forward(x), plain.forward(x))
    for fire in net.fires:
        step = net.layer(f"{fire.name}_concat")
        exact = plain_t[f"{fire.name}_concat"]  # exact ReLU'd accumulators
        expected = step.out_format.quantize(exact.q, exact.frac)
        assert np.array_equal(fused_t[step.name].q, expected), fire.name


def test_fire_boundaries_chain(deployed_model, net):
    """Fire output format = the quantizer that consumes the concat; the vanilla net's Fire modules
    form a chain whose formats the RTL can rely on."""
    names = [l.name for l in deployed_model.layers]
    fires = net.fires
    assert [f.name for f in fires] == [n[:-len("_concat")] for n in names if n.endswith("_concat")]
    for fire in fires:
        sq = deployed_model.get_layer(f"{fire.name}_squeeze")
        fmt_in = golden.quantizer_format(sq.iq, "iq")
        assert (fire.squeeze.in_frac, fire.in_bits) == (fmt_in.frac, fmt_in.bits)
        assert fire.squeeze.out_format == golden.quantizer_format(sq.oq, "oq")
        assert fire.expand1x1.out_format == fire.expand3x3.out_format
        assert fire.expand1x1.in_frac == fire.squeeze.out_frac == fire.expand3x3.in_frac
        assert not fire.expand1x1.out_signed and fire.expand1x1.relu
        # the consumer of the concat, through dropout
        idx = names.index(f"{fire.name}_concat")
        nxt = next(deployed_model.get_layer(n) for n in names[idx + 1:] if getattr(deployed_model.get_layer(n), "enable_iq", False))
        assert fire.expand1x1.out_format == golden.quantizer_format(nxt.iq, "iq"), nxt.name


def test_accumulators_fit_float32(net):
    """Keras convolves in float32: below 2**24 its sums cannot round, so Keras = integers is a theorem
    for these formats, not luck. (The figure is printed by scripts/benchmark_golden.py.)"""
    bounds = net.accumulator_bounds()
    assert bounds and max(bounds.values()) <= 24, bounds


def test_bad_input_is_refused(net):
    with pytest.raises(GoldenError, match="input shape"):
        net.forward(np.zeros((2, 27, 28, 1), np.uint8))
    with pytest.raises(GoldenError, match="uint8"):
        net.forward(np.full((1, 28, 28, 1), 300, np.int32))
    with pytest.raises(GoldenError, match="uint8"):
        net.forward(np.zeros((1, 28, 28, 1), np.float32))


def test_unsupported_model_is_refused():
    import keras

    inp = keras.Input((4, 4, 1), name="pixels")
    out = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(inp))
    with pytest.raises(GoldenError, match="Flatten"):
        golden.extract(keras.Model(inp, out))


# --------------------------------------------------------------------------------------------
# hls4ml C simulation
# --------------------------------------------------------------------------------------------
def _sha(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _firmware_hash(project: Path) -> str:
    files = sorted(p for p in (project / "firmware").rglob("*") if p.suffix in (".h", ".cpp", ".hpp"))
    files += sorted(project.glob("*_bridge.cpp"))
    return _sha(*files)


@pytest.fixture(scope="module")
def csim(deployed_model_path):
    return cached_csim(deployed_model_path)


def cached_csim(deployed_model_path):
    """hls4ml C simulation of a model (hw.hls conversion); the compiled library is cached under
    build/golden_csim/<model+config hash>/ so the suite compiles once per model."""
    from hw import hls

    out = CSIM_CACHE / _sha(Path(deployed_model_path), HLS_CONFIG)
    hls_model = hls.convert(HLS_CONFIG, out_dir=out, model_path=deployed_model_path)
    stamp = out / "golden_csim.ok"
    libs = sorted((out / "firmware").glob("*.so"))
    fw = _firmware_hash(out)
    if not (libs and stamp.exists() and stamp.read_text() == fw):
        for lib in libs:
            lib.unlink()
        shared = _compiled_elsewhere(fw, out)
        if shared is not None:  # another part of the suite compiled identical firmware: reuse it
            shutil.copy2(shared, out / "firmware" / shared.name)
        else:
            hls.compile_csim(hls_model)
        stamp.write_text(fw)
        libs = sorted((out / "firmware").glob("*.so"))
    hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(libs[-1]))  # where hls4ml's compile() puts it
    return hls_model


def _compiled_elsewhere(fw_hash: str, exclude: Path) -> Path | None:
    """A firmware library under build/ compiled (after its last source write) from sources with
    the same hash: compiling the same C simulation again costs minutes on a loaded machine."""
    for bridge in sorted((REPO / "build").glob("**/*_bridge.cpp")):
        project = bridge.parent
        if project == exclude:
            continue
        libs = list((project / "firmware").glob("*.so"))
        if len(libs) != 1:
            continue
        sources = [p for p in (project / "firmware").rglob("*") if p.suffix in (".h", ".cpp")] + [bridge]
        if libs[0].stat().st_mtime <= max(p.stat().st_mtime for p in sources):
            continue
        if _firmware_hash(project) == fw_hash:
            return libs[0]
    return None


def _csim_raw(csim, x, frac):
    from hw import hls

    return hls.to_raw(hls.csim_predict(csim, x), frac)


def test_bit_exact_with_csim(csim, net, fmnist):
    x = fmnist.x_test[:N_CSIM]
    assert np.array_equal(net.forward(x), _csim_raw(csim, x, net.logit_frac))


@pytest.mark.slow
def test_bit_exact_with_csim_full_test_set(csim, net, fmnist):
    x = fmnist.x_test
    got, ref = net.forward(x), _csim_raw(csim, x, net.logit_frac)
    differ = int((got != ref).any(axis=1).sum())
    print(f"golden vs C simulation: {len(x) - differ}/{len(x)} images equal")
    assert differ == 0


# --------------------------------------------------------------------------------------------
# Random Fire modules against an independent per-pixel loop
# --------------------------------------------------------------------------------------------
def _ref_requant(acc: int, shift: int, fmt: Format) -> int:
    """Round half up and overflow, written from the definitions with exact rationals."""
    if fmt.bits <= 0:
        return 0
    q = math.floor(Fraction(acc, 1) / Fraction(2) ** shift + Fraction(1, 2))
    lo = -(2 ** (fmt.bits - 1)) if fmt.signed else 0
    hi = 2 ** (fmt.bits - 1) - 1 if fmt.signed else 2 ** fmt.bits - 1
    if fmt.overflow == "WRAP":
        return (q - lo) % 2 ** fmt.bits + lo
    if fmt.overflow == "SAT_SYM" and fmt.signed:
        lo = -hi
    return min(max(q, lo), hi)


def _ref_conv(x, p: ConvParams):
    """Per-pixel loop 'same' conv with Python integers."""
    h, w, _ = x.shape
    kh, kw, cin, cout = p.weight.shape
    out = np.zeros((h, w, cout), dtype=object)
    for y in range(h):
        for xx in range(w):
            for o in range(cout):
                acc = 0
                for i in range(kh):
                    for j in range(kw):
                        yy, xj = y + i - (kh - 1) // 2, xx + j - (kw - 1) // 2
                        if 0 <= yy < h and 0 <= xj < w:
                            for c in range(cin):
                                acc += int(x[yy, xj, c]) * int(p.weight[i, j, c, o])
                acc = acc * 2 ** p.prod_shift + int(p.bias[o])
                if p.relu:
                    acc = max(acc, 0)
                out[y, xx, o] = _ref_requant(acc, p.out_shift, p.out_format)
    return out


@st.composite
def fire_cases(draw):
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    cin, s, e1, e3 = (draw(st.integers(1, 4)) for _ in range(4))
    in_bits = draw(st.integers(1, 9))
    in_frac = draw(st.integers(-2, 10))

    def conv(kh, ci, co, in_frac, name):
        wb = draw(st.integers(2, 9))
        wmax = 2 ** (wb - 1) - 1
        w_frac = draw(st.integers(0, 8))
        acc_frac = in_frac + w_frac + draw(st.integers(0, 3))
        weights = draw(st.one_of(
            st.lists(st.sampled_from([-wmax, wmax, 0, 1, -1]), min_size=kh * kh * ci * co, max_size=kh * kh * ci * co),
            st.lists(st.integers(-wmax, wmax), min_size=kh * kh * ci * co, max_size=kh * kh * ci * co)))
        bmax = 2 ** draw(st.integers(0, 20))
        bias = draw(st.lists(st.integers(-bmax, bmax), min_size=co, max_size=co))
        out_bits = draw(st.integers(1, 10))
        fmt = Format(out_bits, draw(st.integers(acc_frac - 14, acc_frac + 2)), False,
                     draw(st.sampled_from(["WRAP", "WRAP", "SAT", "SAT_SYM"])))
        return ConvParams(np.array(weights, dtype=np.int64).reshape(kh, kh, ci, co), np.array(bias, dtype=np.int64),
                          w_frac, in_frac, acc_frac, True, fmt.bits, fmt.frac, fmt.signed, fmt.overflow)

    sq = conv(1, cin, s, in_frac, "squeeze")
    ex1 = conv(1, s, e1, sq.out_frac, "expand1x1")
    ex3 = conv(3, s, e3, sq.out_frac, "expand3x3")
    # one Fire output format for both expand convs (the RTL concatenates them)
    for p in (ex3,):
        p.out_bits, p.out_frac, p.overflow = ex1.out_bits, ex1.out_frac, ex1.overflow
    fire = FireParams("fire", sq, ex1, ex3, in_bits)
    n = draw(st.integers(1, 2))
    top = 2 ** in_bits - 1
    x = draw(st.one_of(
        st.just(np.zeros((n, h, w, cin), dtype=np.int64)),
        st.just(np.full((n, h, w, cin), top, dtype=np.int64)),
        st.lists(st.integers(0, top), min_size=n * h * w * cin, max_size=n * h * w * cin)
        .map(lambda v: np.array(v, dtype=np.int64).reshape(n, h, w, cin))))
    return fire, x


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fire_cases())
def test_fire_forward_matches_per_pixel_loop(case):
    fire, x = case
    got = golden.fire_forward(x, fire)
    for img, out in zip(x, got):
        s = _ref_conv(img, fire.squeeze)
        ref = np.concatenate([_ref_conv(s, fire.expand1x1), _ref_conv(s, fire.expand3x3)], axis=-1)
        assert np.array_equal(out, ref.astype(np.int64))


def test_fire_forward_single_image_and_big_accumulators():
    """(H, W, C) input and accumulators past 2**53 (the int64 path) keep the same arithmetic."""
    rng = np.random.default_rng(0)
    w = rng.integers(-(2 ** 30), 2 ** 30, size=(3, 3, 4, 2))
    p = ConvParams(w, np.zeros(2, np.int64), 0, 0, 0, False, 40, 0, True, "WRAP")
    x = rng.integers(0, 2 ** 24, size=(4, 4, 4))
    got = golden.conv2d(x, p)
    ref = _ref_conv(x, p)
    assert np.array_equal(got, ref.astype(np.int64))


# --------------------------------------------------------------------------------------------
# Global average pooling: integer emulation of float32 against float32 itself
# --------------------------------------------------------------------------------------------
def _f32_gap(s: np.ndarray, count: int, in_frac: int, out: Format) -> np.ndarray:
    """HGQ2's float32 computation: mean = fl(sum / count), then floor(fl(mean * 2**f + 0.5)), wrap."""
    mean = (s.astype(np.float32) * np.float32(2.0 ** -in_frac)) / np.float32(count)
    z = mean * np.float32(2.0 ** out.frac)
    r = np.floor(z + np.float32(0.5)).astype(np.int64)
    return golden.requantize(r, 0, out.bits, out.signed, out.overflow)


@pytest.mark.parametrize("in_frac,out_frac,count", [(16, 17, 49), (16, 16, 49), (16, 20, 49), (9, 4, 49),
                                                    (12, 15, 36), (10, 13, 64), (8, 14, 25)])
def test_gap_float32_emulation_exhaustive(in_frac, out_frac, count):
    """Every sum of `count` 16-bit signed values: integers == float32, bit for bit."""
    out = Format(16, out_frac, True, "WRAP")
    s = np.arange(-count * 2 ** 15, count * 2 ** 15, dtype=np.int64)
    assert np.array_equal(golden.gap_from_sum(s, count, in_frac, out), _f32_gap(s, count, in_frac, out))


def test_gap_forward_sums_the_map():
    rng = np.random.default_rng(3)
    q = rng.integers(-(2 ** 15), 2 ** 15, size=(5, 7, 7, 3))
    out = Format(16, 17, True, "WRAP")
    s = q.sum(axis=(1, 2))
    assert np.array_equal(golden.gap_forward(q, 16, out), _f32_gap(s, 49, 16, out))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2 ** 24) + 1, 2 ** 24 - 1), st.integers(1, 8191))
def test_f32_div_matches_ieee(s, n):
    num, p = golden.f32_div(np.array([s]), n)
    expected = np.float32(s) / np.float32(n)
    assert Fraction(int(num[0]), 2 ** int(p[0])) == Fraction(float(expected))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2 ** 24) + 1, 2 ** 24 - 1), st.integers(0, 40))
def test_f32_round_half_up_matches_ieee(num, p):
    """z = num / 2**p (a float32): floor(fl32(z + 0.5)), including the ties the addition creates."""
    z = np.float32(Fraction(num, 2 ** p))
    assert Fraction(float(z)) == Fraction(num, 2 ** p)
    got = golden.f32_round_half_up(np.array([num]), np.array([p]))[0]
    assert got == int(np.floor(z + np.float32(0.5)))


def test_f32_round_half_up_corner_cases():
    """0.5 - 2**-25 (the float below 0.5) rounds up to 1 in float32; exact rounding gives 0."""
    num = np.array([2 ** 24 - 1, -(2 ** 24 - 1), 2 ** 24 - 1, 1, -1, 3])
    p = np.array([25, 25, 0, 1, 1, 1])
    z = num.astype(np.float64) / 2.0 ** p
    expected = np.floor(z.astype(np.float32) + np.float32(0.5)).astype(np.int64)
    assert expected[0] == 1
    assert np.array_equal(golden.f32_round_half_up(num, p), expected)


def test_gap_float_and_exact_rounding_differ_somewhere():
    """The float32 mean is not the exactly rounded mean, so the golden model must follow float32."""
    out = Format(16, 20, True, "WRAP")
    s = np.arange(-49 * 2 ** 15, 49 * 2 ** 15, dtype=np.int64)
    assert (golden.gap_from_sum(s, 49, 16, out) != golden.gap_exact_from_sum(s, 49, 16, out)).any()


# --------------------------------------------------------------------------------------------
# Random small HGQ2 Fire-module models against Keras
# --------------------------------------------------------------------------------------------
def _small_fire_model(seed: int, h: int, w: int, c1: int, s: int, e: int, pool: bool, bits: int):
    import keras

    from hw.model.squeezenet import ArchSpec, FireSpec, QuantSpec, _QuantLayers, fire_module

    spec = ArchSpec(input_shape=(h, w, 1), quant=QuantSpec(weight_bits=bits, bias_bits=bits + 4, act_bits=bits, logit_bits=16))
    f = _QuantLayers(spec)
    inp = keras.Input((h, w, 1), name="pixels")
    x = f.conv(inp, c1, 3, "conv1", iq="input")
    x = fire_module(f, x, FireSpec("fire2", s, e, e))
    if pool:
        x = f.maxpool(x, "pool1")
    x = f.conv(x, 3, 1, "classifier", relu=False)
    model = keras.Model(inp, f.gap(x, "logits"))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            k = rng.normal(0, 1.5, size=layer.kernel.shape)
            k[rng.random(k.shape) < 0.1] = 100.0  # saturates at +max (SAT_SYM)
            k[rng.random(k.shape) < 0.1] = -100.0
            layer.kernel.assign(k.astype(np.float32))
            layer.bias.assign(rng.normal(0, 1, size=layer.bias.shape).astype(np.float32))
    return model


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 16), h=st.integers(3, 7), w=st.integers(3, 7), c1=st.integers(1, 4),
       s=st.integers(1, 4), e=st.integers(1, 4), pool=st.booleans(), bits=st.integers(4, 8),
       squeeze_wrap=st.integers(0, 2))
def test_random_fire_models_match_keras(seed, h, w, c1, s, e, pool, bits, squeeze_wrap):
    from hgq.utils import trace_minmax

    model = _small_fire_model(seed, h, w, c1, s, e, pool, bits)
    rng = np.random.default_rng(seed + 1)
    calib = rng.integers(0, 128, size=(16, h, w, 1)).astype(np.uint8)  # half range: 255s overflow later
    trace_minmax(model, calib.astype(np.float32) / 256.0)
    if squeeze_wrap:  # fewer integer bits than traced: the squeeze output wraps
        q = model.get_layer("fire2_squeeze").oq.quantizer
        q._i.assign(q._i - float(squeeze_wrap))
    x = np.concatenate([np.zeros((1, h, w, 1), np.uint8), np.full((1, h, w, 1), 255, np.uint8),
                        rng.integers(0, 256, size=(6, h, w, 1)).astype(np.uint8)])
    net = golden.extract(model)
    assert len(net.fires) == 1
    assert np.array_equal(net.forward(x), keras_raw(model, x, net.logit_frac))


@pytest.mark.parametrize("variant", ["simple_bypass", "complex_bypass"])
def test_bypass_variants_match_keras(variant):
    """QAdd bypasses (input quantizers on both branches) and the complex bypass 1x1 conv."""
    from hgq.utils import trace_minmax

    from hw.model import ArchSpec, FireSpec, build_squeezenet

    spec = ArchSpec(input_shape=(12, 12, 1), conv1_filters=6,
                    stages=(FireSpec("fire2", 3, 4, 4), "pool", FireSpec("fire3", 3, 4, 4)),
                    variant=variant, num_classes=4)
    model = build_squeezenet(spec)
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(rng.normal(0, 1, size=layer.kernel.shape).astype(np.float32))
    calib = rng.integers(0, 256, size=(32, 12, 12, 1)).astype(np.uint8)
    trace_minmax(model, calib.astype(np.float32) / 256.0)
    x = np.concatenate([np.zeros((1, 12, 12, 1), np.uint8), np.full((1, 12, 12, 1), 255, np.uint8),
                        rng.integers(0, 256, size=(30, 12, 12, 1)).astype(np.uint8)])
    net = golden.extract(model)
    assert any(l.kind == "add" for l in net.layers)
    assert np.array_equal(net.forward(x), keras_raw(model, x, net.logit_frac))
