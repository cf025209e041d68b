#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo step: HQ changes a price with `p4hq price set`, and a register in each store shows it.
# Prints the time from the command to each register. Usage: demo_hq.sh RUN_DIR S001_PORT
# S002_PORT (P4HQ and BUILD_DIR in the environment).
set -euo pipefail
run=$1 port1=$2 port2=$3
p4term="${BUILD_DIR:?}/terminal-shim/p4term"
p4hq=${P4HQ:?}
sku=coffee-250g
price=749

# A register in s002 to watch it there too (its journal and cache live in the run folder).
cat > "$run/display2.ini" <<INI
[register]
store = s002
id = display2
journal = $run/display2.db
[broker]
uri = tcp://127.0.0.1:$port2
INI
"$p4term" --config "$run/display2.ini" sync >/dev/null 2>&1 || true
[ -n "$port1" ] || exit 1

echo
start=$(date +%s%N)
ver=$("$p4hq" --config "$run/p4hq.ini" price set "$sku" "$price")
echo "demo: p4hq price set $sku $price -> ver $ver (one transaction with its downlink message)"
for reg in display display2; do
  for _ in $(seq 1 200); do
    [ "$reg" = display2 ] && "$p4term" --config "$run/$reg.ini" sync >/dev/null 2>&1 || true
    shown=$("$p4term" --config "$run/$reg.ini" price "$sku" 2>/dev/null || true)
    if printf '%s' "$shown" | grep -q "^$price ver=$ver"; then
      echo "demo: register $reg shows $sku: $shown" \
        "($(( ($(date +%s%N) - start) / 1000000 )) ms after p4hq price set, via the CLI)"
      continue 2
    fi
    sleep 0.05
  done
  echo "demo: the price change did not reach register $reg within 10 s" >&2
  exit 1
done
