"""Stream FIFO depths of the hls4ml project: the one rule, applied to the design and read by the planner.

Why: hls4ml's default FIFO is as deep as a whole feature map, which alone would take ~74 % of the
XC7Z020's block RAM for this network. A stream read by a Concatenate/Merge absorbs the branch skew
(one padded row + 3 pixels: the line-buffer lag of a 3x3 sibling before its first output) on its
early input; the late input (the 3x3 branch itself) and every other stream are 2-deep handshakes
(hw.hls.fifosim proves these depths deadlock-free on the real kernels: minimal depth 1 there). Depths do not change the C simulation (unbounded hls::stream);
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


def late_join_inputs(hls_model) -> set[str]:
    """Streams into a join that come from the branch with the line-buffer lag (a conv with a kernel
    > 1 since the fork, e.g. a Fire module's expand3x3): the join can read each of their pixels as it
    arrives, so they need no skew buffer (the early sibling holds the skew). Only joins with exactly
    one late and at least one early input are decided; others keep the join depth on every input."""
    producer = {o: l for l in hls_model.get_layers() for o in l.outputs}
    consumers: dict[str, int] = {}
    for l in hls_model.get_layers():
        for name in l.inputs:
            consumers[name] = consumers.get(name, 0) + 1

    def lagged(name: str) -> bool:
        for _ in range(64):  # walk back along the branch to its fork
            layer = producer.get(name)
            if layer is None or len(layer.inputs) != 1:
                return False
            if int(layer.get_attr("filt_height", 1) or 1) > 1:
                return True
            name = layer.inputs[0]
            if consumers.get(name, 0) > 1 or layer.class_name == "Clone":
                return False
        return False

    late = set()
    for l in hls_model.get_layers():
        if l.class_name in JOIN_CLASSES and len(l.inputs) > 1:
            flags = [lagged(n) for n in l.inputs]
            if sum(flags) == 1:
                late.add(l.inputs[flags.index(True)])
    return late


def apply_stream_depths(hls_model) -> dict[str, int]:
    """Set every inter-layer stream's depth pragma in the hls4ml ModelGraph. Returns name -> depth."""
    readers: dict[str, list[str]] = {}
    for layer in hls_model.get_layers():
        for name in layer.inputs:
            readers.setdefault(name, []).append(layer.class_name)
    late = late_join_inputs(hls_model)
    depths = {}
    for name, var in hls_model.output_vars.items():
        if not (isinstance(getattr(var, "pragma", None), tuple) and var.pragma[0] == "stream"):
            continue
        join = any(kind in JOIN_CLASSES for kind in readers.get(name, [])) and name not in late
        depth = stream_depth(var.shape, join)
        var.pragma = ("stream", depth)
        depths[var.name] = depth
    return depths
