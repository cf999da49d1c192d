"""host/stream.py: the byte layout of docs/INTERFACES.md, checked against hand-computed beats."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host import stream
from host.stream import IOSpec, SpecError, StreamError

# The example io spec of docs/INTERFACES.md (the contract the hls build writes).
SPEC_DICT = {
    "model": "squeezenet_fmnist", "top": "squeezenet_axi", "ip_name": "squeezenet_axi_0",
    "dma_name": "axi_dma_0", "batch_register": "n_images",
    "input": {"shape": [28, 28, 1], "dtype": "uint8", "frac_bits": 8, "beat_bits": 64,
              "pixels_per_beat": 8, "beats_per_image": 98},
    "output": {"n_logits": 10, "logit_bits": 16, "frac_bits": 9, "signed": True, "beat_bits": 64,
               "lane_bits": 32, "logits_per_beat": 2, "beats_per_image": 5},
    "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "max_batch": 65536,
}
SPEC = IOSpec.from_dict(SPEC_DICT)


def small_spec(shape=(5, 5, 1), n_logits=3) -> IOSpec:
    """A 25-byte image (4 beats, the last one padded) and 3 logits (2 beats, one padding lane)."""
    d = copy.deepcopy(SPEC_DICT)
    d["input"].update(shape=list(shape), beats_per_image=-(-int(np.prod(shape)) // 8))
    d["output"].update(n_logits=n_logits, beats_per_image=-(-n_logits // 2))
    d["classes"] = [f"c{i}" for i in range(n_logits)]
    return IOSpec.from_dict(d)


def test_pack_exact_beats_full_image():
    img = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28, 1)
    beats = stream.pack_images(img, SPEC)
    assert beats.dtype == np.uint64 and beats.shape == (98,)
    assert int(beats[0]) == 0x0706050403020100  # byte 0 of the image in bits 7:0 of beat 0
    assert int(beats[1]) == 0x0F0E0D0C0B0A0908
    assert int(beats[32]) == 0x0706050403020100  # byte 256 wraps to 0
    assert int(beats[97]) == 0x0F0E0D0C0B0A0908  # bytes 776..783 = 8..15


def test_pack_pads_last_beat_and_starts_next_image_on_fresh_beat():
    spec = small_spec()
    imgs = np.stack([np.arange(1, 26, dtype=np.uint8).reshape(5, 5, 1),
                     np.full((5, 5, 1), 0xAB, dtype=np.uint8)])
    beats = stream.pack_images(imgs, spec)
    expected = [0x0807060504030201, 0x100F0E0D0C0B0A09, 0x1817161514131211, 0x0000000000000019,
                0xABABABABABABABAB, 0xABABABABABABABAB, 0xABABABABABABABAB, 0x00000000000000AB]
    assert [int(b) for b in beats] == expected


def test_pack_into_larger_buffer_fills_prefix_only():
    spec = small_spec()
    buf = np.full(12, 0xDEAD, dtype=np.uint64)
    view = stream.pack_images(np.zeros((2, 5, 5, 1), np.uint8), spec, out=buf)
    assert len(view) == 8 and np.shares_memory(view, buf)
    assert (buf[:8] == 0).all() and (buf[8:] == 0xDEAD).all()


def test_unpack_exact_lanes():
    spec = small_spec()
    # image 0: logits -1, 2, -32768; image 1: 32767, 0, 5 (hand-packed, sign-extended 32-bit lanes)
    beats = np.array([0x00000002_FFFFFFFF, 0x00000000_FFFF8000,
                      0x00000000_00007FFF, 0x00000000_00000005], dtype=np.uint64)
    raw = stream.unpack_logits(beats, 2, spec)
    assert raw.dtype == np.int64
    assert raw.tolist() == [[-1, 2, -32768], [32767, 0, 5]]
    packed, last = stream.pack_logits(raw, spec)
    assert packed.tolist() == beats.tolist() and last.tolist() == [0, 0, 0, 1]


def test_unpack_rejects_lane_that_is_not_sign_extended():
    spec = small_spec()
    beats = np.array([0x00000002_0000FFFF, 0, 0, 0], dtype=np.uint64)  # 65535: zero-extended -1
    with pytest.raises(StreamError, match="image 0 logit 0 .* not a signed 16-bit"):
        stream.unpack_logits(beats, 2, spec)


def test_unpack_rejects_nonzero_padding_lane():
    spec = small_spec()
    beats = np.array([0, 0x00000001_00000000, 0, 0], dtype=np.uint64)
    with pytest.raises(StreamError, match="padding"):
        stream.unpack_logits(beats, 2, spec)


def test_unpack_rejects_short_stream_and_wrong_dtype():
    with pytest.raises(StreamError, match="9 beats, 10 expected"):
        stream.unpack_logits(np.zeros(9, np.uint64), 2, SPEC)
    with pytest.raises(StreamError, match="uint64"):
        stream.unpack_logits(np.zeros(10, np.int32), 2, SPEC)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), shape=st.sampled_from([(28, 28, 1), (5, 5, 1), (3, 3, 3), (4, 4, 2)]),
       seed=st.integers(0, 2**32 - 1))
def test_image_round_trip(n, shape, seed):
    d = copy.deepcopy(SPEC_DICT)
    d["input"].update(shape=list(shape), beats_per_image=-(-int(np.prod(shape)) // 8))
    spec = IOSpec.from_dict(d)
    imgs = np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
    beats = stream.pack_images(imgs, spec)
    assert len(beats) == n * spec.input.beats_per_image
    np.testing.assert_array_equal(stream.unpack_images(beats, n, spec), imgs)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), n_logits=st.integers(1, 11), seed=st.integers(0, 2**32 - 1))
def test_logit_round_trip_full_range(n, n_logits, seed):
    spec = small_spec(n_logits=n_logits)
    raw = np.random.default_rng(seed).integers(-32768, 32768, (n, n_logits), dtype=np.int64)
    raw[0, 0] = -32768
    beats, last = stream.pack_logits(raw, spec)
    stream.check_tlast(last, len(beats))
    np.testing.assert_array_equal(stream.unpack_logits(beats, n, spec), raw)


def test_check_tlast():
    stream.check_tlast(np.array([0, 0, 1]), 3)
    for bad in ([0, 0, 0], [0, 1, 1], [1, 0, 0]):
        with pytest.raises(StreamError, match="TLAST"):
            stream.check_tlast(np.array(bad), 3)


def test_check_images_errors():
    with pytest.raises(StreamError, match="uint8"):
        stream.pack_images(np.zeros((1, 28, 28, 1), np.float32), SPEC)
    with pytest.raises(StreamError, match=r"shape \(N, 28, 28, 1\)"):
        stream.pack_images(np.zeros((1, 28, 27, 1), np.uint8), SPEC)
    assert stream.check_images(np.zeros((28, 28, 1), np.uint8), SPEC).shape == (1, 28, 28, 1)


def test_logits_to_float_and_softmax():
    raw = np.array([[512, -256, 0]])
    assert stream.logits_to_float(raw, SPEC).tolist() == [[1.0, -0.5, 0.0]]
    p = stream.softmax(np.array([[0.0, np.log(3.0)]]))
    assert p.dtype == np.float64 and abs(p[0, 1] - 0.75) < 1e-15


def test_spec_load_errors(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        IOSpec.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        IOSpec.load(tmp_path / "bad.json")
    d = copy.deepcopy(SPEC_DICT)
    del d["dma_name"]
    (tmp_path / "missing.json").write_text(json.dumps(d))
    with pytest.raises(SpecError, match="missing field 'dma_name'"):
        IOSpec.load(tmp_path / "missing.json")
    d = copy.deepcopy(SPEC_DICT)
    d["input"]["beats_per_image"] = 97
    with pytest.raises(SpecError, match="beats_per_image 97"):
        IOSpec.from_dict(d)
    d = copy.deepcopy(SPEC_DICT)
    d["output"]["logits_per_beat"] = 4
    with pytest.raises(SpecError, match="output beat_bits"):
        IOSpec.from_dict(d)
    (tmp_path / "ok.json").write_text(json.dumps(SPEC_DICT))
    assert IOSpec.load(tmp_path / "ok.json") == SPEC
