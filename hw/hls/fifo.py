"""Stream FIFO depths of the hls4ml project: the one rule, applied to the design and read by the planner.

Why: hls4ml's default FIFO is as deep as a whole feature map, which alone would take ~74 % of the
XC7Z020's block RAM for this network. A stream read by a Concatenate/Merge absorbs the branch skew
(one padded row + 3 pixels: the line-buffer lag of a 3x3 sibling before its first output); every
other stream is a 2-deep handshake. Depths do not change the C simulation (unbounded hls::stream);
they are what Vitis HLS synthesizes, and the planner costs each stream at the depth set here.
"""
from __future__ import annotations

import numpy as np

CHAIN_FIFO_DEPTH = 2
JOIN_CLASSES = ("Concatenate", "Merge")


def join_fifo_depth(width: int, pixels: int) -> int:
    """Depth of a stream read by a concat or bypass add: one padded row + 3 pixels, at most the map."""
    return min(pixels, width + 2 + 3)


def stream_depth(shape, read_by_join: bool) -> int:
    """Depth of one inter-layer stream of a tensor of `shape` (H, W, C) or (C,)."""
    shape = tuple(int(s) for s in shape)
    pixels = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    if read_by_join:
        return join_fifo_depth(shape[1] if len(shape) == 3 else 1, pixels)
    return min(pixels, CHAIN_FIFO_DEPTH)


def apply_stream_depths(hls_model) -> dict[str, int]:
    """Set every inter-layer stream's depth pragma in the hls4ml ModelGraph. Returns name -> depth."""
    readers: dict[str, list[str]] = {}
    for layer in hls_model.get_layers():
        for name in layer.inputs:
            readers.setdefault(name, []).append(layer.class_name)
    depths = {}
    for name, var in hls_model.output_vars.items():
        if not (isinstance(getattr(var, "pragma", None), tuple) and var.pragma[0] == "stream"):
            continue
        depth = stream_depth(var.shape, any(kind in JOIN_CLASSES for kind in readers.get(name, [])))
        var.pragma = ("stream", depth)
        depths[var.name] = depth
    return depths
