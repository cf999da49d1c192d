"""C-simulation speed of the accelerator on this machine (the emulator's speed), and bit-exactness.

Converts the model with hw.hls, then measures: g++ build time of hls4ml's C simulation and of the
AXI-wrapper library, images/s through hls4ml `predict` and through the AXI library (packed beats
in, packed logits out), and the number of images whose raw logits equal Keras' exactly.

    python scripts/benchmark_csim.py [--config hls_config/squeezenet_fmnist.yml] [-n 300]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(REPO / "hls_config" / "squeezenet_fmnist.yml"))
    p.add_argument("--model", help="override the config's KerasModel")
    p.add_argument("--out", default=str(REPO / "build" / "benchmark_csim" / "squeezenet_fmnist"))
    p.add_argument("-n", type=int, default=300, help="test images to run (default 300)")
    p.add_argument("--batch", type=int, default=100, help="AXI library batch size (one DMA transfer)")
    args = p.parse_args(argv)

    from host.stream import IOSpec, pack_images, unpack_logits
    from hw import hls
    from hw.data import load_fashion_mnist
    from hw.model import load_model

    try:
        t = time.perf_counter()
        hls_model = hls.convert(args.config, args.out, args.model)
        t_convert = time.perf_counter() - t
        t = time.perf_counter()
        hls.compile_csim(hls_model)
        t_csim_build = time.perf_counter() - t
        t = time.perf_counter()
        lib = hls.AxiLibrary(hls.build_axi_library(args.out, force=True))
        t_axi_build = time.perf_counter() - t
    except hls.HlsError as e:
        print(f"benchmark_csim: error: {e}", file=sys.stderr)
        return 2
    spec_dict = hls.read_io_spec(args.out)
    spec = IOSpec.from_dict(spec_dict)
    frac = spec.output.frac_bits

    ds = load_fashion_mnist()
    x, y = ds.x_test[:args.n], ds.y_test[:args.n]
    model = load_model(args.model or hls.load_config(args.config).model_path)

    t = time.perf_counter()
    keras = hls.to_raw(model.predict(x.astype(np.float32) / 256.0, batch_size=500, verbose=0), frac)
    t_keras = time.perf_counter() - t

    t = time.perf_counter()
    csim = hls.to_raw(hls.csim_predict(hls_model, x), frac)
    t_csim = time.perf_counter() - t

    axi = np.empty_like(csim)
    t_axi = 0.0
    for s in range(0, len(x), args.batch):
        xb = x[s:s + args.batch]
        t = time.perf_counter()
        beats = pack_images(xb, spec)
        out, last = lib.run(beats, len(xb))
        axi[s:s + len(xb)] = unpack_logits(out, len(xb), spec)
        t_axi += time.perf_counter() - t
        assert last[-1] == 1 and not last[:-1].any()

    n = len(x)
    exact_keras = int(np.all(csim == keras, axis=1).sum())
    exact_axi = int(np.all(axi == csim, axis=1).sum())
    load = os.getloadavg()
    print(f"model {spec.model}: logits {spec.output.logit_bits}-bit, {frac} fraction bits; {n} Fashion-MNIST test images")
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (shared machine: "
          f"timings scale with load)")
    print(f"convert (load model + hls4ml + write project): {t_convert:7.1f} s")
    print(f"g++ build, hls4ml C simulation:                {t_csim_build:7.1f} s")
    print(f"g++ build, AXI wrapper library:                {t_axi_build:7.1f} s")
    print(f"Keras model.predict:        {n / t_keras:9.1f} images/s ({1e3 * t_keras / n:7.2f} ms/image)")
    print(f"hls4ml C simulation:        {n / t_csim:9.1f} images/s ({1e3 * t_csim / n:7.2f} ms/image)")
    print(f"AXI wrapper library:        {n / t_axi:9.1f} images/s ({1e3 * t_axi / n:7.2f} ms/image, "
          f"batches of {args.batch}, packing included)")
    print(f"bit-exact C simulation vs Keras: {exact_keras}/{n} images")
    print(f"bit-exact AXI library vs C simulation: {exact_axi}/{n} images")
    print(f"accuracy: Keras {np.mean(keras.argmax(1) == y):.4f}, C simulation {np.mean(csim.argmax(1) == y):.4f}, "
          f"AXI library {np.mean(axi.argmax(1) == y):.4f}")
    return 0 if exact_keras == n and exact_axi == n else 1


if __name__ == "__main__":
    sys.exit(main())
