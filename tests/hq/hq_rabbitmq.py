# SPDX-License-Identifier: Apache-2.0
"""RabbitMQ (Debian's rabbitmq-server, MQTT plugin) as the cloud broker: a two-node cluster on
loopback, p4hq and two stores' p4gw with `[cloud] uri = node1, node2` and MQTT 3.1.1, real
registers (p4term simulate) and PostgreSQL. One cluster for the whole file (it takes ~25 s).

A. Plain operation through RabbitMQ: sales up, HQ's down/ack down (retained: on the node HQ
   publishes through only, RabbitMQ 3.x keeps retained messages per node), a price change
   down, the gateway's retained status at HQ, and its last will (p4gw SIGKILLed: HQ records
   the store offline). A 1 MiB downlink-sized message crosses the cluster.
B. The node holding every session (p4hq's and the gateways' queues) is SIGKILLed while both
   stores sell: p4hq and p4gw fail over to node 2; every sale reaches HQ exactly once, a price
   set meanwhile arrives, the gateways' status went wan_down and back to online with
   delivered = hq_through = last gw_seq. Prints the failover time: node killed -> the first
   sale made after the kill committed at HQ.

Sessions survive the node only because their queues are mirrored (the ha-mode policy the
README's "Cloud brokers" section asks for): without it RabbitMQ 3.10 refuses any connection
with the same client id on the surviving node until the dead node returns."""

import time

import p4harness as h
from p4harness import check, log, wait_until
import hqchain
import rabbit

TENANT = hqchain.TENANT
SESSION_POLICY = '{"ha-mode":"all","ha-sync-mode":"automatic"}'


