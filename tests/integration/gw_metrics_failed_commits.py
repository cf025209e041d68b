# SPDX-License-Identifier: Apache-2.0
"""The sales counters in /metrics count what committed, not what a failing replica saw.

A group fails after its first sales were applied, as on a disk that fills up mid-group: the
test puts a trigger on the replica that refuses one sale (X), and holds the write lock while
the register sends three sales, a bad one and X, so they all wait in one group that applies
the first ones, then fails on X and is rolled back. The register resends them again and again
until the trigger is dropped; then the gateway commits them once. The figures must match what
the replica and the register saw: p4gw_sales_ingested_total the rows in `sales`,
p4gw_sales_duplicate_total the duplicate acks, p4gw_sales_rejected_total the reject acks,
p4gw_gw_seq_head the newest gw_seq. Before, every failed attempt counted its sales again."""

import sqlite3
import time

import p4harness as h
from p4harness import check, log, wait_until
import gwenv


def acks_with(reg, status):
    with reg._lock:
        return sum(1 for acks in reg.acks.values() for a in acks if a.get("status") == status)


def main():
    port = h.free_port()
    env = gwenv.StoreEnv(extra={"metrics": {"listen": "127.0.0.1:%d" % port}})
    env.start()
    reg = env.register("r1")
    first = reg.sell(5)
    reg.wait_acked(first, timeout_s=20)

    bad = reg.make_sale()
    bad["total"] += 1  # rejected: the lines do not sum to it
    x = reg.make_sale()
    conn = sqlite3.connect(env.gw.replica, timeout=10, isolation_level=None)
    conn.execute("CREATE TRIGGER fail_x BEFORE INSERT ON sales WHEN NEW.id = '%s' "
                 "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END" % x["id"])
    conn.execute("BEGIN IMMEDIATE")
    try:
        failures = env.gw.log_text().count("group commit failed")
        ids = reg.sell(3)
        reg.send(bad)
        reg.send(x)
        # The gateway's BEGIN waits out the busy timeout (5 s) while they queue behind it.
        wait_until(lambda: env.gw.log_text().count("group commit failed") > failures, 30,
                   "a group to fail on the locked replica")
    finally:
        conn.execute("ROLLBACK")
    for attempt in range(3):
        time.sleep(1.0)  # the gateway backs off 100 ms doubling after each failed group
        reg.resend(ids + [bad["id"], x["id"]])
    time.sleep(1.0)
    check(not reg.is_acked(x["id"]), "X was acked while the replica refused it")
    conn.execute("DROP TRIGGER fail_x")
    conn.close()
    log("replica writable again")
    reg.resend(ids + [bad["id"], x["id"]])
    reg.wait_acked(ids + [x["id"]], timeout_s=30)
    wait_until(lambda: reg.acks.get(bad["id"]), 20, "the bad sale's reject")
    env.wait_outbox_drained()

    def figures():
        m = h.scrape_metrics(port)
        return (m.get("p4gw_sales_ingested_total"), m.get("p4gw_sales_duplicate_total"),
                m.get("p4gw_sales_rejected_total"), m.get("p4gw_gw_seq_head"))

    def truth():
        rows = env.gw.query("SELECT count(*), max(gw_seq) FROM sales")[0]
        return (rows[0], acks_with(reg, "duplicate"), acks_with(reg, "rejected"), rows[1])
    # The metrics snapshot is refreshed every loop; the register's late acks may still come.
    wait_until(lambda: figures() == truth(), 15, "the metrics to match the replica and acks",
               detail=lambda: "metrics %r, truth %r" % (figures(), truth()))
    ingested, dups, rejected, head = figures()
    check(ingested == 9 and head == 9, "9 sales committed, metrics say %r" % (figures(),))
    check(rejected >= 1, "the bad sale's reject is not counted")
    log("after the failed groups: ingested=%d duplicates=%d rejected=%d gw_seq_head=%d"
        % (ingested, dups, rejected, head))
    reg.close()
    env.gw.stop()


if __name__ == "__main__":
    h.run_test(main)
