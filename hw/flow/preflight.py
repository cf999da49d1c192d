"""Checks run before any long step, so that a missing tool, part or disk is found in seconds
rather than after an hour of synthesis. Each failure is one line: what is missing, how to get it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hw.chip import BOARD_PART
from hw.flow.reports import parse_tool_version
from hw.flow.tclgen import VIVADO_SCRIPTS

MIN_VERSION = (2023, 2)
MIN_FREE_GB_FULL = 25.0  # Vivado project + runs + HLS project of this design, with margin
MIN_FREE_GB_DRY = 1.0
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Tool:
    """A vendor executable found on PATH and its release."""

    name: str
    path: str
    version: tuple[int, int] | None

    @property
    def version_str(self) -> str:
        return f"{self.version[0]}.{self.version[1]}" if self.version else "unknown"


def _banner(cmd: list[str], timeout: float = 120.0) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (r.stdout or "") + (r.stderr or "")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def find_vivado() -> Tool | None:
    path = shutil.which("vivado")
    if not path:
        return None
    return Tool("vivado", path, parse_tool_version(_banner([path, "-version"])))


def find_hls() -> Tool | None:
    """Vitis HLS: `vitis-run --mode hls --tcl` (2023.2+, the only one from 2025 on) or `vitis_hls -f`."""
    run, hls = shutil.which("vitis-run"), shutil.which("vitis_hls")
    if not run and not hls:
        return None
    version = None
    probes = ([[hls, "-version"]] if hls else []) + ([[shutil.which("v++"), "--version"]] if shutil.which("v++") else []) \
        + ([[run, "--version"]] if run else [])
    for cmd in probes:
        version = parse_tool_version(_banner(cmd))
        if version:
            break
    return Tool("vitis-run" if run else "vitis_hls", run or hls, version)


def hls_command(tool: Tool, tcl: Path) -> list[str]:
    if tool.name == "vitis-run":
        return [tool.path, "--mode", "hls", "--tcl", str(tcl)]
    return [tool.path, "-f", str(tcl)]


def vivado_command(tool_path: str, tcl: Path, log: Path) -> list[str]:
    return [tool_path, "-mode", "batch", "-nojournal", "-notrace", "-log", str(log), "-source", str(tcl)]


def check_version(tool: Tool, what: str, how: str) -> str | None:
    if tool.version is None:
        return f"{what}: cannot read the version of {tool.path} ({tool.name} -version printed no release number); {how}"
    if tool.version < MIN_VERSION:
        return (f"{what} {tool.version_str} at {tool.path} is too old: {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer "
                f"is needed; {how}")
    return None


INSTALL_HINT = ("install AMD Vivado/Vitis 2023.2+ (with Zynq-7000 device support) and "
                "`source <install>/Vivado/<ver>/settings64.sh`")


def check_tools(need_hls: bool, need_vivado: bool) -> tuple[list[str], dict[str, Tool]]:
    """Each needed tool: present on PATH and new enough, else one line saying how to get it."""
    problems, tools = [], {}
    wanted = [("hls", "Vitis HLS", find_hls, "Vitis HLS not found on PATH (neither vitis-run nor vitis_hls)")] * need_hls
    wanted += [("vivado", "Vivado", find_vivado, "Vivado not found on PATH")] * need_vivado
    for key, what, find, missing in wanted:
        t = find()
        if t is None:
            problems.append(f"{missing}: {INSTALL_HINT}")
            continue
        p = check_version(t, what, INSTALL_HINT)
        problems += [p] if p else []
        tools[key] = t
    return problems, tools


def check_part_and_board(vivado: Tool, part: str, board_repo: str | None, workdir: Path) -> list[str]:
    """Ask Vivado itself (get_parts / get_board_parts): install layouts differ between releases."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = vivado_command(vivado.path, VIVADO_SCRIPTS / "preflight.tcl", workdir / "preflight.log")
    cmd += ["-tclargs", part, BOARD_PART, board_repo or ""]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=workdir)
        out = r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"Vivado part query failed ({e}); run `{' '.join(cmd)}` by hand to see why"]
    problems = []
    if f"PREFLIGHT part {part} ok" not in out:
        problems.append(f"part {part} is not installed in Vivado {vivado.version_str}: add 'Zynq-7000' devices "
                        "(Help > Add Design Tools or Devices, or xsetup --add)")
    if f"PREFLIGHT board {BOARD_PART} ok" not in out:
        problems.append(f"PYNQ-Z2 board files ({BOARD_PART}) not found: install them from the Vivado board store "
                        "(xhub::install [xhub::get_xitems *pynq-z2*]) or download TUL's pynq-z2 board files and "
                        "pass --board-repo DIR (or set PYNQ_Z2_BOARD_REPO)")
    return problems


def check_inputs(model: str, model_path: Path, config_path: Path) -> list[str]:
    problems = []
    models_dir = model_path.parent
    if not model_path.exists():
        known = sorted(p.stem for p in models_dir.glob("*.keras")) if models_dir.is_dir() else []
        if known:
            problems.append(f"unknown model {model!r}: {model_path} does not exist (known models: {', '.join(known)})")
        else:
            problems.append(f"model weights {model_path} not found: train it with `python -m hw.model.train --name {model}`")
    elif model_path.stat().st_size == 0:
        problems.append(f"model weights {model_path} are empty: retrain with `python -m hw.model.train --name {model}`")
    if not config_path.exists():
        problems.append(f"hls4ml config {config_path} not found: write it with "
                        f"`python -m hw.plan --model {model_path} --optimize --write`")
    return problems


def check_dirs(dirs: list[Path], min_free_gb: float) -> list[str]:
    problems = []
    for d in dirs:
        probe = d
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            problems.append(f"output directory {d} is not writable (nearest existing parent {probe}): choose "
                            "another with --out or fix its permissions")
            continue
        free = shutil.disk_usage(probe).free / 1e9
        if free < min_free_gb:
            problems.append(f"only {free:.1f} GB free under {probe}; the build needs about {min_free_gb:.0f} GB: free "
                            "space or choose another --out")
    return problems


def check_gxx() -> list[str]:
    if shutil.which("g++") is None:
        return ["g++ not found: the C simulation needs it (Debian/Ubuntu: `apt-get install g++`)"]
    return []


def check_budget(model_path: Path, config_path: Path, overrides: dict | None = None) -> list[str]:
    """The planner (hw.plan.check_design, on the graph hls4ml builds) decides whether the configured
    design fits the chip: one line per resource over budget, [] when it fits."""
    from hw.plan import BudgetError
    from hw.plan.cli import check_design

    try:
        _, overruns = check_design(config_path, model_path, overrides)
    except BudgetError as e:
        return [f"the budget planner cannot plan this design: {e}"]
    return [f"the model does not fit the chip per the budget planner: {line} (table: `python -m hw.plan "
            f"--config {config_path}`; choose ReuseFactors with `--optimize --write`)" for line in overruns]
