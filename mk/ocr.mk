# OCR (vision/ocr): Tesseract's C API from Debian's libtesseract-dev. PP-OCR
# runs on ONNX Runtime (mk/ort.mk).
PKGS += tesseract
