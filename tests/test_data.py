"""hw.data on the real Fashion-MNIST files and on small CIFAR batches / image folders made here."""
from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from hw.data import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    DatasetError,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    load_image_folder,
    read_cifar_batch,
    read_idx,
)


# ------------------------------------------------------------------------------ Fashion-MNIST
def test_fashion_mnist_real_files(fmnist):
    assert fmnist.x_train.shape == (60000, 28, 28, 1) and fmnist.x_train.dtype == np.uint8
    assert fmnist.x_test.shape == (10000, 28, 28, 1) and fmnist.x_test.dtype == np.uint8
    assert fmnist.classes == FASHION_MNIST_CLASSES
    # Balanced classes and the published first labels (train starts Ankle boot, T-shirt, T-shirt, Dress).
    assert np.bincount(fmnist.y_train).tolist() == [6000] * 10
    assert np.bincount(fmnist.y_test).tolist() == [1000] * 10
    assert fmnist.y_train[:4].tolist() == [9, 0, 0, 3]
    assert fmnist.y_test[:4].tolist() == [9, 2, 1, 1]
    # Checksums of the pixel payload: catches a wrong header offset or a transposed reshape.
    assert int(fmnist.x_train.sum(dtype=np.int64)) == 3431114169
    assert int(fmnist.x_test.sum(dtype=np.int64)) == 573469082


def test_load_dataset_by_name_and_by_path_agree(fmnist):
    by_path = load_dataset("/usr/share/datasets/fashion-mnist")
    assert np.array_equal(by_path.y_test, fmnist.y_test)
    assert np.array_equal(by_path.x_test[:100], fmnist.x_test[:100])


def _write_idx(path, arr: np.ndarray, gz=True):
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    (gzip.open if gz else open)(path, "wb").write(header + arr.astype(np.uint8).tobytes())


def _write_fake_idx_set(d, n=6, labels=None):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        _write_idx(d / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10 if labels is None else labels)


def test_idx_directory_round_trip(tmp_path):
    _write_fake_idx_set(tmp_path)
    ds = load_dataset(tmp_path)
    assert ds.x_train.shape == (6, 28, 28, 1) and ds.y_test.tolist() == [0, 1, 2, 3, 4, 5]


def test_idx_labels_out_of_range(tmp_path):
    _write_fake_idx_set(tmp_path, labels=np.array([0, 1, 2, 3, 4, 12]))
    with pytest.raises(DatasetError, match=r"labels out of range \[0, 10\): found 0\.\.12"):
        load_fashion_mnist(tmp_path)


def test_idx_corrupt_files(tmp_path):
    (tmp_path / "bad_magic").write_bytes(b"\x01\x02\x03\x04" + bytes(10))
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(tmp_path / "bad_magic")
    _write_idx(tmp_path / "short.gz", np.zeros((4, 28, 28)))
    raw = gzip.open(tmp_path / "short.gz").read()
    gzip.open(tmp_path / "short.gz", "wb").write(raw[:-5])
    with pytest.raises(DatasetError, match="payload has 3131 bytes, header promises 3136"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "notgzip.gz").write_bytes(b"this is not gzip data")
    with pytest.raises(DatasetError, match="cannot read IDX file"):
        read_idx(tmp_path / "notgzip.gz")


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.*not found.*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "empty")


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet-42'.*cifar10, fashion-mnist"):
        load_dataset("imagenet-42")


