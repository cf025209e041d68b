# SPDX-License-Identifier: Apache-2.0
"""Fault 5: the replica's disk fills up while registers sell, then the replica cannot be
written at all for longer than p4gw waits for it.

How: the replica lives on a small tmpfs mounted for this test (needs root, as in CI; skipped
where mounting is not allowed). A filler file takes the free space; later the tmpfs is grown
(remount,size=...) so space returns without touching any file. A read-only disk cannot be
made here: Linux refuses remount,ro while p4gw holds the replica open for writing (EBUSY). The
same failure of every commit is produced instead by an external writer (this test) that holds
SQLite's write lock on the replica past p4gw's busy timeout, which needs no privilege.

What must hold: p4gw stays alive, acks no sale it could not commit (every acked sale is in the
replica with the acked gw_seq), raises an alert, and once space (or the lock) returns takes the
registers' resends by itself (no restart), without a commit retry storm or a resend flood to
HQ. Each shortfall fails the test (P4_FAULTS_STRICT=0 only reports them)."""

import sqlite3
import time

import p4harness as h
from p4harness import check, log, wait_until
import faultenv

FULL_HOLD_S = 3.0    # how long the disk stays full while registers keep selling
BUSY_TIMEOUT_S = 5.0  # p4gw's SQLite busy timeout (BUSY_TIMEOUT_MS in gateway/replica.c)
LOCK_HOLD_S = 2 * BUSY_TIMEOUT_S  # every commit in this window times out on the lock


def acked_not_stored(env):
    """Sales the registers hold as acked that the replica does not hold with that gw_seq."""
    env.absorb()
    stored = dict(env.gw.query("SELECT id, gw_seq FROM sales"))
    return [r["id"] for r in env.truth.sales.values()
            if r["state"] == h.JOURNAL_ACKED and stored.get(r["id"]) != r["gw_seq"]]


