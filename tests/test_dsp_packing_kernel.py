"""The packed hls4ml kernel (hw/hls/packing/nnet_dense_packed.h) in C++: its pair product on every
operand triple of three width pairs, and its dense kernels bit-equal to hls4ml 1.3's own Resource
kernels on random and extreme operands (tests/cpp/dense_packed_test.cpp). A copy of the header with
the lower lane's borrow correction removed must fail the same program: the check can fail."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = REPO / "hw" / "hls" / "packing" / "nnet_dense_packed.h"
PROGRAM = REPO / "tests" / "cpp" / "dense_packed_test.cpp"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed (scripts/setup.sh)")


def _templates() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado"


def _build_and_run(header_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    t = _templates()
    exe = tmp_path / "dense_packed_test"
    subprocess.run(["g++", "-std=c++14", "-O2", f"-I{t}", f"-I{t / 'ap_types'}", f"-I{t / 'nnet_utils'}",
                    f"-I{header_dir}", str(PROGRAM), "-o", str(exe)], check=True, capture_output=True, timeout=600)
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)


def test_packed_kernel_equals_hls4ml_kernels_and_integer_products(tmp_path):
    r = _build_and_run(HEADER.parent, tmp_path)
    assert r.returncode == 0 and r.stdout.strip().endswith("ALL OK"), r.stdout[-3000:]
    assert "ok pairs 8-bit activation x 8-bit weights: 16777216 triples" in r.stdout
    assert r.stdout.count("ok kernel") == 11


def test_without_the_borrow_correction_the_program_fails(tmp_path):
    mutated = tmp_path / "mutated"
    mutated.mkdir()
    text = HEADER.read_text()
    assert "(p - low) >> S" in text
    (mutated / HEADER.name).write_text(text.replace("(p - low) >> S", "p >> S"))
    r = _build_and_run(mutated, tmp_path)
    assert r.returncode == 1 and "FAIL pairs 8-bit activation x 8-bit weights" in r.stdout, r.stdout[-3000:]
