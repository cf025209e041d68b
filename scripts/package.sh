#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages into build/ (CPack): p4sync_<version>_<arch>.deb for a store,
# p4sync-hq_<version>_<arch>.deb for HQ.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
export BUILD_DIR=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=Release
cd "$BUILD_DIR" && cpack -G DEB
ls -l "$BUILD_DIR"/p4sync_*.deb "$BUILD_DIR"/p4sync-hq_*.deb
