#!/usr/bin/env bash
# The visual-concept head trained in this repository (models/concepts.bin,
# written by tools/train_concepts.py; see docs/concepts.md), installed next
# to the pretrained models so that every model is found in one place.
# Copied only when it differs, through a temporary name and a rename.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="$SCRY_DEPS/models"
mkdir -p "$out"
if cmp -s "$here/models/concepts.bin" "$out/concepts.bin"; then
  echo "  concept head present"; exit 0
fi
cp "$here/models/concepts.bin" "$out/.concepts.bin.tmp"
mv "$out/.concepts.bin.tmp" "$out/concepts.bin"
echo "  concept head installed in $out ($(wc -c < "$out/concepts.bin") bytes)"
