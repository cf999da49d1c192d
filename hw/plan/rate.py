"""The planner's accelerator rate of a converted hls4ml graph, for the io spec's `planned` entry
(host/batch_model.py models the board's throughput from it). Kept in hw.plan so that conversion
(hw.hls) never imports the planner; the CLI, the flow and the emulator pass it to hw.hls.convert."""
from __future__ import annotations


def planned_rate(hls_model, clock_ns: float) -> dict:
    """The planner's accelerator rate for this graph at this clock (modelled, not measured)."""
    from hw.plan.graph import layers_from_hls
    from hw.plan.optimize import plan

    p = plan(layers_from_hls(hls_model), clock_ns=clock_ns)
    return {"images_per_s": round(p.images_per_s, 1), "ii_cycles": p.ii_cycles, "bottleneck": p.bottleneck.name,
            "clock_ns": clock_ns, "source": "hw.plan: constants fitted for Vitis HLS on six public builds, "
                                             "PYNQ-Z2 shell included; modelled, held-out band in docs/PLANNER.md"}
