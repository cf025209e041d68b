# SPDX-License-Identifier: Apache-2.0
"""Two stores selling concurrently into one p4hq: every sale the registers were acked is at HQ
exactly once with its lines and tenders; HQ's stock, general ledger (recomputed from the sales
and the product master: tax-inclusive prices, tenders by type, COGS at unit cost, returns and
voids) and loyalty ledger are right; every entry balances and the trial balance is zero;
stores.hq_through is each store's last gw_seq, HQ's retained down/ack says so, and each
gateway's status shows delivered = hq_through.

Also prints two figures: the watermark latency (a sale made at a register -> HQ's down/ack
covering it) at a steady rate, and how fast p4hq ingests a backlog with synchronous_commit on.
"""

import time

import p4harness as h
from p4harness import check, log
import hqchain

RATE = 20            # sales/s per store, steady phase
STEADY_S = 8
BACKLOG_RATE = 60    # sales/s per store while HQ is down
BACKLOG_S = 5


def watermark_latencies(chain, store):
    """Seconds from each simulator sale's creation (journal, wall clock) to the first live
    down/ack covering its gw_seq."""
    out = []
    for sim in store.sims:
        for path in sim.journals():
            for row in h.read_journal(path):
                if row["state"] != h.JOURNAL_ACKED:
                    continue
                at = chain.acks.covered_at(store.id, row["gw_seq"])
                if at is not None:
                    out.append(at - row["created_ms"] / 1000.0)
    return out


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    # HQ is stopped for a few seconds below: a long resend timer keeps the backlog to one
    # copy of each record, so the ingest rate counts distinct sales.
    stores = [chain.store("s001", hq_resend_s=60), chain.store("s002", hq_resend_s=60)]
    for s in stores:
        s.start()

    # 1. steady load on both stores, plus the posting-rule sales on a harness register
    load = hqchain.Load(stores, RATE, STEADY_S).start()
    reg = stores[0].register("r90")
    special = hqchain.special_sales(reg)
    reg.wait_acked(special, 30)
    load.wait(STEADY_S + 60)
    chain.wait_caught_up(60)
    lat = []
    for s in stores:
        lat += watermark_latencies(chain, s)
    check(lat, "no watermark latency samples")
    log("watermark latency (sale made -> HQ down/ack covers it) at %d sales/s per store, "
        "2 stores: %s" % (RATE, hqchain.percentiles(lat)))
    chain.verify()

    # 2. backlog: HQ down while both stores sell, then the time to catch up
    check(hq.stop() == 0, "p4hq did not stop cleanly on SIGTERM")
    before = {s.id: s.last_gw_seq() for s in stores}
    load2 = hqchain.Load(stores, BACKLOG_RATE, BACKLOG_S, name="burst").start()
    load2.wait(BACKLOG_S + 60)
    backlog = sum(s.last_gw_seq() - before[s.id] for s in stores)
    hq.start()
    t0 = time.monotonic()   # from its subscription: the broker starts delivering the backlog
    chain.wait_caught_up(120)
    dt = time.monotonic() - t0
    log("ingest: a backlog of %d sales (2 stores) committed in %.2fs = %.0f sales/s "
        "(synchronous_commit on, fsync on)" % (backlog, dt, backlog / dt))
    summary = chain.verify()
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly on SIGTERM")
    log("two stores: %d sales at HQ" % summary["sales"])


if __name__ == "__main__":
    h.run_test(main)
