#!/usr/bin/env bash
# Set up sgdlab on a fresh machine; safe to run again (it only installs what is missing).
#   bash scripts/setup.sh         -> .venv with sgdlab, its dependencies and the playground extra
#   bash scripts/setup.sh --dev   -> the same plus the test tools (pytest, hypothesis, ruff, sklearn,
#                                    playwright, nbclient, ipykernel) and Debian's chromium for the
#                                    browser test (never `playwright install`: it downloads browsers)
# torch is pinned by constraints.txt to the CPU build 2.13.0 (an unpinned torch pulls GBs of CUDA).
# Fashion-MNIST: where apt-get works and the data is missing, Debian's dataset-fashion-mnist is
# installed; otherwise sgdlab downloads it from the official mirrors on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="[playground]"  # sgdlab playground's web server and plotly.js (no CDN: all local)
[ "${1:-}" = "--dev" ] && extra="[playground,dev]"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extra}"

# apt_install PACKAGE WHY: install a Debian package when apt-get and root (or passwordless sudo)
# are there; never fails the set-up (prints a warning instead).
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || { echo "setup: no apt-get: $2" >&2; return 0; }
  local SUDO=""
  [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO=sudo
  if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    echo "setup: no root: $2" >&2
    return 0
  fi
  echo "setup: installing Debian's $1" >&2
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null \
    || echo "setup: WARNING: apt-get could not install $1: $2" >&2
}

debian=/usr/share/datasets/fashion-mnist
if [ ! -f "$debian/train-images-idx3-ubyte.gz" ]; then
  apt_install dataset-fashion-mnist "sgdlab will download Fashion-MNIST on first use"
fi
if [ "$extra" = "[playground,dev]" ] && ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium "the browser test of sgdlab report will be skipped (no chromium)"
fi
# the report's Hebrew page and figures need a font with Hebrew glyphs (matplotlib brings its own
# DejaVu Sans; the browser uses the system's)
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && ! fc-list 2>/dev/null | grep -qi "DejaVu Sans"; then
  apt_install fonts-dejavu-core "the report's Hebrew page may show boxes instead of letters"
fi
echo "setup: ready ($(.venv/bin/python -c 'import sgdlab, torch; print("sgdlab", sgdlab.__version__, "torch", torch.__version__)'))" >&2
