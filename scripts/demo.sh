#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole chain on loopback: a throwaway PostgreSQL cluster, the cloud Mosquitto, HQ's p4hq,
# and two stores, each with its own Mosquitto, gateway p4gw and simulated registers (p4term
# simulate). Shows sales flowing to HQ and HQ's committed watermark coming back, a price change
# reaching a register, then HQ's per-store totals next to the registers' own (they must match),
# the trial balance and `p4hq stores`. DEMO_SECONDS sets how long registers sell. Everything
# it starts is stopped on exit; logs and databases stay in the printed folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
export BUILD_DIR=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh"

seconds=${DEMO_SECONDS:-15}
tenant=demo
stores=(s001 s002)
python=/usr/bin/python3
p4hq="$BUILD_DIR/hq/p4hq"
p4gw="$BUILD_DIR/gateway/p4gw"
p4term="$BUILD_DIR/terminal-shim/p4term"
pgcluster="$root/tests/harness/pgcluster.py"
run=$(mktemp -d /tmp/p4demo.XXXXXX)
# PostgreSQL runs as the unprivileged postgres user when we are root: it must reach its folder.
chmod 711 "$run"
pids=()
pg_up=0

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$pg_up" = 1 ]; then "$python" "$pgcluster" down "$run/pg" || true; fi
  echo "demo: logs and databases kept in $run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "demo: nothing listens on port $1" >&2
  return 1
}

money() { # minor units -> 1234.56
  local m=$1 sign=""
  if [ "$m" -lt 0 ]; then sign=-; m=$(( -m )); fi
  printf '%s%d.%02d' "$sign" $(( m / 100 )) $(( m % 100 ))
}

start_broker() { # name port
  mkdir -p "$run/$1"
  cat > "$run/$1/mosquitto.conf" <<CONF
listener $2 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence true
persistence_location $run/$1/
log_dest file $run/$1/mosquitto.log
# Run as the invoking user: the demo's temporary folder is private to it.
user $(id -un)
CONF
  mosquitto -c "$run/$1/mosquitto.conf" &
  pids+=($!)
  wait_port "$2"
}

# --- HQ: PostgreSQL, the cloud broker, p4hq ---
conninfo=$("$python" "$pgcluster" up "$run/pg" p4hq | tail -n 1)
pg_up=1
echo "demo: PostgreSQL cluster in $run/pg ($conninfo)"
cloud_port=$(free_port)
start_broker cloud "$cloud_port"
echo "demo: cloud broker on 127.0.0.1:$cloud_port"

# The dashboard's login: a random viewer token, stored at HQ only as its hash.
token=$(openssl rand -hex 16)
token_hash=$(printf '%s\n' "$token" | "$p4hq" --hash-token 2>/dev/null)
http_port=$(free_port)
cat > "$run/p4hq.ini" <<INI
[tenant]
id = $tenant
[cloud]
uri = tcp://127.0.0.1:$cloud_port
client_id = p4hq-demo
mqtt_version = 5
[db]
conninfo = $conninfo
[http]
listen = 127.0.0.1:$http_port
viewer_token_hash = $token_hash
[log]
level = info
[ledger]
default_tax_rate = 20
INI
"$p4hq" --config "$run/p4hq.ini" 2> "$run/p4hq.log" &
pids+=($!)
for _ in $(seq 1 200); do
  if grep -q "cloud link up" "$run/p4hq.log"; then break; fi
  sleep 0.05
done
grep -q "cloud link up" "$run/p4hq.log" || { echo "demo: p4hq did not start" >&2; exit 1; }
echo "demo: live dashboard at http://127.0.0.1:$http_port/ (login token: $token)"

# The product master: tax rate (percent, prices are tax-inclusive) and unit cost for COGS.
cat > "$run/products.csv" <<CSV
sku,name,tax_rate,unit_cost
coffee-250g,Coffee 250 g,20,520
milk-1l,Milk 1 l,5.5,70
bread-rye,Rye bread,5.5,150
apples-1kg,Apples 1 kg,5.5,140
eggs-10,Eggs x10,5.5,190
butter-250g,Butter 250 g,5.5,130
cheese-200g,Cheese 200 g,5.5,260
pasta-500g,Pasta 500 g,5.5,
CSV
"$p4hq" --config "$run/p4hq.ini" import products "$run/products.csv"

# What the cloud broker carries for every store: batches up, HQ's watermark down.
"$python" "$root/scripts/demo_view.py" cloud "127.0.0.1:$cloud_port" "$tenant" "+" &
pids+=($!)

# --- two stores ---
# Starting stock and prices: sku,on_hand,price_minor,price_ver
cat > "$run/stock.csv" <<CSV
sku,on_hand,price_minor,price_ver
coffee-250g,40,899,0
milk-1l,60,129,0
bread-rye,25,349,0
apples-1kg,50,299,0
eggs-10,30,319,0
butter-250g,35,259,0
cheese-200g,20,449,0
pasta-500g,45,179,0
CSV
declare -A store_port
for store in "${stores[@]}"; do
  store_port[$store]=$(free_port)
  start_broker "$store" "${store_port[$store]}"
  mkdir -p "$run/$store"
  cat > "$run/$store/p4gw.ini" <<INI
