# SPDX-License-Identifier: Apache-2.0
"""Backup while selling, the gateway machine dies, restore onto a new disk, selling goes on.

Real `p4term simulate` registers sell through a running p4gw; `p4gw backup` copies the replica
mid-sale; more sales follow; p4gw is SIGKILLed and its replica deleted. `p4gw restore` (here
with --next-gw-seq, since this stand-in HQ publishes no down/ack; refused while a gateway runs)
puts the backup at a new [replica] path. After the start: every sale of the backup is in the
restored replica and at HQ, gw_seq continues above everything HQ holds (never reused: HQ keys
records by (store, gw_seq)), the registers' pending sales are applied, and a replaced register
(same id, empty journal) continues its seq from the gateway.

The restored replica has a new epoch (contract 1.2), so the registers send it again the sales
they hold acked that HQ has not covered, including those the dead gateway acked after the
backup: those come to HQ a second time under new numbers, as the same sales (HQ holds them as
resent). The figure is logged."""

import os
import sqlite3
import stat

import p4harness as h
from p4harness import check, log, wait_until

TENANT = "acme"
STORE = "s001"
STOCK = [("sku-%03d" % i, 1000, 100 + i, 1) for i in range(20)]


def replica_ids(gw):
    return {r[0] for r in gw.query("SELECT id FROM sales WHERE kind <> 'gap'")}


def replica_head(gw):
    return gw.query("SELECT coalesce(max(gw_seq), 0) FROM sales")[0][0]


