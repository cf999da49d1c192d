"""The one place where the project corrects hls4ml (1.3.0) behaviour; imported by hw.hls before conversion.

Global average pooling with an HGQ2 output quantizer: the quantizer's `mask_kbi` arrays keep a
leading batch axis of size 1 (shape (1, 1, 1) for an output of shape (C,)), and hls4ml's bit-exact
precision pass then fails with "input operand has more dimensions than allowed by the axis
remapping" when it broadcasts them to the output shape. Dropping the size-1 leading axes before the
pass reads them restores exact equality with Keras (tests/test_hls.py checks it). Without the output
quantizer the division by 49 would differ from Keras in the last bits, so the quantizer must stay.
"""
from __future__ import annotations

import numpy as np

_PATCHED = False


def _trim_leading(arr: np.ndarray, ndim: int) -> np.ndarray:
    arr = np.asarray(arr)
    while arr.ndim > ndim and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def apply() -> None:
    """Install the patch once (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    import hls4ml.model.optimizer.passes.bit_exact as be

    original = be._request_kif.registry[be.FixedPointQuantizer]

    def request_kif_trimmed(layer):
        out_ndim = len(be.get_output_shape(layer))
        # hls4ml drops one leading axis itself (k[0]); keep at most out_ndim + 1 axes for it.
        layer.mask_kbi = tuple(_trim_leading(a, out_ndim + 1) for a in layer.mask_kbi)
        return original(layer)

    be._request_kif.register(be.FixedPointQuantizer)(request_kif_trimmed)
    _PATCHED = True
