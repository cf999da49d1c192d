"""hw.plan.firmware: planner layers read from the generated C++ of real public hls4ml builds
(../shared/vendor-reports; skipped where that folder is absent)."""
from __future__ import annotations

import pytest

from hw.plan import firmware
from hw.plan.calibration import REPORTS_DIR

JET = REPORTS_DIR / "xc7z020_jettagger_resource_rf64_7bit_vivadohls2019.2_routed/dma_test_pynq_stream/cpp_nn_v3/firmware"
A35T = REPORTS_DIR / "xc7a35t_cnn_6bit_resource_rf64_hls4ml1.0_vitishls2024.2/best/best_model_prj/firmware"
needs_reports = pytest.mark.skipif(not REPORTS_DIR.is_dir(), reason=f"{REPORTS_DIR} absent")


@needs_reports
def test_jet_tagger_dense_layers_as_synthesized():
    layers = {l.name: l for l in firmware.read(JET, "Vivado")}
    # hls4ml macros (N_LAYER_2) resolved from defines.h; weights ap_fixed<7,1>, first input ap_fixed<16,6>
    fc1 = layers["config2"]
    assert (fc1.kind, fc1.n_in, fc1.n_out, fc1.rf, fc1.w_bits, fc1.a_bits) == ("dense", 16, 64, 64, 7, 16)
    assert (layers["config5"].n_in, layers["config5"].a_bits) == (64, 7)
    assert layers["config11"].rf == 32
    assert layers["config13"].kind == "unmodelled:softmax"


@needs_reports
def test_vitis_cnn_strided_convs_and_widths():
    layers = firmware.read(A35T, "Vitis")
    convs = [l for l in layers if l.kind == "conv"]
    assert [(l.in_shape, l.out_shape, l.rf) for l in convs] == [
        ((64, 64, 1), (30, 30, 2), 50), ((30, 30, 2), (13, 13, 4), 50), ((13, 13, 4), (5, 5, 5), 50),
        ((5, 5, 5), (3, 3, 6), 45)]
    assert {(l.w_bits, l.a_bits) for l in convs[1:]} == {(6, 6)}
    assert layers[-1].kind == "dense" and layers[-1].n_in == 54


def test_not_a_firmware_folder_is_named(tmp_path):
    with pytest.raises(firmware.FirmwareError, match="not an hls4ml firmware folder"):
        firmware.read(tmp_path, "Vitis")


def test_call_with_undefined_config_is_named(tmp_path):
    (tmp_path / "myproject.cpp").write_text("nnet::relu<a_t, b_t, relu_config9>(x, y);\n")
    (tmp_path / "parameters.h").write_text("")
    (tmp_path / "defines.h").write_text("typedef ap_fixed<8,2> a_t;\ntypedef ap_fixed<8,2> b_t;\n")
    with pytest.raises(firmware.FirmwareError, match="relu_config9"):
        firmware.read(tmp_path, "Vitis")
