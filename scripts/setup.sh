#!/usr/bin/env bash
# Set up a Debian machine for this project: system packages (simulators, synthesis, C++ compiler,
# the Fashion-MNIST package), then the project itself, editable, with its `train` and `dev` extras.
# Idempotent: apt runs only for missing packages, pip only changes what is missing or out of date.
# Run as root or as a user with sudo. PYTHON=/path/to/python3 picks the interpreter (>= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "setup.sh: error: $*" >&2; exit 1; }
say() { echo "setup.sh: $*"; }

APT_PACKAGES=(iverilog yosys dataset-fashion-mnist g++ tcl)
PY=${PYTHON:-python3}

command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian (bookworm or later); install ${APT_PACKAGES[*]} by hand"
command -v "$PY" >/dev/null || APT_PACKAGES+=(python3 python3-venv python3-pip)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
    die "missing Debian packages (${missing[*]}) and not root, no sudo: run 'apt-get install ${missing[*]}' as root"
  fi
  say "installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq || die "apt-get update failed (network or apt sources?)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed (dataset-fashion-mnist needs Debian bookworm 'main' or later)"
else
  say "Debian packages present: ${APT_PACKAGES[*]}"
fi

command -v "$PY" >/dev/null || die "python interpreter '$PY' not found"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$("$PY" -V 2>&1) is too old: the project needs Python >= 3.10 (set PYTHON=...)"

# Debian's own python refuses system-wide pip installs (PEP 668): use a venv next to the checkout.
if "$PY" -c 'import sys, sysconfig, os; sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'; then
  if [ ! -x .venv/bin/python ]; then
    say "$PY is externally managed: creating .venv"
    "$PY" -m venv .venv || die "cannot create .venv (apt-get install python3-venv)"
  fi
  PY=.venv/bin/python
fi

pip_args=(install -q -e ".[train,dev]")
# Without build isolation pip needs no network for the build backend when setuptools is recent enough.
if "$PY" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null; then
  pip_args+=(--no-build-isolation)
fi
say "pip ${pip_args[*]} ($PY)"
"$PY" -m pip "${pip_args[@]}" || die "pip install of the project failed (see pip's message above)"

# Smoke check of what the tests rely on, so a broken set-up fails here and not mid-test.
for tool in iverilog yosys g++ tclsh; do command -v "$tool" >/dev/null || die "$tool not on PATH after installation"; done
# (TensorFlow's native start-up lines are silenced at their source, hw.quiet; a failing import still prints)
TF_CPP_MIN_LOG_LEVEL=3 "$PY" -c 'from hw.quiet import quiet; quiet()
import hw.data, hgq, hls4ml, optuna, cocotb, cocotb_tools, cocotbext.axi, pytest; hw.data.load_fashion_mnist()' \
  || die "the installed environment cannot import the project or load Fashion-MNIST (see above)"
say "done. Python: $PY$([ "$PY" = .venv/bin/python ] && echo '  (activate with: . .venv/bin/activate)')"
