"""hls4ml project (hw.hls): config validation, C simulation bit-exact with Keras, AXI top wrapper.

The project is converted and compiled once per module (g++ ~20 s) into build/test_hls/; the AXI
library is cached there across sessions. Bit-exact means equal raw integers (value * 2**frac).
"""
from __future__ import annotations

import copy
import fcntl

import numpy as np
import pytest
import yaml

from host import stream
from host.emulation.csim_library import AxiLibrary, CSimLibraryError
from hw import hls

from conftest import DEPLOYED_CONFIG, REPO
from host.deployed import DEPLOYED_MODEL, model_path

CONFIG = DEPLOYED_CONFIG
PROJECT_DIR = REPO / "build" / "test_hls" / DEPLOYED_MODEL


# --------------------------------------------------------------------------------------------
# Helpers. Packing/unpacking is host.stream's (the one implementation of the stream contract; its
# own tests check it against hand-computed beats), so these tests check the C++ wrapper against it.
# --------------------------------------------------------------------------------------------
def keras_raw(model, images: np.ndarray, frac_bits: int) -> np.ndarray:
    y = model.predict(images.astype(np.float32) / 256.0, batch_size=500, verbose=0)
    return hls.to_raw(y, frac_bits)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project(deployed_model_path):
    """(hls_model compiled, io spec dict): the shipped config converted and compiled once.

    The project directory is shared across sessions (so the AXI library stays cached); a lock keeps
    two concurrent pytest sessions from rewriting it under each other's compiler."""
    PROJECT_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(PROJECT_DIR.parent / f".{PROJECT_DIR.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        hls_model = hls.convert(CONFIG, PROJECT_DIR, model_path=deployed_model_path)
        hls.compile_csim(hls_model)
        yield hls_model, hls.read_io_spec(PROJECT_DIR)


@pytest.fixture(scope="module")
def spec(project):
    return stream.IOSpec.from_dict(project[1])


@pytest.fixture(scope="module")
def axi_lib(project):
    return AxiLibrary(hls.build_axi_library(PROJECT_DIR), stream.IOSpec.from_dict(project[1]))


@pytest.fixture(scope="module")
def default_run(project, deployed_model, fmnist_test_subset):
    """Raw logits of the shared test subset (the first 200 test images, ~13 s of C simulation)
    from the C simulation and from Keras."""
    hls_model, spec = project
    x, y = fmnist_test_subset
    frac = spec["output"]["frac_bits"]
    return x, y, hls.to_raw(hls.csim_predict(hls_model, x), frac), keras_raw(deployed_model, x, frac)


def _report(capsys, label, y, csim, keras):
    with capsys.disabled():
        print(f"\n{label}: bit-exact {int(np.all(csim == keras, axis=1).sum())}/{len(y)} images; accuracy "
              f"Keras {np.mean(keras.argmax(1) == y):.4f}, C simulation {np.mean(csim.argmax(1) == y):.4f}")


# --------------------------------------------------------------------------------------------
# C simulation vs Keras
# --------------------------------------------------------------------------------------------
def test_io_spec_follows_converted_model(project, deployed_model):
    hls_model, spec = project
    out = hls_model.get_output_variables()[0].type.precision
    assert spec["output"]["logit_bits"] == out.width
    assert spec["output"]["frac_bits"] == out.width - out.integer
    assert spec["output"]["signed"] == out.signed
    assert spec["output"]["n_logits"] == deployed_model.output_shape[-1] == 10
    assert spec["input"]["shape"] == [28, 28, 1]
    assert (spec["input"]["frac_bits"], spec["input"]["pixels_per_beat"], spec["input"]["beats_per_image"]) == (8, 8, 98)
    assert (spec["output"]["lane_bits"], spec["output"]["logits_per_beat"], spec["output"]["beats_per_image"]) == (32, 2, 5)
    assert (spec["top"], spec["batch_register"], spec["model"]) == ("squeezenet_axi", "n_images", DEPLOYED_MODEL)
    assert spec["classes"][0] == "T-shirt/top" and len(spec["classes"]) == 10
    assert spec["max_batch"] * 98 * 8 < 2 ** 26  # one DMA transfer


def test_config_reaches_hls4ml_unchanged(project):
    """hls4ml silently replaces an invalid ReuseFactor by the closest valid one, and a misspelt
    Strategy by its default: neither may happen to any layer (Resource or distributed_arithmetic)."""
    hls_model, _ = project
    cfg = hls.load_config(CONFIG)
    assert cfg.reuse_factors
    default = cfg.model_config.get("Strategy", "Resource").lower()
    for name, rf in cfg.reuse_factors.items():
        layer = hls_model.graph[name]
        wanted = cfg.layer_config[name].get("Strategy", default).lower()
        assert (layer.get_attr("reuse_factor"), layer.get_attr("strategy").lower()) == (rf, wanted), name


def test_weights_are_constants_of_the_design(project):
    """Weights are initialized arrays in what Vitis synthesizes (no weight ports on the top)."""
    fw = PROJECT_DIR / "firmware"
    top_decl = (fw / "squeezenet.h").read_text()
    assert top_decl.count("hls::stream") == 2  # pixels in, logits out: nothing else
    headers = sorted((fw / "weights").glob("w*.h"))
    assert headers
    for h in headers:
        synthesized = h.read_text().split("#else", 1)[1]  # the __SYNTHESIS__ branch
        assert "= {" in synthesized, h.name


def test_stream_fifos_are_shallow(project):
    """Inter-layer FIFOs get hw.hls.fifo's depths (which the planner reads back from the graph), not
    hls4ml's whole-feature-map default: the early (expand1x1) input of each Fire concat absorbs the
    branch skew; the late expand3x3 input and every other stream are 2 deep."""
    import re

    from hw.hls.fifo import join_fifo_depth

    cpp = (PROJECT_DIR / "firmware" / "squeezenet.cpp").read_text()
    depths = [int(d) for d in re.findall(r"#pragma HLS STREAM variable=\w+ depth=(\d+)", cpp)]
    assert len(depths) > 40
    joins = sorted(d for d in depths if d > 2)
    assert joins == sorted([join_fifo_depth(14, 196)] * 2 + [join_fifo_depth(7, 49)] * 2)  # fire2-3, fire4-5
    for fire in ("fire2", "fire3", "fire4", "fire5"):  # the skew buffer sits on the 1x1 side
        for side, want in (("expand1x1", join_fifo_depth(*((14, 196) if fire in ("fire2", "fire3") else (7, 49)))),
                           ("expand3x3", 2)):
            var = re.search(rf"hls::stream<{fire}_{side}_relu_t> (\w+)\(", cpp).group(1)
            assert int(re.search(rf"STREAM variable={var} depth=(\d+)", cpp).group(1)) == want, (fire, side)


def test_csim_bit_exact_with_keras(default_run, capsys):
    x, y, csim, keras = default_run
    _report(capsys, f"C simulation vs Keras, first {len(y)} test images", y, csim, keras)
    assert csim.shape == keras.shape == (len(y), 10)
    mismatch = np.flatnonzero(np.any(csim != keras, axis=1))
    assert mismatch.size == 0, f"{mismatch.size} images differ, first {mismatch[:5]}: {csim[mismatch[0]]} vs {keras[mismatch[0]]}"


@pytest.mark.slow
def test_csim_bit_exact_full_test_set(project, deployed_model, fmnist, capsys):
    hls_model, spec = project
    frac = spec["output"]["frac_bits"]
    x, y = fmnist.x_test, fmnist.y_test
    csim, keras = hls.to_raw(hls.csim_predict(hls_model, x), frac), keras_raw(deployed_model, x, frac)
    _report(capsys, f"C simulation vs Keras, all {len(y)} test images", y, csim, keras)
    assert np.array_equal(csim, keras)


# --------------------------------------------------------------------------------------------
# AXI top wrapper
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 3, 8])
def test_axi_wrapper_matches_csim(axi_lib, spec, default_run, batch):
    x, _, csim, _ = default_run
    start = {1: 0, 3: 1, 8: 4}[batch]  # different images per batch size
    images, expected = x[start:start + batch], csim[start:start + batch]
    beats_in = stream.pack_images(images, spec)
    assert len(beats_in) == batch * 98 == batch * axi_lib.in_beats_per_image
    beats, last = axi_lib.run(beats_in, batch)
    assert len(beats) == batch * axi_lib.out_beats_per_image == batch * 5
    assert last.tolist() == [0] * (len(beats) - 1) + [1]  # TLAST on the batch's last beat only
    raw = stream.unpack_logits(beats, batch, spec)  # refuses non-zero padding lanes
    np.testing.assert_array_equal(raw, expected)


