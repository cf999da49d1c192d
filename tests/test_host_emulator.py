"""The emulated board: the driver's batching/packing/unpacking path through the real C simulation
of the AXI top, checked bit-exactly (integer raw logits) against hw.golden, and the CLI end to end.

The emulator here uses the hls4ml project that tests/test_hls.py converts (build/test_hls/, same
lock), so the suite compiles the firmware once; later runs reuse the cached AXI library.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from host import infer, stream
from host.emulation.emulator import EmulatedAccelerator, EmulatorError

from conftest import DEPLOYED_CONFIG
from test_host_infer import TEST_BUILD, run_cli, write_idx  # tests/ is on sys.path (pytest prepend mode)

REPO = infer.REPO


@pytest.fixture(scope="session")
def csim(deployed_model_path):
    return EmulatedAccelerator(deployed_model_path, batch_size=4, engine="csim", build_dir=TEST_BUILD, log=print)


@pytest.fixture(scope="session")
def golden(deployed_model_path, csim):  # after csim: shares its converted project
    return EmulatedAccelerator(deployed_model_path, batch_size=64, engine="golden", build_dir=TEST_BUILD)


@pytest.fixture(scope="session")
def images(fmnist_test_subset):
    """11 test images plus the extremes of the input range and noise (14: more than 3 buffers of 4)."""
    x = fmnist_test_subset[0][:11]
    rng = np.random.default_rng(7)
    extremes = np.stack([np.zeros((28, 28, 1), np.uint8), np.full((28, 28, 1), 255, np.uint8),
                         rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)])
    return np.concatenate([x, extremes])


@pytest.fixture(scope="session")
def reference(golden, images):
    """hw.golden's integer logits, computed directly (not through the host path)."""
    return golden._engine.net.forward(images)


def test_spec_matches_model_and_library(csim, golden):
    assert csim.spec == golden.spec
    assert csim.spec.input.shape == (28, 28, 1) and csim.spec.output.n_logits == 10
    assert csim._engine.lib.in_beats_per_image == csim.spec.input.beats_per_image


def test_csim_through_driver_path_equals_golden(csim, images, reference):
    raw = csim.raw_logits(images)
    assert raw.dtype == np.int64
    np.testing.assert_array_equal(raw, reference)
    assert len(np.unique(raw, axis=0)) > 1  # not a constant answer


def test_csim_stream_bytes(csim, images, reference):
    """The library's output bytes, TLAST included, are the contract's beats of the golden logits."""
    beats = stream.pack_images(images[:3], csim.spec)
    out, last = csim._engine.lib.run(beats, 3)
    expected, expected_last = stream.pack_logits(reference[:3], csim.spec)
    assert out.tolist() == expected.tolist() and last.tolist() == expected_last.tolist()


@pytest.mark.parametrize("batch_size", [1, 3])
def test_batch_sizes_and_buffer_reuse(csim, images, reference, batch_size):
    acc = EmulatedAccelerator(csim.model_path, batch_size=batch_size, engine="csim", build_dir=TEST_BUILD)
    n = 2 * batch_size + 1  # more than one buffer of batch_size: a short last batch
    first_in = None
    raw = acc.raw_logits(images[:1])
    np.testing.assert_array_equal(raw, reference[:1])
    assert acc.buffer_capacity == 1 and acc.allocations == 1
    first_in = acc._in_buf
    raw = acc.raw_logits(images[:n])
    np.testing.assert_array_equal(raw, reference[:n])
    assert acc.buffer_capacity == batch_size
    assert acc.allocations == (1 if batch_size == 1 else 2)  # grown once, then reused
    assert (acc._in_buf is first_in) == (batch_size == 1)
    buf = acc._in_buf
    acc.raw_logits(images[:1])
    assert acc._in_buf is buf and acc.times.batches == 1 + (n + batch_size - 1) // batch_size + 1


