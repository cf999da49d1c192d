`timescale 1ns / 1ps
// Streaming Fire module (SqueezeNet): squeeze 1x1 + ReLU/requantize -> expand 1x1 || expand 3x3
// ('same' zero padding) + ReLU/requantize -> concat [expand1x1, expand3x3].
//
// Interface (shared/DESIGN.md "Fire-module RTL interface"): Vitis HLS names, AXI-Stream without
// TLAST, one beat = all channels of one pixel, channel 0 in the least significant bits, raster
// order, frames of H x W pixels back to back. ap_rst_n is synchronous, active low.
//
// Parameters come from fire_params.vh, written by hw/rtlgen.py next to the ROM files; the
// arithmetic is hw/golden.py's fire_forward, bit for bit.
//
// Structure:
//   in beat -> x register -> squeeze MVU -> ring buffer of squeeze pixels (D >= 2W+4 entries,
//   1 write / 2 read ports) -> expand1x1 MVU (centre pixel) and expand3x3 MVU (9 taps, zero
//   outside the frame) run on the same output pixel -> 2 output slots -> out beat.
// Flow control is by counters modulo 2^(RA+2): the squeeze may run up to D pixels ahead of the
// lowest pixel the expand window still needs; the expand starts a pixel once the squeeze has
// written the highest pixel of its window and an output slot is free. Frames pipeline through.
module fire #(
`include "fire_params.vh"
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst_n,
    input  wire [CIN*IB-1:0]    in_TDATA,
    input  wire                 in_TVALID,
    output wire                 in_TREADY,
    output wire [(E1+E3)*OB-1:0] out_TDATA,
    output wire                 out_TVALID,
    input  wire                 out_TREADY
);
    localparam integer D = 1 << $clog2(2 * W + 4);   // ring depth (power of two)
    localparam integer RA = $clog2(D);
    localparam integer CTW = RA + 2;                  // modular pixel counters
    localparam integer S_CPT = (CIN + S_PI - 1) / S_PI;
    localparam integer S_NG = (S + S_PO - 1) / S_PO;
    localparam integer E1_CPT = (S + E1_PI - 1) / E1_PI;
    localparam integer E1_NG = (E1 + E1_PO - 1) / E1_PO;
    localparam integer E3_CPT = (S + E3_PI - 1) / E3_PI;
    localparam integer E3_NG = (E3 + E3_PO - 1) / E3_PO;
    localparam integer S_GW = S_NG > 1 ? $clog2(S_NG) : 1;
    localparam integer E1_GW = E1_NG > 1 ? $clog2(E1_NG) : 1;
    localparam integer E3_GW = E3_NG > 1 ? $clog2(E3_NG) : 1;
    localparam integer S_CW = S_CPT > 1 ? $clog2(S_CPT) : 1;
    localparam integer E1_CW = E1_CPT > 1 ? $clog2(E1_CPT) : 1;
    localparam integer E3_CW = E3_CPT > 1 ? $clog2(E3_CPT) : 1;
    localparam integer RW = H > 1 ? $clog2(H) : 1;
    localparam integer CLW = W > 1 ? $clog2(W) : 1;

    // synchronous reset, registered so no input combinationally reaches the stream handshakes
    reg rst;
    always @(posedge ap_clk) rst <= !ap_rst_n;
    wire run = ap_rst_n && !rst;

    // ================= squeeze: input register -> MVU =================
    reg [CIN*IB-1:0] x_reg;
    reg x_full;
    wire sq_active, sq_issue, sq_last;
    wire [3:0] sq_tap;
    wire [S_CW-1:0] sq_ch;
    reg [CTW-1:0] sq_cnt;          // squeeze vectors started
    reg [CTW-1:0] wp;              // squeeze pixels written to the ring
    wire [CTW-1:0] lo;             // lowest pixel the expand still needs
    wire [CTW-1:0] sq_ahead = sq_cnt - lo;
    wire sq_start = run && !sq_active && x_full && (sq_ahead < D);
    wire in_fire = in_TVALID && in_TREADY;
    assign in_TREADY = run && (!x_full || sq_last);

    always @(posedge ap_clk) begin
        if (rst) begin
            x_full <= 1'b0;
            sq_cnt <= {CTW{1'b0}};
        end else begin
            if (in_fire) x_full <= 1'b1;
            else if (sq_last) x_full <= 1'b0;
            if (sq_start) sq_cnt <= sq_cnt + 1'b1;
        end
        if (in_fire) x_reg <= in_TDATA;
    end

    wire [S_CPT*S_PI*IB-1:0] x_ext = {{(S_CPT*S_PI*IB - CIN*IB + 1){1'b0}}, x_reg} ;
    reg [S_PI*IB-1:0] sq_chunk;
    always @(posedge ap_clk) sq_chunk <= x_ext[sq_ch*S_PI*IB +: S_PI*IB];

    wire sq_rv, sq_rlast;
    wire [S_GW-1:0] sq_rgo;
    wire [S_PO*SB-1:0] sq_rdata;
    fire_mvu #(
        .TAPS(1), .CH(CIN), .N(S), .PI(S_PI), .PO(S_PO), .XB(IB), .X_SIGNED(0),
        .WB(S_WB), .BB(S_BB), .ACC_W(S_ACC), .VW(S_VW), .OB(SB), .OUT_SIGNED(S_OSIGNED),
        .RELU(S_RELU), .PS(S_PS), .OSH(S_OSH), .OVF(S_OVF), .SW(1), .WFILE(S_WFILE), .BFILE(S_BFILE)
    ) u_squeeze (
        .clk(ap_clk), .rst(rst), .start(sq_start), .start_slot(1'b0), .active(sq_active),
        .issue(sq_issue), .last(sq_last), .iss_tap(sq_tap), .iss_ch(sq_ch), .x_chunk(sq_chunk),
        .res_valid(sq_rv), .res_last(sq_rlast), .res_go(sq_rgo), .res_slot(), .res_data(sq_rdata)
    );

    // ================= ring buffer of squeeze pixels =================
    localparam integer SP = S_NG * S_PO;            // squeeze lanes, padded to whole groups
    reg [SP*SB-1:0] sq_stage;
    reg [SP*SB-1:0] sq_word;
    always @* begin
        sq_word = sq_stage;
        sq_word[sq_rgo*S_PO*SB +: S_PO*SB] = sq_rdata;
    end
    reg [S*SB-1:0] ring [0:D-1];
    always @(posedge ap_clk) begin
        if (sq_rv) sq_stage <= sq_word;
        if (sq_rlast) ring[wp[RA-1:0]] <= sq_word[S*SB-1:0];
        if (rst) wp <= {CTW{1'b0}};
        else if (sq_rlast) wp <= wp + 1'b1;
    end

    // ================= expand: pixel scheduler =================
    reg [RW-1:0] r;
    reg [CLW-1:0] c;
    reg [CTW-1:0] rowbase;         // pixel index of (r, 0), modulo 2^CTW
    wire top = (r == 0), bot = (r == H - 1), lft = (c == 0), rgt = (c == W - 1);
    wire [CTW-1:0] centre = rowbase + c;
    // lowest pixel needed by this or any later window: row 0 (and (1,0)) still need the frame's
    // first pixel; from then on the window's top-left corner
    assign lo = top ? rowbase : rowbase - W + (lft ? c : c - 1'b1);
    wire [CTW-1:0] hi = (bot ? rowbase : rowbase + W) + (rgt ? c : c + 1'b1);
    wire [CTW-1:0] wgap = wp - hi - 1'b1;
    wire win_ok = !wgap[CTW-1];    // wp > hi (modular)

    localparam integer NSLOT = 2;
    reg [1:0] out_cnt;
    reg wslot, rslot;
    reg px_active, e1_done, e3_done;
    wire e1_active, e1_issue, e1_last, e3_active, e3_issue, e3_last;
    wire px_start = run && !px_active && win_ok && (out_cnt < NSLOT);
    wire px_busy = px_active || px_start;
    wire px_fin = px_busy && (e1_done || e1_last) && (e3_done || e3_last);
    wire out_fire = out_TVALID && out_TREADY;

    always @(posedge ap_clk) begin
        if (rst) begin
            r <= {RW{1'b0}};
            c <= {CLW{1'b0}};
            rowbase <= {CTW{1'b0}};
            px_active <= 1'b0;
            e1_done <= 1'b0;
            e3_done <= 1'b0;
            out_cnt <= 2'd0;
            wslot <= 1'b0;
            rslot <= 1'b0;
        end else begin
            if (px_fin) begin
                px_active <= 1'b0;
                e1_done <= 1'b0;
                e3_done <= 1'b0;
                if (rgt) begin
                    c <= {CLW{1'b0}};
                    r <= bot ? {RW{1'b0}} : r + 1'b1;
                    rowbase <= rowbase + W;
                end else begin
                    c <= c + 1'b1;
                end
            end else if (px_busy) begin
                px_active <= 1'b1;
                if (e1_last) e1_done <= 1'b1;
                if (e3_last) e3_done <= 1'b1;
            end
            if (px_start) wslot <= !wslot;
            if (out_fire) rslot <= !rslot;
            out_cnt <= out_cnt + px_start - out_fire;
        end
    end

    // ---- ring reads: expand3x3 tap window (port A), expand1x1 centre (port B) ----
    wire [3:0] e3_tap;
    wire [E3_CW-1:0] e3_ch;
    wire [E1_CW-1:0] e1_ch;
    reg signed [2:0] dy, dx;
    always @* begin
        dy = (e3_tap < 3) ? -3'sd1 : (e3_tap < 6) ? 3'sd0 : 3'sd1;
        dx = (e3_tap == 0 || e3_tap == 3 || e3_tap == 6) ? -3'sd1 :
             (e3_tap == 1 || e3_tap == 4 || e3_tap == 7) ? 3'sd0 : 3'sd1;
    end
    wire pad = (top && dy < 0) || (bot && dy > 0) || (lft && dx < 0) || (rgt && dx > 0);
    wire [CTW-1:0] tap_row = (dy < 0) ? rowbase - W : (dy > 0) ? rowbase + W : rowbase;
    wire [CTW-1:0] tap_idx = tap_row + c + {{(CTW-3){dx[2]}}, dx};
    reg [S*SB-1:0] e3_word, e1_word;
    reg e3_pad1;
    reg [E3_CW-1:0] e3_ch1;
    reg [E1_CW-1:0] e1_ch1;
    always @(posedge ap_clk) begin
        e3_word <= ring[tap_idx[RA-1:0]];
        e1_word <= ring[centre[RA-1:0]];
        e3_pad1 <= pad;
        e3_ch1 <= e3_ch;
        e1_ch1 <= e1_ch;
    end
    wire [E3_CPT*E3_PI*SB-1:0] e3_ext = {{(E3_CPT*E3_PI*SB - S*SB + 1){1'b0}}, e3_word};
    wire [E1_CPT*E1_PI*SB-1:0] e1_ext = {{(E1_CPT*E1_PI*SB - S*SB + 1){1'b0}}, e1_word};
    wire [E3_PI*SB-1:0] e3_chunk = e3_pad1 ? {(E3_PI*SB){1'b0}} : e3_ext[e3_ch1*E3_PI*SB +: E3_PI*SB];
    wire [E1_PI*SB-1:0] e1_chunk = e1_ext[e1_ch1*E1_PI*SB +: E1_PI*SB];

    wire e1_rv, e1_rlast, e3_rv, e3_rlast, e1_rslot, e3_rslot;
    wire [E1_GW-1:0] e1_rgo;
    wire [E3_GW-1:0] e3_rgo;
    wire [E1_PO*OB-1:0] e1_rdata;
    wire [E3_PO*OB-1:0] e3_rdata;
    fire_mvu #(
        .TAPS(1), .CH(S), .N(E1), .PI(E1_PI), .PO(E1_PO), .XB(SB), .X_SIGNED(S_OSIGNED),
        .WB(E1_WB), .BB(E1_BB), .ACC_W(E1_ACC), .VW(E1_VW), .OB(OB), .OUT_SIGNED(E1_OSIGNED),
        .RELU(E1_RELU), .PS(E1_PS), .OSH(E1_OSH), .OVF(E1_OVF), .SW(1), .WFILE(E1_WFILE), .BFILE(E1_BFILE)
    ) u_expand1x1 (
        .clk(ap_clk), .rst(rst), .start(px_start), .start_slot(wslot), .active(e1_active),
        .issue(e1_issue), .last(e1_last), .iss_tap(), .iss_ch(e1_ch), .x_chunk(e1_chunk),
        .res_valid(e1_rv), .res_last(e1_rlast), .res_go(e1_rgo), .res_slot(e1_rslot), .res_data(e1_rdata)
    );
    fire_mvu #(
        .TAPS(9), .CH(S), .N(E3), .PI(E3_PI), .PO(E3_PO), .XB(SB), .X_SIGNED(S_OSIGNED),
        .WB(E3_WB), .BB(E3_BB), .ACC_W(E3_ACC), .VW(E3_VW), .OB(OB), .OUT_SIGNED(E3_OSIGNED),
        .RELU(E3_RELU), .PS(E3_PS), .OSH(E3_OSH), .OVF(E3_OVF), .SW(1), .WFILE(E3_WFILE), .BFILE(E3_BFILE)
    ) u_expand3x3 (
        .clk(ap_clk), .rst(rst), .start(px_start), .start_slot(wslot), .active(e3_active),
        .issue(e3_issue), .last(e3_last), .iss_tap(e3_tap), .iss_ch(e3_ch), .x_chunk(e3_chunk),
        .res_valid(e3_rv), .res_last(e3_rlast), .res_go(e3_rgo), .res_slot(e3_rslot), .res_data(e3_rdata)
    );

    // ================= output slots -> out beat =================
    localparam integer E1P = E1_NG * E1_PO;
    localparam integer E3P = E3_NG * E3_PO;
    reg [NSLOT*E1P*OB-1:0] e1buf;
    reg [NSLOT*E3P*OB-1:0] e3buf;
    reg [NSLOT-1:0] e1_rdy, e3_rdy;
    always @(posedge ap_clk) begin
        if (e1_rv) e1buf[(e1_rslot*E1P + e1_rgo*E1_PO)*OB +: E1_PO*OB] <= e1_rdata;
        if (e3_rv) e3buf[(e3_rslot*E3P + e3_rgo*E3_PO)*OB +: E3_PO*OB] <= e3_rdata;
        if (rst) begin
            e1_rdy <= {NSLOT{1'b0}};
            e3_rdy <= {NSLOT{1'b0}};
        end else begin
            if (e1_rlast) e1_rdy[e1_rslot] <= 1'b1;
            if (e3_rlast) e3_rdy[e3_rslot] <= 1'b1;
            if (out_fire) begin
                e1_rdy[rslot] <= 1'b0;
                e3_rdy[rslot] <= 1'b0;
            end
        end
    end
    assign out_TVALID = e1_rdy[rslot] && e3_rdy[rslot];
    assign out_TDATA = {e3buf[rslot*E3P*OB +: E3*OB], e1buf[rslot*E1P*OB +: E1*OB]};
endmodule
