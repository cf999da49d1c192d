"""The board path with the real pynq package (run in the board venv, scripts/setup_board_venv.sh):
real Vivado-written PYNQ-Z2 .hwh files through pynq's own parser, and the driver's overlay check on
each of them. Skipped with the reason where pynq or the files are absent."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from host import driver
from host.driver import BoardError
from host.stream import IOSpec

from test_host_stream import SPEC_DICT  # tests/ is on sys.path (pytest prepend mode)

HWH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "vendor-reports" / "pynq_z2_hwh"
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pynq") is None,
                       reason="pynq is not installed: run in the board venv (scripts/setup_board_venv.sh)"),
    pytest.mark.skipif(not HWH_DIR.is_dir(), reason=f"{HWH_DIR} absent (real .hwh files are not kept in the project)"),
]
SPEC = IOSpec.from_dict(SPEC_DICT)


def check(name: str) -> str:
    path = HWH_DIR / name
    ip_dict, cores = driver.read_hwh(path)
    with pytest.raises(BoardError) as e:
        driver.check_ip_dict(ip_dict, SPEC, str(path), cores)
    return str(e.value)


def test_pynq_parses_every_real_hwh():
    for path in sorted(HWH_DIR.glob("*.hwh")):
        ip_dict, cores = driver.read_hwh(path)
        assert any(":processing_system7:" in c["type"] for c in cores), path.name
        assert ip_dict and all("type" in v for v in ip_dict.values())


def test_hls4ml_design_names_its_dma_and_its_ap_ctrl_none_ip():
    spec = IOSpec.from_dict({**SPEC_DICT, "dma_name": "hier_0/axi_dma_0", "ip_name": "hier_0/myproject_axi_0"})
    path = HWH_DIR / "hls4ml_vivadoaccelerator_mnist_vivado2020.1.hwh"
    ip_dict, cores = driver.read_hwh(path)
    with pytest.raises(BoardError, match=r"'hier_0/myproject_axi_0' has no AXI4-Lite control interface "
                                         r"\(ports: ap_clk, ap_rst_n, in_r, out_r\): an ap_ctrl_none IP"):
        driver.check_ip_dict(ip_dict, spec, str(path), cores)
    msg = check(path.name)  # with this project's names: the DMA is there under another name
    assert f"no AXI DMA {SPEC.dma_name!r}" in msg and "its AXI DMAs: hier_0/axi_dma_0" in msg


def test_gpio_only_design_has_no_dma_and_says_what_it_has():
    msg = check("hls4ml_iris_gpio_no_dma_vivado2025.1.hwh")
    assert "it has no AXI DMA" in msg and "axi_gpio_0 (xilinx.com:ip:axi_gpio:2.0)" in msg


def test_bnn_design_lists_its_hls_ip_and_registers():
    spec = IOSpec.from_dict({**SPEC_DICT, "dma_name": "ps7"})  # past the DMA check: ps7 is no DMA
    path = HWH_DIR / "bnn_pynq_cnvW1A1.hwh"
    ip_dict, cores = driver.read_hwh(path)
    with pytest.raises(BoardError, match="'ps7' is xilinx.com:ip:processing_system7:5.5, not an AXI DMA"):
        driver.check_ip_dict(ip_dict, spec, str(path), cores)
    msg = check(path.name)
    assert "it has no AXI DMA" in msg and "BlackBoxJam_0 (xilinx.com:hls:BlackBoxJam:1.0)" in msg


def test_base_overlay_lists_what_it_found_instead():
    spec = IOSpec.from_dict({**SPEC_DICT, "dma_name": "trace_analyzer_pi/axi_dma_0"})
    path = HWH_DIR / "pynq_z2_base_v2.4.hwh"
    ip_dict, cores = driver.read_hwh(path)
    with pytest.raises(BoardError) as e:
        driver.check_ip_dict(ip_dict, spec, str(path), cores)
    msg = str(e.value)
    assert f"no accelerator IP {SPEC.ip_name!r}" in msg and "HLS IP there:" in msg
    assert "AXI4-Lite registers:" in msg  # the base overlay's HLS IPs have s_axi_control


def test_foreign_file_is_named(tmp_path):
    bad = tmp_path / "not.hwh"
    bad.write_text("<EDKSYSTEM><oops")
    with pytest.raises(BoardError, match=r"not\.hwh: pynq cannot read this hardware description"):
        driver.read_hwh(bad)
