`timescale 1ns / 1ps
// Folded matrix-vector unit: one quantized conv output pixel (all N channels) from a K = TAPS*CH
// input vector, PI x PO multiplies per cycle, then bias + ReLU + requantize (hw/golden.py).
//
// Why one unit for all three convs of a Fire module: squeeze 1x1, expand 1x1 and expand 3x3 differ
// only in where the input chunks come from (the caller supplies them) and in their ROMs.
//
// Schedule of one vector: for go in 0..NG-1 (groups of PO outputs), for tap in 0..TAPS-1,
// for ch in 0..CPT-1 (chunks of PI input channels): one issue cycle.  NI = NG*TAPS*CPT cycles per
// vector; vectors issue back to back (start may be asserted in the cycle after the last issue).
// Pipeline: issue (t) -> ROM/chunk valid (t+1) -> products (t+2) -> accumulate (t+2 edge) ->
// requantized result lanes of group `go` on res_* at t+3 (combinational from registers).
//
// Caller contract: assert `start` only while `active` is low; the first issue happens in the
// start cycle. Present input chunk (iss_tap, iss_ch) on x_chunk one cycle after the issue.
module fire_mvu #(
    parameter integer TAPS = 1,       // 1 (1x1 conv) or 9 (3x3 conv)
    parameter integer CH = 4,         // input channels per tap
    parameter integer N = 4,          // output channels
    parameter integer PI = 1,         // input lanes per cycle
    parameter integer PO = 1,         // output lanes per cycle
    parameter integer XB = 8,         // bits of one input lane
    parameter integer X_SIGNED = 0,
    parameter integer WB = 8,         // weight bits (signed)
    parameter integer BB = 12,        // bias bits (signed, already at acc_frac)
    parameter integer ACC_W = 24,     // signed width of sum(x*w), from worst-case bounds
    parameter integer VW = 32,        // signed width of the requantize datapath
    parameter integer OB = 8,         // output bits
    parameter integer OUT_SIGNED = 0,
    parameter integer RELU = 1,
    parameter integer PS = 0,         // prod_shift (>= 0)
    parameter integer OSH = 0,        // out_shift (acc_frac - out_frac), may be negative
    parameter integer OVF = 0,        // 0 WRAP, 1 SAT, 2 SAT_SYM
    parameter integer SW = 1,         // width of the caller's slot tag
    parameter WFILE = "",
    parameter BFILE = "",
    // derived (not to be overridden): counter widths used in the port list
    parameter integer CW = ((CH + PI - 1) / PI) > 1 ? $clog2((CH + PI - 1) / PI) : 1,
    parameter integer GW = ((N + PO - 1) / PO) > 1 ? $clog2((N + PO - 1) / PO) : 1
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 start,
    input  wire [SW-1:0]        start_slot,
    output reg                  active,
    output wire                 issue,
    output wire                 last,
    output wire [3:0]           iss_tap,
    output wire [CW-1:0]        iss_ch,
    input  wire [PI*XB-1:0]     x_chunk,
    output wire                 res_valid,
    output wire                 res_last,
    output wire [GW-1:0]        res_go,
    output wire [SW-1:0]        res_slot,
    output wire [PO*OB-1:0]     res_data
);
    localparam integer CPT = (CH + PI - 1) / PI;
    localparam integer NG = (N + PO - 1) / PO;
    localparam integer NI = NG * TAPS * CPT;
    localparam integer AW = NI > 1 ? $clog2(NI) : 1;
    localparam integer PW = XB + 1 + WB;       // product width (x widened to signed)
    localparam integer WW = PI * PO * WB;      // weight ROM word
    localparam integer BW = PO * BB;           // bias ROM word

    // ---------------- issue counters ----------------
    reg [GW-1:0] go_r;
    reg [3:0]    tap_r;
    reg [CW-1:0] ch_r;
    reg [AW-1:0] addr_r;
    reg [SW-1:0] slot_r;
    assign issue = active | start;
    wire [GW-1:0] go   = active ? go_r : {GW{1'b0}};
    wire [3:0]    tap  = active ? tap_r : 4'd0;
    wire [CW-1:0] ch   = active ? ch_r : {CW{1'b0}};
    wire [AW-1:0] addr = active ? addr_r : {AW{1'b0}};
    wire [SW-1:0] slot = active ? slot_r : start_slot;
    wire ch_last  = (ch == CPT - 1);
    wire tap_last = (tap == TAPS - 1);
    wire go_last  = (go == NG - 1);
    wire chunk_first = (tap == 0) && (ch == 0);
    wire chunk_last  = ch_last && tap_last;
    assign last = issue && chunk_last && go_last;
    assign iss_tap = tap;
    assign iss_ch = ch;

    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
        end else if (issue) begin
            active <= !last;
            addr_r <= addr + 1'b1;
            slot_r <= slot;
            ch_r   <= ch_last ? {CW{1'b0}} : ch + 1'b1;
            tap_r  <= ch_last ? (tap_last ? 4'd0 : tap + 1'b1) : tap;
            go_r   <= chunk_last ? go + 1'b1 : go;
        end
    end

    // ---------------- ROMs (synchronous read: block RAM) ----------------
    reg [WW-1:0] wrom [0:NI-1];
    reg [BW-1:0] brom [0:NG-1];
    initial begin
        $readmemh(WFILE, wrom);
        $readmemh(BFILE, brom);
    end
    reg [WW-1:0] w1;
    reg [BW-1:0] b1;
    always @(posedge clk) begin
        w1 <= wrom[addr];
        b1 <= brom[go];
    end

    // ---------------- stage 1: control delayed with the ROM read ----------------
    reg v1, first1, clast1, glast1;
    reg [GW-1:0] go1;
    reg [SW-1:0] slot1;
    always @(posedge clk) begin
        if (rst) v1 <= 1'b0;
        else v1 <= issue;
        first1 <= chunk_first;
        clast1 <= chunk_last;
        glast1 <= go_last;
        go1 <= go;
        slot1 <= slot;
    end

    // stage 2 control (products are registered per lane below)
    reg v2, first2, clast2, glast2;
    reg [GW-1:0] go2;
    reg [SW-1:0] slot2;
    reg [BW-1:0] b2;
    always @(posedge clk) begin
        if (rst) v2 <= 1'b0;
        else v2 <= v1;
        first2 <= first1;
        clast2 <= clast1;
        glast2 <= glast1;
        go2 <= go1;
        slot2 <= slot1;
        b2 <= b1;
    end

    // stage 3 control
    reg v3, glast3;
    reg [GW-1:0] go3;
    reg [SW-1:0] slot3;
    reg [BW-1:0] b3;
    always @(posedge clk) begin
        if (rst) v3 <= 1'b0;
        else v3 <= v2 && clast2;
        glast3 <= glast2;
        go3 <= go2;
        slot3 <= slot2;
        if (v2 && clast2) b3 <= b2;
    end

    // ---------------- datapath, structural (one multiplier / adder per instance) ----------------
    // stage 1 -> 2: PI x PO products, registered; stage 2: balanced adder tree over the PI lanes of
    // each output, then accumulate (first chunk of a group loads, later chunks add).
    localparam integer PI2 = 1 << $clog2(PI + 0);   // tree leaves (power of two >= PI)
    localparam integer NL = (PI2 < 1) ? 1 : PI2;
    wire [PO*ACC_W-1:0] acc3;
    genvar gi, gj, gk;
    generate
        for (gj = 0; gj < PO; gj = gj + 1) begin : out_lane
            wire [2*NL*ACC_W-1:0] tree;   // heap: node k at [k*ACC_W +: ACC_W], leaves NL..2NL-1
            for (gi = 0; gi < NL; gi = gi + 1) begin : mul
                if (gi < PI) begin : real_lane
                    wire [XB-1:0] xr = x_chunk[gi*XB +: XB];
                    wire signed [XB:0] xe = X_SIGNED ? {xr[XB-1], xr} : {1'b0, xr};
                    wire signed [WB-1:0] we = w1[(gj*PI+gi)*WB +: WB];
                    wire signed [PW-1:0] pr = xe * we;
                    reg signed [PW-1:0] pq;
                    always @(posedge clk) pq <= pr;
                    assign tree[(NL+gi)*ACC_W +: ACC_W] = {{(ACC_W+1-PW){pq[PW-1]}}, pq[PW-2:0]};
                end else begin : pad_lane
                    assign tree[(NL+gi)*ACC_W +: ACC_W] = {ACC_W{1'b0}};
                end
            end
            for (gk = 1; gk < NL; gk = gk + 1) begin : node
                assign tree[gk*ACC_W +: ACC_W] = tree[(2*gk)*ACC_W +: ACC_W] + tree[(2*gk+1)*ACC_W +: ACC_W];
            end
            wire [ACC_W-1:0] sum = (NL == 1) ? tree[NL*ACC_W +: ACC_W] : tree[ACC_W +: ACC_W];
            reg [ACC_W-1:0] acc;
            always @(posedge clk) if (v2) acc <= first2 ? sum : acc + sum;
            assign acc3[gj*ACC_W +: ACC_W] = acc;
        end
    endgenerate

    // ---------------- stage 3: bias, ReLU, round half up, overflow ----------------
    localparam signed [VW-1:0] ONE = 1;
    localparam signed [VW-1:0] HI = OUT_SIGNED ? ((ONE <<< (OB - 1)) - 1) : ((ONE <<< OB) - 1);
    localparam signed [VW-1:0] LO = OUT_SIGNED ? ((OVF == 2) ? -HI : -(ONE <<< (OB - 1))) : 0;
    localparam signed [VW-1:0] RND = (OSH > 0) ? (ONE <<< (OSH - 1)) : 0;
    genvar g;
    generate
        for (g = 0; g < PO; g = g + 1) begin : lane
            wire signed [ACC_W-1:0] av = acc3[g*ACC_W +: ACC_W];
            wire signed [BB-1:0] bv = b3[g*BB +: BB];
            wire signed [VW-1:0] v0 = ($signed({{(VW-ACC_W){av[ACC_W-1]}}, av}) <<< PS)
                                      + $signed({{(VW-BB){bv[BB-1]}}, bv});
            wire signed [VW-1:0] v1r = (RELU != 0 && v0 < 0) ? {VW{1'b0}} : v0;
            wire signed [VW-1:0] v2r;
            if (OSH > 0) begin : rshift
                wire signed [VW-1:0] vr = v1r + RND;
                assign v2r = vr >>> OSH;
            end else begin : lshift
                assign v2r = v1r <<< (-OSH);
            end
            wire [OB-1:0] q = (OVF == 0) ? v2r[OB-1:0] :
                              (v2r > HI) ? HI[OB-1:0] :
                              (v2r < LO) ? LO[OB-1:0] : v2r[OB-1:0];
            assign res_data[g*OB +: OB] = q;
        end
    endgenerate
    assign res_valid = v3;
    assign res_last = v3 && glast3;
    assign res_go = go3;
    assign res_slot = slot3;
endmodule
