#!/usr/bin/env python3
"""Classify images with the SqueezeNet accelerator: on the PYNQ-Z2 board, or off-board on the
bit-exact emulator (the C simulation of the same AXI top).

    python host/infer.py                      # the sample images in host/samples/
    python host/infer.py shirt.jpg imgs/ x.npy t10k-images-idx3-ubyte --top-k 3
    python host/infer.py --evaluate fashion-mnist
    python host/infer.py --benchmark
    python host/infer.py --selftest           # the vectors shipped with the bitstream: PASS or FAIL

Runs on the PYNQ image: numpy, pillow and the standard library at import time; pynq (board) and
hw/ (emulator, dataset loader) are imported only when used.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `host` and `hw` importable
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from host.accelerator import AcceleratorError, StreamAccelerator, format_throughput  # noqa: E402
from host.driver import DEFAULT_MODEL, PynqAccelerator, board_status  # noqa: E402
from host.stream import SpecError, StreamError  # noqa: E402

SAMPLES_DIR = REPO / "host" / "samples"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPY_SUFFIXES = (".npy",)
IDX_SUFFIXES = (".idx", ".idx3", "-ubyte", "-ubyte.gz", ".idx.gz")
DEFAULT_SHAPE = (28, 28, 1)  # the input contract of docs/INTERFACES.md

EXIT_OK, EXIT_BAD_INPUT, EXIT_SETUP, EXIT_SELFTEST_FAIL = 0, 1, 2, 3


class InputError(ValueError):
    """One input file (or directory) that cannot be classified; the others still are."""


@dataclass
class Inputs:
    """Images gathered from the command line: names, uint8 arrays, notes and per-file errors."""

    names: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, image: np.ndarray) -> None:
        self.names.append(name)
        self.images.append(image)

    def array(self, shape) -> np.ndarray:
        return np.stack(self.images) if self.images else np.empty((0, *shape), dtype=np.uint8)


# ---- reading inputs --------------------------------------------------------------------------
def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return "image"
    if name.endswith(NPY_SUFFIXES):
        return "npy"
    if name.endswith(IDX_SUFFIXES):
        return "idx"
    return None


def _sniff(path: Path) -> str | None:
    """Content-based kind for files named on the command line with an unknown suffix."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff"):
        return "image"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E):
        return "idx"
    return None


def read_image(path: Path, shape, invert: bool = False) -> tuple[np.ndarray, str | None]:
    """A PNG/JPEG of any size or colour -> uint8 (H, W, C) in the network's format (host.images:
    the conversion training uses too), plus a note saying what was changed."""
    from host import images

    try:
        a, changes = images.read_image(path, shape)
    except images.ImageError as e:
        raise InputError(str(e)) from None
    if invert:
        a = 255 - a
        changes.append("inverted")
    return a, (f"{path}: " + ", ".join(changes)) if changes else None


def _check_array(a: np.ndarray, shape, source: str) -> np.ndarray:
    """uint8 (H,W), (H,W,C), (N,H,W) or (N,H,W,C) -> (N, H, W, C)."""
    h, w, c = shape
    if a.dtype != np.uint8:
        raise InputError(f"{source}: dtype {a.dtype}, expected uint8 raw pixels (0..255)")
    if c == 1 and a.shape == (h, w):
        return a.reshape(1, h, w, 1)
    if a.shape == (h, w, c):
        return a[None]
    if a.ndim == 3 and c == 1 and a.shape[1:] == (h, w):
        return a[..., None]
    if a.ndim == 4 and a.shape[1:] == (h, w, c):
        return a
    accepted = f"({h}, {w}), ({h}, {w}, {c}), (N, {h}, {w}) or (N, {h}, {w}, {c})" if c == 1 else \
        f"({h}, {w}, {c}) or (N, {h}, {w}, {c})"
    raise InputError(f"{source}: shape {a.shape}, expected {accepted}")


def read_npy(path: Path, shape) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray):
        raise InputError(f"{path}: holds {type(a).__name__}, not an array")
    return _check_array(a, shape, str(path))


def read_idx_images(path: Path, shape) -> np.ndarray:
    from host.images import ImageError, read_idx  # numpy + stdlib only: fine on the board

    try:
        a = read_idx(path)
    except ImageError as e:
        raise InputError(str(e)) from None
    if a.ndim == 1:
        raise InputError(f"{path}: a 1-D IDX file (labels?), not images")
    return _check_array(a, shape, str(path))


