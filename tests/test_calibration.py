"""hw.plan.calibration: the planner against real Vivado HLS / Vitis HLS C-synthesis reports.

The figures are read from ../shared/vendor-reports/ when it is there (and must equal the committed
vendor_figures.json); the bounds below are the ones the README states."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from hw.plan import calibration as K  # noqa: E402

needs_reports = pytest.mark.skipif(not K.REPORTS_DIR.is_dir(),
                                   reason=f"{K.REPORTS_DIR} absent: the committed vendor_figures.json is checked instead")


@pytest.fixture(scope="module")
def rows():
    return K.compare()


@needs_reports
def test_committed_figures_are_the_reports():
    assert K.extract() == K.load_figures()


def test_cycle_errors_within_bounds(rows):
    med, worst = K.cycle_error_stats(rows)
    assert sum(r.kind == "cycles" for r in rows) >= 16
    assert med <= 0.10 and worst <= 0.25, K.markdown(rows)


def test_dsp_and_weight_bram_exact(rows):
    exact = [r for r in rows if r.kind in ("dsp", "bram", "fifo")]
    assert len(exact) >= 20
    assert [r for r in exact if r.planner != r.report] == []


def test_every_reported_layer_is_reconstructed(rows):
    figs = K.load_figures()
    assert {r.layer for r in rows if r.case == K.MNIST and r.figure == "latency_max"} == {
        "qconv2d_1", "qconv2d_1_quantized_relu", "max_pooling2d_1", "qconv2d_2", "qconv2d_2_quantized_relu",
        "max_pooling2d_2", "qdense_1", "qdense_1_quantized_relu", "qdense_2"}
    assert len(figs["layers"][K.MNIST]) == 9


def test_unparsable_report_is_named(tmp_path):
    bad = tmp_path / K.MNIST / "csynth"
    bad.mkdir(parents=True)
    (bad / "conv_2d_cl_x_config2_s_csynth.xml").write_text("<profile><oops")
    with pytest.raises(K.CalibrationError, match="conv_2d_cl_x_config2_s_csynth.xml: cannot parse"):
        K.extract(tmp_path)


def test_missing_report_folder_is_named(tmp_path):
    with pytest.raises(K.CalibrationError, match="report folder missing"):
        K.extract(tmp_path)


def test_layer_without_reconstruction_is_named():
    figs = K.load_figures()
    figs["layers"][K.MNIST] = figs["layers"][K.MNIST] + [dict(figs["layers"][K.MNIST][0], config=42)]
    with pytest.raises(K.CalibrationError, match="config42 has no layer of that index"):
        K.compare(figs)
