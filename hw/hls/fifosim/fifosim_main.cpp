// Driver of the bounded-FIFO simulation (hw/hls/fifosim.py): the AXI top's three dataflow processes
// with the hls4ml network's processes expanded in place of run_network, every one in its own thread.
//
//   fifosim <in.bin> <n_images> <out.bin> <report.json> [depths.txt]
// in.bin: the DMA's input beats (uint64 each); out.bin: output beats (uint64 data, then one byte of
// TLAST per beat); depths.txt: "<stream> <depth>" lines overriding the design's STREAM depths.
// Exit status 0 = batch completed, 3 = deadlock (report.json names the blocked processes), 2 = usage.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "axi_top.cpp"

void fifosim_network(hls::stream<axi_nn_in_t> &in, hls::stream<axi_nn_out_t> &out, unsigned n_images);

static std::string json_str(const std::string &s) {
    std::string o = "\"";
    for (char c : s)
        o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return o + "\"";
}

static void write_report(const char *path, const char *status, unsigned n_images, double seconds) {
    auto &w = fifosim::world();
    std::ofstream f(path);
    f << "{\"status\": " << json_str(status) << ", \"images\": " << n_images << ", \"seconds\": " << seconds
      << ", \"fifos\": [";
    for (size_t i = 0; i < w.fifos.size(); i++) {
        auto *q = w.fifos[i];
        f << (i ? ", " : "") << "{\"name\": " << json_str(q->name) << ", \"depth\": " << q->depth
          << ", \"peak\": " << q->peak << ", \"occupancy\": " << q->occupancy << ", \"writes\": " << q->writes
          << ", \"full_waits\": " << q->full_waits << ", \"reader\": " << json_str(q->reader)
          << ", \"writer\": " << json_str(q->writer) << "}";
    }
    f << "], \"processes\": [";
    static const char *states[] = {"running", "blocked on empty", "blocked on full", "done"};
    for (size_t i = 0; i < w.procs.size(); i++) {
        auto *p = w.procs[i];
        f << (i ? ", " : "") << "{\"name\": " << json_str(p->name) << ", \"state\": " << json_str(states[p->state])
          << ", \"fifo\": " << json_str(p->state == 1 || p->state == 2 ? p->fifo : "") << ", \"images\": " << p->images
          << "}";
    }
    f << "]}\n";
}

int main(int argc, char **argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s in.bin n_images out.bin report.json [depths.txt]\n", argv[0]);
        return 2;
    }
    const unsigned n_images = std::stoul(argv[2]);
    if (argc > 5) {
        std::ifstream d(argv[5]);
        std::string name;
        size_t depth;
        while (d >> name >> depth)
            fifosim::world().overrides[name] = depth;
    }
    std::ifstream fin(argv[1], std::ios::binary);
    std::vector<uint64_t> beats;
    uint64_t v;
    while (fin.read(reinterpret_cast<char *>(&v), sizeof v))
        beats.push_back(v);
    if (beats.size() != (size_t)n_images * AXI_IN_BEATS_PER_IMAGE) {
        std::fprintf(stderr, "fifosim: %zu input beats for %u images (need %u per image)\n", beats.size(), n_images,
                     AXI_IN_BEATS_PER_IMAGE);
        return 2;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto seconds = [&]() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    const char *report = argv[4];
    std::atomic<bool> finished(false);
    std::thread monitor([&]() {
        auto &w = fifosim::world();
        uint64_t last = ~0ull;
        int still = 0;
        while (!finished) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            std::lock_guard<std::mutex> g(w.m);
            if (w.live > 0 && w.blocked == w.live && w.progress == last) {
                if (++still >= 3) {
                    write_report(report, "deadlock", n_images, seconds());
                    std::fflush(nullptr);
                    std::_Exit(3);
                }
            } else {
                still = 0;
            }
            last = w.progress;
        }
    });

    hls::stream<in_beat> in_stream("axi_in");
    hls::stream<out_beat> out_stream("axi_out");
    for (size_t k = 0; k < beats.size(); k++) {
        in_beat beat;
        beat.data = beats[k];
        beat.keep = -1;
        beat.strb = -1;
        beat.last = (k == beats.size() - 1);
        in_stream.write(beat);
    }
    // The AXI top's own channels: no STREAM pragma, so Vitis HLS's default depth 2.
    hls::stream<axi_nn_in_t> pixels("axi_pixels");
    hls::stream<axi_nn_out_t> logits("axi_logits");
    fifosim::bound(pixels, 2);
    fifosim::bound(logits, 2);
    fifosim::spawn("axi_read_pixels", [&]() { read_pixels(in_stream, pixels, n_images); });
    fifosim::spawn("axi_write_logits", [&]() { write_logits(logits, out_stream, n_images); });
    fifosim_network(pixels, logits, n_images);
    finished = true;
    monitor.join();

    std::ofstream fout(argv[3], std::ios::binary);
    std::vector<uint8_t> last;
    while (!out_stream.empty()) {
        out_beat b = out_stream.read();
        uint64_t d = b.data.to_uint64();
        fout.write(reinterpret_cast<const char *>(&d), sizeof d);
        last.push_back(b.last.to_uint());
    }
    fout.write(reinterpret_cast<const char *>(last.data()), last.size());
    write_report(report, in_stream.empty() ? "ok" : "input left unread", n_images, seconds());
    return in_stream.empty() ? 0 : 1;
}
