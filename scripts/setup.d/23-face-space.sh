#!/usr/bin/env bash
# The face space people are clustered in (people/facespace.h): the mean face
# descriptor of training photos, computed here by tools/face_mean.c and kept
# in models/face_mean.bin (docs/people.md), installed next to the pretrained
# models. Copied only when it differs, through a temporary name and a rename.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="$SCRY_DEPS/models"
mkdir -p "$out"
if cmp -s "$here/models/face_mean.bin" "$out/face_mean.bin"; then
  echo "  face space present"; exit 0
fi
cp "$here/models/face_mean.bin" "$out/.face_mean.bin.tmp"
mv "$out/.face_mean.bin.tmp" "$out/face_mean.bin"
echo "  face space installed in $out ($(wc -c < "$out/face_mean.bin") bytes)"
