"""Bounded-FIFO C simulation: the generated hls4ml project and the AXI top with every dataflow
process in its own thread and every stream holding at most its STREAM depth.

    python -m hw.hls.fifosim build/hls/squeezenet_fmnist --images 100 [--min-depths] [--json]

Why: hls4ml's C simulation calls the layers one after another on unbounded streams, so a FIFO that
is too shallow for a Fire module's branch skew is invisible until the design hangs on the board.
Here the firmware is compiled unchanged against a bounded, blocking `hls::stream`
(hw/hls/fifosim/hls_stream.h); the top function's layer calls become concurrent processes (one
thread each, one call per image, back to back) and its STREAM pragmas become depths. A deadlock is
reported within a fraction of a second with the process and FIFO each blocked process waits on.

Why this proves something about the hardware: every process is a deterministic sequential program
that blocks on reading an empty FIFO and on writing a full one (a Kahn process network with
bounded channels), so whether the batch completes does not depend on timing or thread schedule.
The C model has no pipelining slack inside a process (hardware can only hold more in flight),
so depths that complete here complete in the RTL with the same per-process access order.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "fifosim"
DEADLOCK = 3
_DECL = re.compile(r"^\s*hls::stream<[^>]+>\s+(\w+)\(\"\w+\"\);\s*$")
_PRAGMA = re.compile(r"^\s*#pragma HLS STREAM variable=(\w+) depth=(\d+)\s*$")
_CALL = re.compile(r"^\s*(nnet::\w+<.*>\(.*\);)\s*//\s*(\S+)\s*$")


class FifoSimError(RuntimeError):
    """The simulation could not be built or run, or the design deadlocked (message names the FIFOs)."""


@dataclass
class FifoRun:
    status: str  # ok | deadlock
    images: int
    seconds: float
    fifos: list[dict]
    processes: list[dict]
    out_beats: np.ndarray | None = None
    out_last: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def blocked(self) -> list[str]:
        """'process: blocked on full <fifo> (depth d, occupancy o)' for every blocked process."""
        fifos = {f["name"]: f for f in self.fifos}
        out = []
        # Writers blocked on a full FIFO first: they hold the cycle; the readers starved behind them follow.
        for p in sorted(self.processes, key=lambda p: p["state"] != "blocked on full"):
            if p["state"].startswith("blocked"):
                f = fifos.get(p["fifo"], {})
                out.append(f"{p['name']} (image {p['images'] + 1}): {p['state']} {p['fifo']} "
                           f"(depth {f.get('depth', '?')}, holds {f.get('occupancy', '?')})")
        return out

    def causes(self) -> list[str]:
        """The full FIFOs that close the cycle: their reader waits on another, empty, FIFO (a join
        starved on one input while its other input is full)."""
        procs = {p["name"]: p for p in self.processes}
        out = []
        for f in self.fifos:
            r = procs.get(f.get("reader", ""))
            if f["occupancy"] >= f["depth"] and r and r["state"] == "blocked on empty" and r["fifo"] != f["name"]:
                out.append(f"{r['name']} waits on empty {r['fifo']} while its input {f['name']} is full "
                           f"(depth {f['depth']}, written by {f.get('writer') or '?'})")
        return out

    def message(self) -> str:
        return ("deadlock: " + ("; ".join(self.causes()) or "every live process is blocked")
                + "\n  blocked processes:\n    " + "\n    ".join(self.blocked()))


@dataclass
class FifoSim:
    """A compiled bounded-FIFO simulation of one hls4ml project (with the AXI wrapper installed)."""

    project: Path
    exe: Path
    depths: dict = field(default_factory=dict)  # stream name -> STREAM depth set in the design
    timeout_s: float = 600.0

    @classmethod
    def build(cls, project_dir: str | Path, work_dir: str | Path | None = None) -> FifoSim:
        project = Path(project_dir).resolve()
        spec_path = project / "io_spec.json"
        if not spec_path.is_file():
            raise FifoSimError(f"{project}: no io_spec.json (convert with python -m hw.hls first)")
        tops = [p for p in sorted((project / "firmware").glob("*.cpp")) if "insert layers" in p.read_text(errors="replace")]
        if not (project / "firmware" / "axi_top.cpp").is_file() or len(tops) != 1:
            raise FifoSimError(f"{project}: the hls4ml top function's .cpp or firmware/axi_top.cpp is missing")
        work = Path(work_dir or tempfile.mkdtemp(prefix="fifosim_")).resolve()
        work.mkdir(parents=True, exist_ok=True)
        source, depths = network_source(tops[0].read_text(), tops[0].stem)
        (work / "fifosim_network.cpp").write_text(source)
        inc = work / "include"
        inc.mkdir(exist_ok=True)
        shutil.copy(HERE / "hls_stream.h", inc / "hls_stream.h")
        exe = work / "fifosim"
        fw = project / "firmware"
        cmd = ["g++", "-O2", "-std=c++17", "-pthread", f"-I{inc}", f"-I{fw}", f"-I{fw / 'ap_types'}",
               f'-DWEIGHTS_DIR="{fw / "weights"}"', str(work / "fifosim_network.cpp"), str(HERE / "fifosim_main.cpp"),
               "-o", str(exe)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise FifoSimError(f"{project}: the bounded-FIFO simulation did not compile:\n{r.stderr[-3000:]}")
        return cls(project, exe, depths)

    def run(self, beats: np.ndarray, n_images: int, depths: dict | None = None) -> FifoRun:
        """Run a batch of DMA input beats; depths overrides the design's STREAM depths by stream name."""
        unknown = sorted(set(depths or {}) - set(self.depths) - {"axi_pixels", "axi_logits"})
        if unknown:
            raise FifoSimError(f"unknown FIFO(s) {', '.join(unknown)}; the design's: {', '.join(sorted(self.depths))}")
        with tempfile.TemporaryDirectory(prefix="fifosim_run_") as tmp:
            t = Path(tmp)
            np.ascontiguousarray(beats, dtype="<u8").tofile(t / "in.bin")
            args = [str(self.exe), str(t / "in.bin"), str(n_images), str(t / "out.bin"), str(t / "report.json")]
            if depths:
                (t / "depths.txt").write_text("".join(f"{k} {int(v)}\n" for k, v in depths.items()))
                args.append(str(t / "depths.txt"))
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=self.timeout_s, cwd=self.project)
            except subprocess.TimeoutExpired:
                raise FifoSimError(f"bounded-FIFO simulation did not finish in {self.timeout_s:.0f} s") from None
            if r.returncode not in (0, DEADLOCK):
                raise FifoSimError(f"bounded-FIFO simulation failed (exit {r.returncode}): {r.stderr[-2000:]}")
            rep = json.loads((t / "report.json").read_text())
            run = FifoRun(rep["status"], rep["images"], rep["seconds"], rep["fifos"], rep["processes"])
            if run.ok:
                raw = (t / "out.bin").read_bytes()
                n = len(raw) // 9
                run.out_beats = np.frombuffer(raw[:8 * n], dtype="<u8").copy()
                run.out_last = np.frombuffer(raw[8 * n:], dtype=np.uint8).copy()
            return run

    def min_depths(self, beats: np.ndarray, n_images: int, names=None) -> dict[str, int]:
        """Smallest depth of each FIFO (others at the design's depths) with which the batch completes:
        a binary search per FIFO between 1 and its design depth (or upward if the design deadlocks)."""
        out = {}
        for name in names or sorted(self.depths):
            hi = self.depths[name]
            while not self.run(beats, n_images, {name: hi}).ok:
                hi *= 2
            lo = 0  # lo deadlocks (depth 0 is no FIFO), hi completes
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self.run(beats, n_images, {name: mid}).ok:
                    hi = mid
                else:
                    lo = mid
            out[name] = hi
        return out


