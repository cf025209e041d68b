# SPDX-License-Identifier: Apache-2.0
"""The register cache of prices and stock, through the p4term CLI:
- a new register cold-starts with the store's current prices and stock (sync, then price/stock);
- a register that was disconnected while stock changed catches up when it is back;
- a register that sees a gap in the change feed while connected asks for a sync from its cursor
  and does not apply the message past the gap;
- with the store broker down, `p4term price`/`stock` still answer from the cache at once, and a
  sale is journaled at once and acked once the broker is back."""

import json
import os
import sqlite3
import time

import p4harness as h
from p4harness import check, log, wait_until
import shimenv


def replica_prices(env):
    return {sku: (p, v) for sku, p, v in env.gw.query("SELECT sku, price, ver FROM prices")}


def replica_stock(env):
    return dict(env.gw.query("SELECT sku, on_hand FROM stock"))


def cache_stock(env, reg):
    """REG's cached stock read straight from its file (WAL lets us read beside p4term)."""
    path = os.path.join(env.dir, reg + ".db")
    try:
        conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        try:
            return dict(conn.execute("SELECT sku, on_hand FROM stock").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def cache_cursor(env, reg):
    path = os.path.join(env.dir, reg + ".db")
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return conn.execute("SELECT v FROM meta WHERE k = 'cursor'").fetchone()[0]
    finally:
        conn.close()


def check_lookups(env, ini, skus, max_s=None):
    """p4term price/stock for SKUS match the replica (and each answers within MAX_S)."""
    prices, stock = replica_prices(env), replica_stock(env)
    for sku in skus:
        t0 = time.monotonic()
        out = env.term(ini, "price", sku).split()
        dt = time.monotonic() - t0
        check(out == [str(prices[sku][0]), "ver=%d" % prices[sku][1]],
              "price %s: p4term says %r, replica %r" % (sku, out, prices[sku]))
        out = env.term(ini, "stock", sku).strip()
        check(out == str(stock[sku]), "stock %s: p4term says %r, replica %d"
              % (sku, out, stock[sku]))
        if max_s is not None:
            check(dt < max_s, "price lookup took %.2fs" % dt)


def main():
    env = shimenv.ShimEnv()
    env.start_gateway()
    skus = [row[0] for row in env.stock]
    seller = env.register_ini("r01")

    # Some sales first, so the stock differs from the import.
    for i in range(3):
        out = env.term(seller, "sale", "--line", "%s:2" % skus[i], "--line", "%s:1" % skus[-1],
                       "--tender", "card")
        check("status=acked" in out, "sale not acked: %s" % out)

    # 1. Cold start: a brand-new register gets the store's current prices and stock.
    cold = env.register_ini("r10")
    out = env.term(cold, "sync", "--wait-ms", "10000")
    check("synced=yes" in out, "cold start did not sync: %s" % out)
    check_lookups(env, cold, skus)
    cold2 = env.register_ini("r11")
    out = env.term(cold2, "price", skus[0], "--sync", "--wait-ms", "10000").split()
    check(out[0] == str(replica_prices(env)[skus[0]][0]), "price --sync: %r" % out)
    log("cold start: caches of r10 and r11 match the replica")

    # 2. Disconnected while stock changes, then back: caught up.
    relay = h.Relay(env.store_broker.port)
    watched = env.register_ini("r20", broker_uri=relay.uri)
    watch = shimenv.TermProc([env.p4term, "--config", watched, "--log-level", "info", "watch"],
                             os.path.join(h.tmp_root(), "watch-r20.log"))
    wait_until(lambda: "synced cursor=" in watch.output(), 20, "r20 watch to sync")
    check(cache_stock(env, "r20") == replica_stock(env), "r20 not in step after its sync")
    relay.cut("close")
    wait_until(lambda: "link down" in watch.output(), 30, "r20 to see its link down")
    for i in range(4):
        env.term(seller, "sale", "--line", "%s:3" % skus[i + 1])
    check(cache_stock(env, "r20") != replica_stock(env), "the sales did not change the stock")
    relay.restore()
    wait_until(lambda: cache_stock(env, "r20") == replica_stock(env), 30,
               "r20's cache to catch up after reconnecting",
               detail=lambda: (cache_stock(env, "r20"), replica_stock(env)))
    check_lookups(env, watched, skus[:3])
    log("r20 caught up after missing changes while disconnected")

    # 3. A gap seen while connected: the register syncs from its cursor, skips the message.
    cursor = cache_cursor(env, "r20")
    spy = h.MqttClient(env.store_broker.port, "spy-sync")
    seen = []
    spy.on_message = lambda msg: seen.append(json.loads(msg.payload))
    spy.connect()
    spy.subscribe("pos/v1/%s/reg/r20/sync" % shimenv.STORE)
    fake_seq = cursor + 5
    spy.publish("pos/v1/%s/changes" % shimenv.STORE, json.dumps({
        "from": fake_seq, "to": fake_seq,
        "items": [{"seq": fake_seq, "entity": "stock", "key": skus[0],
                   "value": {"on_hand": 1}}]}))
    wait_until(lambda: any(r.get("cursor") == cursor for r in seen), 20,
               "r20 to ask for a sync from cursor %d after the gap" % cursor,
               detail=lambda: seen)
    wait_until(lambda: "change gap seen" in watch.output(), 10, "r20 to log the gap")
    check(cache_stock(env, "r20") == replica_stock(env), "r20 applied a change past a gap")
    check(cache_cursor(env, "r20") == cursor, "r20's cursor moved past the gap")
    # The live feed still works after the gap sync.
    env.term(seller, "sale", "--line", "%s:1" % skus[5])
    wait_until(lambda: cache_stock(env, "r20") == replica_stock(env), 20,
               "r20 to apply the next live change")
    wait_until(lambda: "change seq=" in watch.output(), 10, "watch to print a change line")
    log("r20 detected the gap (sync from cursor %d) and stayed correct" % cursor)

    # 4. Store broker down: lookups still answer from the cache, a sale is journaled at once.
    watch.kill()
    env.store_broker.stop()
    check_lookups(env, watched, skus, max_s=2.0)  # r20's cache was current when it stopped
    t0 = time.monotonic()
    out = env.term(cold, "sale", "--line", "%s:1" % skus[2], "--wait-ms", "0")
    dt = time.monotonic() - t0
    check("status=pending" in out, "sale with the broker down: %s" % out)
    check(dt < 2.0, "a sale with the broker down took %.2fs" % dt)
    check("pending=1" in env.term(cold, "pending"), "the sale is not listed as pending")
    log("broker down: lookups answered from the cache, sale journaled in %.0f ms" % (dt * 1000))
    env.store_broker.start()
    out = env.term(cold, "flush", "--wait-ms", "20000")
    check("pending=0" in out, "the sale made while the broker was down was not acked: %s" % out)
    env.check_register_done("r10")
    env.check_register_done("r01")


if __name__ == "__main__":
    h.run_test(main)
