"""The board off-board: the same API as host/driver.py, backed by the C simulation of the AXI top.

Why: `host/infer.py` must work (and be tested for real) without a PYNQ-Z2. The emulator runs the
exact C++ that Vitis HLS synthesizes (hw/hls/axi/axi_top.cpp around the hls4ml firmware), compiled
by hw.hls with g++ into a shared library whose entry point the io spec names (`c_abi`). Bytes go in through the
driver's packing code, bytes and TLAST flags come out through its unpacking code
(host/accelerator.py): only the transport differs from the board (ctypes call instead of DMA).

Engines:
  * csim (default, the reference): the C simulation; ~tens of images/s.
  * golden: hw.golden's vectorized integer model for large evaluations. It reads the packed input
    stream back into images and packs its logits into output beats, so the driver path is still
    exercised; tests check it equals the C simulation bit for bit.

Dev machine only (TensorFlow, hls4ml, g++): hw/ is imported lazily.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from host import stream
from host.accelerator import AcceleratorError, StreamAccelerator
from host.driver import DEFAULT_MODEL, REPO
from host.stream import IOSpec, StreamError

MODELS_DIR = REPO / "hw" / "models"
HLS_CONFIG_DIR = REPO / "hls_config"
# Converted projects and compiled C simulations are cached by content (hw.hls sources, model, config,
# hls4ml version: _source_digest; the wrapper sources and compiler flags: hw.hls.build_axi_library)
# in the user's cache, so a second clone or a `git clean` pays nothing. SQUEEZENET_EMULATOR_BUILD
# overrides the folder (then keyed by model name only, as the tests use it).
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "squeezenet-pynq" / "emulator"
BUILD_DIR = Path(os.environ["SQUEEZENET_EMULATOR_BUILD"]) if os.environ.get("SQUEEZENET_EMULATOR_BUILD") else None
ENGINES = ("csim", "golden")


class EmulatorError(AcceleratorError):
    """The emulator cannot be built or its C simulation misbehaved."""


def _quiet(msg: str) -> None:
    pass


def model_file(model: str | os.PathLike) -> Path:
    """A model name (hw/models/<name>.keras) or a path to a .keras file."""
    p = Path(model)
    if p.suffix != ".keras":
        p = MODELS_DIR / f"{model}.keras"
    if not p.is_file():
        raise EmulatorError(f"model file {p} not found (train one with `python -m hw.model.train`, "
                            f"or pass --model NAME for hw/models/NAME.keras)")
    return p


class CSimEngine:
    """The compiled AXI top (host.emulation.csim_library.AxiLibrary, bound by the io spec's c_abi names)."""

    description = "C simulation of the AXI top"

    def __init__(self, library: Path, spec: IOSpec) -> None:
        from host.emulation.csim_library import AxiLibrary, CSimLibraryError

        try:
            self.lib = AxiLibrary(library, spec)
        except (OSError, AttributeError, CSimLibraryError) as e:
            raise EmulatorError(f"cannot load the C-simulation library {library}: {e}") from None
        # the library's own geometry must match the io spec the host packs by
        for what, got, expected in (("input", self.lib.in_beats_per_image, spec.input.beats_per_image),
                                    ("output", self.lib.out_beats_per_image, spec.output.beats_per_image)):
            if got != expected:
                raise EmulatorError(f"{library}: {got} {what} beats per image but the io spec says {expected}; "
                                    "the library and io_spec.json come from different builds")

    def __call__(self, in_beats: np.ndarray, out_beats: np.ndarray, n_images: int) -> np.ndarray:
        from host.emulation.csim_library import CSimLibraryError

        try:
            beats, last = self.lib.run(in_beats, n_images)
        except CSimLibraryError as e:
            raise EmulatorError(f"{e} ({n_images} images, {len(in_beats)} input beats)") from None
        if len(beats) != len(out_beats):
            raise EmulatorError(f"the AXI top wrote {len(beats)} output beats, expected {len(out_beats)} "
                                f"for {n_images} images")
        out_beats[:] = beats  # the bytes the S2MM DMA would have written into the receive buffer
        return last


class GoldenEngine:
    """hw.golden's integer model behind the same stream interface (fast path for big evaluations)."""

    description = "golden integer model (vectorized fast path)"

    def __init__(self, net, spec: IOSpec) -> None:
        self.net = net
        self.spec = spec

    def __call__(self, in_beats: np.ndarray, out_beats: np.ndarray, n_images: int) -> np.ndarray:
        images = stream.unpack_images(in_beats, n_images, self.spec)
        beats, last = stream.pack_logits(self.net.forward(images), self.spec)
        out_beats[:] = beats
        return last


class EmulatedAccelerator(StreamAccelerator):
    """`EmulatedAccelerator(DEFAULT_MODEL).predict(images_uint8)`, like PynqAccelerator."""

    backend = "emulator"

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, batch_size: int = 256, engine: str = "csim",
                 build_dir: str | os.PathLike | None = None, log: Callable[[str], None] | None = None) -> None:
        if engine not in ENGINES:
            raise EmulatorError(f"unknown emulator engine {engine!r}; choose one of {', '.join(ENGINES)}")
        log = log or _quiet
        self.model_path = model_file(model)
        self.engine_name = engine
        project, spec, library = prepare_csim(self.model_path, build_dir, log, need_library=engine == "csim")
        self.project_dir = project
        if engine == "csim":
            self._engine = CSimEngine(library, spec)
        else:
            self._engine = GoldenEngine(load_golden(self.model_path), spec)
        self.transfer_label = engine
        self.description = f"{self._engine.description} of {self.model_path.name}"
        super().__init__(spec, batch_size)

    def _allocate(self, n_in_beats: int, n_out_beats: int):
        return (np.zeros(n_in_beats, dtype=self.spec.input.beat_dtype),
                np.zeros(n_out_beats, dtype=self.spec.output.beat_dtype))

    def _transfer(self, in_beats: np.ndarray, out_beats: np.ndarray, n_images: int) -> None:
        last = self._engine(in_beats, out_beats, n_images)
        try:
            stream.check_tlast(last, len(out_beats))
        except StreamError as e:
            raise EmulatorError(f"{self._engine.description}: {e}") from None


