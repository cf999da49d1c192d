#!/usr/bin/env bash
# Trained model -> Vitis HLS IP -> Vivado block design -> bitstreams/<model>.bit/.hwh for the PYNQ-Z2.
#
#   scripts/build_bitstream.sh [--model NAME] [--out DIR] [--clock-ns N] [--jobs N] [--dry-run]
#                              [--from-step S] [--fire-rtl [--fire fire2]]   (--help for all options)
#
# Steps (each leaves a marker in <out>/.steps/, re-runs skip finished steps):
#   hls_project  csim  hls_ip  vivado_project  vivado_bitstream  collect
# The steps live in hw/flow/flow.py; this wrapper only finds the repository and Python.
# See docs/BUILD.md for the tools, versions and time per step.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
py="${PYTHON:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
    echo "build_bitstream.sh: $py not found: install Python 3.10+ with the project's train extra (pip install -e '.[train]')" >&2
    exit 2
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
cd "$repo"
exec "$py" -m hw.flow "$@"
