#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates docs/dashboard-phone.png and docs/dashboard-desktop.png: runs the dashboard's
# browser test (a real chain: PostgreSQL, brokers, p4hq, two stores) with screenshots on.
# Needs a build (scripts/build.sh) and scripts/deps.sh's chromium, chromium-driver and
# python3-selenium. BUILD_DIR defaults to ./build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
export P4_BUILD_DIR="$build" P4_SOURCE_DIR="$root"
export PYTHONPATH="$root/tests/harness:$root/tests/hq"
export P4_DASH_SCREENSHOTS="$root/docs"
/usr/bin/python3 -u "$root/tests/hq/dash_browser.py"
echo "screenshots: $root/docs/dashboard-phone.png $root/docs/dashboard-desktop.png"
