# Shared helpers for scripts/setup.d/ steps (sourced, not run).

# npm_fetch NAME VERSION SHA256 -> prints the path of the verified tarball in
# $SCRY_CACHE/npm, fetching it with `npm pack` (no install scripts run) when
# absent. A tarball whose hash differs from the pinned one is deleted and the
# step fails: we never build on bytes we did not check.
npm_fetch() {
  local name="$1" ver="$2" want="$3"
  local dir="$SCRY_CACHE/npm"
  local file="$dir/$(echo "$name" | sed 's/^@//; s|/|-|')-$ver.tgz"
  mkdir -p "$dir"
  if [ ! -f "$file" ]; then
    (cd "$dir" && npm pack --silent "$name@$ver" >/dev/null) || { echo "npm pack $name@$ver failed" >&2; return 1; }
  fi
  local got; got=$(sha256sum "$file" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "integrity check failed for $file: sha256 $got, expected $want" >&2
    rm -f "$file"
    return 1
  fi
  echo "$file"
}
