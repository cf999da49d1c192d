#!/usr/bin/env python3
"""Sign-off of one hls4ml design before any vendor tool: the three checks issue 12 asks of a
deployed design, in one run, each printed with its figures; exit 1 if any fails.

  1. C simulation bit-exact: hls4ml's g++ C simulation on all 10,000 Fashion-MNIST test images vs
     the golden integer model (hw.golden), compared as raw fixed-point integers;
  2. FIFO depths: the bounded-FIFO C simulation (hw.hls.fifosim) at the depths the project sets,
     100 back-to-back images, no deadlock, beat for beat equal to the ordinary C simulation;
  3. budget: the calibrated planner's figures of the design as configured, every resource
     (BRAM18, DSP, LUT) <= 80 % of the XC7Z020, and images/s at the configured clock.

    python scripts/check_design.py hls_config/squeezenet_fmnist_fast.yml [--images 10000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hw.quiet import add_verbose_flag, quiet_unless_verbose

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--model", help="model file instead of the YAML's KerasModel (same layer names)")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--fifo-images", type=int, default=100)
    ap.add_argument("--cap", type=float, default=0.8)
    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    from host.testset import load_idx_test_set
    from hw import hls
    from hw.hls.config import load_config
    from hw.golden import extract
    from host.stream import IOSpec, unpack_logits
    from hw.hls.fifosim import FifoSim, test_beats
    from hw.model import load_model
    from hw.plan import Budget, from_config
    from hw.plan.optimize import plan
    ok = True
    x, y = load_idx_test_set("fashion-mnist")
    x, y = x[:a.images], y[:a.images]
    with tempfile.TemporaryDirectory(prefix="check_design_") as tmp:
        out = Path(tmp) / "prj"
        t = time.perf_counter()
        hls_model = hls.convert(a.config, out, a.model)
        hls.compile_csim(hls_model)
        spec = hls.read_io_spec(out)
        frac = spec["output"]["frac_bits"]
        csim = hls.to_raw(hls.csim_predict(hls_model, x), frac)
        model_path = Path(a.model) if a.model else load_config(a.config).model_path
        golden = np.asarray(extract(load_model(model_path)).forward(x), dtype=np.int64)
        bad = np.flatnonzero(np.any(csim != golden, axis=1))
        acc = float(np.mean(np.argmax(csim, axis=1) == y))
        print(f"1. C simulation vs golden model, {len(x)} test images: {len(bad)} differ; "
              f"fixed-point accuracy {100 * acc:.2f} % ({time.perf_counter() - t:.0f} s)")
        ok &= bad.size == 0
        t = time.perf_counter()
        n = min(a.fifo_images, len(x))
        beats, _ = test_beats(out, n)
        run = FifoSim.build(out).run(beats, n)
        same = False
        if run.ok:
            io = IOSpec.load(out / "io_spec.json")
            same = np.array_equal(unpack_logits(run.out_beats, n, io), golden[:n])
        print(f"2. bounded FIFOs, {n} images back to back: "
              + (f"no deadlock, logits {'equal' if same else 'DIFFER from'} the golden model" if run.ok else run.message())
              + f" ({time.perf_counter() - t:.0f} s)")
        ok &= run.ok and same
    layers, cfg = from_config(a.config, a.model)
    chip = cfg.chip
    budget = Budget(bram18=int(a.cap * chip.bram18), dsp=int(a.cap * chip.dsp), lut=int(a.cap * chip.lut),
                    lutram=int(a.cap * chip.lutram))
    p = plan(layers, budget=budget, clock_ns=cfg.clock_ns)
    print(f"3. planner as configured: {p.images_per_s:,.0f} images/s at {1000 / cfg.clock_ns:.0f} MHz "
          f"(II {p.ii_cycles:,}, {p.bottleneck.name}); BRAM18 {p.bram18}/{chip.bram18}, DSP {p.dsp:.0f}/{chip.dsp}, "
          f"LUT {p.lut:,}/{chip.lut:,}; " + ("fits the cap" if p.fits else "OVER: " + "; ".join(p.overruns())))
    ok &= p.fits
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