def _read_file(path: Path, kind: str, shape, inputs: Inputs, invert: bool) -> None:
    if kind == "image":
        a, note = read_image(path, shape, invert)
        inputs.add(str(path), a)
        if note:
            inputs.notes.append(note)
        return
    arr = read_npy(path, shape) if kind == "npy" else read_idx_images(path, shape)
    if invert:
        arr = 255 - arr
    if len(arr) == 1:
        inputs.add(str(path), arr[0])
    else:
        for i, a in enumerate(arr):
            inputs.add(f"{path}[{i}]", a)


def gather(paths: list[str], shape=DEFAULT_SHAPE, invert: bool = False) -> Inputs:
    """Read every file and directory; a bad one is recorded in `errors` and the rest still read."""
    inputs = Inputs()
    for p in map(Path, paths):
        try:
            if p.is_dir():
                try:
                    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and _kind(f))
                except OSError as e:
                    raise InputError(f"{p}: cannot list directory ({e.strerror})") from None
                if not files:
                    raise InputError(f"{p}: directory has no PNG/JPEG, .npy or IDX files")
                for f in files:
                    try:
                        _read_file(f, _kind(f), shape, inputs, invert)
                    except InputError as e:
                        inputs.errors.append((str(f), str(e)))
                continue
            if not p.exists():
                raise InputError(f"{p}: file not found")
            kind = _kind(p) or _sniff(p)
            if kind is None:
                raise InputError(f"{p}: unknown file type (expected PNG/JPEG, .npy or an IDX file)")
            _read_file(p, kind, shape, inputs, invert)
        except InputError as e:
            inputs.errors.append((str(p), str(e)))
    return inputs


# ---- backends --------------------------------------------------------------------------------
def open_backend(name: str, model: str, batch_size: int, engine: str | None, log,
                 quiet: bool = False) -> StreamAccelerator:
    """`auto` picks the board when pynq finds a device and the bitstream exists, else the emulator."""
    if name == "auto":
        usable, reason = board_status(model)
        if usable:
            name = "board"
        else:
            name = "emulator"
            log(f"backend: emulator (no board: {reason})")
    if name == "board":
        acc = PynqAccelerator(model, batch_size=batch_size)
        log(f"backend: board ({acc.files['bit']})")
        return acc
    from host.emulation import emulator  # needs hw/ (TensorFlow, hls4ml): dev machines only
    from host.emulation.emulator import EmulatedAccelerator

    emulator.QUIET = quiet

    acc = EmulatedAccelerator(model, batch_size=batch_size, engine=engine or "csim", log=log)
    log(f"backend: emulator, {acc.description}")
    return acc


def _progress(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional on the board
        return None, None
    bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr)
    return bar, bar.update


def evaluate(acc: StreamAccelerator, dataset: str, limit: int | None) -> dict:
    from host.testset import load_idx_test_set

    x, y = load_idx_test_set(dataset)
    classes = acc.spec.classes
    if len(y) and int(y.max()) >= len(classes):
        from host.testset import TestSetError

        raise TestSetError(f"{dataset}: label {int(y.max())} but the model has {len(classes)} classes")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    bar, update = _progress(len(x), f"{dataset} test set")
    try:
        pred = acc.predict(x, progress=update)
    finally:
        if bar is not None:
            bar.close()
    correct = pred.classes == y
    per_class = {classes[c]: float(correct[y == c].mean()) for c in range(len(classes)) if np.any(y == c)}
    return {"dataset": dataset, "images": int(len(x)), "accuracy": float(correct.mean()) if len(x) else float("nan"),
            "per_class_accuracy": per_class}


