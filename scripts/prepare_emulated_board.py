#!/usr/bin/env python3
"""Write the emulated PYNQ-Z2's files, for the board-venv tests (tests/board/test_emulated_board.py).

Runs in the dev environment (hls4ml, g++, TensorFlow), because the board venv has none of them:
  * <out>/<model>.io.json   the io spec of the converted project;
  * <out>/<model>.hwh       generated from that io spec by host.emulation.emulated_hwh (not Vivado's);
  * <out>/<model>.bit       the emulated board's marked stand-in (host.emulation.emulated_zynq);
  * <out>/golden.npz        the first N Fashion-MNIST test images, labels and the golden model's raw
                            integer logits (hw.golden), which the board path must reproduce bit for bit;
  * <out>/<model>.selftest.npz the self-test vectors the bitstream flow ships (hw.golden.selftest):
                            test images and random-pixel images with their golden raw logits;
  * <out>/emulated_board.json  where the compiled C simulation of the AXI top (the stream engine) is.

    python scripts/prepare_emulated_board.py [--out build/emulated_board] [--images 40]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from hw.quiet import add_verbose_flag, quiet_unless_verbose


def main(argv=None) -> int:
    from host.driver import DEFAULT_MODEL, REPO  # light: the board runtime


    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "build" / "emulated_board"))
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--images", type=int, default=40, help="test images to run through the board path")
    ap.add_argument("--test-set", default="fashion-mnist")
    add_verbose_flag(ap)
    args = ap.parse_args(argv)
    quiet_unless_verbose(args)
    from host.emulation.emulated_hwh import write_hwh
    from host.emulation.emulated_zynq import write_bitstream_standin
    from host.emulation.emulator import EmulatorError, load_golden, model_file, prepare_csim
    from host.testset import TestSetError, load_idx_test_set
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        path = model_file(args.model)
        project, spec, library = prepare_csim(path, log=print)
        x, y = load_idx_test_set(args.test_set)
        x, y = x[:args.images], y[:args.images]
        raw = load_golden(path).forward(x)
    except (EmulatorError, TestSetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = path.stem
    shutil.copyfile(project / "io_spec.json", out / f"{name}.io.json")
    write_hwh(spec, out / f"{name}.hwh")
    write_bitstream_standin(out / f"{name}.bit", name)
    np.savez(out / "golden.npz", images=x, labels=y, raw=np.asarray(raw, dtype=np.int64))
    from hw.golden.selftest import write as write_selftest

    write_selftest(path, out / f"{name}.selftest.npz", args.test_set)
    (out / "emulated_board.json").write_text(json.dumps({"model": name, "library": str(Path(library).resolve()),
                                                         "golden": "golden.npz"}, indent=2))
    print(f"emulated board for {name}: {out} ({len(x)} test images, engine {library})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
