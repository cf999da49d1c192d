"""The emulated PYNQ-Z2's files (scripts/prepare_emulated_board.py) for the board-venv tests, loaded
once: io spec, C-simulation library, and a set of images with their golden raw logits."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDER = Path(os.environ.get("SQUEEZENET_EMULATED_BOARD", REPO / "build" / "emulated_board"))


def load_board_files(vectors: str) -> dict:
    """`vectors`: "golden" (the first test images) or "selftest" (test and random-pixel images)."""
    from host.emulation.csim_library import AxiLibrary
    from host.stream import IOSpec

    manifest = FOLDER / "emulated_board.json"
    if not manifest.is_file():
        if "SQUEEZENET_EMULATED_BOARD" in os.environ:
            pytest.fail(f"{manifest} missing: scripts/prepare_emulated_board.py did not run")
        pytest.skip(f"{manifest} missing: run scripts/prepare_emulated_board.py in the dev venv first")
    m = json.loads(manifest.read_text())
    spec = IOSpec.load(FOLDER / f"{m['model']}.io.json")
    data = np.load(FOLDER / (m["golden"] if vectors == "golden" else f"{m['model']}.selftest.npz"))
    return {"dir": FOLDER, "model": m["model"], "spec": spec, "lib": AxiLibrary(m["library"], spec),
            "images": data["images"], "raw": data["raw"]}


def board(f: dict):
    """The emulated board, installed as pynq's device, running the C simulation of `f`."""
    from host.emulation.emulated_zynq import emulated_board

    return emulated_board(f["lib"].run, f["spec"].batch_register, f["spec"].input.beats_per_image)