def batch_model_report(acc: StreamAccelerator, r: dict, out) -> dict | None:
    """The modeled board throughput vs batch size (host/batch_model.py), from the planner's rate in
    the io spec and this run's measured host packing cost."""
    from host import batch_model

    planned = acc.spec.planned or {}
    rate = planned.get("images_per_s")
    if not rate:
        out("batch-size model: the io spec carries no planned images/s (an older build): not modeled")
        return None
    host_us = r["pack_us_per_image"] + r["unpack_us_per_image"]
    best = batch_model.recommended_batch(rate, host_us, max_batch=acc.spec.max_batch)
    out(f"\nboard throughput vs batch size, MODELED (not measured): {batch_model.BATCH_ONE_OVERHEAD_US} us set-up "
        f"per DMA round trip (measured on a PYNQ-Z2), accelerator {rate:,.0f} images/s ({planned.get('source', 'planner')}), "
        f"host pack+unpack {host_us:.1f} us/image (measured here, {acc.backend})")
    out(batch_model.table(rate, host_us))
    out(f"recommended batch size: {best} (smallest reaching 90 % of the large-batch rate)")
    return {"accelerator_images_s": rate, "host_us_per_image": host_us, "overhead_us": batch_model.BATCH_ONE_OVERHEAD_US,
            "recommended_batch": best, "modeled": True}


