// AXI top wrapper (see axi_top.h for the stream contract). Three DATAFLOW processes:
// read/unpack pixels -> hls4ml network, once per image -> pack/write logits with TLAST.
#include "axi_top.h"

// A logit's raw fixed-point integer in a 32-bit lane: sign-extended for signed formats,
// zero-extended for unsigned ones.
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> static ap_uint<32> logit_lane(const ap_fixed<W, I, Q, O, N> &v) {
    static_assert(W <= 32, "a logit must fit a 32-bit lane");
    ap_int<W> raw;
    raw.range(W - 1, 0) = v.range(W - 1, 0);
    ap_int<32> wide = raw;
    return wide.range(31, 0);
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> static ap_uint<32> logit_lane(const ap_ufixed<W, I, Q, O, N> &v) {
    static_assert(W <= 32, "a logit must fit a 32-bit lane");
    ap_uint<W> raw;
    raw.range(W - 1, 0) = v.range(W - 1, 0);
    ap_uint<32> wide = raw;
    return wide;
}

// Unpack each 64-bit beat into bytes and group AXI_IMAGE_CHANNELS bytes into one network pixel.
static void read_pixels(hls::stream<in_beat> &in_stream, hls::stream<axi_nn_in_t> &pixels, ap_uint<32> n_images) {
    static_assert(axi_nn_in_t::size == AXI_IMAGE_CHANNELS, "network input pixel size differs from the image channels");
read_images:
    for (ap_uint<32> i = 0; i < n_images; i++) {
        ap_uint<64> word = 0;
        axi_nn_in_t pixel;
    read_bytes:
        for (unsigned j = 0; j < AXI_IMAGE_BYTES; j++) {
            #pragma HLS PIPELINE II=1
            if (j % AXI_BEAT_BYTES == 0) {
                in_beat beat = in_stream.read();
                word = beat.data;
            }
            const unsigned c = j % AXI_IMAGE_CHANNELS;
            pixel[c].range() = word.range(7, 0); // the network input is ufixed<8,0>: raw bits = byte
            word >>= 8;
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

// Pack the logits of each image into 32-bit lanes, two per beat; TLAST on the batch's last beat.
static void write_logits(hls::stream<axi_nn_out_t> &logits, hls::stream<out_beat> &out_stream, ap_uint<32> n_images) {
write_images:
    for (ap_uint<32> i = 0; i < n_images; i++) {
        axi_nn_out_t y = logits.read();
    write_beats:
        for (unsigned b = 0; b < AXI_OUT_BEATS_PER_IMAGE; b++) {
            #pragma HLS PIPELINE II=1
            out_beat beat;
            ap_uint<64> data = 0;
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

void squeezenet_axi(hls::stream<in_beat> &in_stream, hls::stream<out_beat> &out_stream, ap_uint<32> n_images) {
    #pragma HLS INTERFACE axis port=in_stream
    #pragma HLS INTERFACE axis port=out_stream
    #pragma HLS INTERFACE s_axilite port=n_images
    #pragma HLS INTERFACE s_axilite port=return
    #pragma HLS DATAFLOW

    hls::stream<axi_nn_in_t> pixels("axi_pixels");
    hls::stream<axi_nn_out_t> logits("axi_logits");

    read_pixels(in_stream, pixels, n_images);
    run_network(pixels, logits, n_images);
    write_logits(logits, out_stream, n_images);
}
