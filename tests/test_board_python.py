"""Code that runs on the board is Python 3.10-compatible (the PYNQ-Z2 image's Python), checked by
vermin on every file of host/ (the development machines run 3.11, which would not notice)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOST = Path(__file__).resolve().parents[1] / "host"
VERMIN = "import sys; from vermin.main import main; sys.exit(main())"  # vermin has no __main__ module


def test_host_runs_on_python_3_10():
    r = subprocess.run([sys.executable, "-c", VERMIN, "-t=3.10-", "--violations", "--no-tips",
                        "--eval-annotations", str(HOST)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_check_catches_a_3_11_feature(tmp_path):
    (tmp_path / "new.py").write_text("import tomllib\n")
    r = subprocess.run([sys.executable, "-c", VERMIN, "-t=3.10-", "--violations", "--no-tips", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "tomllib" in r.stdout