def test_predict_outputs(csim, images, reference):
    pred = csim.predict(images[:5])
    np.testing.assert_array_equal(pred.raw, reference[:5])
    assert pred.logits.tolist() == (reference[:5] / 2.0 ** csim.spec.output.frac_bits).tolist()
    assert pred.probabilities.dtype == np.float64
    np.testing.assert_allclose(pred.probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert pred.classes.tolist() == np.argmax(reference[:5], axis=1).tolist()
    top = pred.top_k(3)
    assert [t[0][0] for t in top] == pred.classes.tolist() and all(len(t) == 3 for t in top)


def test_golden_engine_through_driver_path_equals_csim(golden, csim, images):
    np.testing.assert_array_equal(golden.raw_logits(images), csim.raw_logits(images))


def test_throughput_test_reports_each_step(csim):
    r = csim.throughput_test(6)
    assert r["images"] == 6 and r["backend"] == "emulator" and r["transfer_step"] == "csim"
    for k in ("pack_s", "transfer_s", "unpack_s", "runtime_s"):
        assert r[k] > 0
    assert r["runtime_s"] >= r["pack_s"] + r["transfer_s"] + r["unpack_s"]


def test_bad_images_rejected(csim):
    with pytest.raises(stream.StreamError, match="uint8"):
        csim.raw_logits(np.zeros((2, 28, 28, 1), np.int32))
    with pytest.raises(EmulatorError, match="unknown emulator engine"):
        EmulatedAccelerator(csim.model_path, engine="verilator")
    with pytest.raises(EmulatorError, match="model file .*nonexistent.keras not found"):
        EmulatedAccelerator("nonexistent")


@pytest.mark.slow
def test_csim_equals_golden_on_200_test_images(csim, golden, fmnist_test_subset):
    x = fmnist_test_subset[0]
    np.testing.assert_array_equal(csim.raw_logits(x), golden._engine.net.forward(x))


@pytest.mark.slow
def test_emulator_equals_hls4ml_csim(csim, images, tmp_path_factory, deployed_model_path):
    """Against hls4ml's own C simulation (`ModelGraph.predict`), converted independently."""
    from hw import hls

    out = tmp_path_factory.mktemp("hls")
    model = hls.convert(DEPLOYED_CONFIG, out, deployed_model_path)
    hls.compile_csim(model)
    raw = hls.to_raw(hls.csim_predict(model, images), csim.spec.output.frac_bits)
    np.testing.assert_array_equal(csim.raw_logits(images), raw)


# ---- the CLI end to end (subprocesses: the way a user runs it) ---------------------------------
def test_cli_samples_and_every_input_kind_with_one_bad_file(csim, tmp_path, images, reference):
    Image.fromarray(images[0, ..., 0]).save(tmp_path / "a.png")
    Image.fromarray(np.repeat(images[1], 3, axis=-1)).save(tmp_path / "b_rgb.png")  # gray as RGB: exact
    Image.fromarray(images[1, ..., 0]).resize((56, 40)).save(tmp_path / "g_big.png")  # resized: a note
    Image.fromarray(images[2, ..., 0]).save(tmp_path / "c.jpg", quality=95)
    np.save(tmp_path / "d.npy", images[3:5])
    write_idx(tmp_path / "e-idx3-ubyte", images[5:7, ..., 0])
    (tmp_path / "f_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    files = sorted(tmp_path.iterdir())
    r = run_cli("host/samples", *files, "--batch-size", "4", "--top-k", "3", "--json", "--benchmark")
    assert r.returncode == 1, r.stderr  # one bad input: the rest classified, exit non-zero at the end
    assert "Traceback" not in r.stderr
    assert "backend: emulator (no board: pynq is not installed)" in r.stderr
    assert "f_broken.png: corrupt or unreadable image" in r.stderr and "1 input(s) failed" in r.stderr
    assert "b_rgb.png: RGB -> grayscale" in r.stderr and "g_big.png: resized 56x40 -> 28x28" in r.stderr
    out = json.loads(r.stdout)
    assert out["backend"] == "emulator" and [e["source"] for e in out["errors"]] == [str(tmp_path / "f_broken.png")]
    res = {x["source"]: x for x in out["results"]}
    assert len(res) == 10 + 8
    exact = {"a.png": 0, "b_rgb.png": 1, "d.npy[0]": 3, "d.npy[1]": 4, "e-idx3-ubyte[0]": 5, "e-idx3-ubyte[1]": 6}
    for name, i in exact.items():
        assert res[str(tmp_path / name)]["raw_logits"] == reference[i].tolist(), name
    jpg = res[str(tmp_path / "c.jpg")]
    assert len(jpg["top_k"]) == 3 and jpg["top_k"][0]["class"] == jpg["class"]
    samples = [s for s in res if s.startswith("host/samples")]
    x = infer.gather([str(infer.SAMPLES_DIR)]).array((28, 28, 1))
    np.testing.assert_array_equal(np.array([res[s]["raw_logits"] for s in sorted(samples)]), csim.raw_logits(x))
    assert out["benchmark"]["images"] == 4 and out["benchmark"]["throughput_images_s"] > 0


def test_cli_evaluate_golden(golden, fmnist_test_subset):
    r = run_cli("--evaluate", "fashion-mnist", "--limit", "100", "--backend", "emulator", "--json")
    assert r.returncode == 0, r.stderr
    assert "golden integer model" in r.stderr and "fashion-mnist test set" in r.stderr  # engine named, progress bar
    ev = json.loads(r.stdout)["evaluation"]
    x, y = fmnist_test_subset
    expected = float((golden.classify(x[:100]) == y[:100]).mean())
    assert ev["images"] == 100 and ev["accuracy"] == expected


def test_cli_text_output_in_process(csim, capsys, monkeypatch):
    monkeypatch.setattr("host.emulation.emulator.BUILD_DIR", TEST_BUILD)
    code = infer.main([str(infer.SAMPLES_DIR), "--backend", "emulator", "--top-k", "2", "--batch-size", "4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 10 and all(line.startswith(str(infer.SAMPLES_DIR)) for line in lines)
    assert all(line.count("%") == 2 for line in lines)
