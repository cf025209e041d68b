#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo step: HQ changes a price on the cloud broker for every store of the tenant, and the
# store's registers show it. Usage: demo_hq.sh RUN_DIR CLOUD_PORT TENANT STORE
set -euo pipefail
run=$1 cloud_port=$2 tenant=$3 store=$4
p4term="${BUILD_DIR:?}/terminal-shim/p4term"
sku=coffee-250g
price=799
ver=$(( $(date +%s) ))   # HQ draws versions from one counter; seconds keep reruns newer

echo
echo "demo: HQ sets $sku to $price (ver $ver) on p4/v1/$tenant/_all/down/price"
start=$(date +%s%N)
mosquitto_pub -p "$cloud_port" -q 1 -t "p4/v1/$tenant/_all/down/price" \
  -m "{\"items\":[{\"sku\":\"$sku\",\"price\":$price,\"ver\":$ver}]}"
for _ in $(seq 1 200); do
  shown=$("$p4term" --config "$run/display.ini" price "$sku" 2>/dev/null || true)
  if printf '%s' "$shown" | grep -q "$price"; then
    echo "demo: the display register's cache shows $sku: $shown" \
      "($(( ($(date +%s%N) - start) / 1000000 )) ms after HQ published, via the CLI)"
    exit 0
  fi
  sleep 0.05
done
echo "demo: the price change did not reach the register within 10 s" >&2
exit 1
