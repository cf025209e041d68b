#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A store over a slow WAN (issue 20): p4gw reaches the cloud broker through the harness's
emulated link (tests/harness/p4harness.py Relay, preset "1mbit_80ms": 1 Mbit/s each way, 80 ms
RTT), p4hq and PostgreSQL as in the tests (tests/hq/hqchain.py). For `[cloud] compress = zstd`
and `none` in turn, on a fresh store each:

  live:    one register sells 5 sales/s for --live-s seconds; register -> HQ commit p50/p99
           (a sale's first publish to its row being visible in PostgreSQL, polled every 20 ms)
           and the WAN bytes per sale (everything the gateway sent up: MQTT, status included)
  outage:  the WAN is cut while 20 registers sell --backlog sales (a 30-minute outage of 20
           registers at 0.1 sale/s is 3,600), as fast as they can; the link comes back and one
           register sells 5 sales/s while the backlog drains: their register -> HQ p99, the
           time from the link's return to HQ's watermark covering the backlog, the link's
           minimum for the bytes it carried meanwhile (bytes x 8 / 1 Mbit/s), and the WAN
           bytes per backlog sale

  resync:  HQ holds --prices base prices (100,000); a new gateway behind the same link takes
           them by its resync: the time from its start until its replica holds them all, and
           the link's minimum for the bytes carried down. For zstd HQ knows the store's gateway
           reads dictionary 32769 (a replaced store whose gateway compressed); for none the
           store is new to HQ, which then sends JSON

  bench/wan.py [--live-s 30] [--backlog 3600] [--modes zstd,none] [--no-lane] [--prices N]

Needs a build (P4_BUILD_DIR, default ./build), mosquitto and PostgreSQL like tests/hq. It prints
figures and decides nothing; the pass/fail of the live lane is tests/hq/hq_wan_live.py."""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests", "harness"), os.path.join(ROOT, "tests", "hq")]
os.environ.setdefault("P4_BUILD_DIR", os.path.join(ROOT, "build"))
os.environ.setdefault("P4_SOURCE_DIR", ROOT)

import p4harness as h  # noqa: E402
from p4harness import log, wait_until  # noqa: E402
import hqchain  # noqa: E402

TENANT = hqchain.TENANT
LIVE_RATE = 5.0
BPS = 1_000_000


class Via:
    def __init__(self, relay):
        self.uri = relay.uri


class Seen(threading.Thread):
    """Polls PostgreSQL every 20 ms for the store's new sales: sale id -> monotonic time."""

    def __init__(self, chain, store):
        super().__init__(daemon=True)
        self.chain, self.store = chain, store
        self.at = {}
        self._stop_ev = threading.Event()

    def run(self):
        while not self._stop_ev.wait(0.02):
            rows = self.chain.pg.sql("SELECT sale_id::text FROM sales WHERE tenant = %s AND "
                                     "store = %s AND committed_at > now() - interval '30 s'",
                                     TENANT, self.store)
            now = time.monotonic()
            for (sid,) in rows:
                self.at.setdefault(sid, now)

    def stop(self):
        self._stop_ev.set()
        self.join(timeout=5)


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")


def sell_live(reg, seconds, stop=None):
    """REG sells LIVE_RATE sales/s for SECONDS (or until STOP() is true). Returns the ids."""
    ids, t0 = [], time.monotonic()
    while time.monotonic() - t0 < seconds and not (stop and stop()):
        ids.append(reg.send(reg.make_sale()))
        time.sleep(max(0.0, t0 + len(ids) / LIVE_RATE - time.monotonic()))
    return ids


def latencies(reg, seen, ids, timeout_s=60):
    wait_until(lambda: all(i in seen.at for i in ids), timeout_s, "HQ to hold the live sales")
    return [seen.at[i] - reg.sent_at[i] for i in ids]


def run_mode(chain, mode, args, n):
    relay = h.Relay(chain.cloud.port, wan="1mbit_80ms")
    sid = "w%02d" % n
    s = hqchain.Store(Via(relay), sid, extra={"cloud": {"compress": mode,
                                                          "live_lane": args.lane}})
    chain.stores.append(s)
    s.start()
    seen = Seen(chain, sid)
    seen.start()
    reg = s.register("rlive")
    out = {"mode": mode}
    try:
        # live
        time.sleep(2)  # HQ's down/caps reaches the gateway before the first batch
        b0 = relay.bytes["up"]
        ids = sell_live(reg, args.live_s)
        lat = latencies(reg, seen, ids)
        out["live_n"] = len(ids)
        out["live_p50"], out["live_p99"] = pct(lat, 0.5), pct(lat, 0.99)
        time.sleep(1.5)
        out["live_bytes_per_sale"] = (relay.bytes["up"] - b0) / len(ids)
        chain.wait_caught_up(60)

        # outage backlog
        relay.cut("close")
        s.status.wait_state(("wan_down",), 30)
        start_seq = s.last_gw_seq()
        rate = max(1, args.backlog // 6)
        load = hqchain.Load([s], rate, args.backlog / rate, registers=20, name="outage").start()
        load.wait(120)
        backlog_end = s.last_gw_seq()
        out["backlog_n"] = backlog_end - start_seq
        mark = s.status.mark()
        b0 = relay.bytes["up"]
        relay.restore()
        s.status.wait_state(("online",), 60, since=mark)
        t_up = time.monotonic()

        def drained():
            return (chain.safe(lambda: chain.hq_through(sid), 0) or 0) >= backlog_end
        ids = sell_live(reg, 600, stop=drained)
        wait_until(drained, 600, "the backlog at HQ", interval_s=0.05)
        t_drained = time.monotonic()
        carried = relay.bytes["up"] - b0
        lat = latencies(reg, seen, ids)
        if os.environ.get("P4_WAN_TRACE"):
            log("live sales while draining (sent after the link's return, latency): %s" % " ".join(
                "%.1f:%.0f" % (reg.sent_at[i] - t_up, x * 1000) for i, x in zip(ids, lat)))
        out["drain_live_n"] = len(ids)
        out["drain_live_p50"], out["drain_live_p99"] = pct(lat, 0.5), pct(lat, 0.99)
        out["drain_s"] = t_drained - t_up
        out["drain_min_s"] = carried * 8.0 / BPS
        out["backlog_bytes_per_sale"] = carried / max(1, out["backlog_n"] + len(ids))
        chain.wait_caught_up(120)
    finally:
        seen.stop()  # the store stays up: chain.verify() checks it at the end
    return out


PRICE_VER0 = 1_000_000  # above every version the stores' own stock import carries


def load_prices(chain, n):
    """N base prices at HQ, as `p4hq price set` would store them: 13-digit EAN-like skus and
    prices drawn from a hash (no run of similar neighbours for the compressor to find)."""
    chain.pg.sql("INSERT INTO prices (tenant, ver, sku, price_minor, item)"
                 " SELECT %s, %s + g, sku, price, json_build_object('sku', sku, 'price', price,"
                 "  'ver', %s + g)::text"
                 " FROM (SELECT g, lpad((abs(hashtextextended(g::text, 1)) %% 10000000000000)"
                 "  ::text, 13, '0') AS sku, 49 + abs(hashtext(g::text)) %% 20000 AS price"
                 "  FROM generate_series(1, %s) g) x", TENANT, PRICE_VER0, PRICE_VER0, n)


def run_resync(chain, mode, args, n):
    """A new gateway behind the slow link takes HQ's ARGS.prices prices (its resync). For
    zstd, HQ already knows the store's gateway reads dictionary 32769 (a store whose old
    gateway compressed: the replaced-gateway case); for none, the store is new to HQ."""
    relay = h.Relay(chain.cloud.port, wan="1mbit_80ms")
    sid = "p%02d" % n
    if mode == "zstd":
        chain.pg.sql("INSERT INTO stores (tenant, store, zstd_dict) VALUES (%s, %s, 32769)",
                     TENANT, sid)
    s = hqchain.Store(Via(relay), sid, extra={"cloud": {"compress": mode}})
    chain.stores.append(s)
    t0 = time.monotonic()
    s.start()

    def count():
        return s.gw.query("SELECT count(*) FROM prices WHERE ver > ?", PRICE_VER0)[0][0]
    wait_until(lambda: count() >= args.prices, 600, "%d prices in %s's replica"
               % (args.prices, sid), interval_s=0.2)
    took = time.monotonic() - t0
    return {"mode": mode, "prices": args.prices, "resync_s": took,
            "resync_min_s": relay.bytes["down"] * 8.0 / BPS,
            "resync_bytes_per_price": relay.bytes["down"] / args.prices}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--live-s", type=float, default=30)
    ap.add_argument("--backlog", type=int, default=3600)
    ap.add_argument("--modes", default="zstd,none")
    ap.add_argument("--prices", type=int, default=100_000,
                    help="prices a new gateway takes by resync (0: skip that part)")
    ap.add_argument("--no-lane", dest="lane", action="store_const", const="off", default="on",
                    help="[cloud] live_lane = off: the backlog first, as before issue 20")
    args = ap.parse_args()
    results, resyncs = [], []

    def body():
        chain = hqchain.Chain()
        hq = chain.hq()
        hq.start()
        chain.wait_tables()
        hq.import_products()
        for n, mode in enumerate(args.modes.split(",")):
            results.append(run_mode(chain, mode, args, n + 1))
        chain.verify()  # every sale at HQ exactly once
        if args.prices:
            load_prices(chain, args.prices)
            for n, mode in enumerate(args.modes.split(",")):
                resyncs.append(run_resync(chain, mode, args, n + 1))
        hq.stop()

    try:
        body()
    finally:
        h.cleanup_all()  # every broker, gateway, p4hq and PostgreSQL it started
        report(results, resyncs, args)


def report(results, resyncs, args):
    print("\nSlow WAN, 1 Mbit/s each way, 80 ms RTT (Wan preset 1mbit_80ms), live_lane = %s"
          % args.lane)
    for r in results:
        print("compress=%-4s live 5/s: n=%d register->HQ commit p50 %.0f ms p99 %.0f ms, "
              "%.0f WAN bytes/sale" % (r["mode"], r["live_n"], r["live_p50"] * 1000,
                                       r["live_p99"] * 1000, r["live_bytes_per_sale"]))
        print("              outage backlog %d sales: drained %.1f s after the link came back "
              "(link minimum for the bytes carried %.1f s), %.0f WAN bytes/sale; live 5/s while "
              "draining n=%d p50 %.0f ms p99 %.0f ms"
              % (r["backlog_n"], r["drain_s"], r["drain_min_s"], r["backlog_bytes_per_sale"],
                 r["drain_live_n"], r["drain_live_p50"] * 1000, r["drain_live_p99"] * 1000))
    for r in resyncs:
        print("compress=%-4s resync of %d prices to a new gateway: %.1f s from its start (link "
              "minimum for the bytes carried down %.1f s, %.1f bytes/price)"
              % (r["mode"], r["prices"], r["resync_s"], r["resync_min_s"],
                 r["resync_bytes_per_price"]))


if __name__ == "__main__":
    main()
