"""ctypes binding of the AXI top's C simulation (the emulator's engine), by the io spec's names.

Why in host/: the binding is numpy + ctypes only and the emulator is host code; the symbol names
come from the io spec (`c_abi`, written by hw.hls.contract), so nothing here repeats the contract.
The library itself is built by hw.hls.axi_library (g++, dev machines).
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from host.stream import IOSpec


class CSimLibraryError(RuntimeError):
    """The C simulation refused a call or its library cannot be used."""


ERRORS = {-1: "wrong number of input beats", -2: "output buffer too small", -3: "null pointer",
          -4: "stream mismatch inside the wrapper", -5: "batch too large"}


def check_weight_files(project_dir: Path) -> None:
    """The C simulation reads the weights from firmware/weights/*.txt on its first call and exits
    the process if one is missing: refuse early instead."""
    header_dir = Path(project_dir) / "firmware" / "weights"
    missing = [h.with_suffix(".txt").name for h in sorted(header_dir.glob("*.h")) if not h.with_suffix(".txt").exists()]
    if not header_dir.is_dir() or missing:
        raise CSimLibraryError(f"{header_dir}: weight files missing ({', '.join(missing) or 'no weights directory'}); "
                               f"re-run `python -m hw.hls` for this project")


class AxiLibrary:
    """The runner's C ABI (docs/INTERFACES.md): one uint64 per beat in, beats + TLAST flags out."""

    def __init__(self, path: str | os.PathLike, spec: IOSpec):
        self.path = Path(path)
        self.spec = spec
        check_weight_files(self.path.parent)
        self._lib = ctypes.CDLL(str(self.path))
        abi = spec.c_abi
        if not abi:
            raise CSimLibraryError(f"io spec of {spec.model} has no c_abi (written by an older hw.hls): re-convert")
        self._run = getattr(self._lib, abi["run"])
        self._run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                              ctypes.c_uint32]
        self._run.restype = ctypes.c_int
        geometry = []
        for key in ("in_beats_per_image", "out_beats_per_image"):
            f = getattr(self._lib, abi[key])
            f.restype = ctypes.c_uint32
            geometry.append(int(f()))
        self.in_beats_per_image, self.out_beats_per_image = geometry

    def run_raw(self, beats: np.ndarray, n_images: int, out_capacity: int | None = None):
        """Call the C function as is: (its result: beats written or a negative error code,
        output beats, TLAST flags)."""
        beats = np.ascontiguousarray(beats, dtype=np.uint64)
        cap = n_images * self.out_beats_per_image if out_capacity is None else out_capacity
        out = np.zeros(max(cap, 1), dtype=np.uint64)
        last = np.zeros(max(cap, 1), dtype=np.uint8)
        code = self._run(beats.ctypes.data, len(beats), out.ctypes.data, last.ctypes.data, cap, n_images)
        return code, out, last

    def run(self, beats: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray]:
        """Input beats of a batch -> (output beats uint64, TLAST flags uint8)."""
        n, out, last = self.run_raw(beats, n_images)
        if n < 0:
            raise CSimLibraryError(f"{self.spec.c_abi['run']}: {ERRORS.get(n, 'error')} (code {n})")
        return out[:n], last[:n]
