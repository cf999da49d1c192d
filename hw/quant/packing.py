"""Two signed weights times one unsigned activation in one DSP48E1 multiplication: the arithmetic.

Why: the accurate end of the design front is DSP-bound at one product per DSP. FINN packs two
signed 8-bit weights against one unsigned 8-bit activation into a DSP48E1
(`finn-rtllib/mvu/mvu_8sx8u_dsp48.sv`: lane offset = weight bits + activation bits, a borrow
correction of the upper lane); Xilinx's INT8 note (WP486) does the same with two weights 18 bits
apart on a DSP48E2. This module is the integer model both the RTL (`hw/rtl/dsp_pack2.v`) and the
tests check against, written here from those descriptions (not copied):

    packed = w1 * 2**S + w0                (S = 24 - w_bits: fits the 25-bit signed A/D port)
    P      = packed * a                    (a on the 18-bit B port as a non-negative number)
    p0     = signed(P[S-1:0])              (w0 * a, exact when it fits S bits signed)
    p1     = (P - p0) >> S = P[..:S] + P[S-1]   (the lower lane's sign borrows 1 from the upper one)

With S >= w_bits + a_bits every product of the lower lane fits its S bits, so two products cost one
multiplier. A sum of k products fits the lower lane only while k * max|w a| < 2**(S-1):
`max_packed_terms` says how many (8 x 8 bits, S = 16: one, so every product is unpacked before it is
summed; 4 x 4 bits, S = 20: 4,369), and beyond that the accumulation unpacks every product.
"""
from __future__ import annotations

import numpy as np

A_PORT_BITS, B_PORT_BITS = 25, 18  # DSP48E1 multiplier inputs (A/D pre-adder output, B)


class PackingError(ValueError):
    """Operand widths that cannot share one DSP48E1 multiplication."""


def lane_shift(w_bits: int, a_bits: int) -> int:
    """S: the distance of the two lanes, as wide as the 25-bit signed A/D port allows for any pair of
    weights: w1 * 2**S + w0 >= -2**24 needs S <= 24 - w_bits (16 for 8-bit weights, FINN's W + A)."""
    return A_PORT_BITS - 1 - w_bits


def check_widths(w_bits: int, a_bits: int) -> int:
    """S, after checking that the packed operands fit the DSP48E1's ports."""
    s = lane_shift(w_bits, a_bits)
    if s < w_bits + a_bits:
        raise PackingError(f"{w_bits}-bit weights x {a_bits}-bit activations need lanes of {w_bits + a_bits} bits, "
                           f"but the {A_PORT_BITS}-bit signed A/D port of a DSP48E1 leaves {s} under the upper weight")
    if a_bits + 1 > B_PORT_BITS:
        raise PackingError(f"a {a_bits}-bit unsigned activation needs {a_bits + 1} bits > the {B_PORT_BITS}-bit B port")
    return s


def pack(w0, w1, w_bits: int, a_bits: int):
    """The packed multiplicand (signed, int64) of two signed weights; refuses a value the 25-bit
    signed port cannot hold (the RTL would wrap it silently)."""
    s = check_widths(w_bits, a_bits)
    p = (np.asarray(w1, dtype=np.int64) << s) + np.asarray(w0, dtype=np.int64)
    if np.any(p < -(1 << (A_PORT_BITS - 1))) or np.any(p >= 1 << (A_PORT_BITS - 1)):
        raise PackingError(f"packed weights out of the {A_PORT_BITS}-bit signed A/D port range")
    return p


def packed_products(w0, w1, a, w_bits: int = 8, a_bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(w0 * a, w1 * a) computed through one product of the packed word, lanes separated with the
    borrow correction; exact for every w0, w1 in the signed w_bits range and a in [0, 2**a_bits)."""
    s = check_widths(w_bits, a_bits)
    p = pack(w0, w1, w_bits, a_bits) * np.asarray(a, dtype=np.int64)
    low = p & ((1 << s) - 1)
    p0 = np.where(low >= 1 << (s - 1), low - (1 << s), low)  # sign-extend the lower lane
    p1 = (p - p0) >> s
    return p0, p1


def max_packed_terms(w_bits: int, a_bits: int) -> int:
    """How many worst-case products the lower lane can sum before it overflows its S bits."""
    s = check_widths(w_bits, a_bits)
    worst = (1 << (w_bits - 1)) * ((1 << a_bits) - 1)  # |-2**(w-1)| * (2**a - 1)
    return max(1, ((1 << (s - 1)) - 1) // worst)
