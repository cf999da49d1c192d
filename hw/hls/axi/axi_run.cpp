// C-ABI runner of the AXI top for the off-board emulator (host/emulator.py loads it with ctypes).
//
// Why a separate file: it is compiled into the C-simulation shared library only, never into the
// Vitis HLS design. It moves the beats of one DMA transfer into hls::streams, calls the same
// the AXI top (AXI_TOP_FN) that is synthesized, and drains the output stream with its TLAST flags.
#include <cstddef>
#include <cstdint>

#include "axi_top.h"

// Error codes (negative return values of AXI_RUN_FN, named in the generated axi_top_project.h).
enum {
    AXI_RUN_BAD_INPUT_BEATS = -1,  // n_in_beats != n_images * in_beats_per_image
    AXI_RUN_OUTPUT_TOO_SMALL = -2, // n_out_beats < n_images * out_beats_per_image
    AXI_RUN_NULL_POINTER = -3,
    AXI_RUN_STREAM_MISMATCH = -4, // the top left input unread or wrote an unexpected number of beats
    AXI_RUN_BATCH_TOO_LARGE = -5, // the output beat count would not fit the int return value
};

extern "C" {

uint32_t AXI_IN_BEATS_FN() { return AXI_IN_BEATS_PER_IMAGE; }

uint32_t AXI_OUT_BEATS_FN() { return AXI_OUT_BEATS_PER_IMAGE; }

// Run one batch: `in` holds n_images * in_beats_per_image beats, `out`/`out_last` receive the
// output beats and their TLAST bits. Returns the number of output beats written, < 0 on error.
int AXI_RUN_FN(const uint64_t *in, size_t n_in_beats, uint64_t *out, uint8_t *out_last, size_t n_out_beats,
                       uint32_t n_images) {
    if (n_images == 0)
        return n_in_beats == 0 ? 0 : AXI_RUN_BAD_INPUT_BEATS;
    if (in == NULL || out == NULL || out_last == NULL)
        return AXI_RUN_NULL_POINTER;
    const size_t need_in = (size_t)n_images * AXI_IN_BEATS_PER_IMAGE;
    const size_t need_out = (size_t)n_images * AXI_OUT_BEATS_PER_IMAGE;
    if (need_out > 0x7fffffff)
        return AXI_RUN_BATCH_TOO_LARGE;
    if (n_in_beats != need_in)
        return AXI_RUN_BAD_INPUT_BEATS;
    if (n_out_beats < need_out)
        return AXI_RUN_OUTPUT_TOO_SMALL;

    hls::stream<in_beat> in_stream("in_stream");
    hls::stream<out_beat> out_stream("out_stream");
    for (size_t k = 0; k < n_in_beats; k++) {
        in_beat beat;
        beat.data = in[k];
        beat.keep = -1;
        beat.strb = -1;
        beat.last = (k == n_in_beats - 1);
        in_stream.write(beat);
    }

    AXI_TOP_FN(in_stream, out_stream, n_images);

    size_t written = 0;
    while (!out_stream.empty()) {
        out_beat beat = out_stream.read();
        if (written < n_out_beats) {
            out[written] = beat.data.to_uint64();
            out_last[written] = beat.last.to_uint();
        }
        written++;
    }
    if (!in_stream.empty() || written != need_out)
        return AXI_RUN_STREAM_MISMATCH;
    return (int)written;
}

} // extern "C"