def test_axi_lanes_are_sign_extended(axi_lib, spec, default_run):
    """Negative logits must arrive as negative 32-bit lanes (the test data contains some)."""
    x, _, csim, _ = default_run
    i = int(np.flatnonzero((csim < 0).any(axis=1))[0])
    beats, _ = axi_lib.run(stream.pack_images(x[i:i + 1], spec), 1)
    lanes = beats.view("<u4").astype(np.int64)
    neg = csim[i] < 0
    assert np.all(lanes[:10][neg] >= 2 ** 31)  # high bits set = sign extension
    raw = stream.unpack_logits(beats, 1, spec)
    np.testing.assert_array_equal(raw[0], csim[i])


def test_axi_run_rejects_wrong_sizes(axi_lib, spec, fmnist):
    beats = stream.pack_images(fmnist.x_test[:2], spec)
    assert axi_lib.run_raw(beats[:-1], 2)[0] == -1  # one beat short
    assert axi_lib.run_raw(beats, 1)[0] == -1  # two images' beats for a batch of one
    assert axi_lib.run_raw(beats, 2, out_capacity=9)[0] == -2  # output buffer one beat too small
    assert axi_lib.run_raw(beats[:0], 0)[0] == 0  # empty batch: nothing to do
    with pytest.raises(CSimLibraryError, match="wrong number of input beats"):
        axi_lib.run(beats, 3)


