"""hw.train: CLI errors on bad input, a seconds-long smoke run, and the committed model's metadata."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from host.deployed import DEPLOYED_MODEL, FRONT_DESIGNS, model_path
from hw.model import ArchSpec, build_squeezenet

REPO_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# The metadata fields docs/INTERFACES.md and issue 2 promise for hw/models/<name>.json.
FIELDS = {"name", "dataset", "architecture", "parameters", "weight_bits_total", "weight_bits_per_layer",
          "float_test_accuracy", "fixed_point_test_accuracy", "float_epochs", "qat_epochs",
          "training_seconds", "command", "history"}


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "hw.model.train", *args], capture_output=True, text=True,
                          env=REPO_ENV, timeout=timeout)


def _last_line(stderr: str) -> str:
    return [l for l in stderr.splitlines() if l.strip()][-1]


def test_cli_unknown_variant(capsys):
    """In-process: argparse exits with status 2 and a usage line plus one error line."""
    from hw.model.train import main

    with pytest.raises(SystemExit) as e:
        main(["--variant", "resnet"])
    assert e.value.code == 2
    assert re.search(r"argument --variant: invalid choice: 'resnet'", _last_line(capsys.readouterr().err))


def test_cli_unknown_dataset(tmp_path):
    """The real command line (subprocess): exit status 2, one error line, nothing written."""
    r = _cli("--dataset", "imagenet-42", "--work-dir", str(tmp_path), "--out-dir", str(tmp_path))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert _last_line(r.stderr).startswith("error: unknown dataset 'imagenet-42'")
    assert not list(tmp_path.glob("*.keras"))


def test_cli_empty_image_folder(tmp_path, capsys):
    """In-process (main() is what `python -m hw.model.train` exits with): the data error is one stderr line."""
    from hw.model.train import main

    (tmp_path / "data" / "cls").mkdir(parents=True)
    rc = main(["--dataset", str(tmp_path / "data"), "--work-dir", str(tmp_path / "w"), "--out-dir", str(tmp_path / "o"),
               "--verbose", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: ") and "no images" in err and "\n" not in err


def _check_meta(meta: dict, model, n_test: int) -> None:
    """Fields present and consistent with the saved model and with the architecture they describe."""
    assert FIELDS <= set(meta), FIELDS - set(meta)
    spec = ArchSpec.from_dict(meta["architecture"])
    float_twin = build_squeezenet(spec, quantized=False)
    convs = [l for l in float_twin.layers if type(l).__name__ == "Conv2D"]
    assert meta["parameters"] == sum(int(np.prod(l.kernel.shape)) + int(np.prod(l.bias.shape)) for l in convs)
    assert {l.name for l in convs} == set(meta["weight_bits_per_layer"])
    for l in convs:
        wb = meta["weight_bits_per_layer"][l.name]
        assert wb["kernel"] == int(np.prod(l.kernel.shape)) * wb["kernel_bits"]
        assert wb["bias"] == int(np.prod(l.bias.shape)) * wb["bias_bits"]
        assert tuple(model.get_layer(l.name).kernel.shape) == tuple(l.kernel.shape)
    assert meta["weight_bits_total"] == sum(v["kernel"] + v["bias"] for v in meta["weight_bits_per_layer"].values())
    for key in ("float_test_accuracy", "fixed_point_test_accuracy"):
        # An accuracy is a count of correct images over n_test.
        assert 0.0 <= meta[key] <= 1.0 and abs(meta[key] * n_test - round(meta[key] * n_test)) < 1e-6, meta[key]
    assert meta["command"].startswith(("python -m hw.train", "python -m hw.model.train"))  # the module moved
    assert meta["training_seconds"] > 0


def _n_test(meta: dict) -> int:
    """Test images the accuracies were measured on: --limit N in the recorded command, else all 10,000."""
    m = re.search(r"--limit[ =](\d+)", meta["command"])
    return min(int(m.group(1)), 10000) if m and int(m.group(1)) else 10000


def _correct(model, x, y) -> int:
    from hw.model.train import evaluate

    return round(evaluate(model, x, y) * len(y))


@pytest.mark.slow
def test_smoke_training_run(tmp_path, fmnist):
    """One float and one QAT epoch on 256 images (XLA compiles: ~2 min on 2 idle cores, 7 min under load)."""
    from hw.model import load_model

    r = _cli("--name", "smoke", "--limit", "256", "--float-epochs", "1", "--qat-epochs", "1",
             "--work-dir", str(tmp_path / "work"), "--out-dir", str(tmp_path / "out"), "--verbose", "0", timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((tmp_path / "out" / "smoke.json").read_text())
    model = load_model(tmp_path / "out" / "smoke.keras")
    assert meta["name"] == "smoke" and meta["dataset"] == "fashion-mnist" and _n_test(meta) == 256
    assert meta["float_epochs"] == 1 and meta["qat_epochs"] == 1
    _check_meta(meta, model, 256)
    # The recorded fixed-point accuracy is that of the saved file, image for image.
    assert _correct(model, fmnist.x_test[:256], fmnist.y_test[:256]) == round(meta["fixed_point_test_accuracy"] * 256)
    assert (tmp_path / "work" / "smoke" / "qat.epoch.json").exists()  # resumable checkpoint


def test_deployed_model_metadata(deployed_model, deployed_model_path):
    meta = json.loads(deployed_model_path.with_suffix(".json").read_text())
    assert meta["name"] == DEPLOYED_MODEL and meta["dataset"] == "fashion-mnist"
    _check_meta(meta, deployed_model, _n_test(meta))


@pytest.mark.parametrize("name", [n for _, n in FRONT_DESIGNS if n != DEPLOYED_MODEL])
def test_other_committed_designs_metadata(name):
    """The front's other full-schedule nets carry the same promised, self-consistent metadata."""
    from hw.model import load_model

    meta = json.loads(model_path(name).with_suffix(".json").read_text())
    assert meta["name"] == name and meta["dataset"] == "fashion-mnist"
    _check_meta(meta, load_model(model_path(name)), _n_test(meta))


