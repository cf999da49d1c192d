"""The layout rules of ../shared/DESIGN.md that a refactor could silently break: a step imports only
the steps before it (hls conversion never imports the planner; the CLI composes them)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    return set(out.stdout.split())


def test_hls_conversion_does_not_import_the_planner():
    mods = _imported_after("import hw.hls, hw.hls.convert")
    assert not {m for m in mods if m.startswith("hw.plan")}


def test_the_hls_cli_composes_conversion_and_planner():
    mods = _imported_after("import hw.hls.cli")
    assert "hw.plan.rate" in mods and "hw.hls.convert" in mods


def test_ci_workflow_is_well_formed():
    """What actionlint (the workflow's lint job) would refuse first, checked here too: every job runs
    somewhere with a time limit, every step either uses an action or runs a command, every script a
    step names exists, and the RTL regression, the main suite and the board tests are separate jobs."""
    import re

    import yaml

    wf = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    jobs = wf["jobs"]
    assert {"lint", "rtl", "suite", "board"} <= set(jobs)
    for name, job in jobs.items():
        assert job.get("runs-on") and int(job.get("timeout-minutes", 0)) > 0, name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step)
            for script in re.findall(r"(?<![/\w])(scripts/[\w.]+)", step.get("run", "")):
                assert (REPO / script).is_file(), (name, script)
        for need in job.get("needs", []):
            assert need in jobs, (name, need)
    assert "tests/rtl" in str(jobs["rtl"]["steps"]) and "--ignore=tests/rtl" in str(jobs["suite"]["steps"])


def test_scripts_import_installed_packages_only():
    """No script reaches into tests/ for code (bench helpers live in packages: hw.rtl.bench)."""
    import re

    for script in sorted((REPO / "scripts").glob("*.py")):
        text = script.read_text()
        assert not re.search(r"sys\.path\.insert\([^)]*tests", text), script.name
        assert not re.search(r"^\s*from (test_\w+|simrun|fire_bench|hls_bench) import", text, re.M), script.name


def test_board_runtime_does_not_load_the_emulation():
    """host/ is what a board runs; host/emulation/ is loaded only when the emulator is asked for."""
    mods = _imported_after("import host.infer, host.driver, host.accelerator, host.stream, host.selftest")
    assert not {m for m in mods if m.startswith(("host.emulation", "hw"))}
    assert (REPO / "host" / "emulation" / "emulator.py").is_file()
    assert not list((REPO / "hls_config").glob("*.cpp")) and not list((REPO / "hls_config").glob("*.h"))
