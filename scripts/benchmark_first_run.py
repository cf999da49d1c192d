#!/usr/bin/env python3
"""How long a newcomer waits for the first `python host/infer.py` result: on an empty cache, on a
warm one, and in a second clone of the repository (what `git clean -xdf` or a fresh checkout sees:
the emulator's cache lives in the user's cache folder, keyed by content, not in the checkout).

    python scripts/benchmark_first_run.py            # prints one line per case: seconds, lines printed

Each case runs the CLI as a new process (wall clock, including Python start-up and, on an empty
cache, hls4ml conversion and the g++ build of the C simulation). Nothing here is modelled.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(repo: Path, cache: Path) -> tuple[float, int, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("SQUEEZENET_EMULATOR_BUILD", "TF_CPP_MIN_LOG_LEVEL")}
    env["XDG_CACHE_HOME"] = str(cache)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(repo / "host" / "infer.py")], cwd=repo, env=env, capture_output=True,
                       text=True)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"host/infer.py failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return secs, len((r.stdout + r.stderr).splitlines()), r.stdout.count("\n")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="first_run_") as tmp:
        cache = Path(tmp) / "cache"
        clone = Path(tmp) / "clone"
        rows = []
        rows.append(("empty cache (first use: convert + compile)", *run(REPO, cache)))
        rows.append(("warm cache (second run)", *run(REPO, cache)))
        subprocess.run(["git", "clone", "-q", "--local", str(REPO), str(clone)], check=True)
        for d in ("hw/models",):  # committed files only: the clone has them
            assert (clone / d).is_dir()
        rows.append(("second clone / after git clean, same user cache", *run(clone, cache)))
        shutil.rmtree(clone)
    print("| case | wall clock | lines printed | results |")
    print("|---|--:|--:|--:|")
    for name, secs, lines, results in rows:
        print(f"| {name} | {secs:.1f} s | {lines} | {results} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