def test_axi_library_is_cached(axi_lib):
    lib = axi_lib.path
    before = lib.stat().st_mtime_ns
    assert hls.build_axi_library(PROJECT_DIR) == lib
    assert lib.stat().st_mtime_ns == before


def test_build_axi_library_needs_a_project(tmp_path):
    with pytest.raises(hls.HlsError, match="not a converted project"):
        hls.build_axi_library(tmp_path)


# --------------------------------------------------------------------------------------------
# Config validation (before anything long runs)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def raw_config():
    return copy.deepcopy(yaml.safe_load(CONFIG.read_text()))


def _error(raw, model=None) -> str:
    with pytest.raises(hls.ConfigError) as e:
        cfg = hls.parse_config(raw, CONFIG)
        if model is not None:
            hls.check_against_model(cfg, model)
    return str(e.value)


def test_shipped_config_is_valid(raw_config, deployed_model):
    cfg = hls.parse_config(raw_config, CONFIG)
    hls.check_against_model(cfg, deployed_model)
    assert cfg.model_path == model_path()
    from hw.hls.config import mult_size

    multiplying = {l.name for l in deployed_model.layers if mult_size(l) is not None}
    assert set(cfg.reuse_factors) == multiplying  # every conv layer has its own folding


def test_unknown_top_level_key(raw_config):
    raw_config["KerasH5"] = "x.h5"
    msg = _error(raw_config)
    assert "unknown key 'KerasH5'" in msg and "KerasModel" in msg


def test_unknown_layer_key(raw_config):
    raw_config["HLSConfig"]["LayerName"]["conv1"]["Reuse"] = 4
    msg = _error(raw_config)
    assert "HLSConfig.LayerName.conv1" in msg and "'Reuse'" in msg and "ReuseFactor" in msg