def network_source(top_cpp: str, project: str) -> tuple[str, dict]:
    """The hls4ml top function's translation unit plus `fifosim_network()`: the same streams, each
    bounded to its STREAM depth, and every layer call a process looping over the batch."""
    lines = top_cpp.splitlines()
    try:
        start = next(i for i, s in enumerate(lines) if "insert layers" in s)
    except StopIteration:
        raise FifoSimError(f"{project}.cpp: no 'insert layers' section (not an hls4ml top function?)") from None
    body, depths, calls = [], {}, 0
    for s in lines[start + 1:]:
        if s.strip() == "}":
            break
        if _DECL.match(s):
            body.append(s)
        elif m := _PRAGMA.match(s):
            depths[m.group(1)] = int(m.group(2))
            body.append(f"    fifosim::bound({m.group(1)}, {m.group(2)});")
        elif m := _CALL.match(s):
            calls += 1
            body.append(f'    fifosim::spawn("{m.group(2)}", [&]() {{ for (unsigned i_ = 0; i_ < n_images; i_++) '
                        f"{{ {m.group(1)} fifosim::image_done(); }} }});")
        elif s.strip() and not s.strip().startswith("//") and not s.strip().startswith("#pragma"):
            raise FifoSimError(f"{project}.cpp: unexpected line in the layer section: {s.strip()!r}")
    if not calls or not depths:
        raise FifoSimError(f"{project}.cpp: no layer calls or STREAM pragmas found")
    sig = re.search(rf"void {project}\(\s*hls::stream<(\w+)> &(\w+),\s*hls::stream<(\w+)> &(\w+)\s*\)", top_cpp)
    if not sig:
        raise FifoSimError(f"{project}.cpp: top function signature not recognised")
    load = re.search(r"(#ifndef __SYNTHESIS__\n\s*static bool loaded_weights.*?#endif)", top_cpp, re.S)
    tail = [f"\nvoid fifosim_network(hls::stream<{sig.group(1)}> &{sig.group(2)}, "
            f"hls::stream<{sig.group(3)}> &{sig.group(4)}, unsigned n_images) {{"]
    if load:
        tail.append(load.group(1))
    tail += body + ["    fifosim::join_all();", "}"]
    return top_cpp + "\n".join(tail) + "\n", depths


