"""Two 8-bit products per DSP48E1 (hw/quant/packing.py, hw/rtl/dsp_pack2.v): exact on every operand,
one DSP48E1 per two products after Yosys' synth_xilinx, and the RTL equal to the integer model.

What this does not show yet: the packed multiplier inside an hls4ml kernel (issue 33 item 1), so the
planner's 'pack' rule stays modelled."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from hw.quant.packing import PackingError, check_widths, max_packed_terms, packed_products

RTL = __import__("pathlib").Path(__file__).resolve().parents[1] / "hw" / "rtl" / "dsp_pack2.v"


def test_every_8bit_operand_triple_is_exact():
    """All 256 x 256 x 256 (w0, w1, a): both lanes equal the plain products."""
    w = np.arange(-128, 128, dtype=np.int64)
    a = np.arange(256, dtype=np.int64)
    for w1 in range(-128, 128):  # 256 vectorized slabs of 65,536 triples
        w0g, ag = np.meshgrid(w, a, indexing="ij")
        p0, p1 = packed_products(w0g, w1, ag)
        assert np.array_equal(p0, w0g * ag) and np.array_equal(p1, w1 * ag), w1


@pytest.mark.parametrize("w_bits,a_bits", [(4, 4), (6, 8), (8, 4), (6, 10)])
def test_other_widths_exact_on_their_corners_and_random(w_bits, a_bits):
    lo, hi, amax = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1, (1 << a_bits) - 1
    rng = np.random.default_rng(w_bits * 100 + a_bits)
    corners = np.array([[lo, lo, amax], [hi, hi, amax], [lo, hi, amax], [hi, lo, amax], [lo, lo, 0], [-1, -1, 1],
                        [-1, 1, amax], [1, -1, amax]])
    rand = np.stack([rng.integers(lo, hi + 1, 20000), rng.integers(lo, hi + 1, 20000), rng.integers(0, amax + 1, 20000)], 1)
    t = np.concatenate([corners, rand])
    p0, p1 = packed_products(t[:, 0], t[:, 1], t[:, 2], w_bits, a_bits)
    assert np.array_equal(p0, t[:, 0] * t[:, 2]) and np.array_equal(p1, t[:, 1] * t[:, 2])


def test_lane_limit_of_a_packed_accumulation():
    """The lower lane (S = 24 - W bits) holds a sum of k worst-case products, not k + 1: for 8 x 8
    bits it holds one, so every product is unpacked before it is summed; for 4 x 4 bits, 4,369."""
    assert max_packed_terms(8, 8) == 1 and max_packed_terms(4, 4) == 4369
    for w_bits, a_bits in ((4, 4), (6, 8), (8, 8)):
        k, s = max_packed_terms(w_bits, a_bits), check_widths(w_bits, a_bits)
        worst = -(1 << (w_bits - 1)) * ((1 << a_bits) - 1)
        for terms, fits in ((k, True), (k + 1, False)):
            assert (-(1 << (s - 1)) <= terms * worst) == fits, (w_bits, a_bits, terms)
        # and through the packed word itself: k worst-case products summed in P separate exactly
        w0 = np.full(k, -(1 << (w_bits - 1)))
        w1 = np.full(k, (1 << (w_bits - 1)) - 1)
        a = np.full(k, (1 << a_bits) - 1)
        p = int(np.sum(((w1.astype(object) << s) + w0) * a))
        low = p & ((1 << s) - 1)
        p0 = low - (1 << s) if low >= 1 << (s - 1) else low
        assert p0 == int(np.sum(w0 * a)) and (p - p0) >> s == int(np.sum(w1 * a))


def test_the_packed_word_fits_the_signed_25_bit_port_at_every_corner():
    from hw.quant.packing import pack

    for w_bits in (4, 6, 8):
        lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
        p = pack(np.array([lo, hi, lo, hi]), np.array([lo, hi, hi, lo]), w_bits, 8)
        assert p.min() >= -(1 << 24) and p.max() < 1 << 24


def test_widths_that_do_not_fit_a_dsp48e1_are_refused():
    with pytest.raises(PackingError, match="25-bit signed A/D port"):
        check_widths(8, 9)  # 17-bit products, but only 16 bits under an 8-bit weight
    with pytest.raises(PackingError, match="18-bit B port"):
        check_widths(2, 18)


needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (scripts/setup.sh)")
needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")


@needs_yosys
def test_yosys_maps_two_products_to_one_dsp48e1(tmp_path):
    r = subprocess.run(["yosys", "-p", f"read_verilog {RTL}; synth_xilinx -family xc7 -top dsp_pack2; stat"],
                       capture_output=True, text=True, cwd=tmp_path, check=True)
    stat = r.stdout[r.stdout.rindex("Number of cells"):]
    dsp = int(re.search(r"DSP48E1\s+(\d+)", stat).group(1))
    luts = sum(int(n) for n in re.findall(r"LUT\d\s+(\d+)", stat))
    assert dsp == 1, stat
    assert luts <= 4, stat  # the borrow correction is an increment, folded into the output adder


@needs_iverilog
def test_rtl_equals_the_integer_model_on_extreme_and_random_operands(tmp_path):
    rng = np.random.default_rng(7)
    extremes = [(-128, -128, 255), (127, 127, 255), (-128, 127, 255), (127, -128, 255), (-128, -128, 0),
                (-1, -1, 1), (0, -128, 255), (-128, 0, 255), (-1, 0, 255), (0, -1, 255)]
    rand = list(zip(rng.integers(-128, 128, 2000), rng.integers(-128, 128, 2000), rng.integers(0, 256, 2000)))
    vec = np.array(extremes + rand, dtype=np.int64)
    (tmp_path / "in.hex").write_text("".join(f"{w0 & 255:02x}{w1 & 255:02x}{a:02x}\n" for w0, w1, a in vec))
    n = len(vec)
    (tmp_path / "tb.v").write_text(f"""`timescale 1ns / 1ps
module tb;
  reg clk = 0; reg [23:0] mem [0:{n - 1}]; integer i, f;
  reg signed [7:0] w0, w1; reg [7:0] a; wire signed [15:0] p0, p1;
  dsp_pack2 dut(.clk(clk), .w0(w0), .w1(w1), .a(a), .p0(p0), .p1(p1));
  initial begin
    $readmemh("in.hex", mem); f = $fopen("out.txt", "w");
    for (i = 0; i < {n + 1}; i = i + 1) begin
      if (i < {n}) begin w0 = mem[i][23:16]; w1 = mem[i][15:8]; a = mem[i][7:0]; end
      #1 clk = 1; #1 clk = 0;
      if (i >= 1) $fwrite(f, "%0d %0d\\n", p0, p1);  // two registers: input i-1 after edge i
    end
    $fclose(f); $finish;
  end
endmodule
""")
    subprocess.run(["iverilog", "-g2012", "-o", "sim", str(RTL), "tb.v"], cwd=tmp_path, check=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True)
    got = np.loadtxt(tmp_path / "out.txt", dtype=np.int64).reshape(-1, 2)
    assert len(got) == n
    assert np.array_equal(got[:, 0], vec[:, 0] * vec[:, 2]) and np.array_equal(got[:, 1], vec[:, 1] * vec[:, 2])