def test_typos_refused_with_a_suggestion(raw_config):
    bad = copy.deepcopy(raw_config)
    bad["HLSConfig"]["Model"]["ReuseFacter"] = 100
    assert "HLSConfig.Model: unknown key 'ReuseFacter' (did you mean 'ReuseFactor'?)" in _error(bad)
    raw_config["HLSConfig"]["LayerTyp"] = {}
    assert "HLSConfig: unknown key 'LayerTyp' (did you mean 'LayerType'?)" in _error(raw_config)


def test_hls4ml_vocabulary_is_accepted(raw_config):
    """Keys and strategies hls4ml itself defines are valid config, not typos."""
    raw_config["HLSConfig"]["LayerType"] = {"Conv2D": {"ReuseFactor": 4, "ParallelizationFactor": 1}}
    raw_config["HLSConfig"]["Model"]["BramFactor"] = 100
    raw_config["HLSConfig"]["LayerName"]["fire2_squeeze"]["Strategy"] = "distributed_arithmetic"
    raw_config["HLSConfig"]["LayerName"]["conv1"]["ParallelizationFactor"] = 2
    cfg = hls.parse_config(raw_config, CONFIG)
    assert cfg.layer_config["fire2_squeeze"]["Strategy"] == "distributed_arithmetic"


def test_unknown_layer_name(raw_config, deployed_model):
    raw_config["HLSConfig"]["LayerName"]["fire9_squeeze"] = {"ReuseFactor": 1}
    msg = _error(raw_config, deployed_model)
    assert "unknown layer 'fire9_squeeze'" in msg and "conv1" in msg and "fire5_expand3x3" in msg


@pytest.mark.parametrize("precision", ["ap_fixed<16", "ap_fixed<a,6>", "fixedpoint16", "ap_fixed<0,0>", 16])
def test_bad_precision(raw_config, precision):
    raw_config["HLSConfig"]["LayerName"]["conv1"]["Precision"] = precision
    msg = _error(raw_config)
    assert "HLSConfig.LayerName.conv1.Precision" in msg


def test_bad_model_precision(raw_config):
    raw_config["HLSConfig"]["Model"]["Precision"] = {"accum": "ap_fixed<18,8", "weight": "ap_fixed<8,2>"}
    assert "HLSConfig.Model.Precision.accum: hls4ml cannot parse precision 'ap_fixed<18,8'" in _error(raw_config)


def test_invalid_reuse_factor_lists_valid_choices(raw_config, deployed_model):
    from hls4ml.backends import get_backend

    raw_config["HLSConfig"]["LayerName"]["fire2_squeeze"]["ReuseFactor"] = 5
    msg = _error(raw_config, deployed_model)
    layer = deployed_model.get_layer("fire2_squeeze")  # 1x1 conv: n_in = input channels, n_out = filters
    valid = get_backend("Vitis").get_valid_reuse_factors(layer.input.shape[-1], layer.filters)
    assert 5 not in valid
    assert "ReuseFactor 5 is not valid for layer 'fire2_squeeze'" in msg
    assert "valid: " + ", ".join(map(str, valid)) in msg


def test_invalid_model_reuse_factor_names_the_layer(raw_config, deployed_model):
    raw_config["HLSConfig"]["Model"]["ReuseFactor"] = 7
    del raw_config["HLSConfig"]["LayerName"]["conv1"]  # conv1 (9 inputs) now takes the model's 7
    msg = _error(raw_config, deployed_model)
    assert msg.startswith("HLSConfig.Model.ReuseFactor: ReuseFactor 7 is not valid for layer 'conv1'")


@pytest.mark.parametrize("rf", [0, -3, 2.5, "8", True])
def test_reuse_factor_must_be_positive_int(raw_config, rf):
    raw_config["HLSConfig"]["LayerName"]["classifier"]["ReuseFactor"] = rf
    assert "ReuseFactor must be a positive integer" in _error(raw_config)


