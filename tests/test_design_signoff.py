"""The committed co-design designs pass their sign-off (scripts/check_design.py): C simulation
bit-exact with the golden model on all 10,000 test images, bounded FIFOs without deadlock, every
resource <= 80 % by the calibrated planner. Slow: converts, compiles, simulates (the deployed
>= 10,000 images/s design ~10 min, the 7.5 M-MAC accurate
and the 11 M-MAC SR 0.75 ones 20-30 min each)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from host.deployed import ACCURATE_MODEL, DEPLOYED_MODEL, SR750_MODEL, config_path

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", [DEPLOYED_MODEL, ACCURATE_MODEL, SR750_MODEL])
def test_design_signs_off(name, capsys):
    spec = importlib.util.spec_from_file_location("check_design", REPO / "scripts" / "check_design.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(config_path(name))]) == 0
    out = capsys.readouterr().out
    assert "10000 test images: 0 differ" in out and "no deadlock, logits equal" in out
