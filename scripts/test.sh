#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command: installs dependencies, builds with warnings as errors, and runs the whole
# suite with CTest (unit tests in parallel, then the integration tests that start real
# mosquitto brokers and the real binaries, one at a time so timings stay honest on 2 cores).
# Then the suite again on an ASan+UBSan build (P4_TEST_SANITIZE=0 skips it; the fault-injection
# scenarios and the long crash-and-restart loops (label long) run there only with
# P4_TEST_SANITIZE_FAULTS=1 / P4_TEST_SANITIZE_LONG=1, to keep the whole run under 25 minutes on
# 2 cores), and each libFuzzer target for P4_FUZZ_SECONDS (default 20; 0 skips).
# A test that skips (exit 77) or does not run fails the run (tests/harness/ctest_strict.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ctest_strict=$root/tests/harness/ctest_strict.sh
"$root/scripts/deps.sh"

export BUILD_DIR=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DP4_WERROR=ON -DP4_SANITIZE=OFF
(cd "$BUILD_DIR" && "$ctest_strict" --output-on-failure -j2 -LE integration &&
  "$ctest_strict" --output-on-failure -L integration)

if [ "${P4_TEST_SANITIZE:-1}" = 1 ]; then
  echo "== the suite again under ASan+UBSan"
  asan="$BUILD_DIR-asan"
  BUILD_DIR=$asan "$root/scripts/build.sh" -DP4_WERROR=ON -DP4_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  skip="packaging"
  if [ "${P4_TEST_SANITIZE_FAULTS:-0}" != 1 ]; then skip="$skip|faults"; fi
  if [ "${P4_TEST_SANITIZE_LONG:-0}" != 1 ]; then skip="$skip|long"; fi
  (cd "$asan" && "$ctest_strict" --output-on-failure -j2 -LE "integration|packaging" &&
    "$ctest_strict" --output-on-failure -L integration -LE "$skip")
fi

fuzz_seconds=${P4_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzzing each decoder for ${fuzz_seconds}s"
  "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi
