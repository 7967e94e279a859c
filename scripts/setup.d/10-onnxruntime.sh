#!/usr/bin/env bash
# ONNX Runtime's C API: header and shared library, from the npm package
# com.github.asus4.onnxruntime (a Unity plugin that ships ORT 1.29's Linux x64
# library and, inside its Android .aar, the C headers; see
# ../shared/notes/models-and-runtimes.md). Debian has no onnxruntime package.
# To use an official ORT release instead, set ORT_DIR=/path/with/include+lib
# when building (make ORT_DIR=...); this step is then skipped.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
if [ -n "${ORT_DIR:-}" ]; then echo "  ORT_DIR=$ORT_DIR given; skipping"; exit 0; fi
out="$SCRY_DEPS/onnxruntime"
if [ -f "$out/include/onnxruntime_c_api.h" ] && [ -f "$out/lib/libonnxruntime.so.1" ]; then
  echo "  onnxruntime present"; exit 0
fi
tgz=$(npm_fetch com.github.asus4.onnxruntime 0.4.9 e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar xzf "$tgz" -C "$tmp" package/Plugins/Linux/x64/libonnxruntime.so package/Plugins/Android/onnxruntime.aar
mkdir -p "$out/include" "$out/lib"
unzip -q -o -j "$tmp/package/Plugins/Android/onnxruntime.aar" 'headers/*' -d "$out/include"
cp "$tmp/package/Plugins/Linux/x64/libonnxruntime.so" "$out/lib/libonnxruntime.so.1"
ln -sf libonnxruntime.so.1 "$out/lib/libonnxruntime.so"
echo "  onnxruntime installed in $out"
