"""The build steps, one method each (`step_<name>`), mixed into hw.flow.flow.Build, which owns the
config, directories, markers, tool runs and the order of the steps."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from hw import chip
from hw.flow import tclgen
from hw.flow.errors import BuildError
from hw.flow.reports import (ReportError, check_hwh_against_spec, parse_cosim_report, parse_csynth_xml,
                             parse_hls_register_header, parse_hwh, parse_timing_summary, parse_utilization)

REPO = Path(__file__).resolve().parents[2]


def sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class BitstreamSteps:
    """hls_project -> csim -> fifo_check -> hls_ip -> vivado_project -> vivado_bitstream -> collect."""

    def step_hls_project(self) -> dict:
        """hls4ml project (Vitis backend, io_stream) + AXI wrapper + io_spec.json, by hw.hls."""
        c = self.cfg
        # hw.hls.convert() is what `python -m hw.hls --config ... --model ... --out ...` runs before its
        # own g++ builds; the csim step builds the one C library this flow needs (build_axi_library).
        self.log(f"  hw.hls.convert({c.config_path}, out={self.hls_dir}, model={c.model_path})")
        try:
            from hw.hls import HlsError, convert
            from hw.model import ModelError
            from hw.plan.rate import planned_rate
        except ImportError as e:
            raise BuildError(f"hw.hls is not importable ({e})") from None
        try:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                convert(c.config_path, self.hls_dir, c.model_path, overrides={"ClockPeriod": c.clock_ns},
                        planner=planned_rate)
        except (HlsError, ModelError) as e:
            raise BuildError(f"hls4ml project generation: {e}") from None
        if not self.spec_path.exists():
            raise BuildError(f"hw.hls wrote no {self.spec_path}")
        spec = self.spec()
        return {"io_spec": str(self.spec_path), "top": spec["top"]}

    def hls_sources(self) -> tuple[list[Path], list[Path], list[Path]]:
        """(design files, testbench-side files, include dirs) of the AXI top in the hls4ml project."""
        def one(name):
            found = sorted(self.hls_dir.rglob(name))
            if not found:
                raise BuildError(f"{name} not found under {self.hls_dir}: re-run step hls_project")
            return found[0]

        top_cpp, run_cpp = one("axi_top.cpp"), one("axi_run.cpp")
        fw = self.hls_dir / "firmware"
        nets = [p for p in sorted(fw.glob("*.cpp")) if not p.name.startswith("axi_")]
        if len(nets) != 1:
            raise BuildError(f"expected one hls4ml network source in {fw}, found {[p.name for p in nets]}")
        design = [nets[0], top_cpp]
        tb = [tclgen.HLS_SCRIPTS / "axi_tb.cpp", run_cpp]
        if (fw / "weights").is_dir():  # the C simulation loads weights/*.txt relative to its run directory
            tb.append(fw / "weights")
        incs = sorted({fw, top_cpp.parent})
        return design, tb, incs

    def step_csim(self) -> dict:
        """Golden test vectors, then the g++ C simulation of the AXI top against them (the same
        testbench Vitis HLS runs in csim_design)."""
        from hw.flow.vectors import EXP_FILE, IN_FILE, VectorError, write_vectors

        spec = self.spec()
        vec_dir = self.out / "vectors"
        try:
            meta = write_vectors(self.cfg.model_path, self.spec_path, vec_dir, self.cfg.csim_images)
        except VectorError as e:
            raise BuildError(f"test vectors: {e}") from None
        try:
            from hw.hls import build_axi_library
        except ImportError as e:
            raise BuildError(f"hw.hls.build_axi_library is not available ({e})") from None
        try:
            lib = Path(build_axi_library(self.hls_dir))
        except Exception as e:
            raise BuildError(f"building the AXI C-simulation library failed: {e}") from None
        exe = self.out / "csim" / "axi_tb"
        exe.parent.mkdir(parents=True, exist_ok=True)
        tb = tclgen.HLS_SCRIPTS / "axi_tb.cpp"
        self.run_cmd(["g++", "-std=c++14", "-O1", f"-DSN_RUN_FN={tclgen.run_symbol(spec)}", tb, lib,
                      f"-Wl,-rpath,{lib.parent}", "-o", exe], self.out, "csim_compile.log", "compiling the C-simulation testbench")
        text = self.run_cmd([exe, vec_dir / IN_FILE, vec_dir / EXP_FILE, meta["n_images"]], self.out, "csim.log",
                            "C simulation of the AXI top against the golden vectors")
        if "TB PASS" not in text:
            raise BuildError(f"C simulation printed no TB PASS (log {self.log_dir / 'csim.log'})")
        self.log(f"  {text.strip().splitlines()[-1]}")
        return {"n_images": meta["n_images"], "library": str(lib)}

    def step_fifo_check(self) -> dict:
        """Bounded-FIFO C simulation of the project (hw.hls.fifosim): the design's STREAM depths must
        carry a batch of back-to-back images, bit-exact with the C simulation, before any vendor
        step; a depth below what the design needs deadlocks here and the build stops naming the FIFO."""
        import numpy as np

        from hw.hls.fifosim import FifoSim, FifoSimError, test_beats
        from host.emulation.csim_library import AxiLibrary
        from host.stream import IOSpec

        n = max(int(self.cfg.csim_images), 20)
        try:
            sim = FifoSim.build(self.hls_dir, self.out / "fifosim")
            beats, _ = test_beats(self.hls_dir, n)
            run = sim.run(beats, n)
        except FifoSimError as e:
            raise BuildError(f"FIFO depth check: {e}") from None
        if not run.ok:
            raise BuildError(f"FIFO depths of {self.cfg.config_path} do not carry {n} images: {run.message()}")
        spec = IOSpec.load(self.spec_path)
        ref, last = AxiLibrary(self.hls_dir / spec.library, spec).run(beats, n)
        if not (np.array_equal(ref, run.out_beats) and np.array_equal(last, run.out_last)):
            raise BuildError("FIFO depth check: the bounded simulation's logits differ from the C simulation")
        self.log(f"  {n} images through bounded FIFOs in {run.seconds:.1f} s, bit-exact with the C simulation")
        return {"n_images": n, "seconds": round(run.seconds, 2),
                "fifos": {f["name"]: {"depth": f["depth"], "peak": f["peak"]} for f in run.fifos}}

    def step_hls_ip(self) -> dict:
        """Vitis HLS: csim_design against the vectors, csynth_design, export_design (IP catalog)."""
        from hw.flow.vectors import EXP_FILE, IN_FILE

        spec = self.spec()
        design, tb, incs = self.hls_sources()
        vec = self.out / "vectors"
        n = json.loads((vec / "vectors.json").read_text())["n_images"] if (vec / "vectors.json").exists() else None
        if n is None:
            raise BuildError("no test vectors: run step csim first")
        hc = self.cfg.hls_config()
        settings = tclgen.hls_settings(
            hls_project=f"{spec['top']}_prj", top=spec["top"], part=hc.part, clock_ns=hc.clock_ns,
            clock_uncertainty=hc.clock_uncertainty, run_symbol=tclgen.run_symbol(spec), design_files=design, tb_files=tb + [vec / IN_FILE, vec / EXP_FILE], include_dirs=incs, run_csim=True,
            csim_argv=f"{vec / IN_FILE} {vec / EXP_FILE} {n}", run_cosim=self.cfg.cosim)
        cfg = tclgen.write_config(self.tcl_dir / "hls_ip_config.tcl", settings)
        entry = tclgen.write_entry(self.tcl_dir / "hls_ip.tcl", cfg, tclgen.HLS_SCRIPTS / "build_ip.tcl")
        out = self.vendor("hls", self.hls_cmd(entry), self.vitis_dir, "hls_ip.log", "Vitis HLS (csim, csynth, export)")
        if out is None:
            return {}
        sol = self.vitis_dir / f"{spec['top']}_prj" / "solution1"
        if "TB PASS" not in out:
            raise BuildError(f"Vitis HLS C simulation did not report TB PASS (log {self.log_dir / 'hls_ip.log'})")
        comp = sol / "impl" / "ip" / "component.xml"
        if not comp.exists():
            raise BuildError(f"Vitis HLS exported no IP ({comp} missing)")
        headers = list((sol / "impl" / "ip" / "drivers").rglob("x*_hw.h"))
        regs = parse_hls_register_header(headers[0].read_text()) if headers else {}
        if spec["batch_register"] not in regs:
            raise BuildError(f"the exported IP has no AXI4-Lite register {spec['batch_register']!r} "
                             f"(found {sorted(regs)}): the wrapper and the io spec disagree")
        self.report_dir.mkdir(parents=True, exist_ok=True)
        csynth = sol / "syn" / "report" / "csynth.xml"
        info = {"ip_repo": str(sol / "impl" / "ip"), "registers": regs}
        if csynth.exists():
            info["csynth"] = parse_csynth_xml(csynth.read_text())
            (self.report_dir / "csynth.json").write_text(json.dumps(info["csynth"], indent=1))
        if self.cfg.cosim:
            rpt = sol / "sim" / "report" / f"{spec['top']}_cosim.rpt"
            try:
                info["cosim"] = parse_cosim_report(rpt.read_text())
            except (OSError, ReportError) as e:
                raise BuildError(f"co-simulation: {rpt}: {e}") from None
            self.log(f"  co-simulation: interval {info['cosim']['interval_avg']:,} cycles per image, latency "
                     f"{info['cosim']['latency_min']:,}-{info['cosim']['latency_max']:,}")
        return info

    def vivado_config(self) -> Path:
        spec = self.spec()
        ip_repo = self.vitis_dir / f"{spec['top']}_prj" / "solution1" / "impl" / "ip"
        hc = self.cfg.hls_config()
        settings = tclgen.vivado_settings(
            spec, part=hc.part, board_part=chip.BOARD_PART, board_repo=self.cfg.board_repo
            or os.environ.get("PYNQ_Z2_BOARD_REPO", ""), ip_repo=ip_repo, vivado_dir=self.vivado_dir,
            report_dir=self.report_dir, clock_ns=hc.clock_ns, jobs=self.cfg.jobs)
        return tclgen.write_config(self.tcl_dir / "vivado_config.tcl", settings)

    def step_vivado_project(self) -> dict:
        """Vivado: project, PYNQ-Z2 block design (PS7, DMA, accelerator), validate, HDL wrapper."""
        cfg = self.vivado_config()
        entry = tclgen.write_entry(self.tcl_dir / "vivado_project.tcl", cfg, tclgen.VIVADO_SCRIPTS / "create_project.tcl")
        if self.vendor("vivado", self.vivado_cmd(entry, "vivado_project.log"), self.vivado_dir, "vivado_project.out",
                       "Vivado block design") is None:
            return {}
        xpr = self.vivado_dir / f"{tclgen.VIVADO_PROJECT}.xpr"
        if not xpr.exists():
            raise BuildError(f"Vivado finished without {xpr}")
        return {"project": str(xpr)}

    def step_vivado_bitstream(self) -> dict:
        """Vivado: synthesis, implementation, write_bitstream, utilization and timing reports."""
        cfg = self.vivado_config()
        entry = tclgen.write_entry(self.tcl_dir / "vivado_bitstream.tcl", cfg, tclgen.VIVADO_SCRIPTS / "implement.tcl")
        if self.vendor("vivado", self.vivado_cmd(entry, "vivado_bitstream.log"), self.vivado_dir,
                       "vivado_bitstream.out", "Vivado synthesis/implementation/bitstream") is None:
            return {}
        return {"bit": str(self.find_bit())}

    def find_bit(self) -> Path:
        bits = sorted((self.vivado_dir / f"{tclgen.VIVADO_PROJECT}.runs" / "impl_1").glob("*.bit"))
        if not bits:
            raise BuildError(f"no .bit under {self.vivado_dir}/{tclgen.VIVADO_PROJECT}.runs/impl_1")
        return bits[0]

    def find_hwh(self) -> Path:
        bd = tclgen.BD_NAME
        for sub in (".gen", ".srcs"):  # .gen since Vivado 2020.x, .srcs before
            p = self.vivado_dir / f"{tclgen.VIVADO_PROJECT}{sub}" / "sources_1" / "bd" / bd / "hw_handoff" / f"{bd}.hwh"
            if p.exists():
                return p
        raise BuildError(f"no {bd}.hwh under {self.vivado_dir} (.gen/.srcs sources_1/bd/{bd}/hw_handoff)")

    def step_collect(self) -> dict:
        """Check timing and names, then copy .bit/.hwh/io spec + a build JSON into bitstreams/."""
        c = self.cfg
        dest = Path(c.bitstream_dir)
        names = {k: dest / f"{c.model}{ext}" for k, ext in
                 (("bit", ".bit"), ("hwh", ".hwh"), ("io", ".io.json"), ("build", ".build.json"),
                  ("selftest", ".selftest.npz"))}
        if c.dry_run:
            for k, p in names.items():
                self.log(f"  dry run, would write {p}")
            return {}
        rpts = {k: self.report_dir / f"{k}.rpt" for k in ("timing_summary", "utilization")}
        missing = [str(p) for p in rpts.values() if not p.exists()]
        if missing:
            raise BuildError(f"Vivado reports missing ({', '.join(missing)}): run step vivado_bitstream first")
        try:
            timing = parse_timing_summary(rpts["timing_summary"].read_text())
            util = parse_utilization(rpts["utilization"].read_text())
        except ReportError as e:
            raise BuildError(str(e)) from None
        hc = c.hls_config()
        if not timing.met:
            raise BuildError(f"timing not met at {hc.clock_ns} ns: WNS {timing.wns_ns} ns, WHS {timing.whs_ns} ns, "
                             f"{timing.failing_endpoints} failing endpoints (report {self.report_dir / 'timing_summary.rpt'}); "
                             f"nothing copied to {dest}. Raise --clock-ns or the ReuseFactors.")
        spec = self.spec()
        bit, hwh = self.find_bit(), self.find_hwh()
        problems = check_hwh_against_spec(parse_hwh(hwh.read_text()), spec)
        if problems:
            raise BuildError(f"{hwh} does not match the io spec: " + "; ".join(problems))
        csynth = self.report_dir / "csynth.json"
        info = {
            "model": c.model, "model_file": c.model_path.name, "model_sha256": sha256(c.model_path),
            "hls_config_sha256": sha256(c.config_path), "part": hc.part, "board_part": chip.BOARD_PART,
            "clock_ns": hc.clock_ns, "fclk_mhz": chip.fclk_mhz(hc.clock_ns),
            "tools": {k: {"path": t.path, "version": t.version_str} for k, t in self.tools.items()},
            "timing": timing.to_dict(), "utilization": util.to_dict(),
            "hls_estimates": json.loads(csynth.read_text()) if csynth.exists() else None,
            "budget_check_ignored": c.ignore_budget, "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        dest.mkdir(parents=True, exist_ok=True)
        # write beside, then rename: a failure here leaves the previous bitstream set intact
        staged = {}
        for k, src in (("bit", bit), ("hwh", hwh), ("io", self.spec_path)):
            tmp = names[k].with_name(names[k].name + ".tmp")
            shutil.copyfile(src, tmp)
            staged[k] = tmp
        tmp = names["build"].with_name(names["build"].name + ".tmp")
        tmp.write_text(json.dumps(info, indent=1))
        staged["build"] = tmp
        # the vectors `python host/infer.py --selftest` checks the board against (hw.golden.selftest)
        from hw.golden.selftest import write as write_selftest

        try:
            staged["selftest"] = write_selftest(c.model_path, names["selftest"].with_name(names["selftest"].name + ".tmp"))
        except Exception as e:  # the model or the test set: name it, copy nothing
            raise BuildError(f"self-test vectors: {type(e).__name__}: {e}") from None
        for k, tmp in staged.items():
            os.replace(tmp, names[k])
        self.log(f"  timing met (WNS {timing.wns_ns} ns); LUT {util.lut:.0f}/{util.lut_available:.0f}, "
                 f"BRAM {util.bram_tiles}/{util.bram_tiles_available:.0f}, DSP {util.dsp:.0f}/{util.dsp_available:.0f}")
        for p in names.values():
            self.log(f"  wrote {p}")
        return {k: str(p) for k, p in names.items()}


class FireSteps:
    """fire_project -> fire_rtl -> fire_copy (one Fire module's Verilog for the RTL bench)."""

    def step_fire_project(self) -> dict:
        """One Fire module as an hls4ml project, C simulation checked against Keras and hw.golden."""
        from hw.flow.fire import FireExportError, write_fire_project

        try:
            return write_fire_project(self.cfg.model_path, self.cfg.hls_config(), self.cfg.fire,
                                      self.out / "fire")
        except FireExportError as e:
            raise BuildError(str(e)) from None

    def step_fire_rtl(self) -> dict:
        """Vitis HLS: csynth_design and export_design of the Fire project (Verilog)."""
        from hw.flow.fire import fire_hls_settings

        settings = fire_hls_settings(self.out / "fire", self.cfg.fire, self.cfg.hls_config())
        cfg = tclgen.write_config(self.tcl_dir / "fire_rtl_config.tcl", settings)
        entry = tclgen.write_entry(self.tcl_dir / "fire_rtl.tcl", cfg, tclgen.HLS_SCRIPTS / "build_ip.tcl")
        if self.vendor("hls", self.hls_cmd(entry), self.vitis_dir, "fire_rtl.log", "Vitis HLS export of the Fire RTL") is None:
            return {}
        return {"verilog": str(self.vitis_dir / settings["hls_project"] / "solution1" / "impl" / "verilog")}

    def step_fire_copy(self) -> dict:
        """Copy the Verilog, a shim with the bench's port names and a manifest to HLS_FIRE_RTL_DIR."""
        from hw.flow.fire import FireExportError, copy_fire_rtl, fire_hls_settings

        settings = fire_hls_settings(self.out / "fire", self.cfg.fire, self.cfg.hls_config())
        src = self.vitis_dir / settings["hls_project"] / "solution1" / "impl" / "verilog"
        dest = Path(self.cfg.fire_rtl_dir or REPO / "build" / "fire_rtl" / self.cfg.fire)
        if self.cfg.dry_run:
            self.log(f"  dry run, would copy {src}/*.v (+ shim with in_/out_ port names) to {dest}")
            return {}
        try:
            info = copy_fire_rtl(src, dest, settings["top"], self.out / "fire")
        except FireExportError as e:
            raise BuildError(str(e)) from None
        self.log(f"  Fire RTL in {dest}: run the bench with HLS_FIRE_RTL_DIR={dest}")
        return info
