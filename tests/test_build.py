"""scripts/build_bitstream.sh without Xilinx tools: report parsers on excerpts in the tools' formats,
the Tcl sourced by tclsh with every vendor command a recording stub from an allow-list, the names
of the block design checked against the io spec, preflight failures (missing/old tools, bad model),
the timing gate of the collect step, the Fire RTL shim (iverilog), and the real --dry-run (hls4ml
project, golden vectors, g++ C simulation of the AXI top, budget planner, printed vendor commands).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hw.flow import reports, tclgen
from hw.flow.fire import FireExportError, make_shim, verilog_ports
from hw.hls.contract import StreamFormats, io_spec

REPO = Path(__file__).resolve().parents[1]

SCRIPT = REPO / "scripts" / "build_bitstream.sh"
STUB = REPO / "tests" / "tcl_stub.tcl"
MODEL = REPO / "hw" / "models" / "squeezenet_fmnist.keras"
CONFIG = REPO / "hls_config" / "squeezenet_fmnist.yml"
SPEC_EXAMPLE = io_spec(StreamFormats((28, 28, 1), "input_t", "result_t", 10, 16, 9, True), "squeezenet_fmnist",
                       [str(i) for i in range(10)])  # the contract's own writer: no hand copy of its fields


# ---------------------------------------------------------------------------------------------
# report parsers (excerpts written in the Vivado / Vitis HLS formats)
# ---------------------------------------------------------------------------------------------
UTIL_RPT = """\
Copyright 1986-2022 Xilinx, Inc. All Rights Reserved.
| Tool Version : Vivado v.2023.2 (lin64) Build 4029153 Fri Oct 13 20:13:54 MDT 2023
| Device       : 7z020clg400-1

1. Slice Logic
--------------

+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| Slice LUTs                 | 23456 |     0 |          0 |     53200 | 44.09 |
|   LUT as Logic             | 21000 |     0 |          0 |     53200 | 39.47 |
|   LUT as Memory            |  2456 |     0 |          0 |     17400 | 14.11 |
| Slice Registers            | 30210 |     0 |          0 |    106400 | 28.39 |
+----------------------------+-------+-------+------------+-----------+-------+

3. Memory
---------

+-------------------+------+-------+------------+-----------+-------+
|     Site Type     | Used | Fixed | Prohibited | Available | Util% |
+-------------------+------+-------+------------+-----------+-------+
| Block RAM Tile    | 97.5 |     0 |          0 |       140 | 69.64 |
|   RAMB36/FIFO*    |   90 |     0 |          0 |       140 | 64.29 |
|   RAMB18          |   15 |     0 |          0 |       280 |  5.36 |
+-------------------+------+-------+------------+-----------+-------+

4. DSP
------

+----------------+------+-------+------------+-----------+-------+
|    Site Type   | Used | Fixed | Prohibited | Available | Util% |
+----------------+------+-------+------------+-----------+-------+
| DSPs           |  150 |     0 |          0 |       220 | 68.18 |
|   DSP48E1 only |  150 |       |            |           |       |
+----------------+------+-------+------------+-----------+-------+
"""

TIMING_RPT = """\
------------------------------------------------------------------------------------------------
| Design Timing Summary
| ---------------------
------------------------------------------------------------------------------------------------

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints
    -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------     --------     --------  ----------------------  --------------------
    {wns:>7}      {tns:>7}  {fail:>21}                54321        0.021        0.000                      0                54321        3.750        0.000                       0                 20000


{verdict}


------------------------------------------------------------------------------------------------
| Clock Summary
| -------------
------------------------------------------------------------------------------------------------

Clock       Waveform(ns)         Period(ns)      Frequency(MHz)
-----       ------------         ----------      --------------
clk_fpga_0  {{0.000 5.000}}        10.000          100.000

