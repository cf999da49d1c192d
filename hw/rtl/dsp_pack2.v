`timescale 1ns / 1ps
// Two signed W-bit weights times one unsigned A-bit activation in one multiplication: the packed
// product of hw/quant/packing.py (lane shift S = 24 - W, borrow correction of the upper lane), in the
// form Yosys' synth_xilinx and Vivado map to a single DSP48E1 (25 x 18 signed multiplier, registered
// product). tests/test_dsp_packing.py simulates it (Icarus) against the integer model and counts
// its DSP48E1 cells (Yosys).
module dsp_pack2 #(
    parameter integer W = 8,
    parameter integer A = 8
) (
    input  wire                    clk,
    input  wire signed [W-1:0]     w0,
    input  wire signed [W-1:0]     w1,
    input  wire        [A-1:0]     a,
    output reg  signed [W+A-1:0]   p0,
    output reg  signed [W+A-1:0]   p1
);
    localparam integer S = 24 - W;  // the widest lane the signed 25-bit A/D port holds (>= W + A)
    wire signed [24:0] packed_w = ($signed(w1) <<< S) + $signed(w0);  // A/D port: 25 bits
    wire signed [17:0] act = $signed({{(18 - A){1'b0}}, a});            // B port: 18 bits, non-negative
    reg  signed [42:0] p;
    always @(posedge clk) p <= packed_w * act;                          // the one DSP48E1 product (MREG)
    always @(posedge clk) begin
        p0 <= p[S-1:0];                    // w0 * a: fits W + A <= S bits signed
        p1 <= p[S+W+A-1:S] + p[S-1];       // w1 * a: the lower lane's sign borrowed 1 from it
    end
endmodule
