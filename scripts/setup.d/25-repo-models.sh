#!/usr/bin/env bash
# The small models made in this repository, installed next to the pretrained
# ones so that every model is found in one place: the visual-concept head
# (models/concepts.bin, written by tools/train_concepts.py; docs/concepts.md)
# and the face space people are clustered in (models/face_mean.bin, the mean
# face descriptor of training photos, written by tools/face_mean.c;
# people/facespace.h, docs/people.md). Each is copied only when it differs,
# through a temporary name and a rename.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="$SCRY_DEPS/models"
mkdir -p "$out"
for entry in "concepts.bin:concept head" "face_mean.bin:face space"; do
  file="${entry%%:*}" what="${entry#*:}"
  if cmp -s "$here/models/$file" "$out/$file"; then
    echo "  $what present"; continue
  fi
  cp "$here/models/$file" "$out/.$file.tmp"
  mv "$out/.$file.tmp" "$out/$file"
  echo "  $what installed in $out ($(wc -c < "$out/$file") bytes)"
done
