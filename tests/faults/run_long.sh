#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the fault-injection suite and prints its figures: tests/faults/run_long.sh [--long]
# [BUILD_DIR]. --long (or P4_FAULTS_LONG=1) runs the long mode: 100 gateway kills, 60 s of WAN
# flapping, 10 broker-restart rounds, 20 register kills, 3 disk-full rounds, 20 clock jumps.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=""
for arg in "$@"; do
  case "$arg" in
    --long) P4_FAULTS_LONG=1 ;;
    -h|--help) sed -n '3,5p' "$0"; exit 0 ;;
    *) build=$arg ;;
  esac
done
build=${build:-$src/build}
export P4_FAULTS_LONG=${P4_FAULTS_LONG:-0}
export P4_BUILD_DIR=$(cd "$build" && pwd) P4_SOURCE_DIR=$src
export PYTHONPATH=$src/tests/harness P4_MOSQUITTO=${P4_MOSQUITTO:-/usr/sbin/mosquitto}
export P4_FAULTS_FIGURES=$P4_BUILD_DIR/faults-figures
rm -rf "$P4_FAULTS_FIGURES"
failed=0
for t in f1_gateway_kill f2_wan_flap f3_broker_restart f4_register_kill f5_disk_full \
         f6_clock_jump; do
  mkdir -p "$P4_FAULTS_FIGURES"
  printf '%s ... ' "$t"
  /usr/bin/python3 -u "$here/$t.py" >"$P4_FAULTS_FIGURES/$t.log" 2>&1
  rc=$?
  case $rc in
    0) echo passed ;;
    77) echo skipped ;;
    *) echo "FAILED (rc $rc, log $P4_FAULTS_FIGURES/$t.log)"; failed=1 ;;
  esac
done
/usr/bin/python3 "$here/summary.py"
exit $failed
