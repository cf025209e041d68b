# SPDX-License-Identifier: Apache-2.0
"""Self-test of p4harness: brokers start/stop/restart, the relay really cuts and restores a
paho client's link, the register and cloud-consumer helpers see what they should, and the
cleanup stops every process when a test fails, is signalled or is killed."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import p4harness as h
from p4harness import check, log, wait_until


class Echo(h.MqttClient):
    """Collects payloads of one topic."""

    def __init__(self, port, topic, name):
        super().__init__(port, name)
        self.got = []
        self.connect()
        self.subscribe(topic)

    def on_message(self, msg):
        with self._lock:
            self.got.append(msg.payload)


def roundtrip(pub, sub, topic, token):
    pub.publish(topic, token)
    wait_until(lambda: token in sub.got, 5, "%s to arrive on %s" % (token, topic))


def test_brokers():
    a = h.Mosquitto("a")
    b = h.Mosquitto("b", persistence=True)
    check(a.port != b.port, "two brokers got one port")
    check(a.uri == "tcp://127.0.0.1:%d" % a.port, "uri %s" % a.uri)
    for broker in (a, b):
        sub = Echo(broker.port, "t/x", "sub-" + broker.name)
        pub = h.MqttClient(broker.port, "pub-" + broker.name).connect()
        roundtrip(pub, sub, "t/x", b"hello-" + broker.name.encode())
        pub.close()
        sub.close()

    # A retained message survives a restart of a persistent broker on the same port.
    pub = h.MqttClient(b.port, "pub-retain").connect()
    info = pub.publish("t/retained", b"kept", retain=True)
    info.wait_for_publish()
    pub.close()
    old_pid = b.pid
    b.restart()
    check(b.pid != old_pid, "restart did not start a new process")
    check(h.port_accepts(b.port), "restarted broker does not accept on %d" % b.port)
    body = h.fetch_retained(b, "t/retained")
    check(body == {"_raw": b"kept"}, "retained after restart: %r" % (body,))

    # stop() ends the process and frees the port; kill() too.
    pid = a.pid
    rc = a.stop()
    check(rc == 0, "mosquitto exit code after SIGTERM: %r" % rc)
    check(not h.pid_alive(pid), "mosquitto %d still alive after stop()" % pid)
    wait_until(lambda: not h.port_accepts(a.port), 5, "port %d to close" % a.port)
    pid = b.pid
    b.kill()
    check(not h.pid_alive(pid), "mosquitto %d still alive after kill()" % pid)
    log("brokers: start, roundtrip, persistent restart, stop, kill ok")


def test_relay():
    broker = h.Mosquitto("relay-target")
    relay = h.Relay(broker.port)
    sub = Echo(broker.port, "r/#", "relay-sub")
    c = h.MqttClient(relay.port, "via-relay")
    c.client.reconnect_delay_set(min_delay=1, max_delay=1)
    c.connect()
    check(relay.live_connections() == 1, "relay connections %d" % relay.live_connections())
    roundtrip(c, sub, "r/1", b"before-cut")

    relay.cut()
    wait_until(lambda: not c.connected, 5, "the client to see the cut")
    before = c.connects
    # While cut, new connections are refused: the client keeps retrying and never connects.
    wait_until(lambda: relay.refused >= 2, 10, "two refused reconnect attempts",
               detail=lambda: relay.refused)
    check(not c.connected and c.connects == before, "client connected through a cut relay")
    c.publish("r/2", b"during-cut")  # queued by paho, must arrive after restore
    check(b"during-cut" not in sub.got, "a message crossed a cut relay")

    relay.restore()
    wait_until(lambda: c.connected, 10, "the client to reconnect after restore")
    roundtrip(c, sub, "r/3", b"after-restore")

    # Blackhole mode: the link goes silent; new connections hang instead of being refused.
    relay.cut("blackhole")
    wait_until(lambda: not c.connected, 5, "the client to see the blackhole cut")
    wait_until(lambda: relay.refused >= 3, 10, "a blackholed connection attempt")
    relay.restore()
    wait_until(lambda: c.connected, 15, "the client to reconnect after the blackhole")
    roundtrip(c, sub, "r/4", b"after-blackhole")
    c.close()

    # Freeze: the connection stays up but nothing crosses; only the keepalive notices.
    k = h.MqttClient(relay.port, "frozen")
    k.client.reconnect_delay_set(min_delay=1, max_delay=1)
    k.client.connect_async(k.host, k.port, keepalive=2)
    k.client.loop_start()
    k._started = True
    h._register(k)
    wait_until(lambda: k.connected, 5, "the keepalive-2 client to connect")
    relay.cut("freeze")
    k.publish("r/5", b"into-the-void")
    check(k.connected, "freeze closed the connection")
    wait_until(lambda: not k.connected, 10, "the keepalive to notice the frozen link")
    check(b"into-the-void" not in sub.got, "a message crossed a frozen relay")
    relay.restore()
    wait_until(lambda: k.connected, 15, "the client to reconnect after the freeze")
    roundtrip(k, sub, "r/6", b"after-freeze")
    k.close()
    sub.close()
    relay.stop()
    check(not h.port_accepts(relay.port), "relay still listening after stop()")
    log("relay: cut closes, refuses, blackholes and freezes the link; restore reconnects")


def test_register_and_consumer():
    store_broker = h.Mosquitto("store")
    cloud = h.Mosquitto("cloud")
    reg = h.Register(store_broker, "s1", "r1", skus=[("a", 250, 3), ("b", 199, 1), ("c", 5, 2)])
    sale = reg.make_sale()
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                       sale["id"]), "not a UUIDv7: %s" % sale["id"])
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sale["ts"]),
          "ts %s" % sale["ts"])
    check(sale["total"] == sum(l["qty"] * l["price"] for l in sale["lines"]), "total")
    check(sale["tenders"][0]["amount"] == sale["total"], "tender")
    check(reg.make_sale()["seq"] == sale["seq"] + 1, "seq does not increase")
    ids = [reg.make_sale()["id"] for _ in range(50)]
    # The 48-bit millisecond prefix orders ids; within one millisecond the rest is random.
    stamps = [i[:13] for i in ids]
    check(stamps == sorted(stamps), "uuid7 timestamps not in creation order")

    # A stand-in acker: acks the first copy ok, later copies duplicate, with a fake gw_seq.
    class Acker(h.MqttClient):
        def __init__(self):
            super().__init__(store_broker.port, "acker")
            self.seen = {}
            self.connect()
            self.subscribe("pos/v1/s1/reg/+/sale")

        def on_message(self, msg):
            s = json.loads(msg.payload)
            first = s["id"] not in self.seen
            self.seen.setdefault(s["id"], len(self.seen) + 1)
            if s["seq"] % 3 == 0 and first:
                return  # drop it: the register must keep it pending
            self.publish(msg.topic.rsplit("/", 1)[0] + "/ack", json.dumps(
                {"id": s["id"], "status": "ok" if first else "duplicate",
                 "gw_seq": self.seen[s["id"]], "seq": s["seq"]}))

    acker = Acker()
    sent = reg.sell(9)
    wait_until(lambda: len(reg.acked()) == 6, 5, "6 acks", detail=lambda: len(reg.acked()))
    pend = reg.pending()
    check(len(pend) == 3, "pending %r" % pend)
    reg.resend()
    reg.wait_acked(sent, timeout_s=5)
    for sid in pend:
        check(reg.final_ack(sid)["status"] == "duplicate", "resend not acked duplicate")
    acker.close()

    # Consumer: parses batches, detects conflicts and order breaks.
    hq = h.CloudConsumer(cloud, "acme", "s1")
    pub = h.MqttClient(cloud.port, "fake-gw").connect()
    topic = "p4/v1/acme/s1/up/sale"
    pub.publish(topic, json.dumps({"store": "s1", "items": [
        {"id": "x1", "gw_seq": 1}, {"id": "x2", "gw_seq": 2}]}))
    pub.publish(topic, json.dumps({"store": "s1", "items": [{"id": "x2", "gw_seq": 2},
                                                            {"id": "x3", "gw_seq": 3}]}))
    wait_until(lambda: len(hq.snapshot()) == 4, 5, "4 records")
    hq.check_consistent()
    check(hq.duplicates() == 1 and hq.first_arrival_order() == [1, 2, 3], "dedupe")
    check(hq.ids() == {"x1", "x2", "x3"}, "ids %r" % hq.ids())
    pub.publish(topic, json.dumps({"store": "s1", "items": [{"id": "y", "gw_seq": 2}]}))
    wait_until(lambda: len(hq.snapshot()) == 5, 5, "5 records")
    check(hq.conflicts(), "a gw_seq with two ids went unnoticed")
    pub.publish(topic, b"{not json")
    wait_until(lambda: hq.errors, 5, "the undecodable batch to be recorded")
    pub.close()
    hq.close()
    reg.close()
    log("register and cloud consumer helpers ok")


CHILD = textwrap.dedent("""
    import sys, time
    import p4harness as h
    def main():
        b = h.Mosquitto("child")
        sys.stdout.write("PID %d PORT %d DIR %s\\n" % (b.pid, b.port, h.tmp_root()))
        sys.stdout.flush()
        sys.stdin.readline()  # the parent has seen the broker running
        if sys.argv[1] == "fail":
            raise AssertionError("deliberate failure")
        if sys.argv[1] == "wait":
            sys.stdin.read()  # until the parent signals or kills us
    h.run_test(main)
