"""Test vectors of the AXI top for the HLS C simulation: real Fashion-MNIST test images packed into
input beats, and the expected output beats + TLAST computed by the integer golden model
(hw.golden, independent of hls4ml), packed by host.stream (the one implementation of the layout).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class VectorError(ValueError):
    """Vectors that cannot be made (no dataset, model outside the golden model's scope)."""


IN_FILE, EXP_FILE, META_FILE = "input_beats.txt", "expected_beats.txt", "vectors.json"


def write_vectors(model_path: Path, spec_path: Path, out_dir: Path, n_images: int) -> dict:
    """Write input_beats.txt, expected_beats.txt and vectors.json into out_dir; return the metadata."""
    from host.stream import IOSpec, pack_images, pack_logits
    from hw import golden
    from hw.data import load_fashion_mnist
    from hw.model import load_model

    spec = IOSpec.load(spec_path)
    if n_images < 1:
        raise VectorError(f"need at least one test image, got {n_images}")
    try:
        ds = load_fashion_mnist()
    except Exception as e:  # the loader raises its own DatasetError with the fix
        raise VectorError(f"cannot load the Fashion-MNIST test images: {e}") from None
    images = ds.x_test[:n_images]
    if tuple(images.shape[1:]) != spec.input.shape:
        raise VectorError(f"dataset images have shape {images.shape[1:]}, the io spec expects {spec.input.shape}")
    try:
        net = golden.extract(load_model(model_path))
    except golden.GoldenError as e:
        raise VectorError(f"golden model: {e}") from None
    raw = net.forward(images)
    if net.logit_frac != spec.output.frac_bits:
        raise VectorError(f"golden logits have {net.logit_frac} fraction bits, the io spec says "
                          f"{spec.output.frac_bits}: the spec and the model disagree")
    in_beats = pack_images(images, spec)
    out_beats, last = pack_logits(raw, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / IN_FILE).write_text("".join(f"{int(b):016x}\n" for b in in_beats))
    (out_dir / EXP_FILE).write_text("".join(f"{int(b):016x} {int(t)}\n" for b, t in zip(out_beats, last)))
    meta = {"n_images": int(n_images), "source": "fashion-mnist test set, first images",
            "reference": "hw.golden.extract(model).forward", "labels": ds.y_test[:n_images].tolist(),
            "raw_logits": raw.tolist(), "input_beats": int(len(in_beats)), "output_beats": int(len(out_beats))}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=1))
    return meta


def read_beats(path: Path, with_last: bool = False):
    """Read a vector file back (tests, and the check of the C simulation's own dump)."""
    vals, last = [], []
    for line in Path(path).read_text().split("\n"):
        if not line.strip():
            continue
        parts = line.split()
        vals.append(int(parts[0], 16))
        if with_last:
            last.append(int(parts[1]))
    beats = np.array(vals, dtype=np.uint64)
    return (beats, np.array(last, dtype=np.uint8)) if with_last else beats
