#!/usr/bin/env bash
# ThreadSanitizer run of the HNSW concurrency test (searches on three threads
# while one writer inserts, deletes, grows the arrays and compacts). TSan
# cannot share a binary with ASan, so this builds its own, by hand:
#   tests/tsan-hnsw.sh            concurrency test only (about a minute)
#   tests/tsan-hnsw.sh '*'        every test_hnsw test under TSan
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/tsan
mkdir -p "$out"
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fsanitize=thread -Isrc -Itests/unit \
  src/index/hnsw.c src/core/err.c src/core/log.c src/core/util.c \
  tests/unit/testutil.c tests/unit/test_hnsw.c \
  -o "$out/test_hnsw" -lcmocka -lcrypto -lpthread -lm
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
SCRY_HNSW_TSAN=1 SCRY_TEST_FILTER="${1:-*concurrent*}" "$out/test_hnsw"
echo "tsan: clean"
