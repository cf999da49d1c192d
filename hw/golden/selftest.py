"""The self-test vectors a bitstream ships with: fixed images and the integer logits the golden
model gives them, so that a board can prove itself bit-exact without TensorFlow or hls4ml.

Why both kinds of image: Fashion-MNIST test images have black borders, so a bug that drops or
zero-fills the last bytes of a transfer can leave their logits unchanged; random-pixel images fill
every byte and every output lane with something a wrong path cannot reproduce by luck.

    python -m hw.golden.selftest hw/models/squeezenet_fmnist_fast.keras bitstreams/squeezenet_fmnist_fast.selftest.npz
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TEST_IMAGES = 24  # the first test-set images
RANDOM_IMAGES = 8  # uniform random pixels, fixed seed
SEED = 20261207


def vectors(model_path: str | Path, test_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28, 1), golden raw logits int64 (N, classes))."""
    from hw.golden import extract
    from hw.model import load_model

    rng = np.random.default_rng(SEED)
    shape = test_images.shape[1:]
    noise = rng.integers(0, 256, size=(RANDOM_IMAGES, *shape), dtype=np.uint8)
    images = np.concatenate([test_images[:TEST_IMAGES].astype(np.uint8), noise])
    raw = np.asarray(extract(load_model(Path(model_path))).forward(images), dtype=np.int64)
    return images, raw


def write(model_path: str | Path, out: str | Path, test_set: str = "fashion-mnist") -> Path:
    """Write the self-test file (numpy .npz: images, raw, model name) next to a bitstream."""
    from host.testset import load_idx_test_set

    x, _ = load_idx_test_set(test_set)
    images, raw = vectors(model_path, x)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, images=images, raw=raw, model=np.array(Path(model_path).stem))
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hw.golden.selftest", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="hw/models/<model>.keras")
    ap.add_argument("out", help="bitstreams/<model>.selftest.npz")
    from hw.quiet import add_verbose_flag, quiet_unless_verbose

    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a)
    try:
        path = write(a.model, a.out)
    except Exception as e:  # a missing model or test set: say which
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
