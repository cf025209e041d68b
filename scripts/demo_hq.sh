#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Demo steps for HQ as the authority: a price changed with `p4hq price set` reaching a register
# in each store, a customer signed up at s001 appearing at s002, and points earned at s001
# redeemed at s002, each timed. Usage: demo_hq.sh RUN_DIR S001_PORT
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
journal = $run/registers-s002/display2.db
[broker]
uri = tcp://127.0.0.1:$port2
[sync]
keep_acked_ms = 3600000
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

# A customer signed up at a register of s001 appears at s002.
customer=C-DEMO-$RANDOM
start=$(date +%s%N)
"$p4term" --config "$run/display.ini" customer add "$customer" --name "Demo Customer" \
  --tier gold >/dev/null
echo "demo: $customer signed up at a register of s001 (p4term customer add)"
for _ in $(seq 1 200); do
  if "$p4term" --config "$run/display2.ini" customer "$customer" --sync --wait-ms 200 \
      2>/dev/null | grep -q "Demo Customer"; then
    echo "demo: a register of s002 knows $customer" \
      "($(( ($(date +%s%N) - start) / 1000000 )) ms after the sign-up, via the CLI)"
    break
  fi
  sleep 0.05
done

# Points earned at s001 are redeemable at s002: the register there asks HQ (a lookup).
"$p4term" --config "$run/display.ini" sale --line milk-1l:1 --customer "$customer" \
  --earn 150 >/dev/null
start=$(date +%s%N)
for _ in $(seq 1 100); do
  shown=$("$p4term" --config "$run/display2.ini" loyalty "$customer" 2>/dev/null || true)
  if printf '%s' "$shown" | grep -q '150'; then
    echo "demo: earned 150 points at s001; s002's register shows $customer: $shown" \
      "($(( ($(date +%s%N) - start) / 1000000 )) ms after the s001 sale was acked)"
    break
  fi
  sleep 0.05
done
"$p4term" --config "$run/display2.ini" sale --line milk-1l:1 --customer "$customer" \
  --redeem 100 >/dev/null && echo "demo: s002 redeemed 100 of those points in a sale"
