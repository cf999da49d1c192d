"""`python -m hw.hls`: the hls step's command line. It composes the conversion (hw.hls.convert)
with the planner (hw.plan.planned_rate, whose rate goes into the io spec): the one place in hw.hls
that imports a later step, as a CLI may.

    python -m hw.hls --config hls_config/squeezenet_fmnist_fast.yml --out build/hls/squeezenet_fmnist_fast
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hw.hls.axi_library import build_axi_library
from hw.hls.config import HlsError
from hw.hls.convert import compile_csim, convert
from hw.plan.rate import planned_rate


def main(argv=None) -> int:
    """`python -m hw.hls`: convert with the planner's rate in the io spec, compile both C libraries."""
    p = argparse.ArgumentParser(prog="python -m hw.hls", description="hls4ml project, io spec and C simulation of a model")
    p.add_argument("--config", required=True, help="hls4ml YAML config (hls_config/<model>.yml)")
    p.add_argument("--out", help="project directory (default: the config's OutputDir)")
    p.add_argument("--model", help="override the config's KerasModel path")
    p.add_argument("--clock-ns", type=float, help="override the config's ClockPeriod (ns)")
    p.add_argument("--part", help="override the config's Part")
    p.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's and hls4ml's own output")
    args = p.parse_args(argv)
    if not args.verbose:
        from hw.quiet import quiet

        quiet()
    from hw.model import ModelError

    try:
        t0 = time.perf_counter()
        hls_model = convert(args.config, args.out, args.model,
                            overrides={"ClockPeriod": args.clock_ns, "Part": args.part}, planner=planned_rate)
        out = Path(hls_model.config.get_output_dir())
        t1 = time.perf_counter()
        print(f"wrote hls4ml project {out} and {out / 'io_spec.json'} ({t1 - t0:.1f} s)", flush=True)
        compile_csim(hls_model)
        t2 = time.perf_counter()
        print(f"compiled the C simulation ({t2 - t1:.1f} s)", flush=True)
        lib = build_axi_library(out)
        print(f"AXI library {lib} ({time.perf_counter() - t2:.1f} s)", flush=True)
    except (HlsError, ModelError) as e:
        print(f"hw.hls: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