def lock_phase(env, gaps):
    """Holds the replica's write lock for LOCK_HOLD_S while the registers sell: every group
    commit p4gw tries fails with SQLITE_BUSY after its busy timeout. Checks p4gw stays alive,
    acks nothing it could not store, and takes the backlog once the lock is released. Returns
    how many sales were pending in the journals when the lock was released. No replica alert
    while locked is added to GAPS."""
    conn = sqlite3.connect(env.gw.replica, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")  # waits (30 s at most) between two group commits
        t_locked = time.monotonic()
        n_locked = env.replica_count()
        log("replica write-locked by another process at %d sales" % n_locked)
        env.wait_sales(60, what="sales while the replica is locked")
        # The length of the failure is the scenario: it must outlast p4gw's busy timeout.
        time.sleep(max(0.0, LOCK_HOLD_S - (time.monotonic() - t_locked)))
        check(env.gw.running(), "p4gw died on a locked replica (exit %s)" % env.gw.proc.poll())
        check(env.replica_count() == n_locked, "the replica grew while another process held "
              "its write lock (%d -> %d)" % (n_locked, env.replica_count()))
        bad = acked_not_stored(env)
        check(not bad, "%d sales acked on a locked replica without being stored, e.g. %s"
              % (len(bad), bad[:3]))
        kinds = [a.get("kind") for a in env.alerts.since(t_locked) if isinstance(a, dict)]
        if "replica_failed" not in kinds:
            gaps.append("no replica_failed alert while the replica was locked for %.0fs "
                        "(alerts seen: %r)" % (LOCK_HOLD_S, kinds))
        pending = env.journal_counts()["pending"]
        check(pending >= 60, "only %d sales pending after %.0fs of a locked replica"
              % (pending, LOCK_HOLD_S))
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
    t_back = time.monotonic()
    wait_until(lambda: env.journal_counts()["pending"] < 20, 60,
               "p4gw to take the registers' resends once the lock was released",
               interval_s=0.1, detail=lambda: env.journal_counts())
    check(env.gw.running(), "p4gw died after the replica's lock was released")
    log("locked replica: p4gw alive, acked nothing it could not store, %d pending sales acked "
        "%.1fs after the lock was released" % (pending, time.monotonic() - t_back))
    return pending


def main():
    rng = faultenv.make_rng()
    rounds = faultenv.pick(1, 3)
    fs = h.Tmpfs("replica-fs", 24)
    env = faultenv.FaultStore(replica_dir=fs.path)
    env.start_gateway()
    env.wait_online()
    env.probe_receipts()
    env.simulator("r", registers=3, rate=100)
    env.wait_sales(50, what="sales before the disk fills")
    gaps = []
    full_rounds = 0
    stalled_acks = 0
    failed_before = resent_before = 0
    for i in range(rounds):
        t_full = time.monotonic()
        filler = fs.fill(leave_bytes=256 * 1024, name="filler-%d" % i)
        log("round %d: tmpfs filled (%d bytes free)" % (i + 1, fs.free_bytes()))

        # The gateway runs out of space within seconds: sales keep being journaled but the
        # replica stops growing.
        def stalled():
            c = env.journal_counts()
            return c["pending"] >= 60 and env.replica_count() + 60 <= c["made"]
        wait_until(stalled, 60, "p4gw to stop taking sales on a full disk", interval_s=0.1,
                   detail=lambda: (env.journal_counts(), env.replica_count()))
        full_rounds += 1
        n_at_full = env.replica_count()
        # Keep it full a while: the registers resend, the gateway must go on refusing.
        time.sleep(FULL_HOLD_S)  # the length of the outage is the scenario
        check(env.gw.running(), "p4gw died on a full disk (exit %s)" % env.gw.proc.poll())
        bad = acked_not_stored(env)
        check(not bad, "%d sales acked on a full disk without being in the replica, e.g. %s"
              % (len(bad), bad[:3]))
        stalled_acks += env.journal_counts()["pending"]
        alerts = env.alerts.since(t_full) + [a for a in env.hq.alerts]
        disk_alerts = [a for a in alerts if isinstance(a, dict) and a.get("kind") not in
                       ("oversell", "outbox_cap", "price_mismatch")]
        if not disk_alerts:
            gaps.append("round %d: no alert raised while the replica's disk was full "
                        "(alerts seen: %r)" % (i + 1, [a.get("kind") for a in alerts
                                                       if isinstance(a, dict)]))
        # A full disk must not make the gateway spin: failed groups and cloud re-sends are
        # counted from its log and HQ (reported as gaps, not failures).
        failed = env.gw.log_text().count("group commit failed") - failed_before
        failed_before += failed
        if failed > 20 * FULL_HOLD_S:
            gaps.append("round %d: %d failed group commits logged in about %.0fs on a full "
                        "disk (no backoff; two error lines each)" % (i + 1, failed,
                                                                     FULL_HOLD_S + 1))
        resent = env.hq.duplicates() - resent_before
        resent_before += resent
        if resent > env.replica_count():
            gaps.append("round %d: HQ got %d re-sent copies (%d sales in all) while the disk "
                        "was full (the cloud sender restarts after every failed commit)"
                        % (i + 1, resent, env.replica_count()))
        log("round %d: disk full, replica held at %d sales, %d pending in journals, "
            "p4gw alive; alerts: %r" % (i + 1, n_at_full, env.journal_counts()["pending"],
                                       [a.get("kind") for a in disk_alerts]))
        # Space returns: the filler goes and the file system grows; no restart.
        fs.resize(fs.size_mb + 16)
        t_back = time.monotonic()
        wait_until(lambda: env.journal_counts()["pending"] < 20, 60,
                   "p4gw to take the registers' resends once space returned", interval_s=0.1,
                   detail=lambda: env.journal_counts())
        log("round %d: space back, backlog acked after %.1fs without a restart"
            % (i + 1, time.monotonic() - t_back))
        check(env.gw.running(), "p4gw died after space returned")
        if i % 2 == 0:
            env.receive(rng)
        del filler  # kept on the tmpfs: each round fills the space the resize gave

    locked_pending = lock_phase(env, gaps)
    env.answer_resyncs()
    env.finish("f5_disk_full", full_rounds, gaps=gaps, extra_figures={
        "method": "tmpfs+filler+write_lock", "lock_phase": 1,
        "pending_while_full": stalled_acks, "pending_while_locked": locked_pending})


if __name__ == "__main__":
    h.run_test(main, may_skip=("mount",))  # a tmpfs needs root; CI runs as root
