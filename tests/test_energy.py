"""scripts/energy_per_image.py: the weight-fetch energy model on a planner table."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from hw.plan import Layer
from hw.plan.optimize import plan

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "energy_per_image.py"


def load():
    spec = importlib.util.spec_from_file_location("energy_per_image", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_weights_on_chip_beat_ddr_and_reuse_sets_the_gap():
    e = load()
    conv = Layer(name="c", kind="conv", in_shape=(16, 16, 16), out_shape=(14, 14, 32), kernel=3, n_in=144, n_out=32,
                 w_bits=8, b_bits=12, a_bits=8, out_bits=8, stream_depths=(2,), strategy="resource", rf=144)
    r = e.energy(plan([conv]))
    assert r["macs"] == 14 * 14 * 144 * 32
    assert r["weights_onchip_uJ"] < r["weights_ddr_once_uJ"] < r["weights_ddr_every_use_uJ"]
    # every use from DDR vs from SRAM: the per-access ratio of the cited figures (640 / 5)
    assert abs(r["weights_ddr_every_use_uJ"] / r["weights_onchip_uJ"] - 128) < 1e-9
    assert "| c |" in e.table({"c": r})
