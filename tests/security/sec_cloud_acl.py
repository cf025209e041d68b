# SPDX-License-Identifier: Apache-2.0
"""Per-store identity at the cloud broker, end to end (issue 21): a Mosquitto cloud broker
runs the shipped conf/mosquitto-cloud.acl (rendered for the tenant by
scripts/p4-store-cert.sh acl) with require_certificate and use_identity_as_username, and
every client presents a certificate issued by scripts/p4-store-cert.sh from the chain's CA.

- s1's certificate cannot publish to s2's up/sale (HQ's identity never sees it) while its own
  up/sale reaches HQ; not even when it claims to be s2 with a user name;
- s1's certificate cannot read s2's down/# nor any store's uplink, while s2 reads its own;
- a store certificate cannot publish downlink (its own, another store's or _all); p4hq's
  identity can, and each store reads its own and the chain-wide downlink."""

import os
import subprocess
import threading

import paho.mqtt.client as mqtt

import p4harness as h
from p4harness import check, log, wait_until
from sec_certs import Pki

TENANT = "acme"
SCRIPT = os.path.join(h.SOURCE_DIR, "scripts", "p4-store-cert.sh")


class Tls:
    """A paho client presenting CERT (dict key/crt) on the TLS listener; records messages."""

    def __init__(self, port, ca, cert, name, username=None):
        self.got = []
        self.granted = {}
        self._lock = threading.Lock()
        self._up = threading.Event()
        self.c = mqtt.Client(client_id="%s-%s" % (name, h.uuid7()[-8:]),
                             protocol=mqtt.MQTTv311)
        self.c.tls_set(ca_certs=ca, certfile=cert["crt"], keyfile=cert["key"])
        if username:
            self.c.username_pw_set(username, "ignored")
        self.c.on_connect = lambda _c, _u, _f, rc: rc == 0 and self._up.set()
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        check(self._up.wait(h.scaled(10)), "%s did not connect" % name)
        h._register(self)

    def _on_message(self, _c, _u, msg):
        with self._lock:
            self.got.append((msg.topic, msg.payload.decode()))

    def _on_subscribe(self, _c, _u, mid, granted):
        with self._lock:
            self.granted[mid] = granted[0]

    def subscribe(self, topic):
        """The granted QoS, or 128 (0x80) when the broker refused the subscription."""
        _rc, mid = self.c.subscribe(topic, qos=1)
        wait_until(lambda: mid in self.granted, 10, "SUBACK of %s" % topic)
        return self.granted[mid]

    def publish(self, topic, text):
        info = self.c.publish(topic, text, qos=1)
        info.wait_for_publish()     # the broker has handled it (routed or dropped)

    def seen(self, topic=None, text=None):
        with self._lock:
            return [(t, p) for (t, p) in self.got if (topic is None or t == topic) and
                    (text is None or p == text)]

    def _cleanup(self):
        self.c.disconnect()
        self.c.loop_stop()


def issue(kind, ident, pki_dir, ca):
    argv = [SCRIPT, kind] + ([ident] if kind == "store" else []) + [
        "--tenant", TENANT, "--ca", ca["crt"], "--ca-key", ca["key"], "--out", pki_dir]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    check(res.returncode == 0, "p4-store-cert.sh %s: %s" % (kind, res.stderr))
    name = ident if kind == "store" else "p4hq.hq"
    check("topic " in res.stdout and "set_topic_permissions" in res.stdout,
          "no ACL lines printed for %s: %r" % (name, res.stdout))
    mode = os.stat(os.path.join(pki_dir, name + ".key")).st_mode & 0o777
    check(mode == 0o600, "%s.key is %o" % (name, mode))
    return {"crt": os.path.join(pki_dir, name + ".pem"),
            "key": os.path.join(pki_dir, name + ".key")}, res.stdout


