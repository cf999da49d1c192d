"""Integer golden model (independent of hls4ml): `extract(model) -> GoldenNet`, and the integer
arithmetic it shares with the Fire RTL."""
from hw.golden.arith import (ConvParams, FireParams, GoldenError, conv2d, conv2d_acc, f32_div,  # noqa: F401
                             f32_round_half_up, fire_forward, gap_exact_from_sum, gap_forward, gap_from_sum,
                             maxpool2d)
from hw.golden.net import GoldenNet, Layer, Tensor, extract  # noqa: F401
from hw.quant import INPUT_FORMAT, INPUT_FRAC, OVERFLOW_MODES, Format, quantizer_format, requantize  # noqa: F401
