"""hw.plan: the graph hls4ml builds, hand-checkable costs, hls4ml's reuse-factor rule, optimizer, YAML
writer (hw.hls.config), refusals."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402

from hw import plan as B  # noqa: E402
from hw.hls import config as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEPLOYED = ROOT / "hw" / "models" / "squeezenet_fmnist.keras"
CONFIG = ROOT / "hls_config" / "squeezenet_fmnist.yml"


def one_conv(k=3, h=16, cin=8, cout=16):
    from keras import layers

    inp = keras.Input((h, h, cin), name="x")
    out = layers.Conv2D(cout, k, padding="same", activation="relu", name="conv")(inp)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def conv_layers():
    return B.from_keras(one_conv())  # float model: hls4ml converts it at the assumed 8 bits


def test_single_conv_by_hand(conv_layers):
    p = B.plan(conv_layers, {"conv": 8})
    assert [l.name for l in p.layers] == ["zp2d_conv", "conv", "conv_relu"]
    c = p.layer("conv")
    assert (c.n_in, c.n_out) == (72, 16)
    assert c.weight_bits == 72 * 16 * 8 + 16 * 8  # 8-bit weights and biases
    assert c.mults == 72 * 16 // 8 == 144
    # ROM of depth RF=8 and width 144*8 = 1152 bits: 512x36 BRAM18s side by side -> 32.
    assert c.weight_bram18 == 32
    # Cycles with the target tool's fitted constants (hw.plan.band.production): 18x18 - 16x16 padded
    # pixels without output x skip, and 16x16 with an output x (RF 8 + ReuseLoop depth
    # 5 + ceil(log2(72/8)/2) = 7 + the fitted overhead of an RF <= n_in kernel).
    from hw.plan.band import production

    cyc = production().cycles
    assert c.ii_cycles == (18 * 18 - 16 * 16) * cyc.skip_pixel + 16 * 16 * (8 + 7 + cyc.out_pixel)
    # Line buffer: 2 rows x 8 channels x 8 bits in SRL32 (padded width 18 <= 32).
    assert c.lutram == 2 * 8 * 8
    assert p.dsp == 72  # RF 8 <= n_in 72: every other product of the adder tree is a DSP multiply-add
    assert p.ii_cycles == c.ii_cycles and p.images_per_s == pytest.approx(1e8 / c.ii_cycles)


def test_memory_and_fifo_rules():
    assert B.memory_bram18(1024, 18) == 1
    assert B.memory_bram18(2048, 9) == 1
    assert B.memory_bram18(512, 37) == 2
    assert B.memory_bram18(784, 256) == 15  # 1Kx18: 15 columns
    assert B.fifo_cost(2, 4096) == (0, 0)  # registers
    assert B.fifo_cost(32, 32) == (0, 32)  # 1,024 bits: SRL32, one LUT per bit
    assert B.fifo_cost(49, 384) == (22, 0)  # above 1,024 bits: BRAM18 at most 18 bits wide (Vitis HLS)
    assert B.fifo_cost(196, 512) == (29, 0)
    vivado = B.STORAGE["vivado"]  # one FIFO per channel, 512-bit SRL threshold
    assert B.fifo_cost(676, 25, 32, vivado) == (64, 0) and B.fifo_cost(121, 4, 32, vivado) == (0, 32 * 4 * 4)


def test_reuse_factor_rule_is_hls4mls_public_api(conv_layers):
    from hls4ml.backends import get_backend

    for n_in, n_out in ((9, 32), (144, 32), (16, 32), (96, 10)):
        assert B.valid_reuse_factors(n_in, n_out) == get_backend("Vitis").get_valid_reuse_factors(n_in, n_out)
    with pytest.raises(B.BudgetError, match=r"ReuseFactor 5 is not valid.*valid: 1, 2, 3, 4, 6, 8, 9"):
        B.plan(conv_layers, {"conv": 5})
    with pytest.raises(B.BudgetError, match="unknown layer"):
        B.plan(conv_layers, {"nope": 1})


def test_fits_vs_does_not_fit(conv_layers):
    m = conv_layers
    assert B.optimize(m).fits
    with pytest.raises(B.BudgetError) as e:
        B.optimize(m, budget=B.Budget(bram18=0, dsp=0, lut=100, lutram=10))
    assert "LUT" in str(e.value) and "conv" in str(e.value)


@pytest.fixture(scope="module")
def deployed():
    return B.from_config(CONFIG)  # the graph hls4ml builds from the shipped YAML


@pytest.fixture(scope="module")
def deployed_layers(deployed):
    return deployed[0]


def test_deployed_graph_is_what_hls4ml_built(deployed):
    layers, cfg = deployed
    names = [l.name for l in layers]
    for n in ("zp2d_conv1", "conv1", "conv1_relu", "clone_fire2_squeeze_relu", "zp2d_fire2_expand3x3",
              "fire5_concat", "classifier", "logits"):
        assert n in names
    assert "dropout" not in names
    assert sum(l.has_weights for l in layers) == 14
    by = {l.name: l for l in layers}
    # the ReuseFactor hls4ml applied is the YAML's; widths are those of hls4ml's precision pass
    assert {n: l.rf for n, l in by.items() if l.has_weights} == cfg.reuse_factors
    assert (by["conv1"].a_bits, by["conv1"].w_bits) == (8, 8) and by["fire2_expand3x3"].w_bits == 6
    # stream depths are the ones hw.hls.fifo set in the graph: the concat inputs absorb the skew
    assert by["fire2_expand1x1_relu"].stream_depths == (19,) and by["fire4_expand1x1_relu"].stream_depths == (12,)
    assert by["fire2_expand3x3_relu"].stream_depths == (2,)  # the late branch: no skew buffer
    assert by["clone_fire2_squeeze_relu"].stream_depths == (2, 2)


def test_unmodelled_strategy_is_refused_by_name(tmp_path):
    text = CONFIG.read_text().replace("fire2_squeeze: {ReuseFactor: 128}",
                                      "fire2_squeeze: {ReuseFactor: 128, Strategy: Latency}")
    cfg = tmp_path / "latency.yml"
    cfg.write_text(text.replace("KerasModel: ../hw/models/", f"KerasModel: {ROOT}/hw/models/"))
    with pytest.raises(B.BudgetError, match="(?i)fire2_squeeze: Strategy 'latency' is not modelled"):
        B.from_config(cfg)


def test_hls4ml_default_full_map_fifos_do_not_fit(deployed_layers):
    # Calibrated storage rule (Vitis HLS: packed FIFO above 1,024 bits in 18-bit-wide BRAM18 columns):
    # hls4ml's whole-map default depths alone need more BRAM than the chip has.
    with pytest.raises(B.BudgetError, match=r"BRAM18: needs [0-9,]+ incl\. shell \d+ > 224 available .*concat"):
        B.optimize(deployed_layers, fifo="full")


@pytest.mark.parametrize("fifo,mult", [("min", "auto"), ("min", "fabric")])
def test_optimizer_fits_and_is_balanced(deployed_layers, fifo, mult):
    from dataclasses import replace

    from hw.plan.band import production

    prod = production()
    kw = dict(fifo=fifo, mult=replace(prod.mult, impl=mult))
    p = B.optimize(deployed_layers, **kw)
    assert p.fits
    budget = B.Budget()
    assert p.bram18 <= budget.bram18 and p.dsp <= budget.dsp and p.lut <= budget.lut
    pd, pb, pl = p.price  # the prices the optimizer's picks were made at (LUT dearer when LUTs bind)
    share = lambda c: (pd * c.dsp / budget.dsp + pb * c.bram18 / budget.bram18 + pl * (c.lut + c.lutram) / budget.lut
                       + c.lutram / budget.lutram)
    for l in p.layers:
        assert l.ii_cycles <= p.ii_cycles
        if l.has_weights:  # no cheaper RF would still meet the bottleneck II
            for rf in B.valid_reuse_factors(l.n_in, l.n_out):
                alt = B.cost_layer(l, rf, kw["mult"], prod.cycles, fifo, prod.memory)
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
    from hw.plan.band import production

    cyc = production().cycles
    p = B.plan(deployed_layers, {"fire2_expand3x3": 36})
    l = p.layer("fire2_expand3x3")
    # (16x16 - 14x14) padded pixels without output x skip + 14x14 x (RF 36 + depth 5 + ceil(log2(144/36)/2)
    # + the fitted overhead of an RF <= n_in kernel)
    assert l.ii_cycles == (16 * 16 - 14 * 14) * cyc.skip_pixel + 14 * 14 * (36 + 6 + cyc.out_pixel)
    assert l.mults == 144 * 32 // 36


@pytest.mark.slow
def test_imagenet_squeezenets_refused_with_layer_names():
    """~50 s of hls4ml conversion per network: slow suite."""
    from hw.model import squeezenet_v1_0, squeezenet_v1_1

    for build, bits in ((squeezenet_v1_0, 8), (squeezenet_v1_1, 4)):
        layers = B.from_keras(build(), assumed_bits=bits)
        assert sum(l.params for l in layers) > 1_200_000
        with pytest.raises(B.BudgetError) as e:
            B.optimize(layers, fifo="full")
        msg = str(e.value)
        assert "BRAM18" in msg and "conv10" in msg and "conv1 " in msg
        with pytest.raises(B.BudgetError) as e:  # shallow FIFOs (the default) do not rescue it
            B.optimize(layers)
        msg = str(e.value)
        assert "does not fit" in msg and ("BRAM18" in msg or "LUT" in msg) and ("conv10" in msg or "fire9" in msg)


def test_yaml_writer_round_trips_with_comments(tmp_path):
    cfg = tmp_path / "m.yml"
    text0 = CONFIG.read_text().replace("KerasModel: ../hw/models/", f"KerasModel: {ROOT}/hw/models/")
    text0 = text0.replace("    conv1: {ReuseFactor: 18}", "    conv1:  # first layer\n      Precision: {weight: auto}\n      ReuseFactor: 18")
    cfg.write_text(text0)
    before = C.load_config(cfg).raw
    C.write_reuse(cfg, {"conv1": 36, "classifier": 96, "fire2_squeeze_relu": 1})
    text = cfg.read_text()
    after = C.load_config(cfg).raw
    assert "# first layer" in text and "# Relative paths are resolved" in text  # comments kept
    assert C.load_config(cfg).reuse_factors["conv1"] == 36 and after["HLSConfig"]["LayerName"]["classifier"] == {"ReuseFactor": 96}
    assert after["HLSConfig"]["LayerName"]["conv1"]["Precision"] == {"weight": "auto"}
    assert after["HLSConfig"]["LayerName"]["fire2_squeeze_relu"] == {"ReuseFactor": 1}
    for key in ("Backend", "IOType", "KerasModel", "Part", "ClockPeriod"):
        assert after[key] == before[key]
    assert list(after) == list(before)  # key order kept
    C.write_reuse(cfg, {"conv1": 36, "classifier": 96, "fire2_squeeze_relu": 1})  # idempotent
    assert cfg.read_text() == text


def test_yaml_errors(tmp_path):
    with pytest.raises(C.ConfigError, match="not found"):
        C.write_reuse(tmp_path / "missing.yml", {"conv": 2})
    bad = tmp_path / "bad.yml"
    bad.write_text("Backend: Vitis\n")
    with pytest.raises(C.ConfigError, match="HLSConfig"):
        C.write_reuse(bad, {"conv": 2})
    assert bad.read_text() == "Backend: Vitis\n"
    cfg = tmp_path / "m.yml"
    cfg.write_text(CONFIG.read_text())
    with pytest.raises(C.ConfigError, match="edit refused, file unchanged.*ReuseFactor must be a positive integer"):
        C.write_reuse(cfg, {"conv1": 0})
    assert cfg.read_text() == CONFIG.read_text()


def test_cli_bad_input(tmp_path, capsys):
    assert B.main(["--model", str(tmp_path / "none.keras")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert B.main(["--write"]) == 2
    assert "--write needs --optimize" in capsys.readouterr().err
    assert B.main(["--config", str(tmp_path / "none.yml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_cli_without_arguments_plans_the_deployed_design(capsys):
    assert B.main([]) == 0
    out = capsys.readouterr().out
    assert "| fire2_expand3x3 |" in out and "images/s" in out and "OVER BUDGET" not in out


def test_cli_optimize_write(tmp_path, capsys, deployed_layers):
    cfg = tmp_path / "squeezenet_fmnist.yml"
    text = CONFIG.read_text().replace("KerasModel: ../hw/models/", f"KerasModel: {ROOT}/hw/models/")
    cfg.write_text(text.replace("    conv1: {ReuseFactor: 18}\n", "    conv1: {ReuseFactor: 1}\n"))
    assert B.main(["--config", str(cfg), "--optimize", "--write"]) == 0
    out = capsys.readouterr().out
    assert "| conv1 |" in out and "images/s" in out
    rfs = C.load_config(cfg).reuse_factors
    assert len(rfs) == 14 and "conv1_relu" not in rfs and "fire5_expand3x3" in rfs
    assert "# hls4ml conversion config" in cfg.read_text()
    assert B.plan(deployed_layers, rfs).fits  # the written RFs are valid and fit
