# SPDX-License-Identifier: Apache-2.0
"""A register process (p4term simulate, one register) is SIGKILLed mid-stream while it has
sales in flight: the gateway is frozen (SIGSTOP) for a moment first, so sales pile up that the
broker has handed to the gateway or still holds, with no ack back. After the gateway resumes
and the register restarts on the same journal, its pending sales are resent and each is
applied exactly once (the replica has every id once, with the seq and gw_seq the journal
holds), and the register's seq continues with no gap or reuse."""

import os
import signal

import p4harness as h
from p4harness import check, log, wait_until
import shimenv

REG = "r01"


def main():
    env = shimenv.ShimEnv()
    env.start_gateway()
    sim = env.simulate("simulate-1", "--registers", 1, "--rate", 100, "--duration", 60,
                       "--grace", 5, "--ack-timeout-ms", 500, "--resend-max-ms", 2000)
    wait_until(lambda: sum(1 for r in env.journal(REG) if r[2] == 1) >= 100
               if env.journal_count(REG) else False, 30, "100 acked sales before the kill",
               detail=lambda: env.journal_count(REG))
    frozen = False
    try:
        os.kill(env.gw.pid, signal.SIGSTOP)
        frozen = True
        base = env.journal_count(REG)
        wait_until(lambda: env.journal_count(REG) >= base + 30, 20,
                   "30 more sales journaled while the gateway is frozen")
        rc = sim.kill()
        check(rc == -9, "simulate was not killed: rc %r" % rc)
    finally:
        if frozen:
            os.kill(env.gw.pid, signal.SIGCONT)
    rows = env.journal(REG)
    pending_at_kill = [r for r in rows if r[2] == 0]
    max_seq_at_kill = max(r[1] for r in rows)
    log("killed the register with %d sales journaled, %d of them pending, last seq %d"
        % (len(rows), len(pending_at_kill), max_seq_at_kill))
    check(pending_at_kill, "no sale was pending at the kill; the test proves nothing")
    check([r[1] for r in rows] == list(range(1, len(rows) + 1)),
          "journal seqs before restart are not 1..N")

    # Restart the register on the same journal: it resends what is pending and sells on.
    sim2 = env.simulate("simulate-2", "--registers", 1, "--rate", 50, "--duration", 2,
                        "--grace", 30, "--ack-timeout-ms", 500, "--resend-max-ms", 2000)
    rc = sim2.wait(60)
    out = sim2.output()
    log("restarted register:\n%s" % "\n".join(l for l in out.splitlines()
                                               if l.startswith("simulate:")))
    check(rc == 0, "restarted simulate exited %d" % rc)
    summary = shimenv.parse_summary(out)
    check(int(summary["sales_made"]) > 0, "the restarted register made no sales")

    n = env.check_register_done(REG)  # all acked, replica once each, seqs 1..N
    rows = env.journal(REG)
    new = [r for r in rows if r[1] > max_seq_at_kill]
    check(len(new) == int(summary["sales_made"]),
          "%d sales after the restart continue the seq, summary says %s made"
          % (len(new), summary["sales_made"]))
    resent = {r[0] for r in pending_at_kill}
    replica = env.replica_sales(REG)
    check(all(sid in replica for sid in resent), "a sale pending at the kill is missing")
    log("%d sales in all; %d were pending at the kill and were applied once; seq went on "
        "from %d to %d" % (n, len(resent), max_seq_at_kill, rows[-1][1]))
    env.check_cloud(timeout_s=60)


if __name__ == "__main__":
    h.run_test(main)
