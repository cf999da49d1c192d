"""Run Vitis-HLS-exported Verilog of an hls4ml io_stream project under cocotb (Icarus) against the C
simulation built from the same project's firmware, on random inputs, beat for beat.

    python scripts/check_hls_rtl.py <hls4ml project dir> --verilog <solution1/impl/verilog> [--images 4]

Why: the RTL bench's HLS mode (tests/rtl) had only seen this project's own hand-written Fire RTL;
this runs it on real Vitis output (e.g. the LeNet-5 project named in ../shared/vendor-reports/README.md,
fetched beside the project, never copied in). What it needs from the export, learned from that run:
one AXI-Stream in and one out named <port>_TDATA/_TVALID/_TREADY (no TLAST, no TKEEP), each
nnet::array element in its own lane of TDATA (element 0 in the low bits), ap_rst_n active low,
ap_ctrl_hs with ap_start held high for back-to-back images, and the `.dat` ROM files of
`$readmemh` in the simulation's working directory.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]

REF_CPP = r"""
#include <cstdint>
#include <cstdio>
#include <vector>
#include "%(header)s"
// raw input lanes (int64, n_images * n_pixels * in_lanes) -> raw output lanes (int64) per output beat
int main(int argc, char **argv) {
    const unsigned n = std::atoi(argv[1]), n_pix = %(n_pix)s;
    FILE *fi = std::fopen(argv[2], "rb"), *fo = std::fopen(argv[3], "wb");
    hls::stream<%(in_t)s> in("in");
    hls::stream<%(out_t)s> out("out");
    for (unsigned i = 0; i < n; i++) {
        for (unsigned p = 0; p < n_pix; p++) {
            %(in_t)s x;
            for (unsigned c = 0; c < %(in_t)s::size; c++) {
                int64_t raw;
                if (std::fread(&raw, 8, 1, fi) != 1) return 2;
                x[c].range() = raw;
            }
            in.write(x);
        }
        %(top)s(in, out);
        int64_t beats = out.size();
        std::fwrite(&beats, 8, 1, fo);
        while (!out.empty()) {
            %(out_t)s y = out.read();
            for (unsigned c = 0; c < %(out_t)s::size; c++) {
                int64_t raw = y[c].range().to_uint64();
                std::fwrite(&raw, 8, 1, fo);
            }
        }
    }
    return in.empty() ? 0 : 1;
}
"""


class CheckError(RuntimeError):
    pass


def project_top(project: Path) -> dict:
    """Top name, stream types and pixel count of an hls4ml project (firmware/<top>.h, defines.h)."""
    fw = project / "firmware"
    headers = [h for h in sorted(fw.glob("*.h")) if re.search(r"void \w+\(\s*hls::stream", h.read_text())]
    if len(headers) != 1:
        raise CheckError(f"{fw}: expected one header declaring the hls4ml top, found {[h.name for h in headers]}")
    m = re.search(r"void (\w+)\(\s*hls::stream<(\w+)> &(\w+),\s*hls::stream<(\w+)> &(\w+)\s*\)", headers[0].read_text())
    if not m:
        raise CheckError(f"{headers[0]}: top signature not recognised (one stream in, one out)")
    defines = (fw / "defines.h").read_text()
    dims = [int(d) for d in re.findall(r"#define N_INPUT_[12]_1 (\d+)", defines)]
    (in_bits, in_lanes), (_, out_lanes) = (_array_type(defines, m.group(i), fw) for i in (2, 4))
    return {"header": headers[0].name, "top": m.group(1), "in_t": m.group(2), "in_port": m.group(3),
            "out_t": m.group(4), "out_port": m.group(5), "n_pix": int(np.prod(dims)) if dims else 1,
            "in_lanes": in_lanes, "out_lanes": out_lanes, "in_bits": in_bits}


def _array_type(defines: str, name: str, fw: Path) -> tuple[int, int]:
    """(element bits, elements) of `typedef nnet::array<ap_fixed<W,...>, N> name;`."""
    m = re.search(rf"typedef nnet::array<ap_u?(?:fixed|int)<(\d+)[^>]*>, ([\d*]+)> {name};", defines)
    if not m:
        raise CheckError(f"{fw / 'defines.h'}: no nnet::array typedef of {name}")
    return int(m.group(1)), int(np.prod([int(x) for x in m.group(2).split("*")]))


def c_reference(project: Path, top: dict, raw: np.ndarray, work: Path) -> list[list[list[int]]]:
    """Output beats (lists of raw lanes) of every image from the g++ C simulation of the firmware."""
    src = work / "hls_ref.cpp"
    src.write_text(REF_CPP % {k: top[k] for k in ("header", "n_pix", "in_t", "out_t", "top")})
    fw = project / "firmware"
    exe = work / "hls_ref"
    cmd = ["g++", "-O2", "-std=c++14", f"-I{fw}", f"-I{fw / 'ap_types'}", f'-DWEIGHTS_DIR="{fw / "weights"}"',
           str(src), str(fw / f"{top['top']}.cpp"), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise CheckError(f"C simulation of {project} did not compile:\n{r.stderr[-3000:]}")
    raw.astype("<i8").tofile(work / "in.bin")
    r = subprocess.run([str(exe), str(len(raw) // (top["n_pix"] * top["in_lanes"])), str(work / "in.bin"),
                        str(work / "out.bin")], capture_output=True, text=True, cwd=project)
    if r.returncode:
        raise CheckError(f"C simulation failed (exit {r.returncode}): {r.stderr[-2000:]}")
    vals = np.fromfile(work / "out.bin", dtype="<i8").tolist()
    images, k = [], 0
    while k < len(vals):
        n, k = vals[k], k + 1
        beats = [vals[k + b * top["out_lanes"]: k + (b + 1) * top["out_lanes"]] for b in range(n)]
        k += n * top["out_lanes"]
        images.append(beats)
    return images


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("project", type=Path, help="hls4ml project (firmware/ with weights)")
    ap.add_argument("--verilog", type=Path, required=True, help="the Vitis HLS export (solution1/impl/verilog)")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cycles-per-image", type=int, default=4000, help="sizes the bench's timeouts only")
    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    from cocotb_tools.runner import get_runner

    from hw.flow.fire import icarus_ready, verilog_ports
    from hw.rtl.bench.simrun import _parse_results

    try:
        top = project_top(a.project)
        files = sorted(a.verilog.glob("*.v"))
        if not files or not (a.verilog / f"{top['top']}.v").exists():
            raise CheckError(f"{a.verilog}: no {top['top']}.v (is this the Vitis HLS export of {a.project}?)")
        ports = verilog_ports((a.verilog / f"{top['top']}.v").read_text(), top["top"])
        for p in (top["in_port"], top["out_port"]):
            if f"{p}_TDATA" not in ports:
                raise CheckError(f"{top['top']}.v has no {p}_TDATA: ports are {sorted(ports)}")
        work = Path(tempfile.mkdtemp(prefix="hls_rtl_"))
        rng = np.random.default_rng(a.seed)
        n_lanes = top["n_pix"] * top["in_lanes"]
        raw = rng.integers(0, 1 << top["in_bits"], size=a.images * n_lanes, dtype=np.int64)  # raw bit patterns
        expected = c_reference(a.project, top, raw, work)
        build = work / "sim"
        build.mkdir()
        for f in files + sorted(a.verilog.glob("*.dat")):  # $readmemh files resolve in the sim's cwd
            text = f.read_text()
            if f.suffix == ".v":
                text = icarus_ready(text)
            (build / f.name).write_text(text)
        case = {"in_prefix": top["in_port"], "out_prefix": top["out_port"], "in_lanes": top["in_lanes"],
                "out_lanes": top["out_lanes"], "inputs": raw.reshape(a.images, n_lanes).tolist(), "expected": expected,
                "cycles_per_image": a.cycles_per_image, "results_json": str(build / "figures.json")}
        (build / "case.json").write_text(json.dumps(case))
        runner = get_runner("icarus")
        runner.build(sources=[str(build / f.name) for f in files], hdl_toplevel=top["top"], build_dir=build,
                     build_args=["-g2012"], always=True, log_file=build / "build.log")
        xml = build / "results.xml"
        try:
            runner.test(test_module="hw.rtl.bench.hls_bench", hdl_toplevel=top["top"], build_dir=build, test_dir=build,
                        extra_env={"HLS_CASE": str(build / "case.json")}, results_xml=str(xml),
                        log_file=build / "sim.log")
        except SystemExit:
            pass
        passed, failed = _parse_results(xml)
        figures = json.loads((build / "figures.json").read_text()) if (build / "figures.json").exists() else {}
        print(f"{top['top']} ({a.verilog}): {a.images} random images, {top['n_pix']} pixels x {top['in_lanes']} "
              f"lanes in, {len(expected[0])} beat(s) x {top['out_lanes']} lanes out per image")
        print(f"passed: {', '.join(passed) or '-'}")
        for k, v in failed.items():
            print(f"FAILED {k}: {v}")
        if "reset_mid_image" in failed:
            print("  (an export with Vitis's default `config_rtl -reset control` keeps static state such as the "
                  "line-buffer counters through ap_rst_n; hw/flow/tcl/hls/build_ip.tcl uses -reset state)")
        if figures.get("interval_cycles"):
            print(f"output interval (cycles between images, back to back): {figures['interval_cycles']}")
        print(f"logs: {build}")
        return 0 if passed and not failed else 1
    except CheckError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