class RabbitCloud:
    """The cluster as hqchain's cloud broker: p4gw and p4hq get every node (URI); the test's
    own clients (ack watcher, retained reads) use node PORT, the one that survives."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.uri = cluster.uris
        self.watch_node = cluster.nodes[-1]
        self.port = self.watch_node.port
        self.log_path = cluster.nodes[0].log_path


def retained_on(node, topic, timeout_s=3):
    """The retained payload of TOPIC as NODE's own retained store has it, or None (live
    messages that arrive meanwhile are not it)."""
    w = h.StatusWatcher(node.port, topic)
    try:
        def first_retained():
            with w._lock:
                return [body for (_t, retained, body) in w.history if retained]
        try:
            return wait_until(first_retained, timeout_s, "retained %s" % topic)[0]
        except TimeoutError:
            return None
    finally:
        w.close()


def session_queues(cluster, via):
    """{client id: node} of the MQTT session queues."""
    out = {}
    for name, node, _msgs, _cons, durable, state in cluster.queues(via):
        if name.startswith("mqtt-subscription-") and name.endswith("qos1"):
            out[name[len("mqtt-subscription-"):-len("qos1")]] = (node, state)
    return out


def start_hq(hq, cluster, timeout_s=30):
    """Starts p4hq and waits until its session queue has its consumer on the cluster (RabbitMQ
    does not log subscriptions the way hqchain reads Mosquitto's log)."""
    hq.start(wait_subscribed=False)

    def subscribed():
        hq.check_alive()
        for name, _node, _m, consumers, _d, state in cluster.queues(cluster.nodes[-1]):
            if name == "mqtt-subscription-%sqos1" % hq.client_id and consumers == "1" \
                    and state == "running":
                return True
        return False
    wait_until(subscribed, timeout_s, "p4hq's session queue and consumer on RabbitMQ",
               interval_s=0.5)


def hq_store_state(chain, store):
    return chain.safe(lambda: chain.pg.value(
        "SELECT state FROM stores WHERE tenant = %s AND store = %s", TENANT, store))


def price_at(store, sku):
    rows = store.gw.query("SELECT price, ver FROM prices WHERE sku = ?", sku)
    return rows[0] if rows else None


def big_message(cloud):
    """A message at the contract's largest downlink size (1 MiB) crosses from node 1 to a
    subscriber on node 2."""
    n1, n2 = cloud.cluster.nodes
    topic = "p4/v1/%s/_probe/down/big" % TENANT
    got = []

    class Sub(h.MqttClient):
        def on_message(self, msg):
            got.append(len(msg.payload))
    sub = Sub(n2.port, "probe-sub-%s" % h.uuid7()[-8:]).connect()
    sub.subscribe(topic)
    pub = h.MqttClient(n1.port, "probe-pub-%s" % h.uuid7()[-8:]).connect()
    pub.publish(topic, b"x" * 1048576).wait_for_publish()
    wait_until(lambda: got, 15, "the 1 MiB message on the other node")
    check(got == [1048576], "1 MiB message arrived as %r" % got)
    pub.close()
    sub.close()


def mqtt5_refused(node, timeout_s=5):
    """True when NODE does not accept an MQTT 5 CONNECT (RabbitMQ before 3.13 speaks 3.1.1)."""
    import paho.mqtt.client as mqtt
    ok = []
    c = mqtt.Client(client_id="probe-v5-%s" % h.uuid7()[-8:], protocol=mqtt.MQTTv5)
    c.on_connect = lambda _c, _u, _f, rc, _p=None: ok.append(rc == 0)
    try:
        c.connect("127.0.0.1", node.port, 5)
        deadline = time.monotonic() + timeout_s
        while not ok and time.monotonic() < deadline:
            c.loop(timeout=0.2)
    except OSError:
        pass
    finally:
        c.disconnect()
    return not any(ok)


def gw_hq_resends(store):
    """The last hq_resends figure p4gw logged (its stats line, every few seconds: records sent
    again because HQ had not covered them within hq_resend_s)."""
    vals = [int(w.split("=", 1)[1]) for line in store.gw.log_text().splitlines()
            for w in line.split() if w.startswith("hq_resends=")]
    return vals[-1] if vals else 0


def main():
    cluster = rabbit.RabbitCluster(2, name="rabbit")
    n1, n2 = cluster.nodes
    cluster.ctl(n1, "set_policy", "--apply-to", "queues", "p4-mqtt-sessions",
                "^mqtt-subscription-", SESSION_POLICY)
    cloud = RabbitCloud(cluster)
    chain = hqchain.Chain(cloud=cloud)
    hq = chain.hq(mqtt_version="3.1.1")
    start_hq(hq, cluster)
    chain.wait_tables()
    hq.import_products()
    v311 = {"cloud": {"mqtt_version": "3.1.1"}}
    stores = [chain.store("s001", extra=v311), chain.store("s002", extra=v311)]
    for s in stores:
        s.start()

    # ---- A. plain operation ----------------------------------------------------------------
    hqchain.Load(stores, 20, 3, name="a").start().wait(60)
    chain.wait_caught_up(60)
    for s in stores:
        topic = "p4/v1/%s/%s/down/ack" % (TENANT, s.id)
        on1 = retained_on(n1, topic)
        check(on1 and on1.get("through") == s.last_gw_seq(),
              "%s: retained down/ack on node 1: %r" % (s.id, on1))
        # RabbitMQ 3.x: the retained store is per node; HQ published through node 1.
        on2 = retained_on(n2, topic, timeout_s=1.5)
        log("%s: retained down/ack through=%s on node 1, %r on node 2" % (
            s.id, on1["through"], on2))
    for s in stores:
        wait_until(lambda s=s: hq_store_state(chain, s.id) == "online", 20,
                   "HQ to hold %s's retained status online" % s.id)
    # The stores' stock fixture carries price ver 1, HQ's first version: spend it first.
    hq.cli_ok("price", "set", "last-one", "1999")
    ver = int(hq.cli_ok("price", "set", "coffee-250g", "1111").split()[-1])
    for s in stores:
        wait_until(lambda s=s: price_at(s, "coffee-250g") == (1111, ver), 20,
                   "%s to apply price ver %d" % (s.id, ver))
    big_message(cloud)
    check(mqtt5_refused(n1), "RabbitMQ %s accepted MQTT 5: update README's Cloud brokers"
          % rabbit.version())
    # The last will: p4gw dies without a DISCONNECT; the node publishes its retained offline.
    s2 = stores[1]
    s2.gw.kill()
    wait_until(lambda: hq_store_state(chain, s2.id) == "offline", 30,
               "HQ to record s002 offline from its last will",
               detail=lambda: hq_store_state(chain, s2.id))
    log("last will: s002 offline at HQ after p4gw was SIGKILLed")
    s2.start()
    wait_until(lambda: hq_store_state(chain, s2.id) == "online", 20, "s002 online again")
    log("A: sales, down/ack, price, status, last will and 1 MiB through RabbitMQ %s"
        % rabbit.version())

    # ---- B. the node holding the sessions dies while the stores sell ------------------------
    sessions = session_queues(cluster, n2)
    log("session queues (client id: home node, state): %r" % sessions)
    for cid in [hq.client_id] + ["p4gw-%s-%s" % (TENANT, s.id) for s in stores]:
        check(sessions.get(cid, ("?",))[0] == n1.name,
              "session of %s is not on node 1: %r" % (cid, sessions.get(cid)))
    marks = {s.id: s.status.mark() for s in stores}
    base = chain.hq_count()
    load = hqchain.Load(stores, 25, 16, name="b").start()
    hqchain.wait_sales_at_hq(chain, base + 100, 30)
    at_kill = {s.id: s.last_gw_seq() for s in stores}
    t_kill = time.monotonic()
    n1.kill()
    log("node 1 (%s) SIGKILLed; HQ held %d sales, stores at %r" % (n1.name, chain.hq_count(),
                                                                    at_kill))
    price_during = hq.cli("price", "set", "milk-1l", "222", timeout_s=30)
    t_price = time.monotonic()

    def after_kill_at_hq():
        for s in stores:
            top = chain.safe(lambda s=s: chain.pg.value(
                "SELECT max(gw_seq) FROM sales WHERE tenant = %s AND store = %s",
                TENANT, s.id))
            if not top or top <= at_kill[s.id]:
                return False
        return True
    wait_until(after_kill_at_hq, 60, "sales made after the kill to reach HQ", interval_s=0.05)
    failover_s = time.monotonic() - t_kill
    load.wait(90)
    chain.wait_caught_up(90)
    check(price_during.returncode == 0, "p4hq price set during the failover exited %d: %s"
          % (price_during.returncode, price_during.stderr.strip()[:300]))
    ver2 = int(price_during.stdout.split()[-1])
    for s in stores:
        wait_until(lambda s=s: price_at(s, "milk-1l") == (222, ver2), 30,
                   "%s to apply the price set during the failover" % s.id,
                   detail=lambda s=s: price_at(s, "milk-1l"))
    summary = chain.verify()
    for s in stores:
        states = [b.get("state") for b in s.status.live_since(marks[s.id])
                  if isinstance(b, dict)]
        check("wan_down" in states and states[-1] == "online",
              "%s status after the kill: %r" % (s.id, states))
        wait_until(lambda s=s: hq_store_state(chain, s.id) == "online", 20,
                   "HQ to hold %s online after the failover" % s.id)
        seen = [st for i, st in enumerate(states) if i == 0 or states[i - 1] != st]
        log("%s: status after the kill %s" % (s.id, " -> ".join(seen)))
    # The broker's view of the failover: every session (mirrored) now lives on node 2 and has
    # its consumer there again.
    after = {cid: q for cid, q in session_queues(cluster, n2).items() if cid in sessions}
    log("session queues after the kill: %r" % after)
    for cid in [hq.client_id] + ["p4gw-%s-%s" % (TENANT, s.id) for s in stores]:
        check(after.get(cid) == (n2.name, "running"), "session of %s after the kill: %r"
              % (cid, after.get(cid)))
    check(not n1.running() and n2.running(), "node states changed behind the test")
    check(cluster.running_nodes(n2) == [n2.name], "node 2 does not see node 1 down")
    hq.check_alive()
    log("FAILOVER: node killed -> sales at HQ again in %.2f s; price set during the failover "
        "took %.2f s to publish; %d sales exactly once at HQ (%r), %d made before the kill"
        % (failover_s, t_price - t_kill, summary["sales"], summary["stores"],
           sum(at_kill.values())))
    log("gateways' hq_resends (records sent again, HQ not covering them in time): %r"
        % {s.id: gw_hq_resends(s) for s in stores})
    check(hq.stop() == 0, "p4hq did not stop cleanly")
    for s in stores:
        check(s.gw.stop() == 0, "p4gw %s did not stop cleanly" % s.id)
    cluster.stop()


if __name__ == "__main__":
    h.run_test(main)
