# SPDX-License-Identifier: Apache-2.0
"""HQ master data reaches the registers through the real gateway (contract 1.1, 6.4):
- an HQ price change on the cloud broker (`down/price`) reaches a register's `p4term price`;
- an effective-dated HQ price switches on at its time on the register while the store broker
  is stopped (the register resolves the cached price state by time);
- HQ promos, customers and loyalty balances reach the register's cache, and a sale rung from
  the cache is charged the promo price and accepted by the gateway without a price mismatch;
- a hold asked with `p4term hold` is granted by the gateway from its stock."""

import json
import os
import time

import p4harness as h
from p4harness import check, log, wait_until
import shimenv

TENANT, STORE = shimenv.TENANT, shimenv.STORE


def down(hq, kind, items):
    hq.publish("p4/v1/%s/%s/down/%s" % (TENANT, STORE, kind), json.dumps({"items": items}))


def price_of(env, ini, sku):
    return env.term(ini, "price", sku, expect_rc=None).split()


def main():
    env = shimenv.ShimEnv(gw_extra={"policy": {"register_revision": "1.1",
                                               "negative_stock": "hold"}})
    env.start_gateway()
    sku, sku2 = env.stock[0][0], env.stock[1][0]
    hq = h.MqttClient(env.cloud.port, "hq-publisher").connect()

    watched = env.register_ini("r01")
    watch = shimenv.TermProc([env.p4term, "--config", watched, "--log-level", "info", "watch"],
                             os.path.join(h.tmp_root(), "watch-r01.log"))
    wait_until(lambda: "synced cursor=" in watch.output(), 20, "r01 watch to sync")

    # 1. An HQ price change reaches `p4term price` on the register.
    t0 = time.monotonic()
    down(hq, "price", [{"sku": sku, "price": 1234, "ver": 100}])
    wait_until(lambda: price_of(env, watched, sku) == ["1234", "ver=100"], 30,
               "HQ's price of %s on r01" % sku, interval_s=0.1,
               detail=lambda: price_of(env, watched, sku))
    log("HQ price change reached p4term price in %.0f ms" % ((time.monotonic() - t0) * 1000))

    # 2. Promos, customers and loyalty from HQ reach the cache; a rung sale is charged the
    # promo price and the gateway takes it as it is (no price mismatch).
    down(hq, "promo", [{"id": "p-half", "ver": 1, "active": True, "type": "percent_off",
                        "sku": sku2, "percent": 50}])
    down(hq, "customer", [{"id": "C-77", "ver": 1, "name": "Ana Núñez", "tier": "silver"}])
    down(hq, "loyalty", [{"customer": "C-77", "balance": 500, "ver": 1,
                          "as_of": h._utc_ts()}])
    for w in ("entity=promo key=p-half", "entity=customer key=C-77",
              "entity=loyalty key=C-77 balance=500"):
        wait_until(lambda: w in watch.output(), 30, "watch to print %r" % w,
                   detail=lambda: watch.output()[-500:])
    out = env.term(watched, "customer", "C-77").strip()
    check(out == 'C-77 name="Ana Núñez" tier=silver ver=1', "p4term customer: %r" % out)
    seller = env.register_ini("r02")
    out = env.term(seller, "sale", "--line", "%s:2" % sku2, "--customer", "C-77", "--redeem",
                   "100")
    check("status=acked" in out, "rung sale: %s" % out)
    regular = [r[2] for r in env.stock if r[0] == sku2][0]
    want = regular - (regular * 50 + 50) // 100
    check("line sku=%s qty=2 price=%d" % (sku2, want) in out, "promo not charged: %s" % out)
    sid = [tok[3:] for tok in out.split() if tok.startswith("id=")][0]
    rec = wait_until(lambda: [r for r in env.hq.snapshot() if r["id"] == sid], 30,
                     "the rung sale at HQ")[0]
    check(rec["flags"] == [], "HQ got the rung sale with flags %r" % rec["flags"])

    # 3. A hold is granted from the gateway's stock.
    on_hand = dict(env.gw.query("SELECT sku, on_hand FROM stock"))[sku]
    out = env.term(seller, "hold", "--line", "%s:%d" % (sku, on_hand + 5), "--ttl-ms", "5000",
                   expect_rc=1)
    check("granted=%s:%d" % (sku, on_hand) in out, "hold beyond stock: %s" % out)

    # 4. An effective-dated HQ price switches on at its time with the store broker stopped.
    start_ms = int(time.time() * 1000) + 6000
    down(hq, "price", [{"sku": sku, "price": 999, "ver": 101,
                        "effective_from": h._utc_ts(start_ms)}])
    wait_until(lambda: "window=999/101[" in watch.output(), 30,
               "r01 to receive the scheduled price", detail=lambda: watch.output()[-500:])
    env.store_broker.stop()
    check(int(time.time() * 1000) < start_ms, "too slow to see the price before its start")
    check(price_of(env, watched, sku) == ["1234", "ver=100"], "price before its start")
    switched = wait_until(lambda: price_of(env, watched, sku) == ["999", "ver=101"] and
                          int(time.time() * 1000), 20, "the scheduled price with no broker",
                          interval_s=0.1)
    check(switched >= start_ms, "switched %d ms early" % (start_ms - switched))
    log("scheduled HQ price on r01 at +%d ms after its start, store broker stopped"
        % (switched - start_ms))
    watch.kill()


if __name__ == "__main__":
    h.run_test(main)
