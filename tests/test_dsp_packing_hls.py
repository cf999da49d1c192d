"""The packed kernel inside the hls4ml flow (hw.hls.dsp_packing): chosen per layer by the config key
DspPacking, added through hls4ml's extension API, refused by name where it cannot serve, bit-exact in
the C simulation of the deployed design, and costed by the planner (DSP per pair, unpacking LUTs).

The 10,000-image C simulation of the deployed design with every layer packed is
`python scripts/check_design.py <config with DspPacking>` (docs/DSP_PACKING.md has its figures);
here 200 images, compared as raw integers with the golden model."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from hw import hls
from hw.hls import dsp_packing

from conftest import DEPLOYED_CONFIG



def _packed_config(tmp_path: Path, layers=None, value=True) -> Path:
    """The deployed config with DspPacking set on `layers` (default: every Resource layer)."""
    raw = yaml.safe_load(DEPLOYED_CONFIG.read_text())
    raw["KerasModel"] = str((DEPLOYED_CONFIG.parent / raw["KerasModel"]).resolve())
    raw["OutputDir"] = str(tmp_path / "prj")
    for name, c in raw["HLSConfig"]["LayerName"].items():
        if (layers is None and str(c.get("Strategy", "")).lower() == "resource") or (layers and name in layers):
            c["DspPacking"] = value
    path = tmp_path / "packed.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def packed_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packed")
    cfg = _packed_config(tmp)
    hls_model = hls.convert(cfg, tmp / "prj")
    hls.compile_csim(hls_model)
    return hls_model, tmp / "prj", cfg


def test_every_requested_layer_gets_the_packed_kernel(packed_project):
    hls_model, prj, _ = packed_project
    packed = dsp_packing.packed_layers(hls_model)
    raw = yaml.safe_load(DEPLOYED_CONFIG.read_text())["HLSConfig"]["LayerName"]
    assert set(packed) == {n for n, c in raw.items() if str(c.get("Strategy", "")).lower() == "resource"}
    params = (prj / "firmware" / "parameters.h").read_text()
    assert params.count("using kernel = nnet::DenseResourcePacked_") == len(packed)
    assert "using kernel = nnet::DenseResource_rf" not in params
    assert '#include "nnet_utils/nnet_dense_packed.h"' in params
    assert (prj / "firmware" / "nnet_utils" / "nnet_dense_packed.h").read_bytes() == dsp_packing.HEADER.read_bytes()


def test_packed_csim_equals_the_golden_model(packed_project, fmnist_test_subset, deployed_model, capsys):
    from hw.golden import extract

    hls_model, prj, _ = packed_project
    x, y = fmnist_test_subset
    frac = hls.read_io_spec(prj)["output"]["frac_bits"]
    csim = hls.to_raw(hls.csim_predict(hls_model, x), frac)
    golden = np.asarray(extract(deployed_model).forward(x), dtype=np.int64)
    differ = np.flatnonzero(np.any(csim != golden, axis=1))
    with capsys.disabled():
        print(f"\n  packed C simulation vs golden model, {len(x)} images: {differ.size} differ")
    assert csim.shape == golden.shape and differ.size == 0


def test_a_config_without_the_key_is_untouched(tmp_path):
    hls_model, _, _ = hls.convert_graph(_packed_config(tmp_path, layers=["conv1"], value=False))
    assert dsp_packing.packed_layers(hls_model) == []
    assert all("DenseResourcePacked" not in (n.get_attr("config_cpp") or "") for n in hls_model.get_layers())


def test_dsp_packing_must_be_a_boolean(tmp_path):
    raw = yaml.safe_load(DEPLOYED_CONFIG.read_text())
    raw["HLSConfig"]["LayerName"]["conv1"]["DspPacking"] = "yes"
    with pytest.raises(hls.ConfigError, match=r"HLSConfig.LayerName.conv1.DspPacking.*true or false"):
        hls.parse_config(raw, DEPLOYED_CONFIG)


def test_signed_activations_are_refused_by_name():
    """A layer whose input is signed (no ReLU before it) cannot use the unsigned B-port lane."""
    import hls4ml
    import keras

    inp = keras.Input((6, 6, 2))
    out = keras.layers.Conv2D(4, 3, name="conv_signed")(inp)
    model = keras.Model(inp, out)
    cfg = {"Model": {"Precision": "ap_fixed<8,3>", "ReuseFactor": 2, "Strategy": "Resource"},
           "LayerName": {"conv_signed": {"ReuseFactor": 2, "Strategy": "Resource", "DspPacking": True}}}
    g = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis", io_type="io_stream",
                                                   output_dir="/tmp/unused_dsp_packing")
    with pytest.raises(dsp_packing.DspPackingError, match=r"conv_signed.DspPacking: its input .* is signed"):
        dsp_packing.apply(g)


def test_planner_costs_a_packed_layer_at_one_dsp_per_pair(tmp_path):
    from hw.plan import from_config
    from hw.plan.optimize import plan
    from hw.plan.resources import PackedProducts

    plain_layers, _ = from_config(DEPLOYED_CONFIG)
    packed_layers, _ = from_config(_packed_config(tmp_path))
    plain, packed = plan(plain_layers), plan(packed_layers)
    for a, b in zip(plain.layers, packed.layers):
        assert a.name == b.name and a.ii_cycles == b.ii_cycles  # same loops, same cycles
        if b.has_weights:
            assert b.dsp_packing and b.dsp == math.ceil(b.mults / 2)
            assert b.lut >= math.ceil(b.mults / 2) * PackedProducts.lut_per_pair
    assert packed.network_dsp < plain.network_dsp


def test_offering_packing_never_plans_a_slower_design():
    from hw.plan import Budget, from_config
    from hw.plan.optimize import optimize

    layers, cfg = from_config(DEPLOYED_CONFIG)
    for cap in (0.8, 1.0):
        budget = Budget(bram18=int(cap * cfg.chip.bram18), dsp=int(cap * cfg.chip.dsp), lut=int(cap * cfg.chip.lut),
                        lutram=int(cap * cfg.chip.lutram))
        assert optimize(layers, budget=budget, pack=True).ii_cycles <= optimize(layers, budget=budget).ii_cycles


def test_a_dsp_bound_budget_makes_the_optimizer_pack():
    """With DSPs scarce (20 of them) and LUTs plentiful, the DSP-dear prices pick the packed kernel."""
    from hw.plan import Budget, from_config
    from hw.plan.optimize import optimize

    layers, cfg = from_config(DEPLOYED_CONFIG)
    budget = Budget(bram18=cfg.chip.bram18, dsp=20, lut=10 * cfg.chip.lut, lutram=10 * cfg.chip.lutram)
    plain, packed = optimize(layers, budget=budget), optimize(layers, budget=budget, pack=True)
    assert any(l.dsp_packing for l in packed.layers)
    assert packed.ii_cycles < plain.ii_cycles
    settings = packed.layer_settings()
    assert {n for n, s in settings.items() if s["DspPacking"]} == {l.name for l in packed.layers if l.dsp_packing}
