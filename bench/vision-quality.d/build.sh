#!/usr/bin/env bash
# build.sh NAME -- compile bench/vision-quality.d/NAME.c against build/libscry.a
# into bench/out/NAME, with exactly the flags the Makefile uses (asked from
# make itself, so mk/*.mk additions are honoured). Sourced by the drivers.
set -euo pipefail
cd "$(dirname "$0")/../.."
name="$1"
make -s -j2 build/libscry.a >&2
flags() { make -s --no-print-directory --eval "_print_$1: ; @echo \$($1)" "_print_$1"; }
mkdir -p bench/out
src="bench/vision-quality.d/$name.c"
bin="bench/out/$name"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ build/libscry.a -nt "$bin" ]; then
  # shellcheck disable=SC2046
  cc $(flags CFLAGS) -Wno-error -o "$bin" "$src" build/libscry.a $(flags LDFLAGS) $(flags LDLIBS)
fi
echo "$bin"
