"""scripts/plot_accuracy_memory.py on metadata files made here (the real ones change as models train)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "plot_accuracy_memory.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def _meta(name, variant, bits_total, acc):
    return {"name": name, "architecture": {"variant": variant, "quant": {"weight_bits": 8, "act_bits": 8}},
            "weight_bits_total": bits_total, "fixed_point_test_accuracy": acc}


def test_plot_from_model_jsons(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "a.json").write_text(json.dumps(_meta("a", "vanilla", 284190, 0.9213)))
    (models / "b.json").write_text(json.dumps(_meta("b", "simple_bypass", 512000, 0.9301)))
    (models / "notes.json").write_text(json.dumps({"comment": "not a model"}))
    out = tmp_path / "docs" / "plot.png"
    r = _run("--models-dir", str(models), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()[1:3]]
    assert rows == [["a", "vanilla", "w8a8", "277.5", "92.13"], ["b", "simple_bypass", "w8a8", "500.0", "93.01"]]
    assert "skipped notes.json (no fixed_point_test_accuracy, weight_bits_total)" in r.stderr
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (840, 540)


def test_plot_errors(tmp_path):
    r = _run("--models-dir", str(tmp_path), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 1 and r.stderr.strip().startswith("error: ") and "no model metadata" in r.stderr
    (tmp_path / "broken.json").write_text("{not json")
    r = _run("--models-dir", str(tmp_path), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 1 and "broken.json: not readable JSON" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()
