# SPDX-License-Identifier: Apache-2.0
"""p4gw with two cloud nodes (`[cloud] uri = a, b`, two Mosquittos standing in for a cluster's
nodes): node a dies -> the link fails over to b; a comes back and b dies -> the link comes back
to a (Paho's own automatic reconnect would stay on b: README, "Cloud brokers"); once more to
b. After each failover a sale made at a register is PUBACKed by the surviving node, and the
status goes wan_down -> online. Prints each failover time (node killed -> status online)."""

import time

import p4harness as h
from p4harness import check, log, wait_until


def main():
    a, b = h.Mosquitto("cloud-a"), h.Mosquitto("cloud-b")
    store = h.Mosquitto("store")
    gw = h.Gateway(store.uri, "%s, %s" % (a.uri, b.uri), "acme", "s001",
                   extra={"cloud": {"delivered_on": "puback", "reconnect_max_s": "2"}})
    status = h.StatusWatcher(store.port, gw.status_topic)
    gw.start(watcher=status)
    check("nodes=2" in gw.log_text(), "p4gw did not log its two nodes")
    reg = h.Register(store, "s001", "r01").connect()
    times = []
    for dead, alive, back in ((a, b, None), (b, a, a), (a, b, b)):
        if back is not None:
            back.start()
        watch = h.CloudConsumer(alive, "acme", "s001")
        mark = status.mark()
        t0 = time.monotonic()
        dead.kill()
        status.wait_state(("wan_down",), 10, since=mark)
        status.wait_state(("online",), 20, since=mark)
        times.append(time.monotonic() - t0)
        sid = reg.sell()[0]
        reg.wait_acked([sid], 10)
        g = reg.final_ack(sid)["gw_seq"]
        wait_until(lambda: g in watch.gw_seqs(), 10,
                   "sale gw_seq %d at the surviving node %r" % (g, alive))
        watch.close()
        log("%r killed -> online on %r in %.2f s, sale gw_seq %d there" % (
            dead, alive, times[-1], g))
    check(max(times) < 10, "failover took %r s" % times)
    check(gw.stop() == 0, "p4gw did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
