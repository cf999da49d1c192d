"""Quiet command lines: the known third-party chatter silenced at its source, everything else kept.

Why here: TensorFlow 2.21 writes its abseil/oneDNN start-up lines straight to file descriptor 2 (they
ignore TF_CPP_MIN_LOG_LEVEL), and hls4ml/Keras raise warnings that say nothing about the user's
design; every CLI of hw/ (and host's emulator) calls `quiet()` unless given -v/--verbose.
"""
from __future__ import annotations

import os
import sys
import warnings

KNOWN_WARNINGS = (
    # (message start, category): harmless for this project, listed with why in pyproject.toml too
    ("__array__ implementation doesn't accept a copy keyword", DeprecationWarning),  # Keras 3 on numpy 2
    ("Overriding attribute 'strategy'", UserWarning),  # hls4ml 1.3 pointwise pass, same value re-set
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once with file descriptor 2 on /dev/null (its native start-up lines). An
    import that fails here fails again, with its message, at the caller's real import."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import tensorflow  # noqa: F401
        except Exception:
            pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet(tensorflow: bool = True) -> None:
    """TF's C++ log level, the known warnings filtered by message, and (if asked) TF imported quietly."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"hls4ml(\.|$)")
    if tensorflow:
        import_tensorflow_quietly()


def add_verbose_flag(parser) -> None:
    """The one -v/--verbose of every command line (hw/ CLIs and scripts/): library output back on."""
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's and hls4ml's own start-up output and warnings")


def quiet_unless_verbose(args, tensorflow: bool = True) -> None:
    """Call right after parse_args, before the heavy imports: `quiet()` unless -v was given."""
    if not getattr(args, "verbose", False):
        quiet(tensorflow=tensorflow)
