#!/usr/bin/env bash
# Object detection, face emotion and face attribute models: Human's TF.js
# graph models (@vladmandic/human 3.3.6, MIT) and face-api's expression model
# (@vladmandic/face-api 1.7.15, MIT; weights only, its graph written from
# face-api's code by the converter), converted to ONNX and checked against
# TF.js running the originals.
#
#   1. fetch the pinned tarball (sha256-checked) and take models/centernet.*,
#      models/emotion.* and models/faceres.* (age, gender, face descriptor);
#   2. convert each with tools/tfjs2onnx.py (Debian's python3-onnx/numpy);
#   3. verify: run the original graphs with the pure-JS @tensorflow/tfjs 4.22
#      (CPU backend, no native addon; installed under $SCRY_CACHE/tfjs-ref)
#      exactly as Human does (tools/tfjs_ref.js), and compare with ONNX Runtime
#      and our C pre/post-processing (tools/model_check.c) on real images:
#      3 darknet sample photos for objects, 14 FER2013 crops for emotion when
#      the shared data is there (else random crops still check the graph);
#      for faceres, boxes on darknet's dog.jpg (one a dog's face, two partly
#      off the image) and on 4 LFW face photos when the shared data is there.
#      Any figure over tolerance fails the step and no model is installed.
#      face-api's expression model is checked against face-api's own JS on
#      the same 14 FER2013 crops.
#   4. install $SCRY_DEPS/models/{centernet,emotion,faceres,faceapi_expression}.onnx
#      and a stamp.
#
# Idempotent: skipped when both models exist and the stamp matches the pinned
# versions and the hash of the converter and checking tools. The TF.js check
# takes ~25 s per photo on 2 cores, so a full run takes about 2 minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
. "$here/scripts/lib.sh"

HUMAN_VER=3.3.6
HUMAN_SHA=425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7
TFJS_VER=4.22.0
FACEAPI_VER=1.7.15
FACEAPI_SHA=0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
PY=/usr/bin/python3
out="$SCRY_DEPS/models"
ort="${ORT_DIR:-$SCRY_DEPS/onnxruntime}"

stamp_want=$(cat <(echo "human=$HUMAN_VER tfjs=$TFJS_VER faceapi=$FACEAPI_VER") "$0" "$here/tools/tfjs2onnx.py" \
  "$here/tools/tfjs_ref.js" "$here/tools/model_check.c" "$here/tools/rgbload.h" \
  "$here"/src/vision/{onnx,objects,emotion,faceres,facecrop}.c | sha256sum | cut -d' ' -f1)
models="centernet emotion faceres faceapi_expression"
have=1
for m in $models; do [ -f "$out/$m.onnx" ] || have=0; done
if [ "$have" = 1 ] && [ "$(cat "$out/.human.stamp" 2>/dev/null)" = "$stamp_want" ]; then
  echo "  human and face-api models present ($models)"; exit 0
fi

tgz=$(npm_fetch @vladmandic/human "$HUMAN_VER" "$HUMAN_SHA")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar xzf "$tgz" -C "$tmp" package/models/centernet.json package/models/centernet.bin \
  package/models/emotion.json package/models/emotion.bin \
  package/models/faceres.json package/models/faceres.bin
src="$tmp/package/models"
fapi_tgz=$(npm_fetch @vladmandic/face-api "$FACEAPI_VER" "$FACEAPI_SHA")
mkdir -p "$tmp/faceapi"
tar xzf "$fapi_tgz" -C "$tmp/faceapi" package/dist/face-api.node-wasm.js \
  package/model/face_expression_model-weights_manifest.json package/model/face_expression_model.bin
fapi="$tmp/faceapi/package"

# Inner tensors exposed after the three detector outputs, for the concept
# heads (vision/objects.h: objects_features; same order): the backbone's last
# feature map, two squeeze-and-excite means and the head's global mean.
CENTERNET_FEATURES=tower_0/extern1/hard_swish/mul_1,tower_0/MobilenetV3/expanded_conv_14/squeeze_excite/Mean,tower_0/CenternetHead/Mean,tower_0/MobilenetV3/expanded_conv_11/squeeze_excite/Mean
echo "  converting TF.js -> ONNX"
"$PY" "$here/tools/tfjs2onnx.py" "$src/centernet.json" "$tmp/centernet.onnx" \
  --outputs tower_0/detections,tower_0/keypoints,tower_0/wh,$CENTERNET_FEATURES | sed 's/^/  /'
"$PY" "$here/tools/tfjs2onnx.py" "$src/emotion.json" "$tmp/emotion.onnx" | sed 's/^/  /'
"$PY" "$here/tools/tfjs2onnx.py" "$src/faceres.json" "$tmp/faceres.onnx" \
  --outputs gender_pred/Sigmoid,age_pred/Softmax,global_pooling/Mean | sed 's/^/  /'
"$PY" "$here/tools/tfjs2onnx.py" "$fapi/model/face_expression_model-weights_manifest.json" \
  "$tmp/faceapi_expression.onnx" --faceapi face_expression | sed 's/^/  /'

# Reference runtime: pure-JS TF.js, no install scripts (nothing native).
tfjs="$SCRY_CACHE/tfjs-ref"
if [ "$(node -p "require('$tfjs/node_modules/@tensorflow/tfjs/package.json').version" 2>/dev/null)" != "$TFJS_VER" ]; then
  echo "  installing @tensorflow/tfjs@$TFJS_VER into $tfjs (reference for the check)"
  mkdir -p "$tfjs"
  (cd "$tfjs" && npm install --silent --no-audit --no-fund --ignore-scripts --save-exact \
    "@tensorflow/tfjs@$TFJS_VER" >/dev/null)
fi

