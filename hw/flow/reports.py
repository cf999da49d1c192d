"""Parsers for what the vendor tools leave behind: Vivado utilization and timing reports, the
Vitis HLS csynth.xml, the block design's .hwh, tool version banners.

Kept apart from the flow so that each parser is tested on small excerpts in the tools' formats
(no Vivado here): a build JSON with wrong figures would be worse than none.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass


class ReportError(ValueError):
    """A report that is missing the section the build needs (wrong file, truncated run)."""


# ---------------------------------------------------------------------------------------------
# Tool versions
# ---------------------------------------------------------------------------------------------
_VERSION_V = re.compile(r"\bv(20\d\d)\.(\d+)(?:\.(\d+))?\b")
_VERSION_BARE = re.compile(r"\b(20\d\d)\.(\d+)(?:\.(\d+))?\b")


def parse_tool_version(banner: str) -> tuple[int, int] | None:
    """'vivado v2023.2 (64-bit)' -> (2023, 2); None when the text has no release number.

    The 'v' form wins (Vivado's banner also prints 'Tool Version Limit: 2023.10', a licence date).
    """
    m = _VERSION_V.search(banner)
    if not m:
        lines = [ln for ln in banner.splitlines() if "limit" not in ln.lower()]
        m = _VERSION_BARE.search("\n".join(lines))
    return (int(m.group(1)), int(m.group(2))) if m else None


# ---------------------------------------------------------------------------------------------
# Vivado report_utilization
# ---------------------------------------------------------------------------------------------
def _table_rows(text: str):
    """Yield (header_cells, row_cells) for every row of every '| a | b |' table in a report."""
    header = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("+"):
            continue
        if not (s.startswith("|") and s.endswith("|")):
            header = None
            continue
        cells = [c.strip() for c in s[1:-1].split("|")]
        if header is None or ("Site Type" in cells and "Used" in cells):
            header = cells
            continue
        yield header, cells


def _num(cell: str) -> float | None:
    cell = cell.strip().replace(",", "").rstrip("*")
    if cell in ("", "-"):
        return None
    try:
        return float(cell)
    except ValueError:
        return None


@dataclass
class Utilization:
    """The resources a PYNQ-Z2 build is limited by (used / available on the XC7Z020)."""

    lut: float
    lut_available: float
    ff: float
    ff_available: float
    bram_tiles: float  # BRAM36 tiles (a BRAM18 counts 0.5)
    bram_tiles_available: float
    dsp: float
    dsp_available: float

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("lut", "ff", "bram_tiles", "dsp"):
            d[f"{k}_percent"] = round(100.0 * d[k] / d[f"{k}_available"], 2) if d[f"{k}_available"] else None
        return d


_UTIL_ROWS = {
    "lut": ("Slice LUTs", "CLB LUTs"),
    "ff": ("Slice Registers", "CLB Registers"),
    "bram_tiles": ("Block RAM Tile",),
    "dsp": ("DSPs",),
}


def parse_utilization(text: str) -> Utilization:
    """Flat `report_utilization` (7-series: 'Slice LUTs', 'Slice Registers', 'Block RAM Tile', 'DSPs')."""
    found: dict[str, tuple[float, float]] = {}
    for header, cells in _table_rows(text):
        if "Used" not in header or "Available" not in header or len(cells) != len(header):
            continue
        site = cells[0].rstrip("*").strip()
        for key, names in _UTIL_ROWS.items():
            if key not in found and site in names:
                used, avail = _num(cells[header.index("Used")]), _num(cells[header.index("Available")])
                if used is not None and avail is not None:
                    found[key] = (used, avail)
    missing = [names[0] for key, names in _UTIL_ROWS.items() if key not in found]
    if missing:
        raise ReportError(f"utilization report has no row for {', '.join(missing)}")
    return Utilization(lut=found["lut"][0], lut_available=found["lut"][1], ff=found["ff"][0],
                       ff_available=found["ff"][1], bram_tiles=found["bram_tiles"][0],
                       bram_tiles_available=found["bram_tiles"][1], dsp=found["dsp"][0],
                       dsp_available=found["dsp"][1])


# ---------------------------------------------------------------------------------------------
# Vivado report_timing_summary
# ---------------------------------------------------------------------------------------------
@dataclass
class Timing:
    wns_ns: float  # worst negative setup slack
    tns_ns: float
    whs_ns: float  # worst hold slack
    ths_ns: float
    failing_endpoints: int
    clocks: dict  # name -> period (ns)

    @property
    def met(self) -> bool:
        return self.wns_ns >= 0 and self.whs_ns >= 0 and self.failing_endpoints == 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["met"] = self.met
        return d


def parse_timing_summary(text: str) -> Timing:
    """`report_timing_summary`: the Design Timing Summary line (WNS, TNS, WHS, THS) and the clocks."""
    lines = text.splitlines()
    values = None
    for i, line in enumerate(lines):
        cols = line.split()
        if cols[:2] == ["WNS(ns)", "TNS(ns)"] and "WHS(ns)" in line:
            # header, dashes, values (column order fixed by Vivado)
            for nxt in lines[i + 1:i + 4]:
                parts = nxt.split()
                if parts and not set(parts[0]) <= {"-"}:
                    values = parts
                    break
            break
    if values is None:
        raise ReportError("timing report has no 'Design Timing Summary' (WNS/TNS/WHS/THS) table")
    try:
        wns, tns, tns_fail, _tns_total, whs, ths = (values[0], values[1], values[2], values[3], values[4], values[5])
        timing = Timing(wns_ns=float(wns), tns_ns=float(tns), whs_ns=float(whs), ths_ns=float(ths),
                        failing_endpoints=int(tns_fail), clocks={})
    except (ValueError, IndexError):
        # 'NA' / 'inf' appear when nothing is constrained: an unconstrained design is no timing closure
        raise ReportError(f"timing report has no numeric slack ({' '.join(values[:6])}): is the design constrained?") from None
    # Clock Summary: "Clock  Waveform(ns)  Period(ns)  Frequency(MHz)" then dashes then rows
    for i, line in enumerate(lines):
        if line.split()[:3] == ["Clock", "Waveform(ns)", "Period(ns)"]:
            for row in lines[i + 2:]:
                m = re.match(r"^\s*(\S+)\s+\{[^}]*\}\s+([\d.]+)\s+([\d.]+)", row)
                if not m:
                    if row.strip():
                        break
                    continue
                timing.clocks[m.group(1)] = float(m.group(2))
            break
    return timing


# ---------------------------------------------------------------------------------------------
# Vitis HLS csynth.xml
# ---------------------------------------------------------------------------------------------
def parse_csynth_xml(text: str) -> dict:
    """Estimated clock, latency, interval and resources of the top function (solution/syn/report/csynth.xml)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ReportError(f"csynth.xml is not valid XML ({e})") from None

    def find(path):
        el = root.find(path)
        return None if el is None or el.text is None else el.text.strip()

    out = {
        "top": find("./RTLDesignHierarchy/TopModule/ModuleName") or find("./UserAssignments/TopModelName"),
        "target_clock_ns": find("./UserAssignments/TargetClockPeriod"),
        "estimated_clock_ns": find("./PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        "latency_best_cycles": find("./PerformanceEstimates/SummaryOfOverallLatency/Best-caseLatency"),
        "latency_worst_cycles": find("./PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency"),
        "interval_min_cycles": find("./PerformanceEstimates/SummaryOfOverallLatency/Interval-min"),
        "interval_max_cycles": find("./PerformanceEstimates/SummaryOfOverallLatency/Interval-max"),
    }
    res = root.find("./AreaEstimates/Resources")
    if res is None or out["estimated_clock_ns"] is None:
        raise ReportError("csynth.xml lacks PerformanceEstimates/AreaEstimates (was csynth_design run?)")
    out["resources"] = {el.tag: _int_or_str(el.text) for el in res}
    for k in list(out):
        if k != "resources" and k != "top" and out[k] is not None:
            out[k] = _int_or_str(out[k])
    out["loops"] = [_loop(el) for el in root.findall("./PerformanceEstimates/SummaryOfLoopLatency/*")]
    return out


def _loop(el) -> dict:
    """One loop of SummaryOfLoopLatency: Vivado HLS writes ranges (<min>/<max>), Vitis HLS plain values."""
    def value(tag, which):
        v = el.find(f"{tag}/range/{which}")
        v = el.find(tag) if v is None else v
        return None if v is None or v.text is None else _int_or_str(v.text)

    return {"name": el.tag, "trip_count": value("TripCount", "min"), "iteration_min": value("IterationLatency", "min"),
            "iteration_max": value("IterationLatency", "max"), "latency_max": value("Latency", "max"),
            "ii": value("PipelineII", "min")}


def parse_cosim_report(text: str) -> dict:
    """Status, latency (min/avg/max) and interval (min/avg/max) of the Verilog row of a Vitis HLS
    `<top>_cosim.rpt` (sim/report/)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[0] == "Verilog":
            if cells[1] != "Pass":
                raise ReportError(f"co-simulation status {cells[1]!r} (not Pass)")
            vals = [_int_or_str(c) for c in cells[2:8]]
            if not all(isinstance(v, int) for v in vals):
                raise ReportError(f"co-simulation row without cycle counts: {line.strip()}")
            keys = ("latency_min", "latency_avg", "latency_max", "interval_min", "interval_avg", "interval_max")
            return {"status": "Pass", **dict(zip(keys, vals))}
    raise ReportError("no Verilog row in the co-simulation report (was cosim_design run?)")


def _int_or_str(s):
    s = (s or "").strip()
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s  # 'undef' for data-dependent latency


# ---------------------------------------------------------------------------------------------
# Block design hand-off (.hwh): what PYNQ will see on the board
# ---------------------------------------------------------------------------------------------
def parse_hwh(text: str) -> dict:
    """{instance: {'vlnv', 'modtype', 'parameters': {..}, 'registers': {name: offset}, 'base_address'}}.

    Same elements PYNQ's hwh parser reads (MODULE INSTANCE/VLNV, PARAMETERS, REGISTERS, the
    processor's MEMRANGEs), so a name checked here is a name the driver will find.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ReportError(f".hwh is not valid XML ({e})") from None
    mods = {}
    for m in root.iter("MODULE"):
        inst = m.get("INSTANCE")
        if not inst:
            continue
        regs = {}
        for r in m.findall(".//REGISTERS/REGISTER[@NAME]"):
            prop = r.find('./PROPERTY[@NAME="ADDRESS_OFFSET"]')
            if prop is not None:
                v = prop.get("VALUE", "0")
                regs[r.get("NAME")] = int(v, 16 if v.lower().startswith("0x") else 10)
        mods[inst] = {
            "vlnv": m.get("VLNV"),
            "modtype": m.get("MODTYPE"),
            "parameters": {p.get("NAME"): p.get("VALUE") for p in m.findall("./PARAMETERS/PARAMETER[@NAME]")},
            "registers": regs,
            "base_address": None,
        }
    for mr in root.iter("MEMRANGE"):
        inst = mr.get("INSTANCE")
        if inst in mods and mr.get("BASEVALUE"):
            mods[inst]["base_address"] = int(mr.get("BASEVALUE"), 16)
    if not mods:
        raise ReportError(".hwh has no MODULE elements")
    return mods


def check_hwh_against_spec(mods: dict, spec: dict) -> list[str]:
    """Problems (empty if none) between the built block design and the io spec the driver reads."""
    problems = []
    ip, dma, top, reg = spec["ip_name"], spec["dma_name"], spec["top"], spec["batch_register"]
    vlnv = f"xilinx.com:hls:{top}:1.0"
    if ip not in mods:
        problems.append(f"accelerator instance {ip!r} not in the .hwh (found {sorted(mods)})")
    else:
        if mods[ip]["vlnv"] != vlnv:
            problems.append(f"{ip} has VLNV {mods[ip]['vlnv']}, expected {vlnv}")
        if reg not in mods[ip]["registers"]:
            problems.append(f"{ip} has no register {reg!r} (registers: {sorted(mods[ip]['registers'])})")
        if mods[ip]["base_address"] is None:
            problems.append(f"{ip} has no address on M_AXI_GP0")
    if dma not in mods:
        problems.append(f"DMA instance {dma!r} not in the .hwh")
    else:
        p = mods[dma]["parameters"]
        if p.get("C_INCLUDE_SG", "0") != "0":
            problems.append(f"{dma} has scatter-gather enabled (C_INCLUDE_SG={p.get('C_INCLUDE_SG')})")
        if mods[dma]["base_address"] is None:
            problems.append(f"{dma} has no address on M_AXI_GP0")
    return problems


# ---------------------------------------------------------------------------------------------
# Vitis HLS generated driver header: the AXI4-Lite register map of the exported IP
# ---------------------------------------------------------------------------------------------
def parse_hls_register_header(text: str) -> dict[str, int]:
    """x<top>_hw.h '#define X..._CONTROL_ADDR_N_IMAGES_DATA 0x10' -> {'n_images': 0x10}."""
    regs = {}
    for m in re.finditer(r"#define\s+X\w+?_(?:CONTROL|\w+?)_ADDR_(\w+?)_DATA\s+0x([0-9a-fA-F]+)", text):
        regs[m.group(1).lower()] = int(m.group(2), 16)
    return regs
