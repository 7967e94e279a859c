#!/usr/bin/env bash
# 45-s3rver: the S3-compatible server the tests start on loopback.
#
#   deps/s3rver/   s3rver (npm), pinned by tests/s3/package.json and its
#                  package-lock.json (npm ci, no install scripts). It keeps
#                  objects in a folder and speaks multipart uploads, ranged
#                  GETs, HEAD and DELETE -- what the S3 blob backend uses
#                  (src/store/blob_s3.c). It does not check SigV4 signatures;
#                  tests/s3/sigv4_proxy.py does. Why s3rver rather than
#                  Ceph's radosgw: docs/scale.md.
# PostgreSQL 15 itself comes from Debian (scripts/setup.sh's package list).
# Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$SCRY_DEPS/s3rver"
lock="$here/tests/s3/package-lock.json"
if ! cmp -s "$lock" "$dir/package-lock.json" || [ ! -f "$dir/node_modules/s3rver/package.json" ]; then
  echo "  installing s3rver into $dir (npm ci)"
  mkdir -p "$dir"
  cp "$here/tests/s3/package.json" "$lock" "$dir/"
  (cd "$dir" && npm ci --silent --ignore-scripts --no-audit --no-fund --cache "$SCRY_CACHE/npm-cache" >/dev/null)
else
  echo "  s3rver present ($(node -p "require('$dir/node_modules/s3rver/package.json').version"))"
fi
