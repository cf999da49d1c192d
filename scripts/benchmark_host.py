#!/usr/bin/env python3
"""Off-board speed of the host side: the emulator's images/s (C simulation and golden engines) and
the driver's host-side overhead per image (packing and unpacking, the work the board's ARM does
around each DMA transfer).

    python scripts/benchmark_host.py [--model NAME] [--csim-images 64] [--golden-images 2000]

The figures are printed, never asserted: they depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from host.deployed import DEPLOYED_MODEL
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from host import stream  # noqa: E402
from host.accelerator import format_throughput  # noqa: E402
from host.emulation.emulator import EmulatedAccelerator  # noqa: E402


def pack_unpack_overhead(spec, batch: int, repeats: int) -> dict:
    """Pack/unpack alone, into preallocated buffers as the driver does, best of `repeats`."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, *spec.input.shape), dtype=np.uint8)
    raw = rng.integers(-(1 << (spec.output.logit_bits - 1)), 1 << (spec.output.logit_bits - 1),
                       (batch, spec.output.n_logits))
    out_beats, _ = stream.pack_logits(raw, spec)
    in_buf = np.empty(spec.in_beats(batch), dtype=spec.input.beat_dtype)
    pack, unpack = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stream.pack_images(images, spec, out=in_buf)
        t1 = time.perf_counter()
        stream.unpack_logits(out_beats, batch, spec)
        t2 = time.perf_counter()
        pack.append(t1 - t0)
        unpack.append(t2 - t1)
    return {"batch": batch, "pack_us_per_image": 1e6 * min(pack) / batch,
            "unpack_us_per_image": 1e6 * min(unpack) / batch}


def timed(acc, n: int) -> None:
    """throughput_test plus the process CPU time: on a shared machine wall time alone misleads."""
    c0 = time.process_time()
    r = acc.throughput_test(n)
    cpu = time.process_time() - c0
    print(format_throughput(r))
    print(f"CPU time           {cpu:.2f} s for {n} images = {n / cpu:.1f} images per CPU-second "
          f"(all threads; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEPLOYED_MODEL)
    p.add_argument("--csim-images", type=int, default=64)
    p.add_argument("--golden-images", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=256)
    add_verbose_flag(p)
    args = p.parse_args(argv)
    quiet_unless_verbose(args, tensorflow=False)
    log = (lambda m: print(m, file=sys.stderr))

    csim = EmulatedAccelerator(args.model, batch_size=min(args.batch_size, args.csim_images), engine="csim", log=log)
    print("# host-side overhead per image (numpy pack/unpack into preallocated buffers, best of 20)")
    for batch in (1, 16, 256):
        o = pack_unpack_overhead(csim.spec, batch, 20)
        print(f"batch {batch:4d}: pack {o['pack_us_per_image']:8.2f} us/image, "
              f"unpack {o['unpack_us_per_image']:8.2f} us/image")
    csim.throughput_test(1)  # warm-up: the C simulation reads its weight files on the first call
    print(f"\n# emulator, C simulation engine ({args.csim_images} images)")
    timed(csim, args.csim_images)
    golden = EmulatedAccelerator(args.model, batch_size=args.batch_size, engine="golden", log=log)
    golden.throughput_test(min(args.batch_size, args.golden_images))  # warm-up (BLAS threads, caches)
    print(f"\n# emulator, golden engine ({args.golden_images} images)")
    timed(golden, args.golden_images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
