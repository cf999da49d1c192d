"""The self-test vectors (hw.golden.selftest) and `host/infer.py --selftest` off-board.

On the board the same check runs through pynq's DMA path: tests/board/test_board_faults.py."""
from __future__ import annotations

import numpy as np
import pytest

from host import infer
from host.emulation import emulator
from host.selftest import SelftestError, load
from hw.golden import selftest as vectors

TEST_BUILD = infer.REPO / "build" / "test_hls"  # the project tests/test_hls.py converts; reused, not rebuilt


@pytest.fixture(scope="module")
def npz(tmp_path_factory, deployed_model_path):
    return vectors.write(deployed_model_path, tmp_path_factory.mktemp("st") / "m.selftest.npz")


def test_vectors_are_test_images_then_random_pixels_with_golden_logits(npz, deployed_model_path, fmnist):
    images, raw = load(npz)
    n = vectors.TEST_IMAGES + vectors.RANDOM_IMAGES
    assert images.shape == (n, 28, 28, 1) and raw.shape == (n, 10)
    assert np.array_equal(images[:vectors.TEST_IMAGES], fmnist.x_test[:vectors.TEST_IMAGES])
    noise = images[vectors.TEST_IMAGES:]
    assert (noise[:, 0, :, 0] > 0).mean() > 0.9  # the borders are not black: every byte matters
    again, raw2 = vectors.vectors(deployed_model_path, fmnist.x_test)
    assert np.array_equal(again, images) and np.array_equal(raw2, raw)  # deterministic


def _run(monkeypatch, capsys, path):
    monkeypatch.setattr(emulator, "BUILD_DIR", TEST_BUILD)
    monkeypatch.setattr(emulator, "selftest_file", lambda model, **kw: path)
    code = infer.main(["--selftest", "--backend", "emulator", "--engine", "golden"])
    return code, capsys.readouterr()


def test_cli_selftest_passes_on_the_emulator(npz, monkeypatch, capsys):
    code, out = _run(monkeypatch, capsys, npz)
    assert code == infer.EXIT_OK and out.out.startswith("selftest PASS: 32 images"), out


def test_cli_selftest_names_the_first_difference(npz, monkeypatch, capsys, tmp_path):
    images, raw = load(npz)
    raw[30, 7] -= 2
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=images, raw=raw)
    code, out = _run(monkeypatch, capsys, bad)
    assert code == infer.EXIT_SELFTEST_FAIL
    assert out.out.startswith("selftest FAIL: 1 of 32 images differ; first: image 30, output lane 7:"), out


def test_missing_or_foreign_vectors_are_named(tmp_path):
    with pytest.raises(SelftestError, match="no self-test file"):
        load(tmp_path / "none.npz")
    np.savez(tmp_path / "x.npz", images=np.zeros((2, 28, 28, 1), dtype=np.float32), raw=np.zeros((2, 10)))
    with pytest.raises(SelftestError, match="expected uint8 images"):
        load(tmp_path / "x.npz")