def join_fifos(sim: FifoSim) -> list[str]:
    """The streams read by a Fire concat / bypass add: the ones deeper than the chain depth."""
    from hw.hls.fifo import CHAIN_FIFO_DEPTH

    return sorted(n for n, d in sim.depths.items() if d > CHAIN_FIFO_DEPTH)


def test_beats(project_dir: Path, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(DMA input beats, uint8 images) of the first n test images, packed by the host's own code."""
    from host.stream import IOSpec, pack_images
    from host.testset import load_idx_test_set

    spec = IOSpec.load(project_dir / "io_spec.json")
    imgs = np.ascontiguousarray(load_idx_test_set("fashion-mnist")[0][:n_images])
    return pack_images(imgs, spec), imgs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.hls.fifosim", description=__doc__.split("\n")[0])
    ap.add_argument("project", type=Path, help="hls4ml project written by python -m hw.hls")
    ap.add_argument("--images", type=int, default=100, help="back-to-back test images (100)")
    ap.add_argument("--min-depths", action="store_true", help="also search the smallest depth of every FIFO")
    ap.add_argument("--search-images", type=int, default=2, help="images per run of the depth search (2)")
    ap.add_argument("--depth", action="append", default=[], metavar="FIFO=N", help="override one FIFO's depth")
    ap.add_argument("--json", action="store_true")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        t = time.perf_counter()
        sim = FifoSim.build(a.project)
        build_s = time.perf_counter() - t
        over = {}
        for d in a.depth:
            name, _, n = d.partition("=")
            if not n.isdigit():
                raise FifoSimError(f"--depth {d!r}: expected FIFO=N")
            over[name] = int(n)
        beats, _ = test_beats(a.project, a.images)
        run = sim.run(beats, a.images, over)
        result = {"status": run.status, "images": a.images, "seconds": run.seconds, "build_seconds": build_s,
                  "fifos": run.fifos}
        if not run.ok:
            print(run.message(), file=sys.stderr)
        if run.ok and a.min_depths:
            b2, _ = test_beats(a.project, a.search_images)
            t = time.perf_counter()
            result["min_depths"] = sim.min_depths(b2, a.search_images)
            result["search_seconds"] = time.perf_counter() - t
        if a.json:
            print(json.dumps(result, indent=1))
        else:
            print(f"{run.status}: {a.images} images in {run.seconds:.2f} s ({a.images / run.seconds:.1f} images/s), "
                  f"build {build_s:.1f} s")
            mins = result.get("min_depths", {})
            print("| FIFO | depth | peak occupancy | writes blocked on full |" + (" minimal depth |" if mins else ""))
            print("|---|--:|--:|--:|" + ("--:|" if mins else ""))
            for f in run.fifos:
                extra = f" {mins.get(f['name'], '')} |" if mins else ""
                print(f"| {f['name']} | {f['depth']} | {f['peak']} | {f['full_waits']:,} |{extra}")
        return 0 if run.ok else DEADLOCK
    except FifoSimError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