"""


def timing_rpt(wns="0.412", tns="0.000", fail=0):
    verdict = "All user specified timing constraints are met." if fail == 0 else "Timing constraints are not met."
    return TIMING_RPT.format(wns=wns, tns=tns, fail=fail, verdict=verdict)


def test_utilization_parser_reads_the_chip_resources():
    u = reports.parse_utilization(UTIL_RPT)
    assert (u.lut, u.lut_available, u.ff, u.ff_available) == (23456, 53200, 30210, 106400)
    assert (u.bram_tiles, u.bram_tiles_available, u.dsp, u.dsp_available) == (97.5, 140, 150, 220)
    assert u.to_dict()["dsp_percent"] == 68.18


def test_utilization_parser_rejects_a_report_without_the_rows():
    with pytest.raises(reports.ReportError, match="DSPs"):
        reports.parse_utilization(UTIL_RPT.split("4. DSP")[0])


def test_timing_parser_met_and_not_met():
    t = reports.parse_timing_summary(timing_rpt())
    assert (t.wns_ns, t.whs_ns, t.failing_endpoints, t.met) == (0.412, 0.021, 0, True)
    assert t.clocks == {"clk_fpga_0": 10.0}
    bad = reports.parse_timing_summary(timing_rpt(wns="-0.153", tns="-2.310", fail=17))
    assert (bad.wns_ns, bad.tns_ns, bad.failing_endpoints, bad.met) == (-0.153, -2.31, 17, False)


def test_timing_parser_refuses_an_unconstrained_design():
    with pytest.raises(reports.ReportError, match="constrained"):
        reports.parse_timing_summary(timing_rpt(wns="NA", tns="NA", fail="NA"))
    with pytest.raises(reports.ReportError, match="Design Timing Summary"):
        reports.parse_timing_summary("nothing here\n")


@pytest.mark.parametrize("banner, version", [
    ("vivado v2023.2 (64-bit)\nTool Version Limit: 2023.10\nSW Build 4029153 on Fri Oct 13", (2023, 2)),
    ("Vitis HLS - High-Level Synthesis from C, C++ and OpenCL v2024.1 (64-bit)\n", (2024, 1)),
    ("vivado v2019.1 (64-bit)\nSW Build 2552052", (2019, 1)),
    ("Tool Version Limit: 2023.10\nnothing else", None),
    ("command not found", None),
])
def test_tool_version_banner(banner, version):
    assert reports.parse_tool_version(banner) == version


CSYNTH_XML = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments><Part>xc7z020-clg400-1</Part><TopModelName>squeezenet_axi</TopModelName>
    <TargetClockPeriod>10.00</TargetClockPeriod><ClockUncertainty>1.25</ClockUncertainty></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>7.300</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency><unit>clock cycles</unit><Best-caseLatency>81234</Best-caseLatency>
      <Worst-caseLatency>undef</Worst-caseLatency><Interval-min>81235</Interval-min><Interval-max>undef</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates><Resources><BRAM_18K>190</BRAM_18K><DSP>150</DSP><FF>28000</FF><LUT>25000</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>280</BRAM_18K><DSP>220</DSP><FF>106400</FF><LUT>53200</LUT><URAM>0</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""


def test_csynth_xml_parser():
    r = reports.parse_csynth_xml(CSYNTH_XML)
    assert r["top"] == "squeezenet_axi" and r["estimated_clock_ns"] == 7.3 and r["target_clock_ns"] == 10.0
    assert r["latency_best_cycles"] == 81234 and r["latency_worst_cycles"] == "undef"
    assert r["resources"] == {"BRAM_18K": 190, "DSP": 150, "FF": 28000, "LUT": 25000, "URAM": 0}
    with pytest.raises(reports.ReportError):
        reports.parse_csynth_xml("<profile><UserAssignments/></profile>")


def hwh_text(ip="squeezenet_axi_0", vlnv="xilinx.com:hls:squeezenet_axi:1.0", reg="n_images", sg="0"):
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="Mon Jan  1 00:00:00 2024" VIVADOVERSION="2023.2">
  <MODULES>
    <MODULE FULLNAME="/processing_system7_0" INSTANCE="processing_system7_0" MODTYPE="processing_system7"
            VLNV="xilinx.com:ip:processing_system7:5.5">
      <PARAMETERS><PARAMETER NAME="PCW_FPGA0_PERIPHERAL_FREQMHZ" VALUE="100"/></PARAMETERS>
      <MEMORYMAP>
        <MEMRANGE ADDRESSBLOCK="Reg" BASENAME="C_BASEADDR" BASEVALUE="0x40400000" HIGHNAME="C_HIGHADDR"
                  HIGHVALUE="0x4040FFFF" INSTANCE="axi_dma_0" IS_DATA="TRUE" IS_INSTRUCTION="TRUE"
                  MASTERBUSINTERFACE="M_AXI_GP0" MEMTYPE="REGISTER" SLAVEBUSINTERFACE="S_AXI_LITE"/>
        <MEMRANGE ADDRESSBLOCK="Reg" BASENAME="C_S_AXI_CONTROL_BASEADDR" BASEVALUE="0x40000000"
                  HIGHNAME="C_S_AXI_CONTROL_HIGHADDR" HIGHVALUE="0x4000FFFF" INSTANCE="{ip}" IS_DATA="TRUE"
                  IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="M_AXI_GP0" MEMTYPE="REGISTER" SLAVEBUSINTERFACE="s_axi_control"/>
      </MEMORYMAP>
    </MODULE>
    <MODULE FULLNAME="/axi_dma_0" INSTANCE="axi_dma_0" MODTYPE="axi_dma" VLNV="xilinx.com:ip:axi_dma:7.1">
      <PARAMETERS><PARAMETER NAME="C_INCLUDE_SG" VALUE="{sg}"/><PARAMETER NAME="C_SG_LENGTH_WIDTH" VALUE="26"/></PARAMETERS>
    </MODULE>
    <MODULE FULLNAME="/{ip}" INSTANCE="{ip}" MODTYPE="squeezenet_axi" VLNV="{vlnv}">
      <PARAMETERS><PARAMETER NAME="C_S_AXI_CONTROL_ADDR_WIDTH" VALUE="5"/></PARAMETERS>
      <ADDRESSBLOCKS><ADDRESSBLOCK ACCESS="read-write" INTERFACE="s_axi_control" NAME="Reg" RANGE="32" USAGE="register">
        <REGISTERS>
          <REGISTER NAME="CTRL"><PROPERTY NAME="DESCRIPTION" VALUE="Control signals"/>
            <PROPERTY NAME="ADDRESS_OFFSET" VALUE="0"/><PROPERTY NAME="SIZE" VALUE="32"/></REGISTER>
          <REGISTER NAME="{reg}"><PROPERTY NAME="DESCRIPTION" VALUE="Data signal of {reg}"/>
            <PROPERTY NAME="ADDRESS_OFFSET" VALUE="16"/><PROPERTY NAME="SIZE" VALUE="32"/></REGISTER>
        </REGISTERS>
      </ADDRESSBLOCK></ADDRESSBLOCKS>
    </MODULE>
  </MODULES>
</EDKSYSTEM>
"""


