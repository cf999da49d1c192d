// Minimal stand-in for Xilinx's <ap_axi_sdata.h>, for g++ C simulation only.
//
// Why: hls4ml ships the ap_types headers (ap_int, ap_fixed, hls_stream) but not ap_axi_sdata.h,
// and the AXI top wrapper must compile here without Vitis. axi_top.h includes this file only when
// <ap_axi_sdata.h> is not on the include path; Vitis HLS (C simulation, synthesis, co-simulation)
// always uses its own header. Only what the wrapper touches is modelled: the ap_axiu / ap_axis
// beat with data, keep, strb, user, last, id and dest fields (a zero-width side channel becomes a
// 1-bit field here, which the wrapper never reads).
#ifndef AXI_SDATA_SIM_H_
#define AXI_SDATA_SIM_H_

#ifdef __SYNTHESIS__
#error "axi_sdata_sim.h is a C-simulation stand-in; synthesize with Vitis HLS's own ap_axi_sdata.h"
#endif

#include "ap_int.h"

namespace axi_sdata_sim {
template <int W> struct width_or_one {
    static const int value = W > 0 ? W : 1;
};
} // namespace axi_sdata_sim

template <int D, int U, int TI, int TD> struct ap_axiu {
    ap_uint<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<axi_sdata_sim::width_or_one<U>::value> user;
    ap_uint<1> last;
    ap_uint<axi_sdata_sim::width_or_one<TI>::value> id;
    ap_uint<axi_sdata_sim::width_or_one<TD>::value> dest;
};

template <int D, int U, int TI, int TD> struct ap_axis {
    ap_int<D> data;
    ap_uint<(D + 7) / 8> keep;
    ap_uint<(D + 7) / 8> strb;
    ap_uint<axi_sdata_sim::width_or_one<U>::value> user;
    ap_uint<1> last;
    ap_uint<axi_sdata_sim::width_or_one<TI>::value> id;
    ap_uint<axi_sdata_sim::width_or_one<TD>::value> dest;
};

#endif
