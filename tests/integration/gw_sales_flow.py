# SPDX-License-Identifier: Apache-2.0
"""Three registers sell 100 sales each at once: every sale is acked ok, lands in the replica
once, reaches the cloud exactly once in gw_seq order 1..300, and stock is right everywhere."""

import threading
import time

import p4harness as h
from p4harness import check, log, wait_until
import gwenv

N_REGISTERS = 3
N_SALES = 100


def main():
    env = gwenv.StoreEnv()
    env.start()
    regs = [env.register("r%d" % (i + 1), follow_changes=(i == 0)) for i in range(N_REGISTERS)]

    go = threading.Barrier(N_REGISTERS + 1)
    errors = []

    def sell(reg):
        try:
            go.wait()
            reg.sell(N_SALES)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=sell, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    check(not errors, "selling failed: %r" % errors)
    total = N_REGISTERS * N_SALES
    wait_until(lambda: sum(len(r.acked()) for r in regs) == total, 30, "%d acks" % total,
               detail=lambda: sum(len(r.acked()) for r in regs))
    t_acked = time.monotonic() - t0
    log("%d sales acked in %.2fs (%.0f/s); ack latency %s" % (
        total, t_acked, total / t_acked,
        gwenv.latency_summary(sum((gwenv.ack_latencies(r) for r in regs), []))))

    # Every register got exactly one ack per sale, and it is ok.
    for r in regs:
        for sid in r.order:
            acks = r.acks.get(sid, [])
            check(len(acks) == 1 and acks[0].get("status") == "ok",
                  "%s sale %s got acks %r" % (r.reg, sid, acks))
            check(acks[0].get("seq") in (None, r.sales[sid]["seq"]),
                  "ack of %s echoes seq %r" % (sid, acks[0].get("seq")))
        check(not [a for a in r.ack_log if a.get("id") not in r.sales],
              "%s got acks for sales it never made" % r.reg)
    sales = gwenv.all_sales(regs)
    acked = gwenv.ack_gw_seqs(regs)
    check(sorted(acked.values()) == list(range(1, total + 1)),
          "ack gw_seqs are not 1..%d: %r" % (total, sorted(acked.values())[:10]))

    by_id = env.check_replica_sales(sales, acked)
    env.check_stock(sales.values())
    for r in regs:
        last = env.gw.query("SELECT last_seq FROM registers WHERE reg = ?", r.reg)
        check(last == [(N_SALES,)], "registers.last_seq of %s is %r" % (r.reg, last))

    env.check_cloud(sales, by_id, timeout_s=30)
    check(env.hq.duplicates() == 0, "cloud saw %d duplicate records without any outage"
          % env.hq.duplicates())
    arrival = [rec["gw_seq"] for rec in env.hq.snapshot()]
    check(arrival == list(range(1, total + 1)), "cloud arrival order is not 1..%d" % total)
    log("cloud: %d records in %d batches, in order, no duplicates" % (
        len(arrival), len(env.hq.batches)))
    env.wait_outbox_drained()

    # The change feed a register follows ends at the replica's numbers, with no gap.
    reg = regs[0]
    head = env.gw.query("SELECT MAX(seq) FROM changes")[0][0]

    def feed_seqs():
        with reg._lock:
            msgs = list(reg.changes)
        return {it["seq"]: it for m in msgs for it in m.get("items", [])}
    wait_until(lambda: head in feed_seqs(), 10, "change seq %d on pos/v1/S/changes" % head)
    items = feed_seqs()
    lo = min(items)
    check(sorted(items) == list(range(lo, head + 1)), "change feed has gaps in %d..%d"
          % (lo, head))
    seen = {}
    for seq in sorted(items):
        it = items[seq]
        if it.get("entity") == "stock":
            seen[it["key"]] = it["value"]["on_hand"]
    replica = dict(env.gw.query("SELECT sku, on_hand FROM stock"))
    for sku, on_hand in seen.items():
        check(replica[sku] == on_hand, "changes say %s on_hand %d, replica %d"
              % (sku, on_hand, replica[sku]))
    check(len(seen) == len({l["sku"] for s in sales.values() for l in s["lines"]}),
          "change feed did not cover every SKU sold")

    # Retained status: online, drained, on the store broker and mirrored to the cloud.
    def drained():
        st = h.fetch_retained(env.store_broker, "pos/v1/%s/gateway/status" % gwenv.STORE)
        # The counters are refreshed at most once a second, so the retained status from
        # start-up (outbox 0, delivered 0) can still be there: wait for the final figures.
        # delivered_on = hq: delivered is HQ's watermark (down/ack), shown as hq_through.
        ok = (st.get("state") == "online" and st.get("outbox") == 0
              and st.get("delivered") == total and st.get("hq_through") == total)
        return st if ok else None
    wait_until(drained, 15, "retained status online, outbox 0, delivered %d" % total,
               interval_s=0.2)
    check(env.hq.watermark() == total, "HQ stand-in watermark %d, want %d"
          % (env.hq.watermark(), total))
    up = h.fetch_retained(env.cloud, "p4/v1/%s/%s/up/status" % (gwenv.TENANT, gwenv.STORE))
    check(up.get("state") == "online", "cloud status mirror: %r" % (up,))

    mark = env.status.mark()
    rc = env.gw.stop()
    check(rc == 0, "p4gw exit code after SIGTERM: %r" % rc)
    st = h.fetch_retained(env.store_broker, "pos/v1/%s/gateway/status" % gwenv.STORE)
    check(st.get("state") == "offline", "retained status after stop: %r" % (st,))
    check(env.status.mark() > mark, "no status change was published on stop")


if __name__ == "__main__":
    h.run_test(main)
