#!/usr/bin/env bash
# Installs the system packages pcam needs on Debian/Ubuntu, only those that are missing.
#   scripts/setup.sh engine   libtorch (unless $LIBTORCH or python3's torch already provide one)
#                             and Gloo's headers (c10d's CPU backend, for data-parallel training)
#                             and OpenSlide's headers (whole slides)
#   scripts/setup.sh test     also PyTorch, scikit-learn and ONNX for Python (the tests' independent
#                             references), protoc and Python's protobuf (TensorBoard files),
#                             Chromium (the report and web page run in a real browser),
#                             OpenSlide's tools and libvips' (slide references and mosaic slides)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "pcam setup: please install $* with your system's package manager (no apt-get here)." >&2
    exit 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    echo "pcam setup: apt-get update" >&2
    as_root apt-get update -qq
    apt_updated=1
  fi
  echo "pcam setup: apt-get install $*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! node native/libtorch.mjs include_dirs >/dev/null 2>&1; then
  apt_install libtorch-dev
fi
# Data-parallel training uses c10d's Gloo backend, whose headers Debian ships apart.
if ! node native/libtorch.mjs defines 2>/dev/null | grep -q PCAM_WITH_GLOO; then
  apt_install libgloo-dev
fi

# Whole slides are read with OpenSlide (the addon links it, unless PCAM_OPENSLIDE=0).
if [ "${PCAM_OPENSLIDE:-1}" != 0 ] && [ ! -f /usr/include/openslide/openslide.h ]; then
  apt_install libopenslide-dev
fi

# Charts are rasterised to PNG with librsvg, which needs at least one font.
if ! fc-list 2>/dev/null | grep -q .; then
  apt_install fontconfig fonts-dejavu-core
fi

if [ "${1:-engine}" = test ]; then
  if [ ! -x "${PCAM_CHROMIUM:-/usr/bin/chromium}" ]; then
    apt_install chromium
  fi
  # The reference must be Debian's torch (or one a user points PCAM_PYTHON at), not pyenv's python3.
  python="${PCAM_PYTHON:-/usr/bin/python3}"
  if ! "$python" -c 'import torch, torchvision, sklearn, onnx' >/dev/null 2>&1; then
    apt_install python3-torch python3-torchvision python3-sklearn python3-onnx
  fi
  # TensorBoard's event files are read back with a decoder compiled by Debian's protoc.
  if ! command -v protoc >/dev/null || ! "$python" -c 'import google.protobuf' >/dev/null 2>&1; then
    apt_install protobuf-compiler python3-protobuf
  fi
  # Slide tests compare with OpenSlide's own reader and build mosaic slides with libvips.
  if ! command -v openslide-write-png >/dev/null || ! command -v vips >/dev/null; then
    apt_install openslide-tools libvips-tools
  fi
fi
