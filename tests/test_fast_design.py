"""The >= 10,000 images/s design (hls_config/squeezenet_fmnist_fast.yml) passes its sign-off:
C simulation bit-exact with the golden model on all 10,000 test images, bounded FIFOs without
deadlock, every resource <= 80 % by the calibrated planner. Slow: converts, compiles, simulates."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fast_design_signs_off(capsys):
    spec = importlib.util.spec_from_file_location("check_design", REPO / "scripts" / "check_design.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(REPO / "hls_config" / "squeezenet_fmnist_fast.yml")]) == 0
    out = capsys.readouterr().out
    assert "10000 test images: 0 differ" in out and "no deadlock, logits equal" in out
