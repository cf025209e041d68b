#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command: installs dependencies, builds with warnings as errors, and runs the whole
# suite with CTest: unit tests in parallel, then the integration tests that start real brokers,
# PostgreSQL, browsers and the real binaries, one at a time so timings stay honest on 2 cores.
# While those run (they mostly wait on the network), the CPU-bound work goes on beside them: an
# ASan+UBSan build with its unit tests, and each libFuzzer target for P4_FUZZ_SECONDS (default
# 10; 0 skips). Then the integration tests that take each path of the daemons and the library
# once run on the sanitizer build (P4_TEST_SANITIZE_ALL=1: all of them; P4_TEST_SANITIZE=0
# skips the sanitizer build). This keeps the whole command within 25 minutes on 2 cores.
# A test that skips (exit 77) or does not run fails the run (tests/harness/ctest_strict.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ctest_strict=$root/tests/harness/ctest_strict.sh
"$root/scripts/deps.sh"

export BUILD_DIR=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DP4_WERROR=ON -DP4_SANITIZE=OFF
(cd "$BUILD_DIR" && "$ctest_strict" --output-on-failure -j2 -LE integration)

sanitize=${P4_TEST_SANITIZE:-1}
fuzz_seconds=${P4_FUZZ_SECONDS:-10}
asan="$BUILD_DIR-asan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Beside the integration tests: the sanitizer build and its unit tests, then the fuzzers.
side_log="$BUILD_DIR/side-jobs.log"
(
  set -e
  if [ "$sanitize" = 1 ]; then
    echo "== ASan+UBSan build and unit tests"
    BUILD_DIR=$asan "$root/scripts/build.sh" -DP4_WERROR=ON -DP4_SANITIZE=ON \
      -DCMAKE_BUILD_TYPE=Debug
    (cd "$asan" && "$ctest_strict" --output-on-failure -j2 -LE "integration|packaging")
  fi
  if [ "$fuzz_seconds" != 0 ]; then
    echo "== fuzzing each decoder for ${fuzz_seconds}s"
    "$root/scripts/fuzz.sh" "$fuzz_seconds"
  fi
) > "$side_log" 2>&1 &
side=$!

integration_rc=0
(cd "$BUILD_DIR" && "$ctest_strict" --output-on-failure -L integration) || integration_rc=$?
side_rc=0
wait "$side" || side_rc=$?
cat "$side_log"
if [ "$integration_rc" != 0 ] || [ "$side_rc" != 0 ]; then
  echo "test: integration tests exit $integration_rc, sanitizer build/unit tests/fuzzers" \
    "exit $side_rc" >&2
  exit 1
fi

if [ "$sanitize" = 1 ]; then
  echo "== integration tests again under ASan+UBSan, one of each path"
  # Sales, rejects and HQ acks through p4gw; the shim's cache and downlink; p4hq's ingest,
  # bad input, write API, security and dashboard API; compressed payloads both ways over an
  # emulated WAN; register sign-ups; metrics; refused subscriptions.
  paths='^(gw_sales_flow|gw_rejects|gw_hq_ack|shim_cache|shim_hq_downlink'
  paths+='|hq_two_stores|hq_bad_input|hq_api_write|hq_sec_api|dash_api|hq_wan'
  paths+='|auth_customers|ops_metrics|sec_subscribe_refused)$'
  select=(-R "$paths")
  if [ "${P4_TEST_SANITIZE_ALL:-0}" = 1 ]; then select=(-LE packaging); fi
  (cd "$asan" && "$ctest_strict" --output-on-failure -L integration "${select[@]}")
fi
