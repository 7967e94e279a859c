#!/usr/bin/env bash
# Set up everything Scry needs on a Debian 12 machine, idempotently:
#   1. Debian packages (apt-get; as root, or through sudo);
#   2. each step in scripts/setup.d/ in name order (npm artifacts, model
#      conversion, word vectors, ...). Steps write under deps/ (never
#      committed) and keep downloads in $SCRY_CACHE (default ~/.cache/scry)
#      so that a second run, or a fresh clone on the same machine, is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Everything the build, the tests, the benchmarks and model preparation use.
PACKAGES=(
  build-essential pkg-config git ca-certificates curl unzip
  libvips-dev libexif-dev libmicrohttpd-dev libsqlite3-dev libjansson-dev libcurl4-openssl-dev
  libssl-dev libcmocka-dev zlib1g-dev openssl libpq-dev
  postgresql-15 postgresql-contrib
  clang-14 libclang-rt-14-dev
  python3 python3-pytest python3-numpy python3-onnx python3-jsonschema
  darknet
  wordnet-base wordnet-dev libstemmer-dev
  libhnswlib-dev libfaiss-dev
  libtesseract-dev tesseract-ocr-eng
  nodejs npm
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from outside Debian (the CI image has one); do not fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: Debian packages ok"

export SCRY_CACHE="${SCRY_CACHE:-$HOME/.cache/scry}"
export SCRY_DEPS="${SCRY_DEPS:-$PWD/deps}"
mkdir -p "$SCRY_CACHE" "$SCRY_DEPS"
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  echo "setup: $(basename "$step")"
  bash "$step"
done
echo "setup: done"
