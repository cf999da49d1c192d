"""Two 8-bit products per DSP48E1 inside the hls4ml flow, chosen per layer.

`DspPacking: true` under `HLSConfig.LayerName.<layer>` (the YAML the project already writes) selects
the project's packed kernel (`packing/nnet_dense_packed.h`) for that layer's Resource-strategy
products. It enters hls4ml through its extension API, not a fork or a patched site-packages: the
header is registered as custom source of the Vitis backend, and one optimizer pass, in its own flow
`vitis:dsp_packing` (which requires hls4ml's whole `vitis:ip` flow), renames the layer's kernel in
the config its templates rendered. Layers whose operands cannot share a DSP48E1 (signed or too wide
activations, weights too wide for the lanes) or whose ReuseFactor falls outside the two kernels the
header provides are refused by name, before anything is written.

The arithmetic is hw.quant.packing's (checked on every 8-bit triple); the C++ is checked against
hls4ml's own kernels in tests/test_dsp_packing_kernel.py and, in a converted design, against the
golden model in tests/test_dsp_packing_hls.py.
"""
from __future__ import annotations

from pathlib import Path

from hw.hls.config import HlsError
from hw.quant.packing import PackingError, check_widths

HEADER = Path(__file__).resolve().parent / "packing" / "nnet_dense_packed.h"
INCLUDE = "nnet_utils/" + HEADER.name
PASS = "pack_dsp_products"
FLOW = "vitis:dsp_packing"
KERNELS = {  # hls4ml 1.3's kernel (core_templates.py / convolution_templates.py) -> the packed one
    "nnet::DenseResource_rf_leq_nin<": "nnet::DenseResourcePacked_rf_leq_nin<",
    "nnet::DenseResource_rf_gt_nin_rem0<": "nnet::DenseResourcePacked_rf_gt_nin_rem0<",
}


class DspPackingError(HlsError):
    """A layer asked for DspPacking that the packed kernel cannot serve."""


def requested(node) -> bool:
    return bool(node.get_attr("dsp_packing", False))


def refusal(node) -> str | None:
    """Why this layer cannot be packed (None: it can): strategy, operand formats, kernel variant."""
    if str(node.get_attr("strategy", "")).lower() != "resource":
        return f"needs Strategy Resource (has {node.get_attr('strategy')})"
    a = node.get_input_variable().type.precision
    w = node.get_weights("weight").type.precision
    if getattr(a, "signed", True):
        return f"its input {a} is signed; the packed product needs unsigned activations (after a ReLU)"
    if not getattr(w, "signed", False):
        return f"its weights {w} are unsigned; the packed product takes signed weights"
    try:
        check_widths(w.width, a.width)
    except PackingError as e:
        return str(e)
    n_in, n_out = _kernel_shape(node)
    rf = int(node.get_attr("reuse_factor"))
    if rf <= n_in and n_in % rf:
        return f"ReuseFactor {rf} <= n_in {n_in} but does not divide it (the packed rf_leq_nin kernel pairs whole blocks)"
    if rf > n_in and rf % n_in:
        return f"ReuseFactor {rf} > n_in {n_in} but not a multiple of it (hls4ml's rf_gt_nin kernel is not packed)"
    return None


def _kernel_shape(node) -> tuple[int, int]:
    """n_in and n_out of the layer's dense kernel (a conv's: kernel window x channels -> filters)."""
    if node.class_name == "Dense":
        return int(node.get_attr("n_in")), int(node.get_attr("n_out"))
    k = int(node.get_attr("filt_height", 1)) * int(node.get_attr("filt_width", 1))
    return k * int(node.get_attr("n_chan")), int(node.get_attr("n_filt"))


def _pass_class():
    from hls4ml.model.optimizer import OptimizerPass

    class PackDspProducts(OptimizerPass):
        """Rename the kernel of each layer with DspPacking in the config hls4ml's templates rendered."""

        def match(self, node):
            return requested(node) and node.get_attr("config_cpp") is not None and not node.get_attr("dsp_packed")

        def transform(self, model, node):
            why = refusal(node)
            if why:
                raise DspPackingError(f"HLSConfig.LayerName.{node.name}.DspPacking: {why}")
            text = node.get_attr("config_cpp")
            hits = [k for k in KERNELS if f"using kernel = {k}" in text]
            if len(hits) != 1:
                raise DspPackingError(f"HLSConfig.LayerName.{node.name}.DspPacking: hls4ml chose none of "
                                      f"{', '.join(k.rstrip('<') for k in KERNELS)} for this layer")
            node.set_attr("config_cpp", text.replace(f"using kernel = {hits[0]}", f"using kernel = {KERNELS[hits[0]]}"))
            node.set_attr("include_header", [*node.get_attr("include_header", []), INCLUDE])
            node.set_attr("dsp_packed", True)
            return False

    return PackDspProducts


_REGISTERED = False


def register() -> None:
    """Register the header, the pass and its flow with hls4ml's Vitis backend (once per process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from hls4ml.backends import get_backend
    from hls4ml.model.flow import register_flow

    backend = get_backend("Vitis")
    backend.register_source(HEADER)
    backend.register_pass(PASS, _pass_class())
    register_flow("dsp_packing", [f"vitis:{PASS}"], requires=["vitis:ip"], backend="Vitis")
    _REGISTERED = True


def apply(hls_model) -> list[str]:
    """Pack the layers whose config asks for it; returns their names (none: the graph is untouched)."""
    layers = [n for n in hls_model.get_layers() if requested(n)]
    if not layers:
        return []
    backend = hls_model.config.get_config_value("Backend")
    if str(backend).lower() != "vitis":
        raise DspPackingError(f"DspPacking is added to hls4ml's Vitis backend only; this config uses Backend {backend}")
    register()
    hls_model.apply_flow(FLOW)
    return [n.name for n in layers]


def packed_layers(hls_model) -> list[str]:
    """The layers whose kernel is the packed one."""
    return [n.name for n in hls_model.get_layers() if n.get_attr("dsp_packed")]
