#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command: installs dependencies, builds with warnings as errors, and runs the whole
# suite with CTest (unit tests in parallel, then the integration tests that start real
# mosquitto brokers and the real binaries, one at a time so timings stay honest on 2 cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
export BUILD_DIR=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DP4_WERROR=ON
cd "$BUILD_DIR"
ctest --output-on-failure -j2 -LE integration
ctest --output-on-failure -L integration
