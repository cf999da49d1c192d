"""Speed and float-vs-integer figures of the integer golden model (hw/golden/).

    python scripts/benchmark_golden.py [--model hw/models/<model>.keras] [--n 10000]
        [--keras 1000] [--csim 100]

Prints: golden images/s (vectorized fast path) and test accuracy; per conv the worst-case
accumulator width (Keras convolves in float32, exact below 24 bits); where global average pooling's
float32 mean (what HGQ2/Keras computes and the golden model reproduces) differs from the exactly
rounded mean, over every possible input sum and on the real test images; optionally the agreement
with Keras predict and with hls4ml's C simulation (compiled once, cached under build/golden_csim).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from host.deployed import model_path
from hw.quiet import add_verbose_flag, quiet_unless_verbose

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402


def gap_figures(net, x: np.ndarray) -> None:
    from hw import golden

    gap = next(l for l in net.layers if l.kind == "gap")
    fmt_in, out = gap.in_formats[0], gap.out_format
    _, tensors = net.forward(x[:1], return_all=True)
    h, w = tensors[gap.inputs[0]].q.shape[1:3]
    count = h * w
    s = np.arange(count * fmt_in.min, count * fmt_in.max + 1, dtype=np.int64)
    diff = golden.gap_from_sum(s, count, fmt_in.frac, out) != golden.gap_exact_from_sum(s, count, fmt_in.frac, out)
    print(f"GAP {gap.name}: in {fmt_in} (frac {fmt_in.frac}), out {out} (frac {out.frac}), mean of {count}")
    print(f"  float32 mean vs exactly rounded mean: {int(diff.sum())} of {len(s)} possible sums differ "
          f"({diff.mean():.3%}), each by one LSB")
    diffs = total = 0
    for start in range(0, len(x), 1000):
        _, t = net.forward(x[start:start + 1000], return_all=True)
        src = t[gap.inputs[0]]
        q = fmt_in.quantize(src.q, src.frac)
        ssum = q.reshape(len(q), count, -1).sum(axis=1)
        a = golden.gap_from_sum(ssum, count, fmt_in.frac, out)
        b = golden.gap_exact_from_sum(ssum, count, fmt_in.frac, out)
        diffs += int((a != b).sum())
        total += a.size
        if start == 0:
            changed_argmax = 0
        changed_argmax += int((a.argmax(axis=1) != b.argmax(axis=1)).sum())
    print(f"  on {len(x)} test images: {diffs} of {total} logits differ (float32 vs exact), "
          f"{changed_argmax} argmax changes")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(model_path()), help="committed model (default: the deployed one)")
    p.add_argument("--n", type=int, default=10000, help="test images for the speed run")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--keras", type=int, default=0, help="also compare N images with Keras predict")
    p.add_argument("--csim", type=int, default=0, help="also compare N images with the hls4ml C simulation")
    add_verbose_flag(p)
    a = p.parse_args(argv)
    quiet_unless_verbose(a)

    from hw import golden
    from hw.data import load_fashion_mnist
    from hw.model import ModelError, load_model

    try:
        model = load_model(a.model)
        net = golden.extract(model)
    except (ModelError, golden.GoldenError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ds = load_fashion_mnist()
    x, y = ds.x_test[:a.n], ds.y_test[:a.n]

    net.forward(x[:a.batch_size], batch_size=a.batch_size)  # warm up (BLAS threads, allocations)
    t0, c0 = time.perf_counter(), time.process_time()
    raw = net.forward(x, batch_size=a.batch_size)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    # CPU seconds (all threads) too: on a shared machine the wall clock measures the neighbours.
    print(f"golden fast path: {len(x)} images in {dt:.2f} s wall = {len(x) / dt:,.0f} images/s "
          f"(batch {a.batch_size}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}); "
          f"{dc:.2f} CPU s = {len(x) / dc:,.0f} images per CPU second")
    print(f"golden accuracy: {(raw.argmax(axis=1) == y).mean():.4f} on {len(x)} test images; "
          f"logits {net.logit_format} (frac {net.logit_frac})")

    bounds = net.accumulator_bounds()
    worst = max(bounds, key=bounds.get)
    print(f"accumulator bound: widest {bounds[worst]} bits ({worst}); float32 conv exact below 24: "
          f"{'yes' if bounds[worst] <= 24 else 'NO'}")
    print("  " + ", ".join(f"{k} {v}" for k, v in bounds.items()))
    gap_figures(net, x)

    if a.keras:
        xk = x[:a.keras]
        t0 = time.perf_counter()
        yk = model.predict(xk.astype(np.float32) / 256.0, verbose=0, batch_size=512).astype(np.float64)
        dk = time.perf_counter() - t0
        rk = yk * 2.0 ** net.logit_frac
        same = int((rk == raw[:a.keras]).all(axis=1).sum())
        print(f"Keras predict: {len(xk) / dk:,.0f} images/s; golden == Keras on {same}/{len(xk)} images")
    if a.csim:
        import tempfile

        from host.deployed import config_path
        from hw import hls

        tmp = tempfile.TemporaryDirectory(prefix="bench_csim_")  # conversion + g++ build: not timed
        hls_model = hls.convert(config_path(Path(a.model).stem), Path(tmp.name) / "prj", a.model)
        hls.compile_csim(hls_model)
        xc = x[:a.csim]
        t0 = time.perf_counter()
        rc = hls.to_raw(hls.csim_predict(hls_model, xc), net.logit_frac)
        dc = time.perf_counter() - t0
        same = int((rc == raw[:a.csim]).all(axis=1).sum())
        print(f"C simulation: {len(xc) / dc:,.1f} images/s; golden == C simulation on {same}/{len(xc)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
