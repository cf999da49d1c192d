// Self-checking testbench of the AXI top (Vitis HLS csim_design and the g++ C simulation of
// scripts/build_bitstream.sh --dry-run run this same file).
//
// It drives the wrapper through its C entry point (docs/INTERFACES.md):
//   extern "C" int <top>_run(const uint64_t* in, size_t n_in_beats, uint64_t* out,
//                            uint8_t* out_last, size_t n_out_beats, uint32_t n_images)
// and compares every output beat and TLAST flag with the expected vectors, which the build writes
// from the integer golden model (hw/flow/vectors.py), so a mismatch fails the HLS step.
//
// usage: axi_tb <input_beats.txt> <expected_beats.txt> <n_images>
//   input_beats.txt:    one 64-bit beat per line, 16 hex digits
//   expected_beats.txt: "<16 hex digits> <tlast 0|1>" per line
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#ifndef SN_RUN_FN
#define SN_RUN_FN squeezenet_axi_run
#endif

extern "C" int SN_RUN_FN(const uint64_t* in, size_t n_in_beats, uint64_t* out, uint8_t* out_last,
                         size_t n_out_beats, uint32_t n_images);

static bool read_beats(const char* path, std::vector<uint64_t>& beats, std::vector<int>* last) {
    FILE* f = std::fopen(path, "r");
    if (!f) {
        std::fprintf(stderr, "TB ERROR: cannot open %s\n", path);
        return false;
    }
    uint64_t v;
    int l;
    while (std::fscanf(f, "%" SCNx64, &v) == 1) {
        beats.push_back(v);
        if (last) {
            if (std::fscanf(f, "%d", &l) != 1) {
                std::fprintf(stderr, "TB ERROR: %s: beat %zu has no TLAST column\n", path, beats.size() - 1);
                std::fclose(f);
                return false;
            }
            last->push_back(l);
        }
    }
    std::fclose(f);
    return true;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s <input_beats.txt> <expected_beats.txt> <n_images>\n", argv[0]);
        return 2;
    }
    std::vector<uint64_t> in, expected;
    std::vector<int> expected_last;
    if (!read_beats(argv[1], in, nullptr) || !read_beats(argv[2], expected, &expected_last)) return 2;
    const uint32_t n_images = static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10));
    if (n_images == 0 || in.empty() || expected.empty()) {
        std::fprintf(stderr, "TB ERROR: empty vectors (%zu input beats, %zu expected beats, %u images)\n",
                     in.size(), expected.size(), n_images);
        return 2;
    }

    std::vector<uint64_t> out(expected.size(), 0);
    std::vector<uint8_t> last(expected.size(), 0);
    const int written = SN_RUN_FN(in.data(), in.size(), out.data(), last.data(), out.size(), n_images);
    if (written != static_cast<int>(expected.size())) {
        std::fprintf(stderr, "TB FAIL: accelerator wrote %d beats, %zu expected\n", written, expected.size());
        return 1;
    }
    size_t errors = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        if (out[i] != expected[i] || static_cast<int>(last[i]) != expected_last[i]) {
            if (errors < 10)
                std::fprintf(stderr, "TB FAIL: beat %zu: got %016" PRIx64 " last=%d, expected %016" PRIx64 " last=%d\n",
                             i, out[i], last[i], expected[i], expected_last[i]);
            ++errors;
        }
    }
    if (errors) {
        std::fprintf(stderr, "TB FAIL: %zu of %zu output beats differ\n", errors, expected.size());
        return 1;
    }
    std::printf("TB PASS: %u images, %zu output beats bit-exact\n", n_images, expected.size());
    return 0;
}
