"""hw.budget: hand-checkable costs, hls4ml's reuse-factor rule, optimizer, YAML writer, refusals."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from hw import budget as B  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEPLOYED = ROOT / "hw" / "models" / "squeezenet_fmnist.keras"


def one_conv(k=3, h=16, cin=8, cout=16):
    from keras import layers

    inp = keras.Input((h, h, cin), name="x")
    out = layers.Conv2D(cout, k, padding="same", activation="relu", name="conv")(inp)
    return keras.Model(inp, out)


def test_single_conv_by_hand():
    p = B.plan(one_conv(), {"conv": 8})
    assert [l.name for l in p.layers] == ["zp2d_conv", "conv", "conv_relu"]
    c = p.layer("conv")
    assert (c.n_in, c.n_out) == (72, 16)
    assert c.weight_bits == 72 * 16 * 8 + 16 * 8  # 8-bit weights and biases
    assert c.mults == 72 * 16 // 8 == 144
    # ROM of depth RF=8 and width 144*8 = 1152 bits: 512x36 BRAM18s side by side -> 32.
    assert c.weight_bram18 == 32
    # 18x18 padded input pixels x 3 cycles + 16x16 outputs x (RF + 5).
    assert c.ii_cycles == 18 * 18 * 3 + 16 * 16 * (8 + 5)
    # Line buffer: 2 rows x 8 channels x 8 bits in SRL32 (padded width 18 <= 32).
    assert c.lutram == 2 * 8 * 8
    assert p.dsp == 144  # 8x8 products, one DSP48E1 each under the 'auto' rule
    assert p.ii_cycles == c.ii_cycles and p.images_per_s == pytest.approx(1e8 / c.ii_cycles)


def test_memory_and_fifo_rules():
    assert B.memory_bram18(1024, 18) == 1
    assert B.memory_bram18(2048, 9) == 1
    assert B.memory_bram18(512, 37) == 2
    assert B.memory_bram18(784, 256) == 15  # 1Kx18: 15 columns
    assert B.fifo_cost(2, 4096) == (0, 0)  # registers
    assert B.fifo_cost(49, 384) == (0, 4 * 128)  # RAM64M: 4 LUTs per 64x3
    assert B.fifo_cost(196, 512) == (15, 0)


def test_valid_reuse_factors_are_hls4mls():
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    from types import SimpleNamespace

    backend = SimpleNamespace(_validate_reuse_factor=lambda *a: FPGABackend._validate_reuse_factor(None, *a))
    for n_in, n_out in ((9, 32), (144, 32), (16, 32), (96, 10)):  # hls4ml's brute force over 1..n_in*n_out
        assert B.valid_reuse_factors(n_in, n_out) == FPGABackend.get_valid_reuse_factors(backend, n_in, n_out)
    with pytest.raises(B.BudgetError, match=r"ReuseFactor 5 is not valid.*valid: 1, 2, 3, 4, 6, 8, 9"):
        B.plan(one_conv(), {"conv": 5})
    with pytest.raises(B.BudgetError, match="unknown layer"):
        B.plan(one_conv(), {"nope": 1})


def test_fits_vs_does_not_fit():
    m = one_conv()
    assert B.optimize(m).fits
    with pytest.raises(B.BudgetError) as e:
        B.optimize(m, budget=B.Budget(bram18=0, dsp=0, lut=100, lutram=10))
    assert "LUT" in str(e.value) and "conv" in str(e.value)


@pytest.fixture(scope="module")
def deployed_layers():
    from hw.model import load_model

    return B.extract_layers(load_model(DEPLOYED))


def test_deployed_graph_has_hls4ml_layers(deployed_layers):
    names = [l.name for l in deployed_layers]
    for n in ("zp2d_conv1", "conv1", "conv1_relu", "clone_fire2_squeeze_relu", "zp2d_fire2_expand3x3",
              "fire5_concat", "classifier", "logits"):
        assert n in names
    assert "dropout" not in names
    assert sum(l.has_weights for l in deployed_layers) == 14


@pytest.mark.parametrize("fifo,mult", [("full", "auto"), ("min", "fabric")])
def test_optimizer_fits_and_is_balanced(deployed_layers, fifo, mult):
    kw = dict(fifo=fifo, mult=B.MultRule(mult))
    p = B.optimize(deployed_layers, **kw)
    assert p.fits
    budget = B.Budget()
    assert p.bram18 <= budget.bram18 and p.dsp <= budget.dsp and p.lut <= budget.lut
    share = lambda c: (c.dsp / budget.dsp + c.bram18 / budget.bram18 + (c.lut + c.lutram) / budget.lut
                       + c.lutram / budget.lutram)
    for l in p.layers:
        assert l.ii_cycles <= p.ii_cycles
        if l.has_weights:  # no cheaper RF would still meet the bottleneck II
            for rf in B.valid_reuse_factors(l.n_in, l.n_out):
                alt = B.cost_layer(l, rf, B.MultRule(mult), B.CycleModel(), fifo)
                if alt.ii_cycles <= p.ii_cycles:
                    assert share(alt) >= share(l) - 1e-12
    # One step faster is infeasible: the layers that set the bottleneck cannot go below it within budget.
    faster = B.plan(deployed_layers, {**p.reuse, **{l.name: max(r for r in B.valid_reuse_factors(l.n_in, l.n_out)
                                                             if r < l.rf) for l in p.layers
                                                    if l.has_weights and l.ii_cycles == p.ii_cycles and l.rf > 1}}, **kw)
    assert faster.ii_cycles < p.ii_cycles or not any(l.has_weights and l.ii_cycles == p.ii_cycles for l in p.layers)
    assert not faster.fits
    uni = B.uniform_baseline(deployed_layers, **kw)
    assert uni.fits and p.images_per_s >= uni.images_per_s


def test_plan_reports_ii_per_fire_layer(deployed_layers):
    p = B.plan(deployed_layers, {"fire2_expand3x3": 36})
    l = p.layer("fire2_expand3x3")
    assert l.ii_cycles == 16 * 16 * 3 + 14 * 14 * (36 + 5)
    assert l.mults == 144 * 32 // 36


def test_imagenet_squeezenets_refused_with_layer_names():
    from hw.model import squeezenet_v1_0, squeezenet_v1_1

    for build, bits in ((squeezenet_v1_0, 8), (squeezenet_v1_1, 4)):
        layers = B.extract_layers(build(), assumed_bits=bits)
        assert sum(l.params for l in layers) > 1_200_000
        with pytest.raises(B.BudgetError) as e:
            B.optimize(layers, fifo="full")
        msg = str(e.value)
        assert "BRAM18" in msg and "conv10" in msg and "conv1 " in msg
        with pytest.raises(B.BudgetError) as e:  # shallow FIFOs (the default) do not rescue it
            B.optimize(layers)
        msg = str(e.value)
        assert "does not fit" in msg and ("BRAM18" in msg or "LUT" in msg) and ("conv10" in msg or "fire9" in msg)


YAML_TEXT = """\
# hls4ml config (comment kept)
Backend: Vitis
IOType: io_stream
HLSConfig:
  Model:
    Precision: fixed<16,6>
    ReuseFactor: 1   # model default
    Strategy: Resource
  LayerName:
    conv:
      Precision:
        weight: auto
      ReuseFactor: 1  # per-layer
    conv_relu:
      Precision: auto
