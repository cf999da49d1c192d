"""The arithmetic contract (fixed-point formats, requantization): one reader of the quantizers for
the golden model, the planner, training metadata and the RTL generator."""
from hw.quant.formats import (INPUT_BITS, INPUT_FORMAT, INPUT_FRAC, OVERFLOW_MODES, Format, QuantError,  # noqa: F401
                              quantizer_format, quantizer_kif, quantizer_width, requantize, weights_to_int)
