#!/usr/bin/env python3
"""Write host/samples/: the first Fashion-MNIST test image of each class as a 28x28 grayscale PNG.

Why committed PNGs: `python host/infer.py` with no arguments must work on the board, where the
Debian dataset package is absent. The file name carries the index and the true class.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]

from PIL import Image  # noqa: E402

from hw.data import load_fashion_mnist  # noqa: E402


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "host" / "samples")
    add_verbose_flag(p)
    args = p.parse_args(argv)
    quiet_unless_verbose(args, tensorflow=False)
    ds = load_fashion_mnist()
    args.out.mkdir(parents=True, exist_ok=True)
    for c, name in enumerate(ds.classes):
        i = int((ds.y_test == c).nonzero()[0][0])
        path = args.out / f"{c}_{slug(name)}_test{i:05d}.png"
        Image.fromarray(ds.x_test[i, :, :, 0]).save(path, optimize=True)
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