""")


def run_child(mode, action=None):
    """Runs the child in MODE; ACTION(proc) acts on it once its broker is up. Returns
    (returncode, output, broker pid, tmp dir)."""
    path = os.path.join(h.tmp_root(), "child.py")
    with open(path, "w") as f:
        f.write(CHILD)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(h.__file__)))
    proc = subprocess.Popen([sys.executable, "-u", path, mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        first = proc.stdout.readline().decode()
        m = re.match(r"PID (\d+) PORT (\d+) DIR (\S+)", first)
        check(m, "child printed %r" % first)
        pid, tmp = int(m.group(1)), m.group(3)
        check(h.pid_alive(pid), "child broker not running")
        if action:
            action(proc)
            out, _ = proc.communicate(timeout=20)
        else:
            out, _ = proc.communicate(b"go\n", timeout=20)
        return proc.returncode, first + out.decode(), pid, tmp
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cleanup():
    rc, out, pid, tmp = run_child("pass")
    check(rc == 0, "passing child exit %d: %s" % (rc, out))
    check(not h.pid_alive(pid), "broker %d outlived a passing test" % pid)
    check(not os.path.exists(tmp), "tmp dir %s kept after success" % tmp)

    rc, out, pid, tmp = run_child("fail")
    check(rc == 1, "failing child exit %d" % rc)
    check(not h.pid_alive(pid), "broker %d outlived a failing test" % pid)
    check(os.path.isdir(tmp) and ("kept in %s" % tmp) in out,
          "failing test did not keep and print its dir: %s" % out)
    check("mosquitto child" in out, "failing test did not dump the broker log")
    h.shutil.rmtree(tmp, ignore_errors=True)

    rc, out, pid, tmp = run_child("wait", lambda p: p.send_signal(signal.SIGTERM))
    check(rc != 0, "signalled child exit %d" % rc)
    check(not h.pid_alive(pid), "broker %d outlived SIGTERM of the test" % pid)
    h.shutil.rmtree(tmp, ignore_errors=True)

    rc, out, pid, tmp = run_child("wait", lambda p: p.kill())
    check(rc == -signal.SIGKILL, "killed child exit %d" % rc)
    wait_until(lambda: not h.pid_alive(pid), 5, "broker %d to die with its SIGKILLed test" % pid)
    h.shutil.rmtree(tmp, ignore_errors=True)
    log("cleanup: pass, fail, SIGTERM and SIGKILL all stop the broker")


def test_wait_until():
    t0 = time.monotonic()
    try:
        wait_until(lambda: False, 0.2, "the impossible", detail=lambda: "nothing")
    except TimeoutError as e:
        check("the impossible" in str(e) and "nothing" in str(e), "message: %s" % e)
    else:
        raise AssertionError("wait_until did not time out")
    check(time.monotonic() - t0 < 5, "wait_until overran its deadline")
    check(wait_until(lambda: 42, 1, "a value") == 42, "wait_until value")


def main():
    test_wait_until()
    test_brokers()
    test_relay()
    test_register_and_consumer()
    test_cleanup()


if __name__ == "__main__":
    h.run_test(main)