# ------------------------------------------------------------------------------ CIFAR-10
def _cifar_batch(n, seed, labels=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """A batch in the published format: bytes keys, uint8 (N, 3072) rows = R plane, G plane, B plane."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(n) + seed) % 10 if labels is None else np.asarray(labels)
    d = {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in y],
         b"data": img.transpose(0, 3, 1, 2).reshape(n, 3072), b"filenames": [b"x%d.png" % i for i in range(n)]}
    return d, img, y


def _dump(path, obj, py2_names=True):
    """Pickle with protocol 2 (the CIFAR files' protocol); py2_names writes numpy's module path the
    way the real (Python 2 era) files name it: numpy.core.multiarray."""
    raw = pickle.dumps(obj, protocol=2)
    if py2_names:
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(raw)


def _make_cifar_dir(d, n_batches=2, n=7, meta=True):
    d.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i in range(1, n_batches + 1):
        b, img, y = _cifar_batch(n, i)
        _dump(d / f"data_batch_{i}", b)
        xs.append(img), ys.append(y)
    b, xt, yt = _cifar_batch(n, 99)
    _dump(d / "test_batch", b, py2_names=False)  # numpy 2's module name must load as well
    if meta:
        _dump(d / "batches.meta", {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072})
    return (np.concatenate(xs) if xs else None), (np.concatenate(ys) if ys else None), xt, yt


def test_cifar_batches_round_trip(tmp_path):
    x, y, xt, yt = _make_cifar_dir(tmp_path / "cifar-10-batches-py", n_batches=3)
    ds = load_dataset(tmp_path / "cifar-10-batches-py")
    assert ds.x_train.shape == (21, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert np.array_equal(ds.x_train, x) and np.array_equal(ds.y_train, y)
    assert np.array_equal(ds.x_test, xt) and np.array_equal(ds.y_test, yt)
    assert ds.classes == CIFAR10_CLASSES


def test_cifar_pixel_layout(tmp_path):
    """Row 0 of the file is the red plane: pixel (0, 0) red = byte 0, green = byte 1024, blue = byte 2048."""
    data = np.zeros((1, 3072), np.uint8)
    data[0, 0], data[0, 1024], data[0, 2048], data[0, 33] = 10, 20, 30, 40
    _dump(tmp_path / "b", {b"data": data, b"labels": [3]})
    x, y = read_cifar_batch(tmp_path / "b")
    assert x[0, 0, 0].tolist() == [10, 20, 30] and x[0, 1, 1, 0] == 40 and y.tolist() == [3]


def test_cifar_batches_numbered_numerically(tmp_path):
    _make_cifar_dir(tmp_path, n_batches=0)
    batches = {i: _cifar_batch(2, i) for i in (2, 10)}
    for i, (b, _, _) in batches.items():
        _dump(tmp_path / f"data_batch_{i}", b)
    ds = load_cifar10(tmp_path)
    assert np.array_equal(ds.x_train, np.concatenate([batches[2][1], batches[10][1]]))


def test_cifar_labels_out_of_range(tmp_path):
    _make_cifar_dir(tmp_path)
    b, _, _ = _cifar_batch(4, 0, labels=[0, 1, 10, 2])
    _dump(tmp_path / "data_batch_1", b)
    with pytest.raises(DatasetError, match=r"train labels out of range \[0, 10\): found 0\.\.10"):
        load_dataset(tmp_path)


def test_cifar_corrupt_and_malformed(tmp_path):
    _make_cifar_dir(tmp_path)
    raw = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "data_batch_1").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="data_batch_1: corrupt CIFAR-10 batch"):
        load_cifar10(tmp_path)
    _dump(tmp_path / "data_batch_1", {b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DatasetError, match=r"data_batch_1: 'data' is \(2, 1024\) uint8, expected uint8 \(N, 3072\)"):
        load_cifar10(tmp_path)
    _dump(tmp_path / "data_batch_1", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(DatasetError, match="data_batch_1: 2 images but 1 labels"):
        load_cifar10(tmp_path)
    _dump(tmp_path / "data_batch_1", [1, 2, 3])
    with pytest.raises(DatasetError, match="not a CIFAR-10 python batch"):
        load_cifar10(tmp_path)


def test_cifar_refuses_code_in_pickle(tmp_path):
    """A batch is data: a pickle naming any callable besides numpy's array rebuilders is rejected unrun."""
    _make_cifar_dir(tmp_path)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DatasetError, match="test_batch: corrupt CIFAR-10 batch.*refusing to load (io|builtins).open"):
        load_cifar10(tmp_path)
    assert not marker.exists()


def test_cifar_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match="CIFAR-10 not found at .*cifar-10-python.tar.gz"):
        load_cifar10(tmp_path / "nowhere")
    _make_cifar_dir(tmp_path)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(DatasetError, match="test_batch missing"):
        load_cifar10(tmp_path)


# ------------------------------------------------------------------------------ image folders
def _png(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)


