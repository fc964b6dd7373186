#!/usr/bin/env bash
# Set up sgdlab on a fresh machine; safe to run again (it only installs what is missing).
#   bash scripts/setup.sh         -> .venv with sgdlab and its dependencies
#   bash scripts/setup.sh --dev   -> the same plus the test tools (pytest, hypothesis, ruff, sklearn)
# torch is pinned by constraints.txt to the CPU build 2.13.0 (an unpinned torch pulls GBs of CUDA).
# Fashion-MNIST: where apt-get works and the data is missing, Debian's dataset-fashion-mnist is
# installed; otherwise sgdlab downloads it from the official mirrors on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extra}"

debian=/usr/share/datasets/fashion-mnist
if [ ! -f "$debian/train-images-idx3-ubyte.gz" ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO=sudo
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "setup: installing Debian's dataset-fashion-mnist into $debian" >&2
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
      || echo "setup: WARNING: apt-get could not install dataset-fashion-mnist" >&2
  else
    echo "setup: no root: sgdlab will download Fashion-MNIST on first use" >&2
  fi
fi
echo "setup: ready ($(.venv/bin/python -c 'import sgdlab, torch; print("sgdlab", sgdlab.__version__, "torch", torch.__version__)'))" >&2