KerasModel: model.keras
"""


def test_yaml_writer_round_trips(tmp_path):
    import yaml

    cfg = tmp_path / "m.yml"
    cfg.write_text(YAML_TEXT)
    before = yaml.safe_load(YAML_TEXT)
    B.write_reuse(cfg, {"conv": 8, "conv_relu": 4, "other": 2})
    text = cfg.read_text()
    after = yaml.safe_load(text)
    assert B.read_reuse(cfg) == {"conv": 8, "conv_relu": 4, "other": 2}
    assert "# hls4ml config (comment kept)" in text and "# per-layer" in text and "# model default" in text
    for key in ("Backend", "IOType", "KerasModel"):
        assert after[key] == before[key]
    assert after["HLSConfig"]["Model"] == before["HLSConfig"]["Model"]
    assert after["HLSConfig"]["LayerName"]["conv"]["Precision"] == {"weight": "auto"}
    assert after["HLSConfig"]["LayerName"]["conv_relu"]["Precision"] == "auto"
    B.write_reuse(cfg, {"conv": 8, "conv_relu": 4, "other": 2})  # idempotent
    assert cfg.read_text() == text


def test_yaml_errors(tmp_path):
    with pytest.raises(B.BudgetError, match="not found"):
        B.read_reuse(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("Backend: Vitis\n")
    with pytest.raises(B.BudgetError, match="HLSConfig"):
        B.write_reuse(bad, {"conv": 2})


def test_cli_bad_input(tmp_path, capsys):
    assert B.main(["--model", str(tmp_path / "none.keras")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert B.main(["--model", str(DEPLOYED), "--write"]) == 2
    assert "--write needs --config and --optimize" in capsys.readouterr().err


def test_cli_optimize_write(tmp_path, capsys, deployed_layers):
    import yaml

    cfg = tmp_path / "squeezenet_fmnist.yml"
    cfg.write_text(YAML_TEXT.replace("conv:", "conv1:").replace("conv_relu:", "conv1_relu:"))
    assert B.main(["--model", str(DEPLOYED), "--config", str(cfg), "--optimize", "--write"]) == 0
    out = capsys.readouterr().out
    assert "| conv1 |" in out and "images/s" in out
    rfs = B.read_reuse(cfg)
    assert len(rfs) == 14 and "conv1_relu" not in rfs and "fire5_expand3x3" in rfs
    assert yaml.safe_load(cfg.read_text())["Backend"] == "Vitis"
    assert B.plan(deployed_layers, rfs).fits  # the written RFs are valid and fit
