#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for SECONDS (default 60)
# on its seed corpus from tests/. A finding fails the run and leaves the crashing input in
# build-fuzz/findings/. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DP4_TOPICS_FUZZ=ON -DP4_FUZZ=ON >/dev/null
targets=$(cd "$build" && cmake --build . --target help | awk '$2 ~ /^fuzz_/ {print $2}' | sort -u)
[ -n "$targets" ] || { echo "fuzz: no fuzz targets configured" >&2; exit 1; }
rm -rf "$build/findings"
mkdir -p "$build/findings"
for t in $targets; do
  cmake --build "$build" -j2 --target "$t" >/dev/null
  exe=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
  case "$t" in
    fuzz_topics) corpus_src="$root/tests/topics/fixtures" ;;
    fuzz_zstd) corpus_src="$root/tests/topics/fixtures/zstd" ;;
    fuzz_config) corpus_src="$root/tests/gateway/fixtures" ;;
    fuzz_hq_*) corpus_src="$root/tests/security/fixtures/${t#fuzz_}" ;;
    *) corpus_src="$root/tests/${t#fuzz_}/fixtures" ;;
  esac
  work="$build/corpus-$t"
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s (seeds: $corpus_src)"
  "$exe" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/findings/$t-" \
    "$work" "$corpus_src" 2>&1 | grep -E "^stat::number_of_executed_units|^(==|SUMMARY)" || true
  if ls "$build/findings/$t-"* >/dev/null 2>&1; then
    echo "fuzz: $t found a failing input: $(ls "$build/findings/$t-"*)" >&2
    exit 1
  fi
done
echo "fuzz: no findings"
