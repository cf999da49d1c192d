"""The board path end to end on an emulated PYNQ-Z2 (host.emulation.emulated_zynq), in the board venv.

pynq's real Overlay, DefaultIP, register maps, pynq.allocate and pynq.lib.dma.DMA drive register
models of the AXI DMA (PG021) and the HLS control block, whose stream side is the C simulation of
the AXI top. The files come from scripts/prepare_emulated_board.py (run by .ci/run in the dev venv
first); SQUEEZENET_EMULATED_BOARD names their folder and makes them mandatory.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

pynq = pytest.importorskip("pynq", reason="the board venv (scripts/setup_board_venv.sh) has pynq")

from host.accelerator import AcceleratorError  # noqa: E402
from host.driver import BoardError, DMATimeoutError, PynqAccelerator  # noqa: E402
from host.emulation.emulated_zynq import DMA_INT_ERR, IDLE  # noqa: E402
from emulated import board, load_board_files  # noqa: E402  (tests/board on sys.path)



@pytest.fixture(scope="module")
def board_files():
    return load_board_files("golden")


def _board(f):
    return board(f)


def test_classifies_bit_exact_through_pynq_dma(board_files):
    f = board_files
    with _board(f) as dev:
        acc = PynqAccelerator(f["model"], bitstream_dir=f["dir"], batch_size=16)
        # pynq's own classes did the work: overlay, DMA driver, DefaultIP with its hwh register map
        assert type(acc.overlay) is pynq.Overlay
        assert isinstance(acc.dma, pynq.lib.dma.DMA) and isinstance(acc.ip, pynq.DefaultIP)
        pred = acc.predict(f["images"])
        assert isinstance(acc._in_buf, pynq.buffer.PynqBuffer)  # pynq.allocate on the emulated DDR
        runs = dev.accelerator.runs
        from pynq.ps import Clocks
        fclk = Clocks.fclk0_mhz
    assert np.array_equal(pred.raw, f["raw"]), "board path differs from the golden model"
    assert runs == -(-len(f["images"]) // 16)  # one ap_start per batch, batches of 16 + remainder
    assert fclk == pytest.approx(100.0)  # pynq programmed FCLK0 from the .hwh through the SLCR model


def test_dma_that_never_completes_ends_in_the_driver_timeout(board_files):
    f = board_files
    with _board(f) as dev:
        acc = PynqAccelerator(f["model"], bitstream_dir=f["dir"], batch_size=4, timeout_s=0.3)
        dev.accelerator.hang = True  # fault injection: the IP ignores AP_START
        with pytest.raises(DMATimeoutError, match=r"never went idle.*ap_idle=1.*never read its input"):
            acc.predict(f["images"][:4])
        # the channels really are stuck: S2MM never saw TLAST, MM2S's beats were never read
        assert not dev.dma.status[0x30] & IDLE and not dev.dma.status[0x00] & IDLE


def test_s2mm_buffer_shorter_than_the_packet_is_a_dma_error(board_files):
    f = board_files
    with _board(f) as dev:
        acc = PynqAccelerator(f["model"], bitstream_dir=f["dir"], batch_size=4, timeout_s=2)
        acc.predict(f["images"][:1])  # make the buffers
        recv = acc.dma.recvchannel
        real = recv.transfer
        recv.transfer = lambda buf, nbytes=0: real(buf, nbytes=8)  # one beat of room for a 5-beat packet
        with pytest.raises(AcceleratorError, match="error"):
            acc.predict(f["images"][:1])
        assert dev.dma.status[0x30] & DMA_INT_ERR


def test_a_real_bitstream_is_refused_by_name(board_files, tmp_path):
    f = board_files
    for suffix in (".hwh", ".io.json"):
        shutil.copyfile(f["dir"] / f"{f['model']}{suffix}", tmp_path / f"{f['model']}{suffix}")
    (tmp_path / f"{f['model']}.bit").write_bytes(b"\x00\x09\x0f\xf0" + bytes(64))  # a .bit header start
    with _board(f), pytest.raises(BoardError, match="stand-in .bit; a real bitstream cannot be emulated"):
        PynqAccelerator(f["model"], bitstream_dir=tmp_path)


def test_missing_flush_would_lose_the_input(board_files):
    """The emulated DDR is not coherent, like the board's: without flush() the DMA reads stale bytes."""
    f = board_files
    with _board(f) as dev:
        pynq.Overlay(str(f["dir"] / f"{f['model']}.bit"))
        buf = pynq.allocate(shape=(16,), dtype=np.uint8)
        buf[:] = np.arange(16, dtype=np.uint8)
        assert dev.default_memory.read(buf.physical_address, 16) == bytes(16)
        buf.flush()
        assert dev.default_memory.read(buf.physical_address, 16) == bytes(range(16))
