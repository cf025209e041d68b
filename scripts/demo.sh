#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job, on loopback: a store Mosquitto, a stand-in cloud Mosquitto, the gateway p4gw and
# simulated registers (p4term simulate). Shows sales flowing to the cloud, stock changes
# reaching the registers, and the gateway's status. DEMO_SECONDS sets how long registers sell.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
export BUILD_DIR=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh"

seconds=${DEMO_SECONDS:-15}
tenant=demo
store=s001
run=$(mktemp -d /tmp/p4demo.XXXXXX)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo: logs and databases kept in $run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "demo: nothing listens on port $1" >&2
  return 1
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

store_port=$(free_port)
cloud_port=$(free_port)
start_broker store "$store_port"
start_broker cloud "$cloud_port"
echo "demo: store broker on 127.0.0.1:$store_port, cloud broker on 127.0.0.1:$cloud_port"

cat > "$run/p4gw.ini" <<INI
[store]
tenant = $tenant
id = $store
[local]
uri = tcp://127.0.0.1:$store_port
[cloud]
uri = tcp://127.0.0.1:$cloud_port
mqtt_version = 5
; The demo's cloud consumer only prints batches and publishes no down/ack (contract 1.2).
delivered_on = puback
[replica]
path = $run/replica.db
durability = full
[log]
level = info
INI

# Starting stock and prices: sku,on_hand,price_minor,price_ver
cat > "$run/stock.csv" <<CSV
sku,on_hand,price_minor,price_ver
coffee-250g,40,899,1
milk-1l,60,129,1
bread-rye,25,349,1
apples-1kg,50,299,1
eggs-10,30,319,1
butter-250g,35,259,1
cheese-200g,20,449,1
pasta-500g,45,179,1
CSV
"$BUILD_DIR/gateway/p4gw" --config "$run/p4gw.ini" --import-stock "$run/stock.csv"

"$BUILD_DIR/gateway/p4gw" --config "$run/p4gw.ini" 2> "$run/p4gw.log" &
pids+=($!)

# What the cloud sees, and what a register's display sees, summarised line by line.
/usr/bin/python3 "$root/scripts/demo_view.py" cloud "127.0.0.1:$cloud_port" "$tenant" "$store" &
pids+=($!)
cat > "$run/display.ini" <<INI
[register]
store = $store
id = display
journal = $run/display.db
[broker]
uri = tcp://127.0.0.1:$store_port
INI
# Not a pipeline: $! must be p4term itself, so that stopping it ends its output filter too.
"$BUILD_DIR/terminal-shim/p4term" --config "$run/display.ini" watch \
  > >(sed 's/^/register display | /') &
pids+=($!)

echo "demo: 3 registers sell for ${seconds}s"
"$BUILD_DIR/terminal-shim/p4term" simulate --broker "tcp://127.0.0.1:$store_port" --store "$store" \
  --registers 3 --rate 3 --duration "$seconds" --dir "$run/registers"

if [ -x "$root/scripts/demo_hq.sh" ]; then
  "$root/scripts/demo_hq.sh" "$run" "$cloud_port" "$tenant" "$store"
fi

echo
echo "demo: stock in the store replica (start -> now)"
sqlite3 "$run/replica.db" "SELECT printf('  %-12s %4d', sku, on_hand) FROM stock ORDER BY sku;"
echo "demo: the display register's cache says coffee-250g stock is $(
  "$BUILD_DIR/terminal-shim/p4term" --config "$run/display.ini" stock coffee-250g)"
echo "demo: sales in the replica: $(sqlite3 "$run/replica.db" 'SELECT count(*) FROM sales')," \
  "undelivered to the cloud: $(sqlite3 "$run/replica.db" 'SELECT count(*) FROM outbox WHERE delivered = 0')"
# The status counters refresh about once a second: show the settled figures.
sold=$(sqlite3 "$run/replica.db" 'SELECT max(gw_seq) FROM sales')
for _ in $(seq 1 50); do
  status=$(mosquitto_sub -p "$store_port" -t "pos/v1/$store/gateway/status" -C 1 -W 3)
  case "$status" in *'"outbox":0,"delivered":'"$sold"','*) break ;; esac
  sleep 0.1
done
echo "demo: gateway status (retained on the store broker): $status"
