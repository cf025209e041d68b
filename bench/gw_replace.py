#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 16's figures (a measurement, not a test: it prints, it does not judge).

1. A store whose HQ holds 100,000 SKUs (a stock count and a price each) loses its gateway; a
   new gateway starts on an empty replica: the time from its start to its first ack to a
   register, and to a complete replica (every sku's price and on_hand from HQ).
2. A register's journal while the WAN is down: bytes per 1,000 sales held (acked by the
   gateway, not yet at HQ), and the time to prune them once HQ has them.

Run from a build: P4_BUILD_DIR=build P4_SOURCE_DIR=. \\
  PYTHONPATH=tests/harness:tests/hq python3 bench/gw_replace.py [N_SKUS]"""

import os
import sys
import time

import p4harness as h
from authenv import Store, reg_ini, start_chain, term
from p4harness import log, wait_until

TENANT = "acme"


def seed_hq(chain, store, n_skus):
    """N_SKUS prices and stock counts straight into HQ's tables (the CLI would take minutes)."""
    chain.pg.sql(
        "INSERT INTO prices (tenant, ver, sku, store, price_minor, item)"
        " SELECT %s, 1000 + g, 'sku-' || lpad(g::text, 6, '0'), NULL, 100 + g %% 900,"
        "  json_build_object('sku', 'sku-' || lpad(g::text, 6, '0'), 'price', 100 + g %% 900,"
        "  'ver', 1000 + g)::text FROM generate_series(1, %s) g", TENANT, n_skus)
    chain.pg.sql("INSERT INTO versions (tenant, kind, last) VALUES (%s, 'price', %s)"
                 " ON CONFLICT (tenant, kind) DO UPDATE SET last = excluded.last",
                 TENANT, 1000 + n_skus)
    chain.pg.sql(
        "INSERT INTO stock (tenant, store, sku, on_hand, count_at, count_on_hand)"
        " SELECT %s, %s, 'sku-' || lpad(g::text, 6, '0'), 50 + g %% 7, now() - interval '1 h',"
        "  50 + g %% 7 FROM generate_series(1, %s) g", TENANT, store, n_skus)


def main():
    n_skus = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    chain, hq = start_chain(persistence=True)
    hq.import_products()
    store = Store(chain, "s001", relay=True, hq_resend_s=2)
    seed_hq(chain, store.id, n_skus)
    for suffix in ("", "-wal", "-shm"):   # no local import: everything comes from HQ
        if os.path.exists(store.gw.replica + suffix):
            os.unlink(store.gw.replica + suffix)
    ini = reg_ini(h.subdir("regs"), store.id, "r01", store.broker.uri)
    with open(ini, "a") as f:
        f.write("keep_acked_ms = 0\n")

    t0 = time.monotonic()
    store.gw.start(("online", "wan_down"), watcher=store.status)
    t_up = time.monotonic() - t0
    term(ini, "sale", "--line", "sku-000001:1:101", "--wait-ms", 60000)
    t_ack = time.monotonic() - t0

    def complete():
        n_price, n_stock = store.gw.query("SELECT (SELECT count(*) FROM prices WHERE sku LIKE"
                                          " 'sku-%'), (SELECT count(*) FROM stock WHERE sku"
                                          " LIKE 'sku-%')")[0]
        return n_price >= n_skus and n_stock >= n_skus
    wait_until(complete, 600, "a complete replica", interval_s=0.2)
    t_full = time.monotonic() - t0
    bad = store.gw.query("SELECT count(*) FROM stock WHERE sku LIKE 'sku-%' AND sku <> "
                         "'sku-000001' AND on_hand <> 50 + CAST(substr(sku, 5) AS INTEGER) % 7")
    print("new gateway, %d SKUs at HQ: status after %.2f s, first ack after %.2f s, complete "
          "replica after %.2f s (%d skus with a wrong on_hand)" % (n_skus, t_up, t_ack, t_full,
                                                                    bad[0][0]))

    # ---- journal growth while HQ is out of reach ----
    journal = ini.replace(".ini", ".db")
    term(ini, "flush", "--hq", "--wait-ms", 30000)
    store.relay.cut("close")
    store.status.wait_state(("wan_down",), 30)
    size0 = os.path.getsize(journal)
    sim = h.Simulator(store.broker.uri, store.id, h.subdir("sim"), registers=1, rate=500,
                      duration_s=3600, grace_s=60, prefix="g", name="sim", keep_acked_ms=0)
    sim.argv += ["--count", "1000"]
    sim.start()
    sim.wait(120)
    j = sim.journals()[0]
    import shutil
    import sqlite3

    def vacuumed_size(drop_sales):
        copy = j + ".measure"
        src = sqlite3.connect(j)
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        if drop_sales:
            dst.execute("DELETE FROM sales")
            dst.commit()
        dst.execute("VACUUM")
        dst.close()
        size = os.path.getsize(copy)
        os.unlink(copy)
        return size
    conn = sqlite3.connect(j)
    n_held, payload = conn.execute("SELECT count(*), sum(length(payload)) FROM sales WHERE"
                                   " state = 1").fetchone()
    conn.close()
    with_sales, without = vacuumed_size(False), vacuumed_size(True)
    print("journal growth: %d sales held take %d bytes (%.0f per sale, %d of it the payload "
          "as published), i.e. %.2f MB per 1,000 sales held (r01's whole journal with its "
          "cache: %d bytes)" % (n_held, with_sales - without, (with_sales - without) / n_held,
                               payload // n_held, (with_sales - without) * 1000.0 / n_held /
                               1e6, size0))
    shutil.rmtree(j + ".measure", ignore_errors=True)
    store.relay.restore()
    t1 = time.monotonic()
    argv = list(sim.argv)
    argv[argv.index("--duration") + 1] = "0"
    i = argv.index("--count")
    del argv[i:i + 2]
    sim.start(argv + ["--wait-hq"])
    rc = sim.wait(120)
    print("WAN back: the 1,000 held sales committed at HQ and pruned after %.2f s (rc %d)"
          % (time.monotonic() - t1, rc))


if __name__ == "__main__":
    h.run_test(main)
