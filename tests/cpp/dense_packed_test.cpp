// The packed kernel (hw/hls/packing/nnet_dense_packed.h) against plain integer products and against
// hls4ml's own Resource kernels, compiled by tests/test_dsp_packing_kernel.py. Prints one line per
// check and "FAIL ..." with the first difference; exit status 1 on any failure.
#include <cstdio>
#include <cstdlib>
#include <random>

#include "ap_fixed.h"
#include "nnet_dense_packed.h"

static int failures = 0;

// Every (w0, w1, a) triple of the given widths: the pair equals two plain integer products.
template <class data_T, class weight_T> void exhaustive_pairs(const char *name) {
    typedef nnet::packing::pair_product<data_T, weight_T> P;
    const int WA = P::WA, WW = P::WW;
    const double scale = double(1LL << ((WA - data_T::iwidth) + (WW - weight_T::iwidth)));
    long long n = 0;
    for (int w0 = -(1 << (WW - 1)); w0 < (1 << (WW - 1)); w0++) {
        for (int w1 = -(1 << (WW - 1)); w1 < (1 << (WW - 1)); w1++) {
            weight_T fw0, fw1;
            fw0.range(WW - 1, 0) = ap_int<WW>(w0).range(WW - 1, 0);
            fw1.range(WW - 1, 0) = ap_int<WW>(w1).range(WW - 1, 0);
            for (int a = 0; a < (1 << WA); a++) {
                data_T fa;
                fa.range(WA - 1, 0) = ap_uint<WA>(a).range(WA - 1, 0);
                typename P::product_t p0, p1;
                P::products(fa, fw0, fw1, p0, p1);
                n++;
                if (p0.to_double() * scale != double(w0) * a || p1.to_double() * scale != double(w1) * a ||
                    p0 != fa * fw0 || p1 != fa * fw1) {
                    std::printf("FAIL pairs %s: w0=%d w1=%d a=%d -> %.0f %.0f\n", name, w0, w1, a, p0.to_double() * scale,
                                p1.to_double() * scale);
                    failures++;
                    return;
                }
            }
        }
    }
    std::printf("ok pairs %s: %lld triples\n", name, n);
}

template <int NIN, int NOUT, int RF, class W_T> struct config : nnet::dense_config {
    static const unsigned n_in = NIN, n_out = NOUT, reuse_factor = RF;
    static const unsigned strategy = nnet::resource;
    typedef ap_fixed<32, 16> accum_t;
    typedef ap_fixed<16, 6> bias_t;
    typedef W_T weight_t;
    typedef ap_uint<1> index_t;
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
};

enum Fill { RANDOM, MOST_NEGATIVE, MOST_POSITIVE, ALTERNATING };

