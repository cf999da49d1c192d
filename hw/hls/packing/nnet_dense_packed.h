#ifndef NNET_DENSE_PACKED_H_
#define NNET_DENSE_PACKED_H_
// Two 8-bit products per DSP48E1 in hls4ml's Resource-strategy dense kernel (project-owned, added to
// the Vitis backend through hls4ml's extension API by hw/hls/dsp_packing.py; hls4ml itself is not
// patched).
//
// Two signed weights that meet the same unsigned activation share one multiplication:
//     packed = w1 * 2^S + w0           (S = 24 - weight bits: fits the 25-bit signed A/D port)
//     P      = packed * a              (a <= 17 bits unsigned on the 18-bit B port)
//     p0     = signed(P[S-1:0])        (the lower lane, sign-extended)
//     p1     = (P - p0) >> S           (the upper lane, less the lower lane's borrow)
// Exact for every operand pair when S >= weight bits + activation bits (hw/quant/packing.py, checked
// on all 2^24 8-bit triples). Every product is unpacked before it is summed: for 8 x 8 bits the lower
// lane holds one worst-case product only (hw.quant.packing.max_packed_terms), so no accumulation
// happens in the packed word.
//
// The multiplication is written as Reconfigurable-Computing/Xilinx-INT8-Multiplication-Optimization
// (INT8-HLS/src/int8_mult.cpp @ 5ff8a9cf) writes it: an ap_int<25> built as w1 << 16 plus w0, times
// an 8-bit operand, one `*`; that repository's Vivado HLS 2019.2 report (INT8-HLS/DSP.png, a
// 220-DSP / 53,200-LUT part: the xc7z020) shows 1 DSP48E, 43 LUT and 26 FF for two products.
// The loops keep hls4ml 1.3's kernels (nnet_dense_resource.h) unchanged in shape: same ReuseLoop,
// same weight order, same accumulators; only the products are taken two at a time.

#include "nnet_common.h"
#include "nnet_dense.h"
#include "nnet_dense_resource.h"
#include "nnet_mult.h"

