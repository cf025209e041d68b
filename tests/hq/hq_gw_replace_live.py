# SPDX-License-Identifier: Apache-2.0
"""Issue 16, the store's gateway is replaced while the WAN is up and HQ has committed part of
its stream. Two libp4term registers sell all along; p4hq is stopped, so the gateway's batches
wait at the cloud broker for HQ's session; the gateway is SIGKILLed and its replica deleted; a
new gateway starts on an empty replica (plain p4gw) and takes no sale while HQ cannot say where
gw_seq goes on; p4hq comes back, ingests the lost gateway's queued batches, answers the new
gateway's resync. Then: every sale is at HQ once (nothing doubled, stock, GL and loyalty
right), the new gateway numbers above every gw_seq HQ holds, its replica's stock equals HQ's,
and the registers' journals are empty. Last, one register's journal is put back from a backup
taken mid-stream: it resends what it held, HQ recognises the sales it holds (held as resent,
no posting), and nothing is applied twice at HQ or in the replica."""

import os
import signal
import sqlite3
import time

import p4harness as h
from replaceenv import (TENANT, check, check_hq, hq_sales, journal_rows, log, lose_gateway,
                        replica_sales, setup, simulator, until_hq_argv, wait_until)


def backup_journal(path, dst):
    src = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    out = sqlite3.connect(dst)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()


def hq_stock(chain, store):
    return dict(chain.pg.sql("SELECT sku, on_hand FROM stock WHERE tenant = %s AND store = %s",
                             TENANT, store))


