"""host/driver.py off-board: what can be tested honestly without a PYNQ board.

The unit tests (hwh check on ip_dict-shaped dicts, the DMA wait loop) run everywhere, the board venv
(pynq installed, scripts/setup_board_venv.sh) included; the ones marked `off_board` describe what
happens where pynq is absent and skip where it is installed. The real pynq parser on real .hwh
files: tests/board/. The network itself runs through the same base class in test_host_emulator.py.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time

import pytest

from host import driver
from host.accelerator import AcceleratorError
from host.driver import BoardError, DMATimeoutError, PynqAccelerator
from host.deployed import DEPLOYED_MODEL
from host.stream import IOSpec

from test_host_stream import SPEC_DICT  # tests/ is on sys.path (pytest prepend mode)

REPO = driver.REPO
off_board = pytest.mark.skipif(importlib.util.find_spec("pynq") is not None,
                               reason="pynq is installed: this test describes the behaviour without pynq")


def write_bitstream_dir(d, model="m", files=("bit", "hwh", "io.json")):
    d.mkdir(exist_ok=True)
    for ext in files:
        p = d / f"{model}.{ext}"
        p.write_text(json.dumps(SPEC_DICT) if ext == "io.json" else "not a real bitstream")
    return d


@off_board
def test_lazy_pynq_import_names_the_problem():
    with pytest.raises(BoardError, match=r"needs the 'pynq' package.*--backend emulator"):
        driver.import_pynq()


def test_missing_bitstream_files_are_named(tmp_path):
    with pytest.raises(BoardError) as e:
        PynqAccelerator("squeezenet_fmnist", bitstream_dir=tmp_path)
    msg = str(e.value)
    for name in ("squeezenet_fmnist.bit", "squeezenet_fmnist.hwh", "squeezenet_fmnist.io.json"):
        assert name in msg
    write_bitstream_dir(tmp_path, files=("bit", "io.json"))
    with pytest.raises(BoardError, match=r"missing hwh .*m\.hwh") as e:
        PynqAccelerator("m", bitstream_dir=tmp_path)
    assert "m.bit" not in str(e.value).split("missing")[1]


@off_board
def test_complete_bitstream_without_pynq_fails_on_pynq(tmp_path):
    write_bitstream_dir(tmp_path)
    with pytest.raises(BoardError, match="needs the 'pynq' package"):
        PynqAccelerator("m", bitstream_dir=tmp_path)


@off_board
def test_board_status_off_board(tmp_path):
    write_bitstream_dir(tmp_path)
    assert driver.board_status("m", tmp_path) == (False, "pynq is not installed")


def test_check_ip_dict_unit():
    """Unit test of the hwh check on dicts shaped like pynq's ip_dict (pynq cannot parse an hwh here)."""
    spec = IOSpec.from_dict(SPEC_DICT)
    good = {"squeezenet_axi_0": {"type": "xilinx.com:hls:squeezenet_axi:1.0",
                                 "registers": {"CTRL": {}, "n_images": {}}},
            "axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1", "parameters": {"C_SG_LENGTH_WIDTH": "26"}},
            "processing_system7_0": {"type": "xilinx.com:ip:processing_system7:5.5"}}
    driver.check_ip_dict(good, spec, "x.hwh")
    assert driver.dma_max_bytes(good, "axi_dma_0") == (1 << 26) - 1
    no_ip = {k: v for k, v in good.items() if k != "squeezenet_axi_0"}
    with pytest.raises(BoardError, match=r"x\.hwh: no accelerator IP 'squeezenet_axi_0'.*no HLS IP at all; it has: "
                                         r"axi_dma_0 \(xilinx.com:ip:axi_dma:7.1\), processing_system7_0"):
        driver.check_ip_dict(no_ip, spec, "x.hwh")
    with pytest.raises(BoardError, match="no AXI DMA 'axi_dma_0'"):
        driver.check_ip_dict({k: v for k, v in good.items() if k != "axi_dma_0"}, spec, "x.hwh")
    wrong_dma = dict(good, axi_dma_0={"type": "xilinx.com:ip:axi_fifo_mm_s:4.2"})
    with pytest.raises(BoardError, match="not an AXI DMA"):
        driver.check_ip_dict(wrong_dma, spec, "x.hwh")
    no_reg = dict(good, squeezenet_axi_0={"type": "x", "registers": {"CTRL": {}}})
    with pytest.raises(BoardError, match="no register 'n_images'"):
        driver.check_ip_dict(no_reg, spec, "x.hwh")
    no_ctrl = dict(good, squeezenet_axi_0={"type": "x", "registers": {"n_images": {}}})
    with pytest.raises(BoardError, match="no register 'CTRL'"):
        driver.check_ip_dict(no_ctrl, spec, "x.hwh")


class FakeChannel:
    """Unit-test double of a pynq DMA channel's status bits; NOT a stand-in for the network."""

    def __init__(self, idle_after: int | None, error: bool = False):
        self.idle_after, self._error, self.polls, self.waits = idle_after, error, 0, 0

    @property
    def idle(self) -> bool:
        self.polls += 1
        return self.idle_after is not None and self.polls > self.idle_after

    @property
    def error(self) -> bool:
        return self._error

    def wait(self) -> None:  # pynq's wait(): returns at once when idle (spins forever otherwise)
        assert self.idle_after is not None and self.polls > self.idle_after, "wait() called on a busy channel"
        self.waits += 1


def test_dma_timeout_loop_unit_raises_when_never_idle():
    send, recv = FakeChannel(idle_after=3), FakeChannel(idle_after=None)
    t0 = time.monotonic()
    with pytest.raises(DMATimeoutError, match=r"after 0\.2 s: channel\(s\) S2MM never went idle"):
        driver.wait_dma_idle({"MM2S": send, "S2MM": recv}, timeout_s=0.2, poll_s=1e-3)
    elapsed = time.monotonic() - t0
    assert 0.2 <= elapsed < 2.0
    assert send.waits == 1 and recv.waits == 0 and recv.polls > 10


def test_dma_timeout_loop_unit_returns_when_idle():
    chans = {"MM2S": FakeChannel(idle_after=5), "S2MM": FakeChannel(idle_after=50)}
    driver.wait_dma_idle(chans, timeout_s=5.0, poll_s=0)
    assert [c.waits for c in chans.values()] == [1, 1]


def test_dma_timeout_loop_unit_reports_error_flag():
    with pytest.raises(AcceleratorError, match="S2MM channel reports an error"):
        driver.wait_dma_idle({"S2MM": FakeChannel(idle_after=None, error=True)}, timeout_s=5.0)


@off_board
def test_cli_board_backend_without_pynq(tmp_path):
    r = subprocess.run([sys.executable, "host/infer.py", "--backend", "board", "host/samples"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "error:" in r.stderr and "Traceback" not in r.stderr
    # without the bitstream the missing files are named first; with it, pynq's absence
    assert f"bitstream for model '{DEPLOYED_MODEL}' incomplete" in r.stderr or "needs the 'pynq' package" in r.stderr
