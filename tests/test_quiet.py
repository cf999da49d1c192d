"""Quiet by default, loud on -v: the command lines (hw/ CLIs and scripts/) keep TensorFlow's native
start-up lines and hls4ml's known warnings off the terminal unless asked (hw.quiet)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY_NOISE = re.compile(r"oneDNN|absl::InitializeLog|cpu_feature_guard|UserWarning")


def _stderr(*argv: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stderr


def test_a_script_that_converts_a_design_is_quiet_unless_verbose():
    """energy_per_image converts the deployed design with hls4ml (TensorFlow imported, the pointwise
    pass warns once per layer): nothing of that shows without -v, all of it with -v."""
    assert not LIBRARY_NOISE.search(_stderr("scripts/energy_per_image.py"))
    assert LIBRARY_NOISE.search(_stderr("scripts/energy_per_image.py", "-v"))


SCRIPTS_WITH_ARGPARSE = sorted(p for p in (REPO / "scripts").glob("*.py") if "parse_args(" in p.read_text())


@pytest.mark.parametrize("script", SCRIPTS_WITH_ARGPARSE, ids=lambda p: p.name)
def test_every_script_has_the_verbose_flag(script):
    """One flag name across the project; a script without it has no way to show library output."""
    r = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "-v, --verbose" in r.stdout


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__main__" else parts)


# hw.model.train's --verbose is Keras' progress display (0/1/2); its switch is --library-output
MODULE_CLIS = sorted({_module(p) for p in (REPO / "hw").rglob("*.py")
                      if "def main(" in p.read_text() and "parse_args(" in p.read_text()} - {"hw.model.train"})


@pytest.mark.parametrize("module", MODULE_CLIS)
def test_every_module_cli_has_the_verbose_flag(module):
    r = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "-v, --verbose" in r.stdout
