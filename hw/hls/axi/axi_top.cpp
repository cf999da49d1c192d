// AXI top wrapper (see axi_top.h for the stream contract). Three DATAFLOW processes:
// read/unpack pixels -> hls4ml network, once per image -> pack/write logits with TLAST.
#include "axi_top.h"

// A logit's raw fixed-point integer in an AXI_LANE_BITS lane: sign-extended for signed formats,
// zero-extended for unsigned ones.
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> static axi_lane_t logit_lane(const ap_fixed<W, I, Q, O, N> &v) {
    static_assert(W <= AXI_LANE_BITS, "a logit must fit a lane");
    ap_int<W> raw;
    raw.range(W - 1, 0) = v.range(W - 1, 0);
    ap_int<AXI_LANE_BITS> wide = raw;
    return wide.range(AXI_LANE_BITS - 1, 0);
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> static axi_lane_t logit_lane(const ap_ufixed<W, I, Q, O, N> &v) {
    static_assert(W <= AXI_LANE_BITS, "a logit must fit a lane");
    ap_uint<W> raw;
    raw.range(W - 1, 0) = v.range(W - 1, 0);
    axi_lane_t wide = raw;
    return wide;
}

// Unpack each beat into bytes and group AXI_IMAGE_CHANNELS bytes into one network pixel.
static void read_pixels(hls::stream<in_beat> &in_stream, hls::stream<axi_nn_in_t> &pixels, ap_uint<32> n_images) {
    static_assert(axi_nn_in_t::size == AXI_IMAGE_CHANNELS, "network input pixel size differs from the image channels");
read_images:
    for (ap_uint<32> i = 0; i < n_images; i++) {
        axi_word_t word = 0;
        axi_nn_in_t pixel;
    read_bytes:
        for (unsigned j = 0; j < AXI_IMAGE_BYTES; j++) {
            #pragma HLS PIPELINE II=1
            if (j % AXI_BEAT_BYTES == 0) {
                in_beat beat = in_stream.read();
                word = beat.data;
            }
            const unsigned c = j % AXI_IMAGE_CHANNELS;
            pixel[c].range() = word.range(AXI_PIXEL_BITS - 1, 0); // the input is ufixed<8,0>: raw bits = byte
            word >>= AXI_PIXEL_BITS;
            if (c == AXI_IMAGE_CHANNELS - 1) {
                pixels.write(pixel);
            }
        }
    }
}

// The hls4ml network processes one image per call.
static void run_network(hls::stream<axi_nn_in_t> &pixels, hls::stream<axi_nn_out_t> &logits, ap_uint<32> n_images) {
run_images:
    for (ap_uint<32> i = 0; i < n_images; i++) {
        AXI_NN_TOP(pixels, logits);
    }
}

// Pack the logits of each image into lanes, AXI_LOGITS_PER_BEAT per beat; TLAST on the batch's last beat.
static void write_logits(hls::stream<axi_nn_out_t> &logits, hls::stream<out_beat> &out_stream, ap_uint<32> n_images) {
write_images:
    for (ap_uint<32> i = 0; i < n_images; i++) {
        axi_nn_out_t y = logits.read();
    write_beats:
        for (unsigned b = 0; b < AXI_OUT_BEATS_PER_IMAGE; b++) {
            #pragma HLS PIPELINE II=1
            out_beat beat;
            axi_word_t data = 0;
            for (unsigned l = 0; l < AXI_LOGITS_PER_BEAT; l++) {
                #pragma HLS UNROLL
                const unsigned k = b * AXI_LOGITS_PER_BEAT + l;
                if (k < AXI_N_LOGITS) {
                    data.range(AXI_LANE_BITS * (l + 1) - 1, AXI_LANE_BITS * l) = logit_lane(y[k]);
                }
            }
            beat.data = data;
            beat.keep = -1;
            beat.strb = -1;
            beat.last = (i == n_images - 1) && (b == AXI_OUT_BEATS_PER_IMAGE - 1);
            out_stream.write(beat);
        }
    }
}

void AXI_TOP_FN(hls::stream<in_beat> &AXI_IN_PORT, hls::stream<out_beat> &AXI_OUT_PORT, ap_uint<32> AXI_BATCH_REGISTER) {
    AXI_PRAGMA(HLS INTERFACE axis port=AXI_IN_PORT)
    AXI_PRAGMA(HLS INTERFACE axis port=AXI_OUT_PORT)
    AXI_PRAGMA(HLS INTERFACE s_axilite port=AXI_BATCH_REGISTER bundle=AXI_CONTROL_BUNDLE)
    AXI_PRAGMA(HLS INTERFACE s_axilite port=return bundle=AXI_CONTROL_BUNDLE)
    #pragma HLS DATAFLOW

    hls::stream<axi_nn_in_t> pixels("axi_pixels");
    hls::stream<axi_nn_out_t> logits("axi_logits");

    read_pixels(AXI_IN_PORT, pixels, AXI_BATCH_REGISTER);
    run_network(pixels, logits, AXI_BATCH_REGISTER);
    write_logits(logits, AXI_OUT_PORT, AXI_BATCH_REGISTER);
}