namespace nnet {
namespace packing {

// Operand formats the packed product accepts: unsigned activations, signed weights.
template <class T> struct activation_format {
    static const bool ok = false;
    static const int width = 1, iwidth = 1;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct activation_format<ap_ufixed<W, I, Q, O, N> > {
    static const bool ok = true;
    static const int width = W, iwidth = I;
};
template <int W> struct activation_format<ap_uint<W> > {
    static const bool ok = true;
    static const int width = W, iwidth = W;
};
template <class T> struct weight_format {
    static const bool ok = false;
    static const int width = 1, iwidth = 1;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct weight_format<ap_fixed<W, I, Q, O, N> > {
    static const bool ok = true;
    static const int width = W, iwidth = I;
};
template <int W> struct weight_format<ap_int<W> > {
    static const bool ok = true;
    static const int width = W, iwidth = W;
};

template <class data_T, class weight_T> struct pair_product {
    typedef activation_format<data_T> A;
    typedef weight_format<weight_T> W;
    static const int WA = A::width, WW = W::width;
    static const int S = 24 - WW;                  // lane distance (25-bit signed A/D port)
    static const int PW = WA + WW + 1;             // one exact product, sign included
    static const int FULL = 25 + WA + 1;           // the packed product
    typedef ap_fixed<PW, A::iwidth + W::iwidth + 1> product_t;  // fractional bits: FA + FW, exact

    // (w0 * a, w1 * a) through one multiplication.
    static void products(data_T a, weight_T w0, weight_T w1, product_t &p0, product_t &p1) {
        #pragma HLS INLINE
        static_assert(A::ok, "DSP packing: activations must be unsigned (ap_ufixed/ap_uint)");
        static_assert(W::ok, "DSP packing: weights must be signed (ap_fixed/ap_int)");
        static_assert(S >= WA + WW, "DSP packing: the lanes of these widths overlap (weight + activation bits > 24 - weight bits)");
        static_assert(WA + 1 <= 18, "DSP packing: the activation does not fit the 18-bit B port");
        ap_int<WW> w0_bits = w0.range(WW - 1, 0);
        ap_int<WW> w1_bits = w1.range(WW - 1, 0);
        ap_uint<WA> a_bits = a.range(WA - 1, 0);
        ap_int<25> packed = w1_bits;
        packed <<= S;
        packed += w0_bits;
        ap_int<FULL> p = packed * a_bits;  // the one multiplication: 25 x 18 bits, one DSP48E1
        ap_int<S> low = p.range(S - 1, 0); // lower lane, sign-extended by the S-bit signed type
        ap_int<FULL> high = (p - low) >> S;
        ap_int<PW> low_w = low, high_w = high;
        p0.range(PW - 1, 0) = low_w.range(PW - 1, 0);
        p1.range(PW - 1, 0) = high_w.range(PW - 1, 0);
    }
};

} // namespace packing

// hls4ml's dense_resource_rf_leq_nin with the products of outputs 2j and 2j + 1 (same input) paired.
// Needs n_in % reuse_factor == 0 (hw/hls/dsp_packing.py refuses other layers before conversion).
template <class data_T, class res_T, typename CONFIG_T>
void dense_resource_packed_rf_leq_nin(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                                      typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                                      typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    typedef packing::pair_product<data_T, typename CONFIG_T::weight_t> pair_t;
    const int rufactor = CONFIG_T::reuse_factor;
    const int block_factor = DIV_ROUNDUP(CONFIG_T::n_in * CONFIG_T::n_out, CONFIG_T::reuse_factor);
    const int multscale = block_factor / CONFIG_T::n_out;  // products per output in one ReuseLoop step
    const int nout = CONFIG_T::n_out;
    static_assert(CONFIG_T::reuse_factor <= CONFIG_T::n_in && CONFIG_T::n_in % CONFIG_T::reuse_factor == 0,
                  "packed rf_leq_nin kernel: needs n_in % reuse_factor == 0");

    #pragma HLS function_instantiate variable=weights,biases
    #pragma HLS ARRAY_RESHAPE   variable=weights block factor=block_factor
    #pragma HLS ARRAY_PARTITION variable=biases complete

    if (CONFIG_T::reuse_factor > 1) {
        #pragma HLS RESOURCE variable=weights core=ROM_nP_BRAM
    }

    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=acc complete

InitAccum:
    for (int iacc = 0; iacc < nout; iacc++) {
        #pragma HLS UNROLL
        acc[iacc] = (typename CONFIG_T::accum_t)biases[iacc];
    }

ReuseLoop:
    for (int ir = 0; ir < rufactor; ir++) {
        #pragma HLS PIPELINE II=1 rewind
    PairLoop:
        for (int j = 0; j < nout / 2; j++) {
            #pragma HLS UNROLL
        LaneLoop:
            for (int k = 0; k < multscale; k++) {
                #pragma HLS UNROLL
                const int im0 = 2 * j * multscale + k, im1 = im0 + multscale;
                typename pair_t::product_t p0, p1;
                pair_t::products(data[ir + k * rufactor], weights[ir + im0 * rufactor], weights[ir + im1 * rufactor], p0,
                                 p1);
                acc[2 * j] += static_cast<typename CONFIG_T::accum_t>(p0);
                acc[2 * j + 1] += static_cast<typename CONFIG_T::accum_t>(p1);
            }
        }
        if (nout % 2) { // the last output has no partner: one plain product per input
        OddLoop:
            for (int k = 0; k < multscale; k++) {
                #pragma HLS UNROLL
                const int im = (nout - 1) * multscale + k;
                acc[nout - 1] += static_cast<typename CONFIG_T::accum_t>(
                    CONFIG_T::template product<data_T, typename CONFIG_T::weight_t>::product(data[ir + k * rufactor],
                                                                                            weights[ir + im * rufactor]));
            }
        }
    }

Result:
    for (int ires = 0; ires < CONFIG_T::n_out; ires++) {
        #pragma HLS UNROLL
        res[ires] = cast<data_T, res_T, CONFIG_T>(acc[ires]);
    }
}

// hls4ml's dense_resource_rf_gt_nin_rem0 with products im and im + 1 paired: in one ReuseLoop step
// every product of this kernel meets the same input, data[ir % n_in].
template <class data_T, class res_T, typename CONFIG_T>
void dense_resource_packed_rf_gt_nin_rem0(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                                          typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                                          typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
    typedef packing::pair_product<data_T, typename CONFIG_T::weight_t> pair_t;
    const int rufactor = MIN(CONFIG_T::reuse_factor, CONFIG_T::n_in * CONFIG_T::n_out);
    const int block_factor = DIV_ROUNDUP(CONFIG_T::n_in * CONFIG_T::n_out, CONFIG_T::reuse_factor);
    const int nin = CONFIG_T::n_in;
    const int nout = CONFIG_T::n_out;
    const int nw = CONFIG_T::n_in * CONFIG_T::n_out;
    static_assert(CONFIG_T::reuse_factor > CONFIG_T::n_in && CONFIG_T::reuse_factor % CONFIG_T::n_in == 0,
                  "packed rf_gt_nin_rem0 kernel: needs reuse_factor > n_in and reuse_factor % n_in == 0");

    #pragma HLS function_instantiate variable=weights,biases
    #pragma HLS ARRAY_RESHAPE   variable=weights block factor=block_factor
    #pragma HLS ARRAY_PARTITION variable=biases complete

    if (CONFIG_T::reuse_factor > 1) {
        #pragma HLS RESOURCE variable=weights core=ROM_nP_BRAM
    }

    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    #pragma HLS ARRAY_PARTITION variable=acc complete

InitAccum:
    for (int iacc = 0; iacc < nout; iacc++) {
        #pragma HLS UNROLL
        acc[iacc] = (typename CONFIG_T::accum_t)biases[iacc];
    }

    int in_index = 0;
    int outstep = 0;
    const int outscale = rufactor / nin;

    int outidx[rufactor];
IndexLoop:
    for (int ir = 0; ir < rufactor; ir++) {
        outidx[ir] = outstep;
        if ((ir + 1) % nin == 0) {
            outstep++;
        }
    }

ReuseLoop:
    for (int ir = 0; ir < rufactor; ir++) {
        #pragma HLS PIPELINE II=1 rewind
        const int out_index = outidx[ir];
        const data_T a = data[in_index];
    PairLoop:
        for (int im = 0; im < block_factor; im += 2) {
            #pragma HLS UNROLL
            const int w0 = ir + rufactor * im, w1 = w0 + rufactor;
            if (w0 < nw) {
                if (im + 1 < block_factor && w1 < nw) {
                    typename pair_t::product_t p0, p1;
                    pair_t::products(a, weights[w0], weights[w1], p0, p1);
                    acc[out_index + im * outscale] += static_cast<typename CONFIG_T::accum_t>(p0);
                    acc[out_index + (im + 1) * outscale] += static_cast<typename CONFIG_T::accum_t>(p1);
                } else {
                    acc[out_index + im * outscale] += static_cast<typename CONFIG_T::accum_t>(
                        CONFIG_T::template product<data_T, typename CONFIG_T::weight_t>::product(a, weights[w0]));
                }
            }
        }
        in_index++;
        if (in_index >= nin) {
            in_index = 0;
        }
    }

Result:
    for (int ires = 0; ires < CONFIG_T::n_out; ires++) {
        #pragma HLS UNROLL
        res[ires] = cast<data_T, res_T, CONFIG_T>(acc[ires]);
    }
}

// The kernel classes the layer configs name (`using kernel = ...`), as hls4ml's nnet_dense.h names its own.
template <class data_T, class res_T, typename CONFIG_T>
class DenseResourcePacked_rf_leq_nin : public DenseKernel<data_T, res_T, CONFIG_T> {
  public:
    static void dense(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                      typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                      typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
        #pragma HLS INLINE
        dense_resource_packed_rf_leq_nin<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    }
};

template <class data_T, class res_T, typename CONFIG_T>
class DenseResourcePacked_rf_gt_nin_rem0 : public DenseKernel<data_T, res_T, CONFIG_T> {
  public:
    static void dense(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                      typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                      typename CONFIG_T::bias_t biases[CONFIG_T::n_out]) {
        #pragma HLS INLINE
        dense_resource_packed_rf_gt_nin_rem0<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    }
};

} // namespace nnet

#endif