@pytest.mark.parametrize("key,value,expected", [
    ("IOType", "io_parallel", "needs io_stream"),
    ("Backend", "Vivado", "use Vitis"),
    ("ProjectName", "squeeze-net", "not a C identifier"),
    ("ClockPeriod", 0, "positive number"),
    ("WriterConfig", {"WeightsPort": True}, "unknown key 'WeightsPort'"),
])
def test_project_settings(raw_config, key, value, expected):
    raw_config[key] = value
    assert expected in _error(raw_config)


def test_strategy_choices(raw_config):
    raw_config["HLSConfig"]["Model"]["Strategy"] = "Fast"
    assert "unknown Strategy 'Fast'; hls4ml's strategies: Latency, Resource" in _error(raw_config)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(hls.ConfigError, match="config file not found"):
        hls.load_config(tmp_path / "none.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("HLSConfig: [unclosed\n")
    with pytest.raises(hls.ConfigError, match="not valid YAML"):
        hls.load_config(bad)


def test_cli_refuses_bad_config_before_converting(raw_config, tmp_path, capsys):
    raw_config["KerasModel"] = str(model_path())
    raw_config["HLSConfig"]["LayerName"]["fire3_expand3x3"]["ReuseFactor"] = 100
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(raw_config, sort_keys=False))
    out = tmp_path / "prj"
    from hw.hls.cli import main

    assert main(["--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hw.hls: error:") and "fire3_expand3x3" in err and "valid: 1, 2, 3" in err
    assert "Traceback" not in err
    assert not out.exists()  # nothing was converted or written


def test_part_without_resource_figures_is_refused(raw_config):
    raw_config["Part"] = "xcvu13p-flga2577-2-e"
    assert "no resource figures in hw/chip.py" in _error(raw_config)


def test_beat_width_single_source_32_bits(deployed_model_path, fmnist_test_subset, tmp_path_factory):
    """Change the beat width in the one place (StreamContract): the io spec, the generated C++
    header, the compiled wrapper, the host packing and the Tcl all follow, still bit-exact."""
    from host.emulation.emulator import CSimEngine, GoldenEngine, load_golden
    from hw.flow import tclgen
    from hw.hls.contract import StreamContract

    out = tmp_path_factory.mktemp("beat32") / "prj"
    hls.convert(CONFIG, out, model_path=deployed_model_path, contract=StreamContract(beat_bits=32))
    d = hls.read_io_spec(out)
    assert (d["input"]["beat_bits"], d["input"]["pixels_per_beat"], d["input"]["beats_per_image"]) == (32, 4, 196)
    assert (d["output"]["logits_per_beat"], d["output"]["beats_per_image"]) == (1, 10)
    header = (out / "firmware" / "axi_top_project.h").read_text()
    assert "#define AXI_BEAT_BITS 32" in header and "#define AXI_RUN_FN squeezenet_axi_run" in header
    spec = stream.IOSpec.from_dict(d)
    engine = CSimEngine(hls.build_axi_library(out), spec)
    assert (engine.lib.in_beats_per_image, engine.lib.out_beats_per_image) == (196, 10)  # the compiled C++ agrees
    x = fmnist_test_subset[0][:6]
    beats = stream.pack_images(x, spec)
    assert beats.dtype == np.dtype("<u4") and len(beats) == 6 * 196
    out_beats = np.zeros(spec.out_beats(6), dtype=spec.output.beat_dtype)
    last = engine(beats, out_beats, 6)
    stream.check_tlast(last, len(out_beats))
    golden = load_golden(deployed_model_path).forward(x)
    assert np.array_equal(stream.unpack_logits(out_beats, 6, spec), golden)
    assert np.array_equal(GoldenEngine(load_golden(deployed_model_path), spec)(beats, out_beats.copy(), 6), last)
    names = tclgen.spec_names(d)
    assert (names["in_beat_bits"], names["out_beat_bits"]) == (32, 32)
