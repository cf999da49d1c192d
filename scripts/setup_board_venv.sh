#!/usr/bin/env bash
# The board's Python environment, for CI and off-board checks of the board path: what `host/` gets
# on a PYNQ-Z2 image (`pip install .[board]`: numpy < 2, pillow, tqdm, the real pynq) plus pytest and
# hypothesis for its tests; no TensorFlow, no hls4ml. .ci/run runs tests/board and the host tests in it.
# BOARD_VENV=dir picks the location (default .venv-board), PYTHON=... the interpreter (>= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${BOARD_VENV:-.venv-board}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" || { echo "setup_board_venv.sh: '$PY -m venv' failed (apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e ".[board]" pytest hypothesis pytest-timeout
"$VENV/bin/python" - <<'PYEOF'
import importlib.util, sys
import numpy, pynq
heavy = [m for m in ("tensorflow", "keras", "hls4ml", "hgq") if importlib.util.find_spec(m)]
if heavy or int(numpy.__version__.split(".")[0]) >= 2:
    sys.exit(f"setup_board_venv.sh: the board venv must have numpy < 2 and no {heavy} (numpy {numpy.__version__})")
print(f"setup_board_venv.sh: done: numpy {numpy.__version__}, pynq {pynq.__version__}, no TensorFlow/hls4ml")
PYEOF
