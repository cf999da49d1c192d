#!/usr/bin/env python3
"""Mutation test of the board path: does the board test suite catch realistic driver bugs?

Each mutation changes one line of host/ (a bug a driver author could write), in a temporary copy of
the repository; the board tests then run there with the real pynq on the emulated PYNQ-Z2 (the board
venv). A mutation is caught when the tests fail. Survivors are listed with the reason the emulation
cannot catch them.

    python scripts/prepare_emulated_board.py --out build/emulated_board     # dev venv, once
    .venv-board/bin/python scripts/mutate_board_path.py [--only NAME]        # ~10 s a mutation
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hw.quiet import add_verbose_flag, quiet_unless_verbose

REPO = Path(__file__).resolve().parents[1]
TESTS = ["tests/board", "tests/test_host_stream.py", "tests/test_host_driver.py"]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    why: str  # the bug, in words
    survives: str = ""  # where it is expected to survive: why no emulated test can see it


MUTATIONS = (
    Mutation("mm2s_one_word_short", "host/driver.py", '("MM2S (send)", send, self._in_buf, in_beats.nbytes)',
             '("MM2S (send)", send, self._in_buf, in_beats.nbytes - 4)', "MM2S sends one 32-bit word fewer than the batch"),
    Mutation("s2mm_one_beat_short", "host/driver.py", '("S2MM (receive)", recv, self._out_buf, out_beats.nbytes)',
             '("S2MM (receive)", recv, self._out_buf, out_beats.nbytes - 8)', "S2MM buffer one beat too short"),
    Mutation("transfer_without_length", "host/driver.py", "ch.transfer(buf, nbytes=nbytes)", "ch.transfer(buf)",
             "transfer() of the whole buffer instead of the batch's bytes"),
    Mutation("infinite_default_timeout", "host/driver.py",
             "DEFAULT_TIMEOUT_S + TIMEOUT_S_PER_IMAGE * n_images", 'float("inf")', "no default DMA timeout"),
    Mutation("no_timeout_loop", "host/driver.py", "if pending and clock() > deadline:", "if False:",
             "the wait loop never gives up (hangs; pytest-timeout turns the hang into a failure)"),
    Mutation("no_tlast_count_check", "host/driver.py", "if got is not None and got != out_beats.nbytes:", "if False:",
             "the TLAST byte-count check removed"),
    Mutation("ignore_dma_error", "host/driver.py", 'if getattr(ch, "error", False):', "if False:",
             "DMA error flags ignored"),
    Mutation("skip_wait_and_invalidate", "host/driver.py", "                ch.wait()\n", "                pass\n",
             "results read without pynq's wait(), so without invalidating the receive buffer's cache"),
    Mutation("batch_register_off_by_one", "host/driver.py",
             "setattr(self.ip.register_map, self.spec.batch_register, n_images)",
             "setattr(self.ip.register_map, self.spec.batch_register, n_images - 1)", "batch register one image short"),
    Mutation("no_ap_start", "host/driver.py", "self.ip.register_map.CTRL.AP_START = 1", "pass",
             "the accelerator is never started"),
    Mutation("dma_length_limit_off_by_one", "host/driver.py", "return (1 << int(width)) - 1", "return 1 << int(width)",
             "largest DMA transfer one byte too large"),
    Mutation("timeout_too_tight_per_image", "host/driver.py", "DEFAULT_TIMEOUT_S, TIMEOUT_S_PER_IMAGE = 5.0, 0.1",
             "DEFAULT_TIMEOUT_S, TIMEOUT_S_PER_IMAGE = 5.0, 0.0", "the timeout does not grow with the batch"),
    Mutation("busy_wait", "host/driver.py", "def wait_dma_idle(channels: Mapping[str, object], timeout_s: float, poll_s: float = 1e-4,",
             "def wait_dma_idle(channels: Mapping[str, object], timeout_s: float, poll_s: float = 0,",
             "the DMA wait spins without sleeping",
             survives="results and errors are unchanged; only the ARM core's load differs, which no emulated test sees"),
    Mutation("unpack_wrong_batch", "host/accelerator.py", "raw = stream.unpack_logits(out_view, n, self.spec)",
             "raw = stream.unpack_logits(out_view, max(n - 1, 1), self.spec)", "unpacks one image fewer"),
    Mutation("pack_into_wrong_buffer", "host/accelerator.py",
             "in_view = stream.pack_images(images, self.spec, out=self._in_buf)",
             "in_view = stream.pack_images(images, self.spec)", "packs into a fresh array, not the DMA buffer"),
    Mutation("skip_ip_dict_check", "host/driver.py", "        check_ip_dict(ip_dict, spec, str(files[\"hwh\"]), cores)\n",
             "", "the .hwh is not checked against the io spec"),
    Mutation("no_clock_check", "host/driver.py", "        check_pynq_clocks(pynq, files[\"hwh\"])\n", "",
             "pynq 4's clock failure not refused"),
)


def run(mutation: Mutation | None, board_dir: Path, python: str) -> tuple[bool, float, str]:
    """(tests passed, seconds, last output line) in a fresh copy with `mutation` applied."""
    # beside the checkout, so that the copy's ../shared/vendor-reports (real .hwh files) is the same
    with tempfile.TemporaryDirectory(prefix=".mutate_", dir=REPO.parent) as tmp:
        t = Path(tmp)
        for d in ("host", "tests"):
            shutil.copytree(REPO / d, t / d, ignore=shutil.ignore_patterns("__pycache__", "rtl"))
        shutil.copy(REPO / "pyproject.toml", t / "pyproject.toml")
        if mutation is not None:
            f = t / mutation.path
            text = f.read_text()
            if text.count(mutation.old) != 1:
                raise SystemExit(f"mutation {mutation.name}: {mutation.old!r} occurs {text.count(mutation.old)} "
                                 f"times in {mutation.path} (the code changed: update the mutation)")
            f.write_text(text.replace(mutation.old, mutation.new))
        env = dict(os.environ, PYTHONPATH=str(t), SQUEEZENET_EMULATED_BOARD=str(board_dir))
        t0 = time.perf_counter()
        r = subprocess.run([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS], cwd=t, env=env,
                           capture_output=True, text=True)
        tail = (r.stdout.strip().splitlines() or [""])[-1]
        return r.returncode == 0, time.perf_counter() - t0, tail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default=str(REPO / "build" / "emulated_board"), help="scripts/prepare_emulated_board.py output")
    ap.add_argument("--python", default=sys.executable, help="the board venv's python (pynq 3.x)")
    ap.add_argument("--only", help="run one mutation by name")
    add_verbose_flag(ap)
    a = ap.parse_args(argv)
    quiet_unless_verbose(a, tensorflow=False)
    board = Path(a.board).resolve()
    if not (board / "emulated_board.json").is_file():
        print(f"error: {board}/emulated_board.json missing: run scripts/prepare_emulated_board.py first", file=sys.stderr)
        return 2
    ok, secs, tail = run(None, board, a.python)
    if not ok:
        print(f"error: the unmutated board tests fail ({tail}): fix that first", file=sys.stderr)
        return 2
    print(f"unmutated: tests pass ({tail}, {secs:.0f} s)")
    chosen = [m for m in MUTATIONS if a.only in (None, m.name)]
    caught, survivors = [], []
    for m in chosen:
        passed, secs, tail = run(m, board, a.python)
        (survivors if passed else caught).append(m)
        print(f"{'SURVIVED' if passed else 'caught  '} {m.name:<28} {secs:5.0f} s  {m.why}  [{tail}]", flush=True)
    print(f"\n{len(chosen)} mutations, {len(caught)} caught, {len(survivors)} survived")
    for m in survivors:
        print(f"  survivor {m.name}: {m.survives or 'NOT EXPECTED: a test is missing'}")
    unexpected = [m for m in survivors if not m.survives]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
