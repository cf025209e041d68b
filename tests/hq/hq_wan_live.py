# SPDX-License-Identifier: Apache-2.0
"""Live first (issue 20): a store behind an emulated 1 Mbit/s, 80 ms RTT WAN (p4harness.Wan
"1mbit_80ms"), plain JSON (`[cloud] compress = none`: the larger backlog). The WAN is cut while
four registers sell a backlog that takes well over 10 s to cross the link; the link comes back;
a sale made then must be committed in HQ's PostgreSQL before the backlog has drained (HQ's
watermark still below the backlog's end), and every sale, backlog and live, must be at HQ
exactly once (hqchain.Chain.verify). The status (status_revision = 1.4) and `p4gw status` show
the backlog and the live lane while it drains.

P4_LIVE_LANE=off runs the same with `[cloud] live_lane = off`: the test then fails (the live
sale waits behind the whole backlog), which shows it tests the lane."""

import os
import time

import p4harness as h
from p4harness import check, log, wait_until
import hqchain

TENANT = hqchain.TENANT
BACKLOG_RATE = 700      # sales/s while the WAN is down (4 registers)
BACKLOG_S = 6
LIVE_DEADLINE_S = 5     # the live sale at HQ within this after it was acked


class Via:
    """What hqchain.Store needs of a cloud broker: its URI, here the relay's."""

    def __init__(self, relay):
        self.uri = relay.uri


def main():
    lane = os.environ.get("P4_LIVE_LANE", "on")
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    relay = h.Relay(chain.cloud.port, wan="1mbit_80ms")
    metrics = "127.0.0.1:%d" % h.free_port()
    s = hqchain.Store(Via(relay), "s001", extra={
        "cloud": {"compress": "none", "live_lane": lane},
        "policy": {"status_revision": "1.4"},
        "metrics": {"listen": metrics}})
    chain.stores.append(s)
    s.start()
    log("WAN: %r, live_lane = %s" % (relay.wan, lane))

    # 1. the outage: a backlog sold while the WAN is down
    relay.cut("close")
    s.status.wait_state(("wan_down",), 30)
    load = hqchain.Load([s], BACKLOG_RATE, BACKLOG_S, registers=4, name="outage").start()
    load.wait(BACKLOG_S + 60)
    backlog_end = s.last_gw_seq()
    st = s.status.latest()
    check(st.get("backlog") == st.get("outbox") and st.get("live") == 0,
          "status while the WAN is down: %r" % (st,))
    log("backlog: %d sales, %d relayed bytes so far" % (backlog_end, relay.bytes["up"]))

    # 2. the link comes back; a sale made now
    reg = s.register("rlive")
    mark = s.status.mark()
    relay.restore()
    s.status.wait_state(("online",), 30, since=mark)
    restored = time.monotonic()
    sid = reg.send(reg.make_sale())
    wait_until(lambda: reg.final_ack(sid), 10, "the gateway's ack of the live sale")
    acked = time.monotonic()

    def at_hq():
        return chain.pg.value("SELECT count(*) FROM sales WHERE tenant = %s AND sale_id = %s",
                              TENANT, sid) == 1
    seen = None
    while time.monotonic() - acked < 120:
        if at_hq():
            seen = time.monotonic()
            break
        time.sleep(0.02)
    through = chain.hq_through("s001") or 0
    held = chain.hq_count("s001")
    check(seen is not None, "the live sale never reached HQ")
    log("live sale %s: acked %.2f s after the link came back, committed at HQ %.2f s after "
        "its ack; HQ then held %d of the %d backlog sales, watermark %d"
        % (sid, acked - restored, seen - acked, held, backlog_end, through))
    check(seen - acked <= LIVE_DEADLINE_S,
          "the live sale took %.1f s to reach HQ (over %d s): it waited behind the backlog"
          % (seen - acked, LIVE_DEADLINE_S))
    check(through < backlog_end,
          "HQ's watermark %d had reached the backlog's end %d before the live sale arrived: "
          "the backlog was too small to tell" % (through, backlog_end))

    # 3. the status and `p4gw status` show both lanes while the backlog drains
    st = s.status.wait_state(("online",), 10, since=mark,
                             pred=lambda b: b.get("backlog", 0) > 0 and b.get("live", 0) > 0)
    log("status while draining: %r" % (st,))
    check(st["backlog"] + st["live"] == st["outbox"], "lanes do not add up: %r" % (st,))
    out = s.gw.run("status")
    line = [x for x in out.stdout.splitlines() if x.startswith("lanes:")]
    check(out.returncode == 0 and line and "backlog=0 " not in line[0],
          "p4gw status shows no backlog while it drains:\n%s" % out.stdout)
    log("p4gw status: %s" % line[0])

    # 4. the backlog drains; every sale at HQ exactly once
    chain.wait_caught_up(90)
    drained = time.monotonic()
    summary = chain.verify()
    st = s.status.wait_state(("online",), 10, since=mark,
                             pred=lambda b: b.get("outbox") == 0)
    check(st.get("backlog") == 0 and st.get("live") == 0, "status after the drain: %r" % (st,))
    check("HQ did not commit records" not in s.gw.log_text(),
          "the gateway resent for HQ's watermark while the backlog drained")
    check("HQ lost sale records" not in s.gw.log_text(), "the gateway rewound for a lost HQ")
    log("hq_wan_live: %d sales at HQ; backlog of %d drained %.1f s after the link came back "
        "(%d bytes relayed up in all); the live sale was at HQ %.2f s after its ack"
        % (summary["sales"], backlog_end, drained - restored, relay.bytes["up"], seen - acked))
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly on SIGTERM")


if __name__ == "__main__":
    h.run_test(main)
