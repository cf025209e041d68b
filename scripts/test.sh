#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command: installs dependencies, builds with warnings as errors, and runs the whole
# suite with CTest (unit tests in parallel, then the integration tests that start real
# mosquitto brokers and the real binaries, one at a time so timings stay honest on 2 cores).
# Then the unit tests again on an ASan+UBSan build, with the integration tests that take each
# path of the daemons and the library once (the list below; P4_TEST_SANITIZE_ALL=1 runs every
# integration test there, P4_TEST_SANITIZE=0 skips the pass), and each libFuzzer target for
# P4_FUZZ_SECONDS (default 15; 0 skips). This keeps the whole command within 25 minutes on
# 2 cores; the crash loops, fault scenarios and browser tests run in the main pass.
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
  export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # One of each path: sales, rejects, crash restart, WAN outage and HQ acks through p4gw; the
  # shim's cache, holds, downlink and kill; p4hq's ingest, bad input, write API, security,
  # dashboard API and register sign-ups; metrics, backups and refused subscriptions.
  paths='^(gw_sales_flow|gw_rejects|gw_crash_restart|gw_wan_outage|gw_hq_ack|gw_features'
  paths+='|shim_cache|shim_contract11|shim_hq_downlink|shim_register_kill'
  paths+='|hq_two_stores|hq_bad_input|hq_api_write|hq_sec_ingest|hq_sec_api|dash_api'
  paths+='|auth_customers|ops_metrics|ops_backup_restore|sec_store_acl|sec_subscribe_refused)$'
  select=(-R "$paths")
  if [ "${P4_TEST_SANITIZE_ALL:-0}" = 1 ]; then select=(-LE packaging); fi
  (cd "$asan" && "$ctest_strict" --output-on-failure -j2 -LE "integration|packaging" &&
    "$ctest_strict" --output-on-failure -L integration "${select[@]}")
fi

fuzz_seconds=${P4_FUZZ_SECONDS:-15}
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzzing each decoder for ${fuzz_seconds}s"
  "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi
