#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds P4 Sync into BUILD_DIR (default ./build). Extra args go to cmake.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
