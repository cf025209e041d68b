# SPDX-License-Identifier: Apache-2.0
"""A PUBACK that arrives while the replica cannot be written still frees its window slot.

With max_inflight = 1 the one batch in flight waits for its PUBACK at a paused (SIGSTOP)
cloud broker; the test then holds the replica's write lock from another connection, so the
gateway's next group (the PUBACK, HQ's watermark) fails to begin after SQLite's busy timeout,
and resumes the broker. Once the lock is released, a new sale must still reach HQ and be
counted delivered: a PUBACK dropped with its failed group kept the slot forever, and nothing
more went to the cloud while the status said online."""

import sqlite3

import p4harness as h
from p4harness import check, log, wait_until
import gwenv


def main():
    env = gwenv.StoreEnv(extra={"cloud": {"max_inflight": "1"}})
    env.start()
    reg = env.register("r1")
    reg.sell(5)
    reg.wait_acked(timeout_s=20)
    wait_until(lambda: (env.status.latest() or {}).get("delivered") == 5, 15, "delivered 5",
               detail=env.status.latest)

    env.cloud.pause()
    lock = None
    try:
        reg.sell(1)  # gw_seq 6: committed, acked, its batch waits at the paused broker
        reg.wait_acked(timeout_s=20)
        lock = sqlite3.connect(env.gw.replica, timeout=10, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        failures = env.gw.log_text().count("group commit failed")
        env.cloud.resume()
        # The PUBACK's group waits out the busy timeout (5 s) and fails.
        wait_until(lambda: env.gw.log_text().count("group commit failed") > failures, 30,
                   "a group commit to fail on the locked replica")
        wait_until(lambda: env.hq.has_gw_seqs([6]), 10, "gw_seq 6 at HQ")
    finally:
        env.cloud.resume()
        if lock:
            lock.execute("ROLLBACK")
            lock.close()
    log("replica writable again")
    reg.sell(1)  # gw_seq 7 needs the slot batch 6 held
    reg.wait_acked(timeout_s=30)
    wait_until(lambda: env.hq.has_gw_seqs([7]), 20, "gw_seq 7 at HQ (the window slot freed)",
               detail=lambda: sorted(env.hq.gw_seqs())[-3:])
    st = env.status.wait_state("online", 20, pred=lambda b: b.get("delivered") == 7
                               and b.get("outbox") == 0)
    log("after the failed group: %r" % (st,))
    env.wait_outbox_drained()


if __name__ == "__main__":
    h.run_test(main)
