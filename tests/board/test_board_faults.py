"""The board path against hardware that misbehaves (host.emulation.emulated_zynq.Faults), in the board venv.

Each fault is one that a broken bitstream or a driver bug produces on a real PYNQ-Z2; each test
asserts that the driver stops with an AcceleratorError naming the channel and the cause, within
seconds (pytest-timeout guards every test: a hang fails, it does not stall CI). The images include
random pixels, whose every byte and output lane matter, and the results are compared with the
golden model's integer logits computed in the dev venv (scripts/prepare_emulated_board.py), never
with this code's own packing.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pynq = pytest.importorskip("pynq", reason="the board venv (scripts/setup_board_venv.sh) has pynq")

from host.accelerator import AcceleratorError  # noqa: E402
from host.driver import DMATimeoutError, PynqAccelerator  # noqa: E402
from host.emulation.emulated_zynq import DMA_DEC_ERR, DMA_INT_ERR, DMA_SLV_ERR  # noqa: E402
from emulated import board, load_board_files  # noqa: E402  (tests/board on sys.path)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def f():
    return load_board_files("selftest")


def _board(f):
    return board(f)


def _csim_direct(f, images: np.ndarray) -> np.ndarray:
    """The C simulation of the AXI top called directly, with the stream contract written out here
    (docs/INTERFACES.md), not with host.stream: pixels in raster order, little-endian, 8 to a 64-bit
    beat; two signed 16-bit logits to a beat, in 32-bit lanes, low lane first."""
    spec = f["spec"]
    assert (spec.input.beat_bits, spec.input.pixels_per_beat, spec.output.lane_bits, spec.output.logit_bits) == (64, 8, 32, 16)
    beats = np.ascontiguousarray(images.reshape(len(images), -1)).view("<u8").reshape(-1)
    out, last = f["lib"].run(beats.astype(np.uint64), len(images))
    assert last[-1] == 1 and not last[:-1].any()
    lanes = np.stack([out & 0xFFFFFFFF, out >> 32], axis=1).reshape(len(images), -1)[:, :spec.output.n_logits]
    return (lanes.astype(np.uint32).astype(np.uint16).view(np.int16)).astype(np.int64)


def _acc(f, batch_size=4, timeout_s=1.0):
    return PynqAccelerator(f["model"], bitstream_dir=f["dir"], batch_size=batch_size, timeout_s=timeout_s)


@pytest.mark.parametrize("n,batch", [(8, 4), (10, 4), (32, 32), (3, 8)])
def test_random_and_test_images_bit_exact_whole_and_partial_batches(f, n, batch):
    """Random-pixel images fill every byte of the stream; batch counts that divide evenly and ones
    that leave a partial last batch; every DMA LENGTH is what the io spec says for its batch."""
    random_rows = np.arange(len(f["images"]) - n, len(f["images"]))  # the file ends with the random images
    with _board(f) as dev:
        acc = _acc(f, batch_size=batch)
        pred = acc.predict(f["images"][random_rows])
        lengths = list(dev.dma.lengths)
    assert np.array_equal(pred.raw, f["raw"][random_rows])
    assert np.array_equal(pred.raw, _csim_direct(f, f["images"][random_rows]))
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    spec = f["spec"]
    want = []
    for k in sizes:
        want += [("s2mm", k * spec.output.beats_per_image * spec.output.beat_bits // 8),
                 ("mm2s", k * spec.input.beats_per_image * spec.input.beat_bits // 8)]
    assert lengths == want


def test_tlast_one_beat_early_is_named(f):
    with _board(f) as dev:
        acc = _acc(f)
        dev.faults.tlast = "early"
        with pytest.raises(AcceleratorError, match=r"S2MM .*TLAST came 1 beat\(s\) early"):
            acc.predict(f["images"][:4])


def test_tlast_one_beat_late_is_a_s2mm_internal_error(f):
    with _board(f) as dev:
        acc = _acc(f)
        dev.faults.tlast = "late"
        with pytest.raises(AcceleratorError, match=r"DMA S2MM \(receive\) channel stopped.*DMAIntErr.*TLAST late"):
            acc.predict(f["images"][:4])


def test_tlast_never_times_out_saying_the_ip_never_sent_it(f):
    with _board(f) as dev:
        acc = _acc(f, timeout_s=0.5)
        dev.faults.tlast = "never"
        with pytest.raises(DMATimeoutError, match=r"S2MM \(receive\).*ap_idle=1.*never produced TLAST"):
            acc.predict(f["images"][:4])


@pytest.mark.parametrize("channel,flag,name", [("mm2s", DMA_INT_ERR, "DMAIntErr"), ("mm2s", DMA_SLV_ERR, "DMASlvErr"),
                                               ("mm2s", DMA_DEC_ERR, "DMADecErr"), ("s2mm", DMA_INT_ERR, "DMAIntErr"),
                                               ("s2mm", DMA_SLV_ERR, "DMASlvErr"), ("s2mm", DMA_DEC_ERR, "DMADecErr")])
def test_dma_error_bits_are_decoded_per_channel(f, channel, flag, name):
    label = {"mm2s": r"MM2S \(send\)", "s2mm": r"S2MM \(receive\)"}[channel]
    with _board(f) as dev:
        acc = _acc(f)
        dev.faults.dma_error = (channel, flag)
        with pytest.raises(AcceleratorError, match=rf"DMA {label} channel stopped with an error, DMASR .*{name}"):
            acc.predict(f["images"][:4])


def test_accelerator_stuck_with_ap_idle_low_is_named(f):
    with _board(f) as dev:
        acc = _acc(f, timeout_s=0.5)
        dev.faults.stuck = True
        with pytest.raises(DMATimeoutError, match=r"MM2S \(send\).*ap_start=1.*ap_idle=0.*stopped reading its input"):
            acc.predict(f["images"][:4])


def test_accelerator_never_started_is_named(f):
    with _board(f) as dev:
        acc = _acc(f, timeout_s=0.5)
        dev.accelerator.hang = True  # AP_START ignored: idle, never started
        with pytest.raises(DMATimeoutError, match=r"ap_start=0.*ap_idle=1.*never read its input"):
            acc.predict(f["images"][:4])


def test_results_are_read_only_after_s2mm_completes(f):
    """S2MM completes only after 50 status polls and its data reaches DDR only then: a driver that
    read its buffer early would get zeros; this one waits and is bit-exact."""
    with _board(f) as dev:
        acc = _acc(f)
        dev.faults.s2mm_polls = 50
        pred = acc.predict(f["images"][-4:])
    assert np.array_equal(pred.raw, f["raw"][-4:])


def test_default_timeout_is_finite(f):
    with _board(f):
        acc = PynqAccelerator(f["model"], bitstream_dir=f["dir"])
        assert 0 < acc._timeout(256) < 60


def test_cli_selftest_passes_on_the_board_path(f, monkeypatch, capsys):
    from host import driver, infer

    monkeypatch.setattr(driver, "BITSTREAM_DIR", f["dir"])
    with _board(f):
        assert infer.main(["--backend", "board", "--model", f["model"], "--selftest"]) == infer.EXIT_OK
    assert capsys.readouterr().out.startswith(f"selftest PASS: {len(f['images'])} images")


def test_cli_selftest_fails_naming_the_first_difference(f, monkeypatch, capsys, tmp_path):
    from host import driver, infer

    for suffix in (".bit", ".hwh", ".io.json"):
        (tmp_path / f"{f['model']}{suffix}").write_bytes((f["dir"] / f"{f['model']}{suffix}").read_bytes())
    raw = f["raw"].copy()
    raw[5, 3] += 1  # what a bitstream that is off by one LSB in one lane would give
    np.savez(tmp_path / f"{f['model']}.selftest.npz", images=f["images"], raw=raw)
    monkeypatch.setattr(driver, "BITSTREAM_DIR", tmp_path)
    with _board(f):
        assert infer.main(["--backend", "board", "--model", f["model"], "--selftest"]) == infer.EXIT_SELFTEST_FAIL
    out = capsys.readouterr().out
    assert f"first: image 5, output lane 3: accelerator {f['raw'][5, 3]}, expected {raw[5, 3]}" in out


def test_cli_with_a_stuck_accelerator_fails_in_seconds_with_the_default_timeout(f, monkeypatch, capsys, tmp_path):
    """The CLI path uses the driver's default (finite) timeout: a stuck IP ends in an error, not a hang."""
    from host import driver, infer

    monkeypatch.setattr(driver, "BITSTREAM_DIR", f["dir"])
    one = tmp_path / "one.npy"
    np.save(one, f["images"][:1])
    with _board(f) as dev:
        dev.faults.stuck = True  # the DMA and accelerator models share the device's Faults
        code = infer.main(["--backend", "board", "--model", f["model"], "--batch-size", "1", str(one)])
    assert code == infer.EXIT_SETUP
    err = capsys.readouterr().err
    assert "DMA timed out after 5.1 s" in err and "stopped reading its input" in err