def main():
    h.p4gw_path()
    h.p4term_path()
    store = h.Mosquitto("store")
    cloud = h.Mosquitto("cloud")
    hq = h.CloudConsumer(cloud, TENANT, STORE, client_id="hq-ops-%s" % h.uuid7()[-8:],
                         clean_session=False)
    gw = h.Gateway(store.uri, cloud.uri, TENANT, STORE, name="gw")
    gw.import_stock(STOCK)
    gw.start()
    regs_dir = h.subdir("registers")
    sim = h.Simulator(store.uri, STORE, regs_dir, registers=2, rate=40, prefix="r",
                      name="sim")
    sim.start()
    wait_until(lambda: replica_head(gw) >= 60, 30, "60 sales before the backup")

    # ---- backup while selling ----
    backup = os.path.join(h.subdir("backups"), "replica-backup.db")
    res = gw.run("backup", backup)
    check(res.returncode == 0, "backup exited %d: %s" % (res.returncode, res.stderr.strip()))
    log(res.stdout.strip())
    check(stat.S_IMODE(os.stat(backup).st_mode) == 0o600, "backup is not mode 0600")
    check(not os.path.exists(backup + "-wal"), "backup left a -wal file beside it")
    conn = sqlite3.connect("file:%s?mode=ro" % backup, uri=True)
    b_ids = {r[0] for r in conn.execute("SELECT id FROM sales")}
    b_head = conn.execute("SELECT max(gw_seq) FROM sales").fetchone()[0]
    b_regs = dict(conn.execute("SELECT reg, last_seq FROM registers"))
    b_stamp = dict(conn.execute("SELECT key, value FROM backup_info"))
    conn.close()
    check(len(b_ids) == b_head, "backup: %d sales but head %d" % (len(b_ids), b_head))
    check(b_stamp.get("store") == STORE and b_stamp.get("tenant") == TENANT,
          "backup stamp %r" % b_stamp)
    log("backup holds %d sales (gw_seq 1..%d), registers %r" % (len(b_ids), b_head, b_regs))

    # ---- more sales, then the machine dies ----
    wait_until(lambda: replica_head(gw) >= b_head + 60, 30, "60 sales after the backup")
    check(sim.stop() is not None, "simulator did not stop")
    rc = gw.kill()
    check(rc == -9, "p4gw was not killed: rc %r" % rc)
    dead_head = replica_head(gw)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(gw.replica + suffix):
            os.unlink(gw.replica + suffix)
    truth = h.JournalTruth().absorb(sim.journals())
    acked_after = [r for r in truth.sales.values()
                   if r["state"] == h.JOURNAL_ACKED and r["gw_seq"] > b_head]
    at_hq = hq.ids()
    only_in_journals = [r for r in acked_after if r["id"] not in at_hq]
    log("dead gateway gave gw_seq up to %d; %d sales acked after the backup, %d of them not "
        "at HQ (only in register journals)" % (dead_head, len(acked_after),
                                              len(only_in_journals)))

    # ---- restore onto a new path ----
    gw2 = h.Gateway(store.uri, cloud.uri, TENANT, STORE, name="gw2")
    # This stand-in HQ publishes no down/ack, so the operator gives the number (a p4hq HQ
    # tells a restored gateway where gw_seq goes on: hq_gw_replace_*).
    res = gw2.run("restore", backup, "--next-gw-seq", str(b_head))
    check(res.returncode == 2 and "reuse" in res.stderr,
          "restore reusing numbers: rc %d %s" % (res.returncode, res.stderr.strip()))
    hq_max = max(hq.gw_seqs())
    next_seq = hq_max + 1
    res = gw2.run("restore", backup, "--next-gw-seq", str(next_seq))
    check(res.returncode == 0, "restore exited %d: %s" % (res.returncode, res.stderr.strip()))
    log(res.stdout.strip())
    check(replica_ids(gw2) == b_ids, "restored replica differs from the backup")
    gap = gw2.query("SELECT gw_seq FROM sales WHERE kind = 'gap'")
    check(gap == [(next_seq - 1,)] if next_seq - 1 > b_head else gap == [],
          "gap row %r (next %d)" % (gap, next_seq))

    gw2.start()
    res = gw2.run("restore", backup, "--next-gw-seq", str(next_seq))
    check(res.returncode == 2 and "running" in res.stderr,
          "restore beside a running gateway: rc %d %s" % (res.returncode, res.stderr.strip()))

    # Every sale of the backup reaches HQ again (its outbox rows were undelivered in the copy
    # or had been delivered already: HQ holds each (store, gw_seq) once either way).
    wait_until(lambda: b_ids <= hq.ids(), 30, "every sale of the backup at HQ")

    # ---- selling continues: the old registers resend what they left pending ----
    check(sim.drain(grace_s=40) == 0, "registers' pending sales were not all acked")
    # ---- a replaced register: r01 again, with an empty journal ----
    r01_last = gw2.query("SELECT last_seq FROM registers WHERE reg = 'r01'")[0][0]
    new = h.Simulator(store.uri, STORE, h.subdir("replaced"), registers=1, rate=20,
                      duration_s=2, grace_s=30, prefix="r", name="replaced")
    new.start()
    check(new.wait(60) == 0, "the replaced register's sales were not all acked")
    fresh = h.read_journal(new.journals()[0])
    check(len(fresh) > 0, "the replaced register sold nothing")
    seqs = sorted(r["seq"] for r in fresh)
    check(seqs[0] == r01_last + 1 and seqs == list(range(seqs[0], seqs[0] + len(seqs))),
          "replaced register seqs %r, gateway's last_seq was %d" % (seqs[:5], r01_last))
    new_gw_seqs = sorted(r["gw_seq"] for r in fresh)
    check(new_gw_seqs[0] >= next_seq, "gw_seq %d reused (HQ held up to %d)"
          % (new_gw_seqs[0], hq_max))
    wait_until(lambda: {r["id"] for r in fresh} <= hq.ids(), 30, "new sales at HQ")
    truth.absorb(sim.journals())
    pending_ids = {sid for sid, r in truth.sales.items() if r["gw_seq"] >= next_seq}
    wait_until(lambda: pending_ids <= hq.ids(), 30, "resent pending sales at HQ")
    # The registers resend to the restored gateway (a new epoch) what they held acked: the
    # sales acked after the backup come back under new numbers, as the same sales.
    hq.check_consistent(resent_from=next_seq)
    n, top, distinct = gw2.query("SELECT count(*), max(gw_seq), count(DISTINCT id) FROM sales "
                                 "WHERE gw_seq >= ?", next_seq)[0]
    check(n > 0 and n == distinct and top == next_seq + n - 1,
          "restored gateway's gw_seq not gap-free after %d: %d rows, top %s" % (next_seq, n, top))
    log("restored: %d backup sales at HQ, %d new sales from gw_seq %d, replaced register "
        "seq %d..%d" % (len(b_ids), n, next_seq, seqs[0], seqs[-1]))
    check(gw2.stop() == 0, "p4gw did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
