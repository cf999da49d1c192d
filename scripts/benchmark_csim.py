"""C-simulation speed of the accelerator on this machine (the emulator's speed), and bit-exactness.

Converts the model with hw.hls, then measures: g++ build time of hls4ml's C simulation and of the
AXI-wrapper library, images/s through hls4ml `predict` and through the AXI library (packed beats
in, packed logits out), and the number of images whose raw logits equal Keras' exactly.

    python scripts/benchmark_csim.py [--config hls_config/<model>.yml] [-n 300]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from host.deployed import DEPLOYED_MODEL, config_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]


class Timer:
    """Wall time and CPU time (this process + waited-for children such as g++): on a shared,
    loaded machine the CPU time is the figure that carries over to an idle one."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def add(self, other: "Timer") -> None:
        self.wall += other.wall
        self.cpu += other.cpu


def rate(n: int, t: Timer) -> str:
    return (f"{n / t.wall:7.1f} images/s wall ({1e3 * t.wall / n:6.1f} ms/image), "
            f"{n / t.cpu:7.1f} images/s per CPU second ({1e3 * t.cpu / n:6.1f} ms)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(config_path()), help="hls4ml YAML (default: the deployed design)")
    p.add_argument("--model", help="override the config's KerasModel")
    p.add_argument("--out", default=str(REPO / "build" / "benchmark_csim" / DEPLOYED_MODEL))
    p.add_argument("-n", type=int, default=300, help="test images to run (default 300)")
    p.add_argument("--batch", type=int, default=100, help="AXI library batch size (one DMA transfer)")
    add_verbose_flag(p)
    args = p.parse_args(argv)
    quiet_unless_verbose(args)

    from host.emulation.csim_library import AxiLibrary
    from host.stream import IOSpec, pack_images, unpack_logits
    from hw import hls
    from hw.data import load_fashion_mnist
    from hw.model import load_model

    try:
        with Timer() as t_convert:
            hls_model = hls.convert(args.config, args.out, args.model)
        with Timer() as t_csim_build:
            hls.compile_csim(hls_model)
        with Timer() as t_axi_build:
            lib_path = hls.build_axi_library(args.out, force=True)
    except hls.HlsError as e:
        print(f"benchmark_csim: error: {e}", file=sys.stderr)
        return 2
    spec = IOSpec.from_dict(hls.read_io_spec(args.out))
    lib = AxiLibrary(lib_path, spec)
    frac = spec.output.frac_bits

    ds = load_fashion_mnist()
    x, y = ds.x_test[:args.n], ds.y_test[:args.n]
    model = load_model(args.model or hls.load_config(args.config).model_path)

    model.predict(x[:8].astype(np.float32) / 256.0, verbose=0)  # warm-up (graph tracing)
    with Timer() as t_keras:
        keras = hls.to_raw(model.predict(x.astype(np.float32) / 256.0, batch_size=500, verbose=0), frac)
    hls.csim_predict(hls_model, x[:1])  # warm-up (weights are read from text on the first call)
    with Timer() as t_csim:
        csim = hls.to_raw(hls.csim_predict(hls_model, x), frac)

    lib.run(pack_images(x[:1], spec), 1)
    axi = np.empty_like(csim)
    t_axi = Timer()
    for s in range(0, len(x), args.batch):
        xb = x[s:s + args.batch]
        with Timer() as t:
            out, last = lib.run(pack_images(xb, spec), len(xb))
            axi[s:s + len(xb)] = unpack_logits(out, len(xb), spec)
        t_axi.add(t)
        assert last[-1] == 1 and not last[:-1].any()

    n = len(x)
    exact_keras = int(np.all(csim == keras, axis=1).sum())
    exact_axi = int(np.all(axi == csim, axis=1).sum())
    load = os.getloadavg()
    print(f"model {spec.model}: logits {spec.output.logit_bits}-bit, {frac} fraction bits; {n} Fashion-MNIST test images")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (shared machine: "
          f"timings scale with load)")
    print(f"convert (load model + hls4ml + write project): {t_convert.wall:6.1f} s wall")
    print(f"g++ build, hls4ml C simulation: {t_csim_build.wall:6.1f} s wall, {t_csim_build.cpu:6.1f} s CPU")
    print(f"g++ build, AXI wrapper library: {t_axi_build.wall:6.1f} s wall, {t_axi_build.cpu:6.1f} s CPU")
    print(f"Keras model.predict:  {rate(n, t_keras)}")
    print(f"hls4ml C simulation:  {rate(n, t_csim)}")
    print(f"AXI wrapper library:  {rate(n, t_axi)} (batches of {args.batch}, packing included)")
    print(f"bit-exact C simulation vs Keras: {exact_keras}/{n} images")
    print(f"bit-exact AXI library vs C simulation: {exact_axi}/{n} images")
    print(f"accuracy: Keras {np.mean(keras.argmax(1) == y):.4f}, C simulation {np.mean(csim.argmax(1) == y):.4f}, "
          f"AXI library {np.mean(axi.argmax(1) == y):.4f}")
    return 0 if exact_keras == n and exact_axi == n else 1


if __name__ == "__main__":
    sys.exit(main())