[store]
tenant = $tenant
id = $store
[local]
uri = tcp://127.0.0.1:${store_port[$store]}
[cloud]
uri = tcp://127.0.0.1:$cloud_port
mqtt_version = 5
[replica]
path = $run/$store/replica.db
durability = full
[log]
level = info
INI
  "$p4gw" --config "$run/$store/p4gw.ini" --import-stock "$run/stock.csv"
  "$p4gw" --config "$run/$store/p4gw.ini" 2> "$run/$store/p4gw.log" &
  pids+=($!)
  echo "demo: store $store: broker on 127.0.0.1:${store_port[$store]}, gateway started"
done

# A register display in s001 follows stock and price changes.
mkdir -p "$run/registers-s001" "$run/registers-s002"
cat > "$run/display.ini" <<INI
[register]
store = s001
id = display
journal = $run/registers-s001/display.db
[broker]
uri = tcp://127.0.0.1:${store_port[s001]}
[sync]
keep_acked_ms = 3600000
INI
# Not a pipeline: $! must be p4term itself, so that stopping it ends its output filter too.
"$p4term" --config "$run/display.ini" watch > >(sed 's/^/register display | /') &
pids+=($!)

echo "demo: s001 has 3 registers, s002 has 2; they sell for ${seconds}s"
# Registers keep each sale until HQ holds it, then prune it; for the totals check at the end
# they keep acked sales for an hour instead.
"$p4term" simulate --broker "tcp://127.0.0.1:${store_port[s002]}" --store s002 \
  --keep-acked-ms 3600000 \
  --registers 2 --rate 2 --duration "$seconds" --dir "$run/registers-s002" \
  > "$run/registers-s002.log" 2>&1 &
sim2=$!
pids+=($sim2)
"$p4term" simulate --broker "tcp://127.0.0.1:${store_port[s001]}" --store s001 \
  --keep-acked-ms 3600000 \
  --registers 3 --rate 3 --duration "$seconds" --dir "$run/registers-s001"
wait "$sim2" || { echo "demo: s002's registers did not get every ack" >&2; exit 1; }
sed 's/^/s002 /' "$run/registers-s002.log" | grep '^s002 simulate:' || true

if [ -x "$root/scripts/demo_hq.sh" ]; then
  P4HQ="$p4hq" "$root/scripts/demo_hq.sh" "$run" "${store_port[s001]}" \
    "${store_port[s002]}"
fi

# --- HQ holds every sale: wait for its watermark to reach each store's last gw_seq ---
hq_through() {
  "$p4hq" --config "$run/p4hq.ini" stores --format csv |
    awk -F, -v s="$1" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                       $col["store"] == s { print $col["hq_through"] }'
}
for store in "${stores[@]}"; do
  last=$(sqlite3 "$run/$store/replica.db" 'SELECT coalesce(max(gw_seq), 0) FROM sales')
  for _ in $(seq 1 300); do
    [ "$(hq_through "$store")" = "$last" ] && break
    sleep 0.1
  done
  if [ "$(hq_through "$store")" != "$last" ]; then
    echo "demo: HQ holds $store only through gw_seq $(hq_through "$store") of $last" >&2
    exit 1
  fi
done

echo
echo "demo: sales per store, at HQ (p4hq report sales --by store) and at the registers"
printf '  %-6s %8s %12s   %8s %12s\n' store "HQ sales" "HQ amount" "reg sales" "reg amount"
report=$("$p4hq" --config "$run/p4hq.ini" report sales --by store --format csv)
ok=1
for store in "${stores[@]}"; do
  hq_line=$(printf '%s\n' "$report" |
    awk -F, -v s="$store" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                           $col["store"] == s { print $col["count"], $col["amount"] }')
  read -r hq_count hq_amount <<< "${hq_line:-0 0}"
  reg_count=0 reg_amount=0
  for j in "$run/registers-$store"/*.db; do
    read -r c a <<< "$(sqlite3 -separator ' ' "$j" \
      'SELECT count(*), coalesce(sum(total), 0) FROM sales WHERE state = 1')"
    reg_count=$(( reg_count + c )) reg_amount=$(( reg_amount + a ))
  done
  verdict=match
  if [ "$hq_count" != "$reg_count" ] || [ "$hq_amount" != "$reg_amount" ]; then
    verdict=MISMATCH ok=0
  fi
  printf '  %-6s %8d %12s   %8d %12s   %s\n' "$store" "$hq_count" "$(money "$hq_amount")" \
    "$reg_count" "$(money "$reg_amount")" "$verdict"
done

echo
echo "demo: HQ's trial balance (p4hq report trial-balance; balances sum to zero)"
"$p4hq" --config "$run/p4hq.ini" report trial-balance | sed 's/^/  /'
echo
echo "demo: HQ's view of the stores (p4hq stores)"
"$p4hq" --config "$run/p4hq.ini" stores | sed 's/^/  /'
echo
for store in "${stores[@]}"; do
  status=$(mosquitto_sub -p "${store_port[$store]}" -t "pos/v1/$store/gateway/status" -C 1 -W 3 ||
           true)
  echo "demo: $store gateway status (retained on its broker): $status"
done
echo "demo: the display register's cache says coffee-250g stock is $(
  "$p4term" --config "$run/display.ini" stock coffee-250g)"
if [ "$ok" != 1 ]; then
  echo "demo: HQ's totals differ from the registers'" >&2
  exit 1
fi
echo "demo: HQ's totals match the registers' own"
