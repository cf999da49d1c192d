"""host/infer.py: reading every input kind, every bad input, and the CLI run as a subprocess.

The end-to-end runs through the emulator (real C simulation) are in test_host_emulator.py; here
the CLI is exercised where it must stop before any accelerator is opened.
"""
from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from host import infer

REPO = infer.REPO
SHAPE = (28, 28, 1)
# the hls4ml project tests/test_hls.py converts: the emulator reuses it so the suite compiles once
TEST_BUILD = REPO / "build" / "test_hls"


def write_idx(path, a: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    data = header + a.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def run_cli(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", SQUEEZENET_EMULATOR_BUILD=str(TEST_BUILD))
    return subprocess.run([sys.executable, "host/infer.py", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def good_files(tmp_path):
    """One file of each accepted kind; returns {path: expected uint8 (N, 28, 28, 1)}."""
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    out = {}
    p = tmp_path / "gray.png"
    Image.fromarray(imgs[0]).save(p)
    out[p] = imgs[0][None, ..., None]
    p = tmp_path / "gray.npy"
    np.save(p, imgs[1])
    out[p] = imgs[1][None, ..., None]
    p = tmp_path / "batch.npy"
    np.save(p, imgs[2:4, ..., None])
    out[p] = imgs[2:4, ..., None]
    p = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(p, imgs[4:6])
    out[p] = imgs[4:6, ..., None]
    p = tmp_path / "images.idx.gz"
    write_idx(p, imgs[4:6])
    out[p] = imgs[4:6, ..., None]
    return out


def test_reads_every_kind_bit_exactly(good_files):
    for path, expected in good_files.items():
        got = infer.gather([str(path)])
        assert got.errors == [] and got.notes == []
        np.testing.assert_array_equal(got.array(SHAPE), expected)
        assert got.names[0].startswith(str(path))


def test_image_conversion_notes(tmp_path):
    rgb = np.zeros((56, 40, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> L = 76 (ITU-R 601-2 luma: 299/1000 * 255)
    Image.fromarray(rgb).save(tmp_path / "red.jpg", quality=100)
    Image.fromarray(rgb).save(tmp_path / "red.png")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255  # white but fully transparent -> black background
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    got = infer.gather([str(tmp_path / "red.png"), str(tmp_path / "red.jpg"), str(tmp_path / "clear.png")])
    assert got.errors == []
    assert got.notes[0].endswith("red.png: RGB -> grayscale, resized 40x56 -> 28x28")
    assert "red.jpg: RGB -> grayscale, resized 40x56 -> 28x28" in got.notes[1]
    assert got.notes[2].endswith("clear.png: RGBA -> grayscale")
    x = got.array(SHAPE)
    assert (x[0] == 76).all() and abs(int(x[1].mean()) - 76) <= 2 and (x[2] == 0).all()


def test_bad_inputs_each_named_and_the_rest_still_read(tmp_path, good_files):
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    good_png = next(p for p in good_files if p.suffix == ".png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good_png[: len(good_png) // 2])
    np.save(tmp_path / "float.npy", np.zeros((28, 28), np.float32))
    np.save(tmp_path / "shape.npy", np.zeros((32, 32), np.uint8))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    (tmp_path / "short-idx3-ubyte").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 28, 28) + b"\x00" * 10)
    (tmp_path / "notes.txt").write_text("hello")
    bad = {
        "missing.png": "file not found",
        "empty": "directory has no PNG/JPEG, .npy or IDX files",
        "corrupt.png": "corrupt or unreadable image",
        "truncated.png": "corrupt or unreadable image",
        "float.npy": "dtype float32, expected uint8",
        "shape.npy": "shape (32, 32), expected (28, 28), (28, 28, 1), (N, 28, 28) or (N, 28, 28, 1)",
        "obj.npy": "not a readable .npy array",
        "junk.npy": "not a readable .npy array",
        "labels-idx1-ubyte": "a 1-D IDX file (labels?), not images",
        "short-idx3-ubyte": "IDX payload has 10 bytes",
        "notes.txt": "unknown file type",
    }
    good = list(good_files)
    args = [str(good[0])] + [str(tmp_path / name) for name in bad] + [str(good[1])]
    got = infer.gather(args)
    assert len(got.errors) == len(bad)
    for (source, msg), (name, expected) in zip(got.errors, bad.items()):
        assert source.endswith(name) and name in msg and expected in msg, (name, msg)
    assert got.names == [str(good[0]), str(good[1])]


def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = tmp_path / "locked.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(p)
    p.chmod(0)
    got = infer.gather([str(p)])
    assert "permission denied" in got.errors[0][1]


def test_directory_reads_known_kinds_only(tmp_path, good_files):
    (tmp_path / "README.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    got = infer.gather([str(tmp_path)])
    assert got.errors == []
    assert len(got.images) == sum(len(v) for v in good_files.values())


def test_sniffs_content_when_suffix_unknown(tmp_path):
    a = np.arange(784, dtype=np.uint16).astype(np.uint8).reshape(28, 28)
    Image.fromarray(a).save(tmp_path / "pic.png")
    (tmp_path / "pic.png").rename(tmp_path / "pic.bin")
    got = infer.gather([str(tmp_path / "pic.bin")])
    np.testing.assert_array_equal(got.array(SHAPE)[0, ..., 0], a)


def test_cli_all_inputs_bad_exits_nonzero_without_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "wrong.npy", np.zeros((3, 28, 28), np.int16))
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    r = run_cli(tmp_path / "missing.png", tmp_path / "empty", tmp_path / "wrong.npy", tmp_path / "corrupt.jpg",
                "--backend", "emulator", timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    for expected in ("missing.png: file not found", "empty: directory has no PNG/JPEG",
                     "wrong.npy: dtype int16, expected uint8", "corrupt.jpg: corrupt or unreadable image",
                     "error: nothing to classify", "4 input(s) failed"):
        assert expected in r.stderr, (expected, r.stderr)


def test_cli_usage_errors():
    r = run_cli("--batch-size", "0", timeout=120)
    assert r.returncode == 2 and "--batch-size must be >= 1" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("--backend", "cloud", timeout=120)
    assert r.returncode == 2 and "invalid choice: 'cloud'" in r.stderr


def test_board_image_imports_only_numpy_pillow_stdlib():
    """host.stream/driver/infer (and hw.data's IDX reader used by infer) must import on the PYNQ
    image, where TensorFlow, hls4ml and hgq do not exist: block them and import."""
    code = (
        "import sys\n"
        "before = set(sys.modules)  # whatever the interpreter's site hooks load\n"
        "for m in ('tensorflow', 'keras', 'hgq', 'hls4ml', 'pynq', 'tqdm', 'matplotlib', 'yaml'):\n"
        "    sys.modules[m] = None\n"
        "import host.stream, host.driver, host.accelerator, host.infer\n"
        "import hw.data\n"
        "loaded = {m.split('.')[0] for m, mod in sys.modules.items() if mod is not None and m not in before}\n"
        "third = {m for m in loaded if m not in sys.stdlib_module_names and not m.startswith('_')} - {'host', 'hw', 'numpy', 'PIL'}\n"
        "assert not third, third\n"
        "r = host.infer.gather(['host/samples'])\n"
        "assert len(r.images) == 10 and not r.errors\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_top_k_must_be_positive():
    r = run_cli("--top-k", "0")
    assert r.returncode == 2 and "--top-k must be >= 1, got 0" in r.stderr and "Traceback" not in r.stderr


def test_decompression_bomb_is_named_not_a_traceback(tmp_path):
    """An image over Pillow's decompression-bomb limit (~89 Mpixel) is refused by name, unread."""
    from PIL import Image

    big = tmp_path / "huge.png"
    Image.new("1", (10_000, 9_500)).save(big)  # 95 Mpixel, 1 bit per pixel: a small file
    inputs = infer.gather([str(big), str(REPO / "host" / "samples")])
    assert [s for s, _ in inputs.errors] == [str(big)]
    assert "too large to decode safely" in inputs.errors[0][1]
    assert len(inputs.images) == 10  # the rest of the batch is still read


def test_training_and_inference_convert_an_image_identically(tmp_path):
    """One preprocessing function: an RGBA photo of another size gives the same pixels in an
    image-folder dataset (training) and in host/infer.py (inference)."""
    from PIL import Image

    from hw.data import load_image_folder

    rng = np.random.default_rng(3)
    rgba = Image.fromarray(rng.integers(0, 256, size=(41, 37, 4), dtype=np.uint8), "RGBA")
    for cls in ("a", "b"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        rgba.save(tmp_path / "ds" / cls / "x.png")
    ds = load_image_folder(tmp_path / "ds", image_shape=SHAPE)
    a, note = infer.read_image(tmp_path / "ds" / "a" / "x.png", SHAPE)
    assert np.array_equal(ds.x_train[0], a) and "resized 37x41 -> 28x28" in note


def test_board_test_set_reader_needs_no_hw_package(tmp_path):
    """--evaluate's IDX reader is host/ only (the board has no hw/, TensorFlow or hls4ml)."""
    from pathlib import Path

    code = ("import sys; sys.modules['hw'] = None; sys.modules['tensorflow'] = None; "
            "from host.testset import load_idx_test_set; x, y = load_idx_test_set('fashion-mnist'); "
            "print(x.shape, x.dtype, y[:3].tolist())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("(")[1].startswith("10000, 28, 28, 1) uint8")


def test_malformed_test_set_is_named(tmp_path):
    from host.testset import TestSetError, load_idx_test_set

    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 8)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"junk")
    with pytest.raises(TestSetError, match="t10k-images-idx3-ubyte"):
        load_idx_test_set(tmp_path)
    with pytest.raises(TestSetError, match="t10k-images-idx3-ubyte.*needed"):
        load_idx_test_set(tmp_path.parent)  # a directory without the t10k files


BAD_INPUTS = {  # id: (argv with {tmp} for the folder of bad files, exit code, words of the one-line error)
    "limit_negative": (["--evaluate", "fashion-mnist", "--limit", "-5"], 2, "--limit must be >= 1"),
    "limit_zero": (["--evaluate", "fashion-mnist", "--limit", "0"], 2, "--limit must be >= 1"),
    "limit_without_evaluate": (["--limit", "5"], 2, "--limit applies to --evaluate only"),
    "top_k_over_classes": (["--top-k", "99"], 2, "only 10 classes"),
    "top_k_zero": (["--top-k", "0"], 2, "--top-k must be >= 1"),
    "batch_size_zero": (["--batch-size", "0"], 2, "--batch-size must be >= 1"),
    "selftest_with_files": (["--selftest", "{tmp}/ok.png"], 2, "--selftest takes no input files"),
    "npy_wrong_shape": (["{tmp}/shape.npy"], 1, "shape.npy"),
    "npy_wrong_dtype": (["{tmp}/dtype.npy"], 1, "dtype.npy"),
    "png_truncated": (["{tmp}/trunc.png"], 1, "trunc.png"),
    "png_empty": (["{tmp}/empty.png"], 1, "empty.png"),
    "png_huge": (["{tmp}/huge.png"], 1, "huge.png"),
    "empty_folder": (["{tmp}/emptydir"], 1, "emptydir"),
    "missing_path": (["{tmp}/missing.png"], 1, "missing.png"),
    "board_without_board": (["--backend", "board"], 2, "bitstream for model"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    np.save(d / "shape.npy", np.zeros((3, 5), dtype=np.uint8))
    np.save(d / "dtype.npy", np.full((28, 28), 300.5))
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(d / "ok.png")
    (d / "trunc.png").write_bytes((d / "ok.png").read_bytes()[:40])
    (d / "empty.png").write_bytes(b"")
    (d / "emptydir").mkdir()
    Image.new("1", (10_000, 9_500)).save(d / "huge.png")  # 95 Mpixel: over Pillow's decompression-bomb limit
    return d


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_every_bad_input_gets_a_one_line_error_and_its_exit_code(case, bad_files, capsys):
    """Options are checked before any work starts; bad files are named; nothing opens a backend
    (no conversion, no C simulation: each case takes milliseconds)."""
    argv, code, words = BAD_INPUTS[case]
    got = infer.main([a.replace("{tmp}", str(bad_files)) for a in argv])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert got == code, err
    assert errors and any(words in line for line in errors), err
    assert "Traceback" not in err and "emulator:" not in err, err