# ---- command line ----------------------------------------------------------------------------
def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors that carry a message for the user (anything else is a bug and keeps its traceback)."""
    from host.testset import TestSetError

    return (AcceleratorError, StreamError, SpecError, InputError, TestSetError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="host/infer.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help=f"PNG/JPEG images, .npy arrays, IDX files or directories "
                                             f"(default: {SAMPLES_DIR.relative_to(REPO)})")
    p.add_argument("--backend", choices=("auto", "board", "emulator"), default="auto")
    p.add_argument("--model", default=DEFAULT_MODEL, help="bitstreams/<model>.bit on the board, "
                                                          "hw/models/<model>.keras on the emulator")
    p.add_argument("--engine", choices=("csim", "golden"), default=None,
                   help="emulator engine: csim = C simulation of the AXI top (the reference; default), "
                        "golden = vectorized integer model (fast; default for --evaluate)")
    p.add_argument("--batch-size", type=int, default=64, help="images per accelerator call (default 64)")
    p.add_argument("--top-k", type=int, default=1, help="print the k most probable classes")
    p.add_argument("--invert", action="store_true", help="invert images (dark object on light background)")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("--benchmark", action="store_true", help="also run throughput_test() on one batch")
    p.add_argument("--evaluate", metavar="DATASET", choices=("fashion-mnist",),
                   help="accuracy on a test set (fashion-mnist)")
    p.add_argument("--limit", type=int, default=None, help="--evaluate: only the first N test images")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the libraries' own output (TensorFlow logs, hls4ml warnings); quiet by default")
    p.add_argument("--selftest", action="store_true",
                   help="run the self-test vectors shipped with the bitstream (<model>.selftest.npz; off-board: "
                        "made from the golden model) and compare every logit: PASS, or FAIL with the first difference")
    return p


def known_class_count(model: str) -> int | None:
    """How many classes the model has, from files that are cheap to read (the bitstream's io spec,
    else the model's metadata), so that --top-k is checked before any backend opens; None if unknown."""
    from host.driver import BITSTREAM_DIR

    for path, key in ((BITSTREAM_DIR / f"{model}.io.json", "classes"), (REPO / "hw" / "models" / f"{model}.json", None)):
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if key:
            return len(d[key]) if isinstance(d.get(key), list) else None
        n = (d.get("architecture") or {}).get("num_classes")
        return int(n) if isinstance(n, int) else None
    return None


def check_options(args) -> str | None:
    """The first option problem, in words, before any work starts (None: all fine)."""
    if args.batch_size < 1:
        return f"--batch-size must be >= 1, got {args.batch_size}"
    if args.evaluate and args.inputs:
        return "--evaluate takes no input files"
    if args.selftest and (args.inputs or args.evaluate):
        return "--selftest takes no input files and no --evaluate"
    if args.limit is not None and not args.evaluate:
        return "--limit applies to --evaluate only"
    if args.limit is not None and args.limit < 1:
        return f"--limit must be >= 1 test images, got {args.limit}"
    if args.top_k < 1:
        return f"--top-k must be >= 1, got {args.top_k}"
    n = known_class_count(args.model)
    if n is not None and args.top_k > n:
        return f"--top-k {args.top_k}: the model {args.model} has only {n} classes"
    return None


def selftest_path(acc, model: str) -> Path:
    """Where the self-test vectors are: beside the bitstream on the board; made from the golden
    model (dev environment) for the emulator."""
    if acc.backend == "board":
        return Path(acc.files["bit"]).with_name(f"{model}.selftest.npz")
    from host.emulation.emulator import selftest_file

    return selftest_file(model)


def _print_results(names, pred, top_k: int) -> None:
    width = max(len(n) for n in names)
    for name, top in zip(names, pred.top_k(top_k)):
        best = f"{top[0][1]:<12} {100 * top[0][2]:5.1f} %"
        rest = ", ".join(f"{label} {100 * p:.1f} %" for _, label, p in top[1:])
        print(f"{name:<{width}}  {best}" + (f"   ({rest})" if rest else ""))


def run_selftest(args, log) -> int:
    from host.selftest import SelftestError, run

    try:
        acc = open_backend(args.backend, args.model, args.batch_size, args.engine, log, quiet=not args.verbose)
        with acc:
            path = selftest_path(acc, args.model)
            result = run(acc, path)
    except (*_known_errors(), SelftestError) as e:
        log(f"error: {e}")
        return EXIT_SETUP
    if args.json:
        print(json.dumps({"selftest": "PASS" if result.passed else "FAIL", "images": result.images,
                          "differing_images": result.differing, "first_difference": result.first,
                          "vectors": str(path), "backend": acc.backend}, indent=2))
    else:
        print(result.message())
    return EXIT_OK if result.passed else EXIT_SELFTEST_FAIL


def quiet_libraries() -> None:
    """Silence the known third-party chatter at its source (the emulator's first use imports
    TensorFlow and hls4ml): TensorFlow's C++ log, hls4ml's and Keras' known warnings. --verbose
    keeps all of it. The same filters as hw.quiet.KNOWN_WARNINGS, repeated because the board path
    imports nothing from hw/."""
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", message="Overriding attribute 'strategy'", category=UserWarning)
    warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                            category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"hls4ml(\.|$)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = (lambda msg: print(msg, file=sys.stderr))
    if not args.verbose:
        quiet_libraries()
    problem = check_options(args)
    if problem:
        log(f"error: {problem}")
        return EXIT_SETUP
    report: dict = {}
    inputs = None
    if args.selftest:
        return run_selftest(args, log)
    if not args.evaluate:
        inputs = gather(args.inputs or [str(SAMPLES_DIR)], invert=args.invert)
        for note in inputs.notes:
            log(f"note: {note}")
        for _, msg in inputs.errors:
            log(f"error: {msg}")
        if not inputs.images and not args.benchmark:
            log(f"error: nothing to classify ({len(inputs.errors)} input(s) failed)")
            return EXIT_BAD_INPUT
    try:
        engine = args.engine or ("golden" if args.evaluate else None)
        acc = open_backend(args.backend, args.model, args.batch_size, engine, log, quiet=not args.verbose)
        report["backend"] = acc.backend
        report["model"] = args.model
        with acc:
            if args.evaluate:
                r = evaluate(acc, args.evaluate, args.limit)
                report["evaluation"] = r
                if not args.json:
                    print(f"{r['dataset']}: accuracy {100 * r['accuracy']:.2f} % on {r['images']} test images")
            elif inputs.images:
                if args.top_k > len(acc.spec.classes):
                    raise InputError(f"--top-k {args.top_k}: the model has only {len(acc.spec.classes)} classes")
                x = inputs.array(acc.spec.input.shape)
                pred = acc.predict(x)
                report["results"] = [
                    {"source": n, "class": int(c), "label": acc.spec.classes[c],
                     "probability": float(prob[c]), "raw_logits": [int(v) for v in raw],
                     "top_k": [{"class": k, "label": lab, "probability": p} for k, lab, p in top]}
                    for n, c, prob, raw, top in zip(inputs.names, pred.classes, pred.probabilities, pred.raw,
                                                   pred.top_k(args.top_k))]
                if not args.json:
                    _print_results(inputs.names, pred, args.top_k)
            if args.benchmark:
                r = acc.throughput_test()
                report["benchmark"] = r
                if not args.json:
                    print(format_throughput(r))
                report["batch_model"] = batch_model_report(acc, r, log if args.json else print)
    except _known_errors() as e:
        log(f"error: {e}")
        return EXIT_SETUP
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    if inputs is not None:
        report["errors"] = [{"source": s, "error": m} for s, m in inputs.errors]
    if args.json:
        print(json.dumps(report, indent=2))
    if inputs is not None and inputs.errors:
        log(f"{len(inputs.errors)} input(s) failed: {', '.join(s for s, _ in inputs.errors)}")
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