def test_hwh_parser_and_spec_check():
    mods = reports.parse_hwh(hwh_text())
    assert mods["squeezenet_axi_0"]["registers"] == {"CTRL": 0, "n_images": 16}
    assert mods["squeezenet_axi_0"]["base_address"] == 0x40000000
    assert mods["axi_dma_0"]["base_address"] == 0x40400000
    assert reports.check_hwh_against_spec(mods, SPEC_EXAMPLE) == []


@pytest.mark.parametrize("kwargs, problem", [
    ({"reg": "batch"}, "no register 'n_images'"),
    ({"ip": "accel_0"}, "'squeezenet_axi_0' not in the .hwh"),
    ({"vlnv": "xilinx.com:hls:other:1.0"}, "expected xilinx.com:hls:squeezenet_axi:1.0"),
    ({"sg": "1"}, "scatter-gather"),
])
def test_hwh_spec_check_names_each_mismatch(kwargs, problem):
    problems = reports.check_hwh_against_spec(reports.parse_hwh(hwh_text(**kwargs)), SPEC_EXAMPLE)
    assert any(problem in p for p in problems), problems


def test_hls_register_header():
    text = ("#define XSQUEEZENET_AXI_CONTROL_ADDR_AP_CTRL       0x00\n"
            "#define XSQUEEZENET_AXI_CONTROL_ADDR_N_IMAGES_DATA 0x10\n"
            "#define XSQUEEZENET_AXI_CONTROL_BITS_N_IMAGES_DATA 32\n")
    assert reports.parse_hls_register_header(text) == {"n_images": 0x10}