def main():
    chain, hq, store = setup(relay=False)
    chain.wait_caught_up(30)
    sim = simulator(store, "sim1", 0, rate=60)
    sim.start()
    wait_until(lambda: chain.hq_count(store.id) >= 60, 30, "HQ to commit part of the stream")
    # The backup catches sales the gateway has not acked yet: it is paused for a moment.
    os.kill(store.gw.pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)
        backup = os.path.join(h.tmp_root(), "r01-backup.db")
        backup_journal(sim.journals()[0], backup)
    finally:
        os.kill(store.gw.pid, signal.SIGCONT)
    in_backup = h.read_journal(backup)
    check(any(r["state"] == h.JOURNAL_PENDING for r in in_backup), "no pending sale in the "
          "backup")
    log("journal of %s backed up with %d sales (%d pending)"
        % (sim.journals()[0], len(in_backup),
           sum(1 for r in in_backup if r["state"] == h.JOURNAL_PENDING)))
    hq.stop()
    at_hq = chain.hq_count(store.id)
    time.sleep(2)       # the gateway goes on; its batches wait at the cloud broker for HQ

    check(store.gw.kill() is not None, "p4gw was not running")
    lost = replica_sales(store.gw)
    lost_head = store.last_gw_seq()
    lose_gateway(store)
    log("gateway lost at gw_seq %d; HQ had committed %d sales" % (lost_head, at_hq))
    check(lost_head > at_hq, "the lost gateway had nothing HQ lacked")
    # HQ also holds a record two numbers above the lost gateway's head (kept for staff): the
    # numbers below it that never come must not stop HQ's watermark.
    hole_top = lost_head + 3
    chain.pg.sql("INSERT INTO record_exceptions (tenant, store, gw_seq, kind, reason) VALUES"
                 " (%s, %s, %s, 'invalid', 'test: held above a hole')", TENANT, store.id,
                 hole_top)
    chain.pg.sql("UPDATE stores SET max_gw_seq = greatest(max_gw_seq, %s) WHERE tenant = %s"
                 " AND store = %s", hole_top, TENANT, store.id)

    store.gw.start(("online",), watcher=store.status)
    time.sleep(2)
    check(store.gw.query("SELECT count(*) FROM sales")[0][0] == 0,
          "the new gateway numbered sales before HQ told it where gw_seq goes on")
    t_hq = time.monotonic()
    hq.start()
    wait_until(lambda: store.gw.query("SELECT count(*) FROM sales WHERE kind <> 'gap'")[0][0],
               30, "the new gateway's first sale")
    log("new gateway's first sale %.0f ms after p4hq came back"
        % ((time.monotonic() - t_hq) * 1000))
    time.sleep(2)
    sim.stop()
    sim.start(until_hq_argv(sim))
    check(sim.wait(120) == 0, "registers still hold sales HQ lacks: %s" % sim.output())
    chain.wait_caught_up(60)

    new = replica_sales(store.gw)
    for sid in set(lost) & set(new):
        check(lost[sid] == new[sid], "sale %s differs between the two gateways" % sid)
    truth = dict(lost)
    truth.update(new)
    got = check_hq(chain, store, truth)
    gap = store.gw.query("SELECT gw_seq, payload FROM sales WHERE kind = 'gap'")
    old_numbers = [g for sid, (g, _r, _s, _t) in got.items() if sid in lost and sid not in new]
    new_numbers = [g for (g,) in store.gw.query("SELECT gw_seq FROM sales WHERE kind <> 'gap'")]
    check(gap and min(new_numbers) == gap[0][0] + 1, "no gap row below the new numbers: %r"
          % gap)
    check(max(old_numbers) <= gap[0][0] < min(new_numbers) and gap[0][0] == hole_top,
          "the new gateway's numbers (from %d) do not continue above HQ's (up to %d, a held "
          "record at %d)" % (min(new_numbers), max(old_numbers), hole_top))
    skipped = [g for (g,) in chain.pg.sql("SELECT gw_seq FROM record_exceptions WHERE kind ="
                                          " 'skipped' ORDER BY gw_seq")]
    check(lost_head + 1 in skipped and lost_head + 2 in skipped,
          "the numbers below HQ's highest that never come are not held as skipped: %r"
          % skipped)
    max_at_hq = chain.pg.value("SELECT max_gw_seq FROM stores WHERE tenant = %s AND store = %s",
                               TENANT, store.id)
    check(max_at_hq == store.last_gw_seq(), "HQ's max_gw_seq %s, store's %s"
          % (max_at_hq, store.last_gw_seq()))
    resent = chain.pg.value("SELECT count(*) FROM record_exceptions WHERE kind = 'resent'")
    log("new gateway numbers from %d (gap row up to %d, HQ's highest old number %d); %d "
        "numbers held as skipped, %d sales resent that HQ already held"
        % (min(new_numbers), gap[0][0], max(old_numbers), len(skipped), resent))
    stock = hq_stock(chain, store.id)
    replica = dict(store.gw.query("SELECT sku, on_hand FROM stock"))
    for sku, n in stock.items():
        check(replica.get(sku) == n, "replica on_hand of %s is %s, HQ's %s"
              % (sku, replica.get(sku), n))
    rows = journal_rows(sim.journals())
    check(not rows, "registers' journals still hold %d sales" % len(rows))

    # A register comes back from an old backup of its journal.
    n_posted = chain.hq_count(store.id)
    path = sim.journals()[0]
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    os.replace(backup, path)
    sim.start(until_hq_argv(sim))
    check(sim.wait(120) == 0, "the restored register did not settle: %s" % sim.output())
    chain.wait_caught_up(60)
    check(chain.hq_count(store.id) == n_posted, "HQ posted %d sales after the restored "
          "register resent its old journal" % (chain.hq_count(store.id) - n_posted))
    check_hq(chain, store, truth)
    check(hq_stock(chain, store.id) == stock, "HQ's stock moved again")
    replica = dict(store.gw.query("SELECT sku, on_hand FROM stock"))
    check(all(replica.get(s) == n for s, n in stock.items()),
          "the replica's stock moved again: %r vs HQ %r" % (replica, stock))
    check(set(hq_sales(chain, store.id)) == set(truth), "HQ's sale ids changed")
    check(chain.pg.value("SELECT count(*) FROM record_exceptions WHERE kind = 'resent'") >
          resent, "HQ held no sale of the old journal as resent")
    log("restored register: nothing applied twice (%d resent records held at HQ)"
        % chain.pg.value("SELECT count(*) FROM record_exceptions WHERE kind = 'resent'"))


if __name__ == "__main__":
    h.run_test(main)