QUIET = False  # host/infer.py sets it (not --verbose): TensorFlow's native start-up lines are dropped


def import_tensorflow_quietly() -> None:
    """With QUIET, TensorFlow's native start-up lines are dropped (hw.quiet), only when a conversion
    or the golden model needs TensorFlow (a cached C simulation never imports it)."""
    if QUIET:
        from hw.quiet import import_tensorflow_quietly as quietly

        quietly()


def selftest_file(model: str | os.PathLike, build_dir=None, log: Callable[[str], None] = _quiet) -> Path:
    """The emulator's self-test vectors (hw.golden.selftest, the file the bitstream flow ships beside
    the .bit), made on first use and again whenever the model file is newer."""
    path = model_file(model)
    base = Path(build_dir) if build_dir is not None else (BUILD_DIR or CACHE_DIR)
    out = base / f"{path.stem}.selftest.npz"
    if not out.is_file() or out.stat().st_mtime < path.stat().st_mtime:
        from hw.golden.selftest import write

        log(f"emulator: writing self-test vectors {out} from the golden model")
        import_tensorflow_quietly()
        try:
            write(path, out)
        except Exception as e:  # the test set or the model is missing: name it
            raise EmulatorError(f"cannot write self-test vectors for {path.name}: {type(e).__name__}: {e}") from None
    return out


def load_golden(model_path: Path):
    import_tensorflow_quietly()
    from hw.golden import extract
    from hw.model import load_model

    try:
        return extract(load_model(model_path))
    except Exception as e:  # a model file that does not load or does not follow the contract
        raise EmulatorError(f"cannot build the golden model from {model_path}: {type(e).__name__}: {e}") from None


def _source_digest(model_path: Path, config: Path) -> str:
    """What the converted project depends on besides the wrapper sources (build_axi_library
    tracks those): the model, its hls4ml config, the conversion code, the project's own kernels
    (hw/hls/packing) and hls4ml's version."""
    from importlib.metadata import version

    h = hashlib.sha256()
    hls_dir = REPO / "hw" / "hls"
    for p in [model_path, config, *sorted(hls_dir.glob("*.py")), *sorted((hls_dir / "packing").glob("*")),
              REPO / "hw" / "quant" / "formats.py"]:
        h.update(p.name.encode() + b"\0" + (p.read_bytes() if p.exists() else b""))
    h.update(version("hls4ml").encode())
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path):
    """Serialize builds of one project across processes (pytest and the CLI may start together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def prepare_csim(model_path: Path, build_dir=None, log: Callable[[str], None] = _quiet,
                 need_library: bool = True) -> tuple[Path, IOSpec, Path | None]:
    """(project dir, io spec, AXI library): the hls4ml project of `model_path`, converted with
    hls_config/<model>.yml into the content-keyed cache (CACHE_DIR/<model>-<digest>) on first use, and
    the compiled AXI top (cached by hw.hls)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from hw import hls

    name = model_path.stem
    config = HLS_CONFIG_DIR / f"{name}.yml"
    if not config.is_file():
        raise EmulatorError(f"no hls4ml config {config} for model {name!r}")
    digest = _source_digest(model_path, config)
    if build_dir is not None or BUILD_DIR is not None:
        project = Path(build_dir if build_dir is not None else BUILD_DIR) / name
    else:
        project = CACHE_DIR / f"{name}-{digest[:16]}"
    stamp = project / "emulator_source.sha256"
    try:
        with _locked(project.with_name(f".{project.name}.lock")):
            if not (stamp.is_file() and stamp.read_text().strip() == digest and (project / "io_spec.json").is_file()):
                log(f"emulator: converting {model_path.name} with hls4ml into {project} (first use, ~1 min)")
                t0 = time.perf_counter()
                stamp.unlink(missing_ok=True)
                from hw.plan.rate import planned_rate

                import_tensorflow_quietly()
                hls.convert(config, project, model_path, planner=planned_rate)
                stamp.write_text(digest + "\n")
                log(f"emulator: converted in {time.perf_counter() - t0:.0f} s")
            library = None
            if need_library:
                lib_path = project / hls.read_io_spec(project)["library"]
                if not lib_path.exists():
                    log("emulator: compiling the C simulation of the AXI top with g++ (first use, ~1-2 min)")
                t0 = time.perf_counter()
                library = hls.build_axi_library(project)
                if time.perf_counter() - t0 > 5:
                    log(f"emulator: compiled in {time.perf_counter() - t0:.0f} s")
    except Exception as e:
        # hw.model (Keras, TensorFlow: seconds to import) is loaded only by a conversion, so a cached
        # run never imports it; its ModelError can only come from a run that did
        model_error = getattr(sys.modules.get("hw.model"), "ModelError", ())
        if isinstance(e, (hls.HlsError, model_error) if model_error else hls.HlsError):
            raise EmulatorError(f"cannot build the emulator for {model_path}: {e}") from None
        raise
    return project, IOSpec.load(project / "io_spec.json"), library
