"""scripts/sweep_report.targets: the front's answer to issue 12's two targets, picked from the rows."""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("sweep_report", REPO / "scripts" / "sweep_report.py")
sweep_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep_report)


def _row(name, acc, ips, fits=True):
    return {"name": name, "accuracy": acc, "images_per_s": ips, "fits": fits, "schedule": "30+6", "limit": "DSP 99% of cap"}


def test_targets_pick_the_best_row_of_each_and_say_when_none_reaches():
    rows = [_row("fast", 0.9224, 13966), _row("faster", 0.90, 28000), _row("accurate", 0.9343, 3259),
            _row("too_big", 0.99, 50000, fits=False)]  # a row that does not fit never counts
    fast, acc, both = sweep_report.targets(rows)
    assert fast.startswith("best accuracy at >= 10,000 images/s: 92.24 % (fast, 13,966 images/s")
    assert acc.startswith("best images/s at >= 93.5 %: no row reaches 93.5 % (the most accurate: accurate, 93.43 %")
    assert both == "both targets at once: no row"


def test_targets_best_images_per_s_at_the_accuracy_target_and_both_at_once():
    rows = [_row("a", 0.936, 4000), _row("b", 0.940, 3000), _row("c", 0.935, 12000), _row("d", 0.934, 20000)]
    fast, acc, both = sweep_report.targets(rows)
    assert fast.startswith("best accuracy at >= 10,000 images/s: 93.50 % (c, 12,000 images/s")
    assert acc.startswith("best images/s at >= 93.5 %: 12,000 images/s (c, 93.50 %")
    assert both == "both targets at once: c"
