"""What `pip install .[board]` ships: the wheel built from this checkout, checked file by file, and
the board runtime imported from it alone (no checkout on the path), as on a PYNQ image."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the committed-and-staged files (git ls-files), as a fresh clone would build
    it: setuptools' own build/ folder in the checkout could hold files a clone does not."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "pyproject.toml", "README.md", "hw", "host"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    # setuptools of this environment if it has one (no download); else pip's isolated build env
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
                        "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("squeezenet_pynq-*.whl")
    return whl


def _sources(folder: str) -> set[str]:
    return {p.relative_to(REPO).as_posix() for p in (REPO / folder).glob("*.py")}


def test_the_wheel_ships_the_board_runtime_and_the_emulation(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = (_sources("host") | _sources("host/emulation")) - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    samples = {p.relative_to(REPO).as_posix() for p in (REPO / "host" / "samples").glob("*.png")}
    assert samples and samples <= names
    assert not {n for n in names if n.startswith(("tests/", "scripts/", "build/"))}


def test_the_board_runtime_imports_from_the_wheel_alone(wheel, tmp_path):
    """Installed into an empty folder and imported from elsewhere: the runtime needs nothing from the
    checkout, and loads neither hw/ nor the emulation (the board has neither TensorFlow nor hls4ml)."""
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    code = ("import sys; import host.infer, host.driver, host.selftest, host.testset; "
            "print(host.infer.__file__); print(sorted(m for m in sys.modules if m.split('.')[0] in ('host', 'hw')))")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(target)}
    r = subprocess.run([sys.executable, "-c", code],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    first, loaded = r.stdout.splitlines()[:2]
    assert first.startswith(str(target))
    assert "host.emulation" not in loaded and "'hw" not in loaded