# ---------------------------------------------------------------------------------------------
# Tcl: sourced by tclsh with vendor commands as recording stubs from an allow-list
# ---------------------------------------------------------------------------------------------
def run_stub(tmp_path, entry: Path) -> list[list[str]]:
    rec = tmp_path / f"{entry.stem}.calls"
    r = subprocess.run(["tclsh", str(STUB), str(rec), str(entry)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [_tcl_split(line) for line in rec.read_text().splitlines()]


def _tcl_split(line: str) -> list[str]:
    r = subprocess.run(["tclsh"], input=f"foreach w {{{line}}} {{puts $w}}\n", capture_output=True, text=True)
    return r.stdout.splitlines()


def vivado_calls(tmp_path, spec, clock_ns=10.0):
    s = tclgen.vivado_settings(spec, part="xc7z020clg400-1", board_part="tul.com.tw:pynq-z2:part0:1.0",
                               board_repo="", ip_repo=tmp_path / "ip", vivado_dir=tmp_path / "viv",
                               report_dir=tmp_path / "rep", clock_ns=clock_ns, jobs=2)
    cfg = tclgen.write_config(tmp_path / "config.tcl", s)
    calls = {}
    for script in ("create_project.tcl", "implement.tcl"):
        entry = tclgen.write_entry(tmp_path / f"entry_{script}", cfg, tclgen.VIVADO_SCRIPTS / script)
        calls[script] = run_stub(tmp_path, entry)
    return calls


def block_design_names(calls) -> dict:
    cells = {c[-1]: c[c.index("-vlnv") + 1] for c in calls if c[0] == "create_bd_cell"}
    intf = [(c[1], c[2]) for c in calls if c[0] == "connect_bd_intf_net"]
    props = {}
    for c in calls:
        if c[0] == "set_property" and c[1] == "-dict":
            words = _tcl_split(c[2])
            props.setdefault(c[3], {}).update(dict(zip(words[::2], words[1::2])))
    return {"cells": cells, "intf": intf, "props": props}


def check_block_design(calls, spec):
    bd = block_design_names(calls["create_project.tcl"])
    ip, dma, top = spec["ip_name"], spec["dma_name"], spec["top"]
    assert bd["cells"][ip] == f"xilinx.com:hls:{top}:1.0"
    assert bd["cells"][dma] == "xilinx.com:ip:axi_dma:7.1"
    assert {"processing_system7_0", "rst_ps7_0", "ps7_0_axi_periph", "axi_smc"} <= set(bd["cells"])
    assert (f"{dma}/M_AXIS_MM2S", f"{ip}/{spec['in_port']}") in bd["intf"]
    assert (f"{ip}/{spec['out_port']}", f"{dma}/S_AXIS_S2MM") in bd["intf"]
    assert ("ps7_0_axi_periph/M01_AXI", f"{ip}/s_axi_{spec['control_bundle']}") in bd["intf"]
    assert ("ps7_0_axi_periph/M00_AXI", f"{dma}/S_AXI_LITE") in bd["intf"]
    assert ("axi_smc/M00_AXI", "processing_system7_0/S_AXI_HP0") in bd["intf"]
    assert ("processing_system7_0/M_AXI_GP0", "ps7_0_axi_periph/S00_AXI") in bd["intf"]
    d = bd["props"][dma]
    assert (d["CONFIG.c_include_sg"], d["CONFIG.c_sg_length_width"]) == ("0", str(spec["dma_length_bits"]))
    assert d["CONFIG.c_m_axis_mm2s_tdata_width"] == str(spec["input"]["beat_bits"])
    assert d["CONFIG.c_s_axis_s2mm_tdata_width"] == str(spec["output"]["beat_bits"])
    ps = bd["props"]["processing_system7_0"]
    assert (ps["CONFIG.PCW_USE_S_AXI_HP0"], ps["CONFIG.PCW_USE_M_AXI_GP0"]) == ("1", "1")
    names = [c[0] for c in calls["create_project.tcl"]]
    for needed in ("apply_bd_automation", "assign_bd_address", "validate_bd_design", "make_wrapper"):
        assert needed in names
    assert names[-1] == "exit" and calls["create_project.tcl"][-1] == ["exit", "0"]
    return bd


def test_block_design_takes_every_name_from_the_io_spec(tmp_path):
    """Different names in the spec -> different names in the block design: nothing is hard-coded."""
    spec = json.loads(json.dumps(SPEC_EXAMPLE))
    spec.update(top="my_net_axi", ip_name="my_net_axi_7", dma_name="dma_x", in_port="pix_in", out_port="logit_out")
    spec["output"]["beat_bits"] = 32
    calls = vivado_calls(tmp_path, spec, clock_ns=7.0)
    bd = check_block_design(calls, spec)
    assert bd["props"]["processing_system7_0"]["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "142.857"
    impl = [c[0] for c in calls["implement.tcl"]]
    assert impl.index("launch_runs") < impl.index("report_utilization") < impl.index("report_timing_summary")
    assert impl.index("report_timing_summary") < impl.index("report_power")  # power.rpt for the energy table
    assert ["launch_runs", "impl_1", "-to_step", "write_bitstream", "-jobs", "2"] in calls["implement.tcl"]


REAL_HWH = REPO.parent / "shared" / "vendor-reports" / "pynq_z2_hwh"


def test_block_design_vlnvs_and_config_properties_exist_in_real_vivado_hwh(tmp_path):
    """Every Xilinx IP the block-design Tcl instantiates has an instance of the same VLNV in a real
    Vivado-written PYNQ-Z2 .hwh, and every CONFIG.<name> it sets is in that instance's PARAMETER
    list: a misspelled property fails here instead of an hour into a Vivado run."""
    from hw.flow.reports import parse_hwh

    files = sorted(REAL_HWH.glob("*.hwh"))
    if not files:
        pytest.skip(f"{REAL_HWH} absent (real .hwh files are read from ../shared, not kept in the project)")
    params: dict[str, set[str]] = {}
    for f in files:
        for m in parse_hwh(f.read_text(encoding="utf-8-sig", errors="replace")).values():
            params.setdefault(m["vlnv"], set()).update(k.upper() for k in m["parameters"])
    bd = block_design_names(vivado_calls(tmp_path, SPEC_EXAMPLE)["create_project.tcl"])
    checked = 0
    for cell, vlnv in bd["cells"].items():
        if vlnv.startswith("xilinx.com:hls:"):
            continue  # this project's own IP: its ports and registers are checked against the HLS export
        assert vlnv in params, f"{cell}: {vlnv} is in none of the real .hwh files ({', '.join(f.name for f in files)})"
        for key in bd["props"].get(cell, {}):
            name = key.removeprefix("CONFIG.").split(".")[0]  # CONFIG.<p>.VALUE_SRC is an attribute of <p>
            assert name.upper() in params[vlnv], f"{cell} ({vlnv}): CONFIG.{name} is no parameter Vivado wrote"
            checked += 1
    assert checked >= 18  # PS7 4, DMA 13 (+2 VALUE_SRC), interconnect 2, smartconnect 2


def test_hls_tcl_flow_order_and_top(tmp_path):
    s = tclgen.hls_settings(hls_project="squeezenet_axi_prj", top="squeezenet_axi", part="xc7z020clg400-1",
                            clock_ns=10.0, clock_uncertainty="27%", design_files=[tmp_path / "net.cpp", tmp_path / "axi_top.cpp"],
                            tb_files=[tmp_path / "tb.cpp"], include_dirs=[tmp_path], run_csim=True,
                            csim_argv="in.txt exp.txt 4")
    cfg = tclgen.write_config(tmp_path / "hls_config.tcl", s)
    calls = run_stub(tmp_path, tclgen.write_entry(tmp_path / "hls.tcl", cfg, tclgen.HLS_SCRIPTS / "build_ip.tcl"))
    names = [c[0] for c in calls]
    assert names.index("csim_design") < names.index("csynth_design") < names.index("export_design")
    assert ["set_top", "squeezenet_axi"] in calls
    assert ["csim_design", "-argv", "in.txt exp.txt 4"] in calls
    exp = calls[names.index("export_design")]
    assert exp[exp.index("-format") + 1] == "ip_catalog" and exp[exp.index("-rtl") + 1] == "verilog"
    assert exp[exp.index("-ipname") + 1] == "squeezenet_axi" and exp[exp.index("-vendor") + 1] == "xilinx.com"
    assert ["set_part", "xc7z020clg400-1"] in calls and calls[-1] == ["exit", "0"]
    assert ["set_clock_uncertainty", "27%", "default"] in calls
    assert ["config_rtl", "-reset", "state"] in calls  # static counters reset with ap_rst_n (LeNet-5 RTL finding)
    assert names.index("config_rtl") < names.index("csynth_design")
    assert sum(1 for c in calls if c[:2] == ["add_files", "-tb"]) == 1


def test_hls_tcl_optional_cosim(tmp_path):
    """--cosim: cosim_design of the synthesized AXI top with the C simulation's testbench arguments,
    after csynth_design and before export; off by default."""
    kw = dict(hls_project="p", top="squeezenet_axi", part="xc7z020clg400-1", clock_ns=10.0, clock_uncertainty="27%",
              design_files=[tmp_path / "a.cpp"], tb_files=[tmp_path / "tb.cpp"], include_dirs=[tmp_path],
              run_csim=True, csim_argv="in.txt exp.txt 4")
    for cosim in (False, True):
        cfg = tclgen.write_config(tmp_path / f"c{cosim}.tcl", tclgen.hls_settings(**kw, run_cosim=cosim))
        calls = run_stub(tmp_path, tclgen.write_entry(tmp_path / f"e{cosim}.tcl", cfg, tclgen.HLS_SCRIPTS / "build_ip.tcl"))
        names = [c[0] for c in calls]
        assert ("cosim_design" in names) == cosim
        if cosim:
            assert names.index("csynth_design") < names.index("cosim_design") < names.index("export_design")
            assert ["cosim_design", "-rtl", "verilog", "-trace_level", "none", "-argv", "in.txt exp.txt 4"] in calls
    from hw.flow.flow import parse_args

    assert parse_args(["--cosim", "--dry-run"]).cosim and not parse_args(["--dry-run"]).cosim


def test_cosim_report_parser_on_real_vitis_output(tmp_path):
    from hw.flow.reports import ReportError, parse_cosim_report

    rpt = REPO.parent / "shared" / "vendor-reports" / "zcu102_lenet5_hls4ml1.0_vitishls2023.2" / "cosim" / "myproject_cosim.rpt"
    if not rpt.exists():
        pytest.skip(f"{rpt} absent (the vendor reports are read from ../shared, not kept in the project)")
    r = parse_cosim_report(rpt.read_text())
    assert r == {"status": "Pass", "latency_min": 2423, "latency_avg": 3177, "latency_max": 3555,
                 "interval_min": 2354, "interval_avg": 2354, "interval_max": 2354}
    with pytest.raises(ReportError, match="not Pass"):
        parse_cosim_report(rpt.read_text().replace("|      Pass|", "|      Fail|"))
    with pytest.raises(ReportError, match="no Verilog row"):
        parse_cosim_report("nothing here")


def test_stub_rejects_a_command_outside_the_allow_list(tmp_path):
    bad = tmp_path / "bad.tcl"
    bad.write_text("create_bd_design x\nwrite_hw_platform -force x.xsa\n")
    r = subprocess.run(["tclsh", str(STUB), str(tmp_path / "rec"), str(bad)], capture_output=True, text=True)
    assert r.returncode == 3 and "NOT ALLOWED: write_hw_platform" in r.stderr


def test_hls_tcl_refuses_to_run_without_its_config(tmp_path):
    r = subprocess.run(["tclsh", str(STUB), str(tmp_path / "rec"), str(tclgen.HLS_SCRIPTS / "build_ip.tcl")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "variable 'hls_project' is not set" in r.stderr


def test_tcl_values_are_quoted_or_refused(tmp_path):
    cfg = tclgen.write_config(tmp_path / "c.tcl", {"path": "/a dir/with space", "files": ["x y.cpp", "z.cpp"]})
    r = subprocess.run(["tclsh"], input=f"source {cfg}\nputs $path\nputs [llength $files]\n",
                       capture_output=True, text=True)
    assert r.stdout.split("\n")[:2] == ["/a dir/with space", "2"]
    with pytest.raises(tclgen.TclError):
        tclgen.write_config(tmp_path / "d.tcl", {"x": "a}b"})
    with pytest.raises(tclgen.TclError, match="identifier"):
        tclgen.spec_names({**SPEC_EXAMPLE, "ip_name": "bad name"})


# ---------------------------------------------------------------------------------------------
# Fire RTL shim
# ---------------------------------------------------------------------------------------------
HLS_FIRE_V = """\
`timescale 1 ns / 1 ps
module fire2 (
        fire2_in_TDATA, layer10_out_TDATA, ap_clk, ap_rst_n, fire2_in_TVALID, fire2_in_TREADY,
        ap_start, layer10_out_TVALID, layer10_out_TREADY, ap_done, ap_ready, ap_idle
);
input  [255:0] fire2_in_TDATA;
output  [511:0] layer10_out_TDATA;
input   ap_clk;
input   ap_rst_n;
input   fire2_in_TVALID;
output   fire2_in_TREADY;
input   ap_start;
output   layer10_out_TVALID;
input   layer10_out_TREADY;
output   ap_done;
output   ap_ready;
output   ap_idle;
assign layer10_out_TDATA = {fire2_in_TDATA, fire2_in_TDATA};
assign layer10_out_TVALID = fire2_in_TVALID & ap_start;
assign fire2_in_TREADY = layer10_out_TREADY;
assign ap_done = 1'b0; assign ap_ready = 1'b0; assign ap_idle = 1'b0;
endmodule
"""


def test_fire_shim_gives_the_bench_port_names(tmp_path):
    ports = verilog_ports(HLS_FIRE_V, "fire2")
    assert ports["fire2_in_TDATA"] == ("input", 256) and ports["layer10_out_TDATA"] == ("output", 512)
    shim = make_shim("fire2", ports)
    (tmp_path / "fire2.v").write_text(HLS_FIRE_V)
    (tmp_path / "fire2_hls.v").write_text(shim)
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not installed")
    r = subprocess.run(["iverilog", "-g2012", "-s", "fire2_hls", "-o", str(tmp_path / "a.out"),
                        str(tmp_path / "fire2.v"), str(tmp_path / "fire2_hls.v")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for p in ("ap_clk", "ap_rst_n", "in_TDATA", "in_TVALID", "in_TREADY", "out_TDATA", "out_TVALID", "out_TREADY"):
        assert f" {p}" in shim
    assert ".ap_start(1'b1)" in shim and "[255:0] in_TDATA" in shim and "[511:0] out_TDATA" in shim


def test_fire_shim_refuses_an_unknown_input_port():
    ports = verilog_ports(HLS_FIRE_V.replace("input   ap_start;", "input   ap_start;\ninput   mode;"), "fire2")
    with pytest.raises(FireExportError, match="mode"):
        make_shim("fire2", ports)


# ---------------------------------------------------------------------------------------------
# CLI: preflight and bad input (no Xilinx tools needed; fake ones only to test the version check)
# ---------------------------------------------------------------------------------------------
def run_cli(*args, path=None, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=timeout)


def clean_path(tmp_path, fake: dict | None = None) -> str:
    """PATH without any Xilinx tool, plus fake tool scripts printing the given banners."""
    d = tmp_path / "bin"
    d.mkdir(parents=True, exist_ok=True)
    for name, banner in (fake or {}).items():
        f = d / name
        f.write_text(f"#!/bin/sh\necho '{banner}'\n")
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    keep = [p for p in os.environ["PATH"].split(os.pathsep)
            if p and not any((Path(p) / t).exists() for t in ("vivado", "vitis_hls", "vitis-run"))]
    return os.pathsep.join([str(d), *keep])


@pytest.fixture()
def tiny_config(tmp_path):
    cfg = tmp_path / "model.yml"
    cfg.write_text(CONFIG.read_text() if CONFIG.exists() else "Backend: Vitis\n")
    return cfg


def test_unknown_model_is_one_clear_line(tmp_path):
    r = run_cli("--model", "no_such_model", "--dry-run", "--out", tmp_path / "o")
    assert r.returncode == 2
    assert "preflight: unknown model 'no_such_model'" in r.stderr and "squeezenet_fmnist" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()


def test_missing_weights_and_config(tmp_path):
    r = run_cli("--model-file", tmp_path / "w" / "gone.keras", "--config-file", tmp_path / "none.yml",
                "--dry-run", "--out", tmp_path / "o")
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("preflight:")]
    assert any("model weights" in ln and "gone.keras" in ln and "hw.model.train" in ln for ln in lines)
    assert any("hls4ml config" in ln and "none.yml" in ln for ln in lines)


def test_missing_tools_are_named_with_the_fix(tmp_path, tiny_config):
    r = run_cli("--config-file", tiny_config, "--out", tmp_path / "o", path=clean_path(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "preflight: Vitis HLS not found on PATH" in r.stderr
    assert "preflight: Vivado not found on PATH" in r.stderr and "settings64.sh" in r.stderr
    assert "Traceback" not in r.stderr


def test_old_vivado_is_refused(tmp_path, tiny_config):
    fake = {"vivado": "vivado v2022.1 (64-bit)", "vitis_hls": "Vitis HLS - High-Level Synthesis v2019.2 (64-bit)"}
    r = run_cli("--config-file", tiny_config, "--out", tmp_path / "o", path=clean_path(tmp_path, fake))
    assert r.returncode == 2
    assert "preflight: Vivado 2022.1" in r.stderr and "too old: 2023.2 or newer" in r.stderr
    assert "preflight: Vitis HLS 2019.2" in r.stderr


def test_collect_fails_when_timing_is_not_met_and_keeps_earlier_outputs(tmp_path, tiny_config):
    out, bits = tmp_path / "o", tmp_path / "bitstreams"
    (out / "reports").mkdir(parents=True)
    (out / "reports" / "timing_summary.rpt").write_text(timing_rpt(wns="-0.153", tns="-2.310", fail=17))
    (out / "reports" / "utilization.rpt").write_text(UTIL_RPT)
    bits.mkdir()
    (bits / "squeezenet_fmnist.bit").write_bytes(b"previous build")
    r = run_cli("--config-file", tiny_config, "--out", out, "--bitstream-dir", bits, "--from-step", "collect")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "step collect failed: timing not met at 10.0 ns: WNS -0.153 ns" in r.stderr
    assert (bits / "squeezenet_fmnist.bit").read_bytes() == b"previous build"
    assert sorted(p.name for p in bits.iterdir()) == ["squeezenet_fmnist.bit"]


def test_a_config_that_does_not_fit_stops_before_any_step(tmp_path):
    """Every ReuseFactor 1 (fully parallel): far more multipliers than the XC7Z020 holds (with RF 1 the
    weights are constants and the calibrated rule builds 8x8-bit products in LUTs)."""
    import yaml

    cfg = yaml.safe_load(CONFIG.read_text())
    for layer in cfg["HLSConfig"]["LayerName"].values():
        if isinstance(layer, dict) and "ReuseFactor" in layer:
            layer["ReuseFactor"] = 1
    bad = tmp_path / "parallel.yml"
    bad.write_text(yaml.safe_dump(cfg))
    r = run_cli("--dry-run", "--config-file", bad, "--out", tmp_path / "o")
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "preflight: the model does not fit the chip per the budget planner" in r.stderr
    assert "LUT: needs" in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "o" / "hls").exists()


def test_unknown_step_is_a_usage_error():
    r = run_cli("--from-step", "place_and_pray", "--dry-run")
    assert r.returncode == 2 and "unknown step 'place_and_pray'" in r.stderr


# ---------------------------------------------------------------------------------------------
# the real dry run (hls4ml project, golden vectors, g++ C simulation, planner, Tcl, commands)
# ---------------------------------------------------------------------------------------------
DRY_OUT = REPO / "build" / "test_build" / "dry"


@pytest.fixture(scope="module")
def dry_run():
    """One dry run per session; its project and C-simulation library are reused from build/ (hw.hls caches)."""
    for marker in ("hls_ip", "vivado_project", "vivado_bitstream", "collect"):
        (DRY_OUT / ".steps" / f"{marker}.json").unlink(missing_ok=True)
    r = run_cli("--dry-run", "--csim-images", 4, "--out", DRY_OUT, "--bitstream-dir",
                DRY_OUT / "bitstreams", "--from-step", "csim" if (DRY_OUT / ".steps" / "hls_project.json").exists() else "hls_project",
                path=clean_path(DRY_OUT.parent / "path"))
    return r


def test_dry_run_builds_what_it_can_and_prints_the_vendor_commands(dry_run):
    r = dry_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    # the planner ran on the deployed config and passed it (a refusal would have stopped the run)
    assert "budget planner says the model fits" in out or "budget planner verdict for these inputs cached (fits)" in out
    assert "TB PASS: 4 images" in out  # g++ C simulation of the AXI top == golden model, beat for beat
    # bounded-FIFO simulation before any vendor step (hw.hls.fifosim): the design's depths carry the batch
    assert "20 images through bounded FIFOs" in out and "bit-exact with the C simulation" in out
    assert "vitis-run --mode hls --tcl" in out and str(DRY_OUT / "tcl" / "hls_ip.tcl") in out
    summary = out.split("vendor commands that a full build runs:")[1].strip().splitlines()
    assert len(summary) == 3 and "vitis-run --mode hls --tcl" in summary[0]
    assert "vivado -mode batch" in summary[1] and summary[1].endswith("vivado_project.tcl)")
    assert "vivado -mode batch" in summary[2] and summary[2].endswith("vivado_bitstream.tcl)")
    assert "would write" in out and not (DRY_OUT / "bitstreams").exists()
    steps = {p.stem for p in (DRY_OUT / ".steps").glob("*.json")}
    assert {"hls_project", "csim", "fifo_check"} <= steps and not steps & {"hls_ip", "vivado_project", "vivado_bitstream", "collect"}


def test_dry_run_tcl_names_match_the_io_spec_the_driver_reads(dry_run, tmp_path):
    """The generated config.tcl + block design, sourced with stubs, use the io spec's names."""
    assert dry_run.returncode == 0
    from host.stream import IOSpec

    spec_path = DRY_OUT / "hls" / "io_spec.json"
    IOSpec.load(spec_path)  # the spec host/driver.py loads (copied to bitstreams/<model>.io.json)
    spec = json.loads(spec_path.read_text())
    calls = {}
    for script, entry in (("create_project.tcl", "vivado_project.tcl"), ("implement.tcl", "vivado_bitstream.tcl")):
        calls[script] = run_stub(tmp_path, DRY_OUT / "tcl" / entry)
    check_block_design(calls, spec)
    hls = run_stub(tmp_path, DRY_OUT / "tcl" / "hls_ip.tcl")
    assert ["set_top", spec["top"]] in hls


def test_rerun_skips_finished_steps(dry_run):
    assert dry_run.returncode == 0
    r = run_cli("--dry-run", "--csim-images", 4, "--out", DRY_OUT, "--bitstream-dir",
                DRY_OUT / "bitstreams", path=clean_path(DRY_OUT.parent / "path"))
    assert r.returncode == 0, r.stderr
    assert "[hls_project] done earlier, skipped" in r.stdout and "[csim] done earlier, skipped" in r.stdout


@pytest.mark.slow
def test_fire_rtl_dry_run_checks_the_fire_project_bit_exact(tmp_path):
    r = run_cli("--fire-rtl", "--dry-run", "--out", tmp_path / "fire", path=clean_path(tmp_path))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    info = json.loads((tmp_path / "fire" / "fire" / "fire.json").read_text())
    assert info["fire"] == "fire2" and info["in_channels"] == 32 and info["out_channels"] == 64
    assert "vitis-run --mode hls --tcl" in r.stdout and "HLS_FIRE_RTL_DIR" not in r.stderr


def test_clock_override_reaches_hls4ml_vitis_and_vivado_alike(tmp_path):
    """--clock-ns changes the one source (the YAML as loaded), so every tool sees the same period."""
    from hw.flow.flow import Build, BuildConfig

    cfg = BuildConfig(model="squeezenet_fmnist", out=str(tmp_path / "o"), clock_ns=8.0)
    hc = cfg.hls_config()
    assert hc.clock_ns == 8.0 and hc.part == "xc7z020clg400-1"
    hls_dict = hc.hls4ml_dict(None, tmp_path / "p")  # what hls4ml converts with
    assert hls_dict["ClockPeriod"] == 8.0 and hls_dict["ClockUncertainty"] == hc.clock_uncertainty
    b = Build(cfg, log=lambda s: None)
    b.spec_path.parent.mkdir(parents=True)
    b.spec_path.write_text(json.dumps(SPEC_EXAMPLE))
    text = b.vivado_config().read_text()
    assert "set fclk_mhz {125}" in text and "set part {xc7z020clg400-1}" in text
    default = BuildConfig(model="squeezenet_fmnist", out=str(tmp_path / "d")).hls_config()
    assert default.clock_ns == 10.0


def test_changed_inputs_rerun_every_step_even_with_from_step(tmp_path):
    """A --from-step after the model/config/flow changed must not reuse earlier steps' stale outputs."""
    from hw.flow.flow import Build, BuildConfig

    out = tmp_path / "o"
    b = Build(BuildConfig(model="squeezenet_fmnist", out=str(out), dry_run=True), log=lambda s: None)
    b.prepare_markers()
    saved = json.loads((out / "build_config.json").read_text())
    saved["fingerprint"]["config_sha256"] = "0" * 64  # as if the YAML had changed since
    (out / "build_config.json").write_text(json.dumps(saved))
    b2 = Build(BuildConfig(model="squeezenet_fmnist", out=str(out), dry_run=True, from_step="csim"), log=lambda s: None)
    assert b2.steps_to_run()[0] == "hls_project"


def test_emulated_board_hwh_says_what_the_block_design_tcl_sets(tmp_path):
    """The .hwh the project generates for the emulated board (host.emulation.emulated_hwh) carries the same
    VLNVs and the same CONFIG values as the block-design Tcl, and passes the flow's own check of a
    built .hwh against the io spec: the emulation cannot drift from the design it stands for."""
    from host.emulation.emulated_hwh import build_hwh
    from host.stream import IOSpec
    from hw.flow.reports import parse_hwh

    spec = IOSpec.from_dict(SPEC_EXAMPLE)
    mods = parse_hwh(ET.tostring(build_hwh(spec).getroot(), encoding="unicode"))
    assert reports.check_hwh_against_spec(mods, SPEC_EXAMPLE) == []
    bd = block_design_names(vivado_calls(tmp_path, SPEC_EXAMPLE)["create_project.tcl"])
    compared = 0
    for cell, vlnv in bd["cells"].items():
        if cell not in mods:
            continue  # interconnect, SmartConnect, reset: left out of the emulated .hwh on purpose
        assert mods[cell]["vlnv"] == vlnv
        params = {k.upper(): v for k, v in mods[cell]["parameters"].items()}
        for key, value in bd["props"].get(cell, {}).items():
            if key.endswith(".VALUE_SRC"):
                continue
            name = key.removeprefix("CONFIG.").upper()
            assert name in params, f"{cell}: CONFIG.{name} missing from the generated .hwh"
            assert str(value).strip("{}") == params[name], f"{cell}: {name} {params[name]} != Tcl {value}"
            compared += 1
    assert compared >= 14 and {"axi_dma_0", "processing_system7_0", SPEC_EXAMPLE["ip_name"]} <= set(mods)
