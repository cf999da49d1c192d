"""hw.flow (scripts/build_bitstream.sh): the trained model -> Vitis HLS IP -> Vivado block design -> PYNQ-Z2
bitstream, as named, resumable steps (FINN style). Each finished step leaves a marker in
<out>/.steps/; a re-run skips finished steps, --from-step S re-runs S and everything after it, and a
changed model/config/clock invalidates every marker.

--dry-run runs every step that needs no Xilinx tool (hls4ml project + AXI wrapper, golden test
vectors, g++ C simulation of the AXI top, budget planner, Tcl generation) and prints the exact
vendor commands it would run. Vendor steps never pretend: without the tools they are not run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hw.flow import preflight, tclgen
from host.deployed import DEPLOYED_MODEL
from hw.flow.errors import BuildError
from hw.flow.steps import BitstreamSteps, FireSteps, sha256

REPO = Path(__file__).resolve().parents[2]
BITSTREAM_STEPS = ("hls_project", "csim", "fifo_check", "hls_ip", "vivado_project", "vivado_bitstream", "collect")
FIRE_STEPS = ("fire_project", "fire_rtl", "fire_copy")
VENDOR_STEPS = {"hls_ip": "hls", "vivado_project": "vivado", "vivado_bitstream": "vivado", "fire_rtl": "hls"}


@dataclass
class BuildConfig:
    """Typed build settings, saved as <out>/build_config.json with the input fingerprint."""

    model: str = DEPLOYED_MODEL
    out: str = ""
    clock_ns: float | None = None  # override of the YAML's ClockPeriod (hls4ml, Vitis HLS and Vivado alike)
    jobs: int = 4
    dry_run: bool = False
    from_step: str | None = None
    csim_images: int = 10
    board_repo: str = ""
    bitstream_dir: str = str(REPO / "bitstreams")
    target: str = "bitstream"  # or "fire-rtl"
    fire: str = "fire2"
    fire_rtl_dir: str = ""
    model_file: str = ""  # default hw/models/<model>.keras
    config_file: str = ""  # default hls_config/<model>.yml
    ignore_budget: bool = False  # planner refusal -> warning (its figures are estimates)
    cosim: bool = False  # Vitis HLS C/RTL co-simulation of the AXI top in step hls_ip
    python: str = field(default=sys.executable, repr=False)

    @property
    def model_path(self) -> Path:
        return Path(self.model_file).resolve() if self.model_file else REPO / "hw" / "models" / f"{self.model}.keras"

    @property
    def config_path(self) -> Path:
        return Path(self.config_file).resolve() if self.config_file else REPO / "hls_config" / f"{self.model}.yml"

    def hls_config(self):
        """The validated hls4ml YAML with the overrides applied: the one source of part and clock."""
        from hw.hls.config import load_config

        return load_config(self.config_path, {"ClockPeriod": self.clock_ns})

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    @property
    def steps(self) -> tuple[str, ...]:
        return FIRE_STEPS if self.target == "fire-rtl" else BITSTREAM_STEPS




def _flow_digest() -> str:
    """The static Tcl and testbench the flow sources: an edit there invalidates finished steps."""
    h = hashlib.sha256()
    for f in sorted(tclgen.TCL_DIR.rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _q(cmd) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


class Build(BitstreamSteps, FireSteps):
    """One build: its config, its directories, its markers, its steps."""

    def __init__(self, cfg: BuildConfig, log=print):
        self.cfg = cfg
        self.out = cfg.out_dir.resolve()
        self.log = log
        self.markers = self.out / ".steps"
        self.hls_dir = self.out / "hls"
        self.spec_path = self.hls_dir / "io_spec.json"
        self.tcl_dir = self.out / "tcl"
        self.vitis_dir = self.out / "vitis"
        self.vivado_dir = self.out / "vivado"
        self.report_dir = self.out / "reports"
        self.log_dir = self.out / "logs"
        self.tools: dict = {}
        self.would_run: list[str] = []

    # ------------------------------------------------------------------ markers / resume
    def fingerprint(self) -> dict:
        c = self.cfg
        return {"model_sha256": sha256(c.model_path), "config_sha256": sha256(c.config_path),
                "clock_ns": c.clock_ns, "flow_sha256": _flow_digest(), "csim_images": c.csim_images, "target": c.target, "fire": c.fire, "cosim": c.cosim}

    def marker(self, step: str) -> Path:
        return self.markers / f"{step}.json"

    def prepare_markers(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.inputs_changed() and self.markers.exists():
            self.log("inputs changed since the last build (model, config, clock or vectors): re-running all steps")
            shutil.rmtree(self.markers)
            if self.cfg.from_step:  # earlier steps' outputs are stale: they cannot be reused
                self.log(f"--from-step {self.cfg.from_step} ignored: earlier steps' outputs were made from other inputs")
                self.cfg.from_step = None
        if self.cfg.from_step:
            steps = self.cfg.steps
            for s in steps[steps.index(self.cfg.from_step):]:
                self.marker(s).unlink(missing_ok=True)
        cfg = {k: v for k, v in asdict(self.cfg).items() if k != "python"}
        if getattr(self, "budget_ok", False):
            (self.out / "budget_ok.json").write_text(json.dumps(self.fingerprint()))
        (self.out / "build_config.json").write_text(json.dumps({"config": cfg, "fingerprint": self.fingerprint()},
                                                               indent=1))

    def done(self, step: str) -> bool:
        return self.marker(step).exists()

    def mark(self, step: str, info: dict | None = None) -> None:
        self.markers.mkdir(parents=True, exist_ok=True)
        self.marker(step).write_text(json.dumps({"step": step, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                                 **(info or {})}, indent=1))

    # ------------------------------------------------------------------ preflight
    def preflight(self) -> list[str]:
        c = self.cfg
        problems = preflight.check_inputs(c.model, c.model_path, c.config_path)
        if problems:
            return problems
        todo = self.steps_to_run()
        need = {VENDOR_STEPS[s] for s in todo if s in VENDOR_STEPS}
        if not c.dry_run and need:
            tp, self.tools = preflight.check_tools("hls" in need, "vivado" in need)
            problems += tp
        if any(s in todo for s in ("csim", "fire_project")):
            problems += preflight.check_gxx()
        dirs = [self.out] + ([Path(c.bitstream_dir)] if c.target == "bitstream" else [])
        full = need and not c.dry_run
        problems += preflight.check_dirs(dirs, preflight.MIN_FREE_GB_FULL if full else preflight.MIN_FREE_GB_DRY)
        if problems:
            return problems  # cheap checks first: no Vivado or TensorFlow start for a missing tool
        if "vivado" in self.tools:
            problems += preflight.check_part_and_board(self.tools["vivado"], c.hls_config().part, c.board_repo
                                                       or os.environ.get("PYNQ_Z2_BOARD_REPO", ""), self.log_dir)
        if c.target == "bitstream" and any(s in todo for s in ("hls_project", "hls_ip", "vivado_bitstream")):
            budget = self.cached_budget()
            if budget is None:
                budget = preflight.check_budget(c.model_path, c.config_path, {"ClockPeriod": c.clock_ns})
            if budget and c.ignore_budget:
                for b in budget:
                    self.log(f"WARNING (--ignore-budget): {b}")
            else:
                problems += budget
                if not budget:
                    self.budget_ok = True
                    self.log("preflight: the budget planner says the model fits the XC7Z020")
        return problems

    def cached_budget(self) -> list[str] | None:
        """The planner's 'fits' verdict for these exact inputs, from the last run ([] = fits; None = unknown)."""
        f = self.out / "budget_ok.json"
        try:
            if f.exists() and json.loads(f.read_text()) == self.fingerprint():
                self.log("preflight: budget planner verdict for these inputs cached (fits)")
                return []
        except (OSError, json.JSONDecodeError):
            pass
        return None

    def inputs_changed(self) -> bool:
        saved = self.out / "build_config.json"
        if not saved.exists():
            return False
        try:
            return json.loads(saved.read_text()).get("fingerprint") != self.fingerprint()
        except (OSError, json.JSONDecodeError):
            return True

    def steps_to_run(self) -> list[str]:
        steps = list(self.cfg.steps)
        if self.inputs_changed():  # before --from-step: earlier outputs made from other inputs are stale
            return steps
        if self.cfg.from_step:
            return steps[steps.index(self.cfg.from_step):]
        return [s for s in steps if not self.marker(s).exists()]

    # ------------------------------------------------------------------ running things
    def run_cmd(self, cmd: list, cwd: Path, log_name: str, what: str, env=None) -> str:
        """Run a command with its output in <out>/logs/<log_name>; raise BuildError on failure."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / log_name
        self.log(f"  $ (cd {shlex.quote(str(cwd))} && {_q(cmd)})  > {log}")
        with open(log, "w") as f:
            r = subprocess.run([str(c) for c in cmd], cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                               env=env or dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        text = log.read_text(errors="replace")
        if r.returncode != 0:
            tail = [ln for ln in text.splitlines() if ln.strip()][-5:]
            raise BuildError(f"{what} failed (exit {r.returncode}); log {log}:\n    " + "\n    ".join(tail))
        return text

    def vendor(self, kind: str, cmd: list, cwd: Path, log_name: str, what: str) -> str | None:
        """A Xilinx tool run: executed for real, or only printed under --dry-run."""
        if not self.cfg.dry_run and kind not in self.tools:
            raise BuildError(f"step needs {kind} but preflight did not check it (internal error: re-run without --from-step)")
        if self.cfg.dry_run:
            line = f"(cd {shlex.quote(str(cwd))} && {_q(cmd)})"
            self.would_run.append(line)
            self.log(f"  dry run, would run: {line}")
            return None
        return self.run_cmd(cmd, cwd, log_name, what)

    def hls_cmd(self, entry: Path) -> list:
        tool = self.tools.get("hls")
        if tool is None:  # dry run: show the 2023.2+ form
            return ["vitis-run", "--mode", "hls", "--tcl", str(entry)]
        return preflight.hls_command(tool, entry)

    def vivado_cmd(self, entry: Path, log: str) -> list:
        path = self.tools["vivado"].path if "vivado" in self.tools else "vivado"
        return preflight.vivado_command(path, entry, self.log_dir / log)

    def spec(self) -> dict:
        from host.stream import IOSpec, SpecError

        try:
            IOSpec.load(self.spec_path)  # validates the contract's arithmetic
        except SpecError as e:
            raise BuildError(str(e)) from None
        d = json.loads(self.spec_path.read_text())
        if d["model"] != self.cfg.model:
            raise BuildError(f"{self.spec_path} is for model {d['model']!r}, not {self.cfg.model!r}")
        return d

    # ------------------------------------------------------------------ driver
    def run(self) -> int:
        c = self.cfg
        self.log(f"build {c.target} of {c.model} in {self.out}{' (dry run)' if c.dry_run else ''}")
        problems = self.preflight()
        if problems:
            for p in problems:
                print(f"preflight: {p}", file=sys.stderr)
            print(f"preflight failed ({len(problems)} problem{'s' if len(problems) > 1 else ''}); nothing was built",
                  file=sys.stderr)
            return 2
        todo = self.steps_to_run()  # before prepare_markers: it deletes the markers of these steps
        self.prepare_markers()
        for step in c.steps:
            if step not in todo and not self.done(step):
                self.log(f"[{step}] not run (before --from-step {c.from_step}); later steps use its earlier outputs")
                continue
            if self.done(step):
                self.log(f"[{step}] done earlier, skipped ({self.marker(step)})")
                continue
            self.log(f"[{step}] {(getattr(self, 'step_' + step).__doc__ or '').splitlines()[0]}")
            t0 = time.time()
            try:
                info = getattr(self, "step_" + step)()
            except BuildError as e:
                print(f"build_bitstream: step {step} failed: {e}", file=sys.stderr)
                print("earlier steps' outputs are kept; fix the problem and re-run (finished steps are skipped)",
                      file=sys.stderr)
                return 1
            if c.dry_run and step in VENDOR_STEPS or (c.dry_run and step in ("collect", "fire_copy")):
                continue  # not run: no marker
            self.mark(step, {"seconds": round(time.time() - t0, 1), **(info or {})})
            self.log(f"[{step}] ok ({time.time() - t0:.1f} s)")
        if c.dry_run:
            self.log("dry run finished; vendor commands that a full build runs:")
            for line in self.would_run:
                self.log(f"  {line}")
        return 0


def parse_args(argv=None) -> BuildConfig:
    p = argparse.ArgumentParser(prog="scripts/build_bitstream.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEPLOYED_MODEL, help="model name: hw/models/NAME.keras + hls_config/NAME.yml")
    p.add_argument("--out", help="build directory (default build/bitstream/NAME, build/fire_rtl_prj/NAME for --fire-rtl)")
    p.add_argument("--model-file", default="", help="the .keras file (default hw/models/NAME.keras)")
    p.add_argument("--config-file", default="", help="the hls4ml YAML (default hls_config/NAME.yml)")
    p.add_argument("--clock-ns", type=float, default=None, help="PL clock period in ns (FCLK_CLK0), overriding the "
                   "YAML's ClockPeriod for hls4ml, Vitis HLS and Vivado alike (default: the YAML's)")
    p.add_argument("--jobs", type=int, default=4, help="parallel Vivado jobs")
    p.add_argument("--dry-run", action="store_true", help="run what needs no Xilinx tool, print the vendor commands")
    p.add_argument("--from-step", help="re-run from this step (steps: " + ", ".join(BITSTREAM_STEPS) + "; with "
                   "--fire-rtl: " + ", ".join(FIRE_STEPS) + ")")
    p.add_argument("--ignore-budget", action="store_true", help="build even if the budget planner says the model "
                   "does not fit (its figures are estimates; Vivado will have the last word, hours later)")
    p.add_argument("--cosim", action="store_true", help="also run Vitis HLS C/RTL co-simulation of the AXI top in "
                   "step hls_ip (measured interval per image; adds tens of minutes)")
    p.add_argument("--csim-images", type=int, default=10, help="test images in the C simulation (default 10)")
    p.add_argument("--board-repo", default="", help="directory holding the PYNQ-Z2 board files (else Vivado's store)")
    p.add_argument("--bitstream-dir", default=str(REPO / "bitstreams"), help="where the .bit/.hwh/.json go")
    p.add_argument("--fire-rtl", action="store_true", help="export the Verilog of one Fire module instead")
    p.add_argument("--fire", default="fire2", help="the Fire module to export with --fire-rtl (default fire2)")
    p.add_argument("--fire-rtl-dir", default="", help="where --fire-rtl copies the Verilog (HLS_FIRE_RTL_DIR; "
                   "default build/fire_rtl/FIRE)")
    p.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's and hls4ml's own output")
    a = p.parse_args(argv)
    if not a.verbose:
        from hw.quiet import quiet

        quiet()
    target = "fire-rtl" if a.fire_rtl else "bitstream"
    steps = FIRE_STEPS if a.fire_rtl else BITSTREAM_STEPS
    if a.from_step and a.from_step not in steps:
        p.error(f"unknown step {a.from_step!r}; steps: {', '.join(steps)}")
    if a.clock_ns is not None and not a.clock_ns > 0:
        p.error(f"--clock-ns must be positive, got {a.clock_ns}")
    if a.jobs < 1 or a.csim_images < 1:
        p.error("--jobs and --csim-images must be at least 1")
    if not a.model.replace("_", "").isalnum():
        p.error(f"model name {a.model!r}: letters, digits and underscores only")
    out = a.out or str(REPO / "build" / ("fire_rtl_prj" if a.fire_rtl else "bitstream") / a.model)
    return BuildConfig(model=a.model, out=out, clock_ns=a.clock_ns, jobs=a.jobs, dry_run=a.dry_run,
                       from_step=a.from_step, csim_images=a.csim_images, board_repo=a.board_repo,
                       bitstream_dir=a.bitstream_dir, target=target, fire=a.fire, fire_rtl_dir=a.fire_rtl_dir,
                       model_file=a.model_file, config_file=a.config_file, ignore_budget=a.ignore_budget,
                       cosim=a.cosim)


def main(argv=None) -> int:
    return Build(parse_args(argv), log=lambda s: print(s, flush=True)).run()


if __name__ == "__main__":
    sys.exit(main())