def test_image_folder_kept_as_given(tmp_path):
    """Grayscale PNGs stay 1-channel at their size; every 5th image per class (name order) is test."""
    rng = np.random.default_rng(1)
    imgs = {}
    for cls in ("cat", "ant"):  # labels follow sorted names: ant = 0, cat = 1
        for i in range(6):
            a = rng.integers(0, 256, (12, 9), dtype=np.uint8)
            _png(tmp_path / cls / f"{i:02d}.png", a)
            imgs[cls, i] = a
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = load_dataset(tmp_path)
    assert ds.classes == ("ant", "cat")
    assert ds.x_train.shape == (10, 12, 9, 1) and ds.x_test.shape == (2, 12, 9, 1)
    assert ds.y_train.tolist() == [0] * 5 + [1] * 5 and ds.y_test.tolist() == [0, 1]
    assert np.array_equal(ds.x_test[1, ..., 0], imgs["cat", 4])  # lossless: the PNG's exact bytes
    assert np.array_equal(ds.x_train[5, ..., 0], imgs["cat", 0])


def test_image_folder_train_test_tree_and_color(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    _png(tmp_path / "train" / "a" / "0.png", rgb)
    _png(tmp_path / "train" / "b" / "0.png", rgb[..., 0])  # mixed gray + color -> RGB
    _png(tmp_path / "test" / "b" / "0.png", rgb)
    ds = load_image_folder(tmp_path)
    assert ds.x_train.shape == (2, 8, 8, 3) and ds.y_train.tolist() == [0, 1] and ds.y_test.tolist() == [1]
    assert np.array_equal(ds.x_test[0], rgb)
    assert np.array_equal(ds.x_train[1], np.repeat(rgb[..., :1], 3, axis=2))


def test_image_folder_converted_to_requested_shape(tmp_path):
    """JPEG colour images of two sizes become 28x28 grayscale, as Fashion-MNIST models expect."""
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "x.jpg")
    (tmp_path / "shoe").mkdir()
    Image.fromarray(np.full((56, 56, 3), 200, np.uint8)).save(tmp_path / "shoe" / "a.JPEG")
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / "shoe" / "b.jpg")
    ds = load_dataset(tmp_path, image_shape=(28, 28, 1))
    assert ds.x_train.shape == (2, 28, 28, 1) and ds.classes == ("shoe",)
    assert np.all(np.abs(ds.x_train[0].astype(int) - 200) <= 1)  # flat grey survives JPEG + resize
    with pytest.raises(DatasetError, match=r"images differ in size \(56x56 in .*a.JPEG, 30x40 in .*b.jpg\); pass image_shape"):
        load_dataset(tmp_path)


def test_image_folder_without_images(tmp_path):
    (tmp_path / "cls_a").mkdir()
    (tmp_path / "cls_a" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"no images \(.png/.jpg/.jpeg\) in its class sub-folders"):
        load_dataset(tmp_path)
    (tmp_path / "flat").mkdir()
    _png(tmp_path / "flat" / "0.png", np.zeros((4, 4), np.uint8).copy())
    (tmp_path / "flat" / "0.png").rename(tmp_path / "flat0.png")
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_image_folder(tmp_path / "flat")


def test_image_folder_corrupt_image(tmp_path):
    _png(tmp_path / "a" / "good.png", np.random.default_rng(4).integers(0, 256, (64, 64), dtype=np.uint8))
    (tmp_path / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match=r"bad.png: corrupt or unreadable image"):
        load_dataset(tmp_path)
    raw = (tmp_path / "a" / "good.png").read_bytes()
    (tmp_path / "a" / "bad.png").write_bytes(raw[: len(raw) // 2])  # valid header, truncated pixel data
    with pytest.raises(DatasetError, match=r"bad.png: corrupt or unreadable image.*truncated"):
        load_dataset(tmp_path)


def test_image_folder_bad_shape_request(tmp_path):
    _png(tmp_path / "a" / "0.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"image_shape must be \(H, W, 1\) or \(H, W, 3\)"):
        load_image_folder(tmp_path, image_shape=(4, 4, 2))


def test_image_folder_test_class_unknown(tmp_path):
    _png(tmp_path / "train" / "a" / "0.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "test" / "zebra" / "0.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match="class 'zebra' is not a class of"):
        load_dataset(tmp_path)