def main():
    pki = Pki(h.subdir("pki"))
    ca = pki.ca("chain-ca", "P4 Test Chain CA")
    server = pki.leaf(ca, "broker", "cloud broker", san="IP:127.0.0.1", server=True)
    issued = h.subdir("issued")
    s1, out1 = issue("store", "s001", issued, ca)
    s2, _ = issue("store", "s002", issued, ca)
    hq, _ = issue("hq", None, issued, ca)
    check("topic write p4/v1/acme/s001/up/#" in out1, "s001's printed rules: %r" % out1)
    acl = os.path.join(issued, "cloud.acl")
    res = subprocess.run([SCRIPT, "acl", TENANT], capture_output=True, text=True, timeout=30)
    check(res.returncode == 0 and "{tenant}" not in res.stdout, "acl: %r" % res.stderr)
    with open(acl, "w") as f:
        f.write(res.stdout)
    port = h.free_port()
    h.Mosquitto("cloud", extra_conf=(
        "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n"
        "use_identity_as_username true\nacl_file %s\n" % (port, ca["crt"], server["crt"],
                                                          server["key"], acl)))
    wait_until(lambda: h.port_accepts(port), 10, "the TLS listener")

    p4hq = Tls(port, ca["crt"], hq, "p4hq")
    c1 = Tls(port, ca["crt"], s1, "gw-s001")
    c2 = Tls(port, ca["crt"], s2, "gw-s002")
    spoof = Tls(port, ca["crt"], s1, "gw-s001-as-s002", username="s002")
    up, down = "p4/v1/%s/%%s/up/sale" % TENANT, "p4/v1/%s/%%s/down/price" % TENANT
    check(p4hq.subscribe("p4/v1/%s/+/up/#" % TENANT) == 1, "p4hq may not read uplink")
    for topic in ("p4/v1/%s/s001/down/#" % TENANT, "p4/v1/%s/_all/down/#" % TENANT):
        check(c1.subscribe(topic) == 1, "s1 may not read %s" % topic)
    denied = [(t, c1.subscribe(t)) for t in ("p4/v1/%s/s002/down/#" % TENANT,
                                             "p4/v1/%s/+/up/#" % TENANT, "p4/v1/#")]
    log("s1's subscriptions to other stores' topics: %r" % denied)
    for topic in ("p4/v1/%s/s002/down/#" % TENANT, "p4/v1/%s/_all/down/#" % TENANT):
        check(c2.subscribe(topic) == 1, "s2 may not read %s" % topic)

    # ---- uplink: s1 only as itself ----
    c1.publish(up % "s002", "forged by s1")
    spoof.publish(up % "s002", "forged by s1 with user name s002")
    c1.publish(up % "s001", "s1's own sale")
    c2.publish(up % "s002", "s2's own sale")
    wait_until(lambda: p4hq.seen(up % "s001", "s1's own sale"), 10, "s1's own sale at HQ")
    wait_until(lambda: p4hq.seen(up % "s002", "s2's own sale"), 10, "s2's own sale at HQ")
    check(p4hq.seen(up % "s002") == [(up % "s002", "s2's own sale")],
          "HQ saw s2's up/sale from s1: %r" % p4hq.seen(up % "s002"))
    check(not [m for m in c1.seen() if "/up/" in m[0]], "s1 read uplink: %r" % c1.seen())

    # ---- downlink: only p4hq publishes it ----
    c1.publish(down % "s002", "price from s1")
    c1.publish(down % "s001", "price s1 gave itself")
    c1.publish(down % "_all", "chain price from s1")
    p4hq.publish(down % "s002", "price for s2 from HQ")
    p4hq.publish(down % "s001", "price for s1 from HQ")
    p4hq.publish(down % "_all", "chain price from HQ")
    wait_until(lambda: c2.seen(down % "s002", "price for s2 from HQ") and
               c2.seen(down % "_all", "chain price from HQ"), 10, "HQ's downlink at s2")
    wait_until(lambda: c1.seen(down % "s001", "price for s1 from HQ") and
               c1.seen(down % "_all", "chain price from HQ"), 10, "HQ's downlink at s1")
    check(sorted(c2.seen()) == sorted([(down % "s002", "price for s2 from HQ"),
                                       (down % "_all", "chain price from HQ")]),
          "s2 read downlink it should not have: %r" % c2.seen())
    check(sorted(c1.seen()) == sorted([(down % "s001", "price for s1 from HQ"),
                                       (down % "_all", "chain price from HQ")]),
          "s1 read what it should not (s2's downlink or its own forgery): %r" % c1.seen())
    log("ACL: s1 published only its own uplink, read only its own and _all downlink; "
        "only p4hq.hq published downlink")


if __name__ == "__main__":
    h.run_test(main)
