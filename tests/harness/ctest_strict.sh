#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs ctest with the given arguments and fails when any test did not run: CTest counts a
# skipped test (exit 77, SKIP_RETURN_CODE) as passed, and a suite that passes by skipping is
# a suite that cannot fail. Also fails when the arguments select no test at all.
# Usage (from a build directory): ctest_strict.sh [ctest arguments...]
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
ctest --no-tests=error "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# CTest lists skipped and disabled tests under this heading (ctest 3.25, Debian 12).
if grep -q '^The following tests did not run:' "$out"; then
  echo "ctest_strict: these tests did not run; a skip fails the run:" >&2
  sed -n '/^The following tests did not run:/,/^$/p' "$out" | tail -n +2 >&2
  [ "$rc" != 0 ] || rc=1
fi
exit "$rc"
