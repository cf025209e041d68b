# SPDX-License-Identifier: Apache-2.0
"""Benchmark of p4gw (prints figures; not a CTest test): sustained sales ingest with acks, and
the drain of a 100,000-record outbox backlog to the cloud.

Run from the build dir's environment, e.g.:
  P4_BUILD_DIR=build-gw P4_SOURCE_DIR=. P4_MOSQUITTO=/usr/sbin/mosquitto \
  PYTHONPATH=tests/harness:tests/integration /usr/bin/python3 tests/gateway/bench_gateway.py
Options via env: BENCH_SALES (default 8000), BENCH_REGISTERS (4), BENCH_BACKLOG (100000),
BENCH_DURABILITY (full), BENCH_DELIVERED_ON (hq: an HQ stand-in acknowledges on down/ack;
puback: HQ only reads).
"""

import json
import os
import sqlite3
import threading
import time

import p4harness as h
from p4harness import log, wait_until
import gwenv

N_SALES = int(os.environ.get("BENCH_SALES", "8000"))
N_REGS = int(os.environ.get("BENCH_REGISTERS", "4"))
N_BACKLOG = int(os.environ.get("BENCH_BACKLOG", "100000"))
DURABILITY = os.environ.get("BENCH_DURABILITY", "full")
DELIVERED_ON = os.environ.get("BENCH_DELIVERED_ON", "hq")


def bench_ingest(env):
    regs = [env.register("r%d" % (i + 1)) for i in range(N_REGS)]
    per = N_SALES // N_REGS
    # Build every payload first so the clock measures the gateway, not the generator.
    made = [[r.make_sale() for _ in range(per)] for r in regs]
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda r=r, m=m: [r.send(s) for s in m])
               for r, m in zip(regs, made)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = per * N_REGS
    wait_until(lambda: sum(len(r.acked()) for r in regs) == total, 120, "%d acks" % total,
               detail=lambda: sum(len(r.acked()) for r in regs))
    dt = time.monotonic() - t0
    lat = sum((gwenv.ack_latencies(r) for r in regs), [])
    log("INGEST: %d sales from %d registers acked in %.2fs = %.0f sales/s; ack latency %s"
        % (total, N_REGS, dt, total / dt, gwenv.latency_summary(lat)))
    env.wait_outbox_drained(120)
    for r in regs:
        r.close()
    return total


def make_backlog(env, first_gw_seq, n):
    """Appends N undelivered sale records straight into the stopped gateway's replica."""
    reg = h.Register(env.store_broker, gwenv.STORE, "rb", skus=env.skus)
    conn = sqlite3.connect(env.gw.replica)
    rows_sales, rows_out = [], []
    for i in range(n):
        s = reg.make_sale()
        gw_seq = first_gw_seq + i
        rec = dict(s)
        rec["gw_seq"] = gw_seq
        rec["flags"] = []
        text = json.dumps(s, separators=(",", ":"))
        rows_sales.append((gw_seq, s["id"], s["reg"], s["seq"], s["kind"], s["ts"], s["total"],
                           "[]", text))
        rows_out.append((gw_seq, "sale", gw_seq, json.dumps(rec, separators=(",", ":"))))
    with conn:
        conn.executemany("INSERT INTO sales(gw_seq, id, reg, seq, kind, ts, total, flags, payload)"
                         " VALUES(?,?,?,?,?,?,?,?,?)", rows_sales)
        conn.executemany("INSERT INTO outbox(oid, kind, gw_seq, payload, delivered)"
                         " VALUES(?,?,?,?,0)", rows_out)
    conn.close()


def main():
    env = gwenv.StoreEnv(extra={"replica": {"durability": DURABILITY}},
                         acker=DELIVERED_ON == "hq")
    env.start()
    done = bench_ingest(env)
    rc = env.gw.stop()
    log("gateway stopped rc=%s" % rc)
    stats = [l for l in env.gw.log_text().splitlines() if "msg=stats" in l]
    log("gateway: %s" % (stats[-1].split("msg=", 1)[1] if stats else "no stats line"))

    make_backlog(env, done + 1, N_BACKLOG)
    want = range(done + 1, done + N_BACKLOG + 1)
    t0 = time.monotonic()
    env.start()
    wait_until(lambda: env.hq.has_gw_seqs(want), 300, "%d backlog records" % N_BACKLOG,
               detail=lambda: len(env.hq.gw_seqs()))
    dt = time.monotonic() - t0
    log("DRAIN: %d backlog records at the cloud %.2fs after start = %.0f records/s"
        % (N_BACKLOG, dt, N_BACKLOG / dt))
    env.hq.check_consistent()
    env.wait_outbox_drained(60)
    log("DELIVERED (delivered_on = %s): the outbox empty %.2fs after start"
        % (DELIVERED_ON, time.monotonic() - t0))
    env.gw.stop()


if __name__ == "__main__":
    h.run_test(main)