echo "  building tools/model_check.c"
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -I"$here/src" -I"$ort/include" \
  "$here/tools/model_check.c" "$here"/src/vision/{onnx,objects,emotion,faceres,facecrop}.c \
  "$here"/src/core/{err,log,labels}.c $(pkg-config --cflags --libs vips) \
  -L"$ort/lib" -lonnxruntime -Wl,-rpath,"$ort/lib" -lm -lpthread -o "$tmp/model-check"
check="$tmp/model-check"
mkdir -p "$tmp/cand"
for m in $models; do cp "$tmp/$m.onnx" "$tmp/cand/"; done


fail=0
for name in dog.jpg horses.jpg person.jpg; do
  img=/usr/share/darknet/data/$name
  [ -f "$img" ] || { echo "  missing $img (Debian package darknet)" >&2; exit 1; }
  ref="$tmp/ref-$name"; mkdir -p "$ref"
  read -r w h < <("$check" rgb "$img" "$ref/img.rgb")
  TFJS_DIR="$tfjs" node "$here/tools/tfjs_ref.js" objects "$src/centernet.json" "$ref/img.rgb" "$w" "$h" "$ref" \
    2> >(grep -v -e '^=*$' -e 'tfjs-node' -e 'Hi, looks like' >&2)
  "$check" objects "$tmp/cand" "$img" "$ref" | sed 's/^/  /' || fail=1
done

fer="${SCRY_SHARED:-$here/../shared}/data/fer2013"
ref="$tmp/ref-emotion"; mkdir -p "$ref"; : > "$ref/faces.rgb"; n=0
if [ -d "$fer" ]; then
  for c in angry disgust fear happy sad surprise neutral; do
    for f in $(ls "$fer/$c" | sort | head -2); do
      read -r w h < <("$check" rgb "$fer/$c/$f" "$ref/one.rgb")
      [ "$w $h" = "48 48" ] || continue
      cat "$ref/one.rgb" >> "$ref/faces.rgb"; n=$((n + 1))
    done
  done
fi
if [ "$n" = 0 ]; then   # no FER data: 48x48 thumbnails of the photos still exercise the graph
  echo "  (FER2013 crops not found under $fer; the emotion graph is checked on random crops)"
  "$PY" -c "
import numpy as np
rng = np.random.default_rng(7)
faces = (rng.random((6, 48, 48, 1)) * 255).astype(np.uint8).repeat(3, axis=3)
open('$ref/faces.rgb', 'wb').write(faces.tobytes())"
  n=6
fi
TFJS_DIR="$tfjs" node "$here/tools/tfjs_ref.js" emotion "$src/emotion.json" "$ref/faces.rgb" "$n" 48 48 "$ref" \
  2> >(grep -v -e '^=*$' -e 'tfjs-node' -e 'Hi, looks like' >&2)
"$check" emotion "$tmp/cand" "$ref/faces.rgb" "$n" 48 48 "$ref" | sed 's/^/  /' || fail=1
ref2="$tmp/ref-faceapi"; mkdir -p "$ref2"
TFJS_DIR="$tfjs" node "$here/tools/tfjs_ref.js" faceapi-expression "$fapi" "$ref/faces.rgb" "$n" 48 48 "$ref2" \
  2> >(grep -v -e '^=*$' -e 'tfjs-node' -e 'Hi, looks like' >&2)
"$check" faceapi-expression "$tmp/cand" "$ref/faces.rgb" "$n" 48 48 "$ref2" | sed 's/^/  /' || fail=1

# faceres: detector-style boxes (x y w h). On dog.jpg: the dog's face (what
# BlazeFace reports there) and two boxes partly off the image (black
# padding); on LFW's aligned 250x250 photos, the face BlazeFace finds there.
lfw="${SCRY_SHARED:-$here/../shared}/data/lfw/images"
faceres_check() {   # IMAGE BOXES...
  local img="$1"; shift
  local ref; ref="$tmp/ref-faceres-$(basename "$img")"; mkdir -p "$ref"
  printf '%s\n' "$@" > "$ref/boxes.txt"
  read -r w h < <("$check" rgb "$img" "$ref/img.rgb")
  TFJS_DIR="$tfjs" node "$here/tools/tfjs_ref.js" faceres "$src/faceres.json" "$ref/img.rgb" "$w" "$h" \
    "$ref/boxes.txt" "$ref" 2> >(grep -v -e '^=*$' -e 'tfjs-node' -e 'Hi, looks like' >&2)
  "$check" faceres "$tmp/cand" "$img" "$ref/boxes.txt" "$ref" | sed 's/^/  /' || fail=1
}
faceres_check /usr/share/darknet/data/dog.jpg "242.57 250.97 58.85 58.85" "-10.3 -12.7 60.1 60.1" \
  "700.2 500.7 90.3 80.1"
if [ -d "$lfw" ]; then
  for f in Nicole_Kidman/Nicole_Kidman_0001 Aaron_Peirsol/Aaron_Peirsol_0001 \
           Condoleezza_Rice/Condoleezza_Rice_0002 Madonna/Madonna_0001; do
    if [ -f "$lfw/$f.jpg" ]; then faceres_check "$lfw/$f.jpg" "65.3 80.2 111.5 111.5"; fi
  done
else
  echo "  (LFW photos not found under $lfw; faceres is checked on dog.jpg only)"
fi

if [ "$fail" != 0 ]; then
  echo "  converted models differ from TF.js beyond tolerance: NOT installed (see figures above)" >&2
  exit 1
fi
mkdir -p "$out"
for m in $models; do mv "$tmp/$m.onnx" "$out/$m.onnx.tmp" && mv "$out/$m.onnx.tmp" "$out/$m.onnx"; done
echo "$stamp_want" > "$out/.human.stamp"
echo "  human and face-api models installed in $out (verified against TF.js)"