def test_hwh_that_does_not_match_the_io_spec_is_refused_before_download(f, tmp_path):
    """A .hwh whose accelerator lacks the io spec's batch register belongs to another build: refused
    by name, before the overlay is downloaded (nothing is started on the wrong hardware)."""
    from host.driver import BoardError

    for suffix in (".bit", ".hwh"):
        (tmp_path / f"{f['model']}{suffix}").write_bytes((f["dir"] / f"{f['model']}{suffix}").read_bytes())
    spec = json.loads((f["dir"] / f"{f['model']}.io.json").read_text())
    spec["batch_register"] = "n_frames"
    (tmp_path / f"{f['model']}.io.json").write_text(json.dumps(spec))
    with _board(f) as dev, pytest.raises(BoardError, match="has no register 'n_frames'"):
        PynqAccelerator(f["model"], bitstream_dir=tmp_path)
    assert dev.downloads == 0


def test_pynq_4_is_refused_by_name_before_the_download(f, monkeypatch):
    """pynq 4.0 sets each PL clock from clock_dict["frequency"], None for a Zynq-7000 PS in this
    .hwh (as in Vivado's): the driver refuses that pynq by name before it downloads anything."""
    from host.driver import BoardError

    monkeypatch.setattr(pynq, "__version__", "4.0.0")
    with _board(f) as dev, pytest.raises(BoardError, match=r"pynq 4.0.0 cannot load this Zynq-7000 overlay"):
        PynqAccelerator(f["model"], bitstream_dir=f["dir"])
    assert dev.downloads == 0