// One layer shape: the packed kernel's outputs equal hls4ml's kernel's, bit for bit, on random and
// extreme weights (-2^(W-1), 2^(W-1)-1) and activations (0, the largest code), long sums included.
template <class data_T, class W_T, int NIN, int NOUT, int RF, class Stock, class Packed>
void compare(const char *name, std::mt19937 &rng) {
    typedef config<NIN, NOUT, RF, W_T> C;
    const int WW = W_T::width, WA = data_T::width;
    static W_T w[NIN * NOUT];
    static typename C::bias_t b[NOUT];
    data_T x[NIN];
    ap_fixed<32, 16> y_stock[NOUT], y_packed[NOUT];
    int cases = 0;
    for (int fill = RANDOM; fill <= ALTERNATING; fill++) {
        for (int trial = 0; trial < (fill == RANDOM ? 50 : 1); trial++) {
            for (int i = 0; i < NIN * NOUT; i++) {
                int v = fill == RANDOM          ? int(rng() % (1u << WW)) - (1 << (WW - 1))
                        : fill == MOST_NEGATIVE ? -(1 << (WW - 1))
                        : fill == MOST_POSITIVE ? (1 << (WW - 1)) - 1
                                                : (i % 2 ? (1 << (WW - 1)) - 1 : -(1 << (WW - 1)));
                w[i].range(WW - 1, 0) = ap_int<WW>(v).range(WW - 1, 0);
            }
            for (int i = 0; i < NOUT; i++)
                b[i] = fill == RANDOM ? typename C::bias_t(double(int(rng() % 2001) - 1000) / 256.0) : typename C::bias_t(0);
            for (int i = 0; i < NIN; i++) {
                int a = fill == RANDOM ? int(rng() % (1u << WA)) : (1 << WA) - 1;
                if (fill == ALTERNATING && i % 3 == 0)
                    a = 0;
                x[i].range(WA - 1, 0) = ap_uint<WA>(a).range(WA - 1, 0);
            }
            Stock::dense(x, y_stock, w, b);
            Packed::dense(x, y_packed, w, b);
            cases++;
            for (int o = 0; o < NOUT; o++) {
                if (y_stock[o] != y_packed[o]) {
                    std::printf("FAIL kernel %s: fill %d trial %d output %d: hls4ml %s packed %s\n", name, fill, trial, o,
                                y_stock[o].to_string().c_str(), y_packed[o].to_string().c_str());
                    failures++;
                    return;
                }
            }
        }
    }
    std::printf("ok kernel %s: %d cases\n", name, cases);
}

#define LEQ(D, W, NIN, NOUT, RF)                                                                                       \
    compare<D, W, NIN, NOUT, RF, nnet::DenseResource_rf_leq_nin<D, ap_fixed<32, 16>, config<NIN, NOUT, RF, W> >,        \
            nnet::DenseResourcePacked_rf_leq_nin<D, ap_fixed<32, 16>, config<NIN, NOUT, RF, W> > >(                        \
        "rf_leq_nin " #D " x " #W " n_in " #NIN " n_out " #NOUT " RF " #RF, rng)
#define GT(D, W, NIN, NOUT, RF)                                                                                        \
    compare<D, W, NIN, NOUT, RF, nnet::DenseResource_rf_gt_nin_rem0<D, ap_fixed<32, 16>, config<NIN, NOUT, RF, W> >,    \
            nnet::DenseResourcePacked_rf_gt_nin_rem0<D, ap_fixed<32, 16>, config<NIN, NOUT, RF, W> > >(                    \
        "rf_gt_nin_rem0 " #D " x " #W " n_in " #NIN " n_out " #NOUT " RF " #RF, rng)

typedef ap_ufixed<8, 2> a8;
typedef ap_ufixed<8, 0, AP_RND, AP_WRAP> a8_input;
typedef ap_fixed<8, 3> w8;
typedef ap_fixed<6, 1> w6;
typedef ap_ufixed<4, 2> a4;
typedef ap_fixed<4, 1> w4;

int main() {
    std::mt19937 rng(12345);
    exhaustive_pairs<a8, w8>("8-bit activation x 8-bit weights");
    exhaustive_pairs<a8_input, w6>("8-bit input pixel x 6-bit weights");
    exhaustive_pairs<a4, w4>("4-bit activation x 4-bit weights");
    // the deployed design's shapes (conv1, 3x3 expands, squeezes, 1x1 expands, classifier) ...
    LEQ(a8_input, w8, 9, 32, 9);
    LEQ(a8, w8, 72, 32, 72);
    GT(a8, w8, 32, 8, 64);
    GT(a8, w8, 8, 32, 64);
    GT(a8, w6, 96, 10, 192);
    // ... several products per output per step, odd output counts, odd and cut-off blocks, long sums
    LEQ(a8, w8, 64, 8, 16);
    LEQ(a8, w6, 8, 5, 4);
    LEQ(a8, w8, 288, 4, 1);
    GT(a8, w8, 4, 5, 8);
    GT(a8, w8, 8, 3, 16);
    GT(a8, w8, 288, 12, 576);
    std::printf(failures ? "FAILED\n" : "ALL OK\n");
    return failures ? 1 : 0;
}