def test_arch_json_takes_a_committed_models_metadata(deployed_model, deployed_model_path):
    """--arch-json hw/models/<name>.json rebuilds that model's architecture: same layers, same kernels."""
    from hw.model.train import read_arch_json

    rebuilt = build_squeezenet(ArchSpec.from_dict(read_arch_json(deployed_model_path.with_suffix(".json"))))
    shapes = {l.name: tuple(l.kernel.shape) for l in rebuilt.layers if hasattr(l, "kernel")}
    assert shapes and shapes == {l.name: tuple(l.kernel.shape) for l in deployed_model.layers if hasattr(l, "kernel")}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for _, n in FRONT_DESIGNS if n != DEPLOYED_MODEL])
def test_other_committed_designs_accuracy_reproduces(name, fmnist):
    """The README's front quotes these nets' recorded accuracies: re-evaluation gives them exactly."""
    from hw.model import load_model

    meta = json.loads(model_path(name).with_suffix(".json").read_text())
    n = _n_test(meta)
    assert _correct(load_model(model_path(name)), fmnist.x_test[:n], fmnist.y_test[:n]) == round(meta["fixed_point_test_accuracy"] * n)


@pytest.mark.slow
def test_deployed_model_accuracy_reproduces(deployed_model, deployed_model_path, fmnist):
    """Re-evaluating the committed model gives exactly the recorded fixed-point accuracy (HGQ2 predict
    of 10,000 images takes 30-90 s here)."""
    meta = json.loads(deployed_model_path.with_suffix(".json").read_text())
    n = _n_test(meta)
    assert _correct(deployed_model, fmnist.x_test[:n], fmnist.y_test[:n]) == round(meta["fixed_point_test_accuracy"] * n)
