# SPDX-License-Identifier: Apache-2.0
"""Store broker accounts and ACL, end to end.

The gateway's broker account is made by the package's postinst (its credential step, run on
paths in the test folder); the broker runs the shipped ACL (conf/mosquitto-store.acl) with
allow_anonymous false; registers are added and removed with `p4gw register`.

- anonymous clients and wrong passwords are refused; a provisioned register logs in;
- register r1 cannot publish as r2: the broker drops it and the gateway never sees it (no
  sale, no reject, no ack), while r1's own sales are acknowledged;
- r1 cannot read r2's sales or acks, but reads the store's changes;
- a sale whose "reg" differs from its topic is rejected by the gateway even when the broker
  lets it through (published with the gateway's own, unrestricted account);
- a removed register can no longer log in;
- the replica is created 0600, the secrets are 0600/0640, and no password reaches a log or
  the command's output.
"""

import json
import os
import re
import stat
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import p4harness as h  # noqa: E402

TENANT, STORE = "acme", "s001"
ACL = os.path.join(h.SOURCE_DIR, "conf", "mosquitto-store.acl")
POSTINST = os.path.join(h.SOURCE_DIR, "packaging", "debian", "postinst")


class Auth:
    """Mixin: logs in with USER/PASSWORD before the harness client connects."""

    def connect(self, timeout_s=10):
        self.client.username_pw_set(self._user, self._password)
        return super().connect(timeout_s)


class AuthRegister(Auth, h.Register):
    def __init__(self, broker, store, reg, password, user=None, **kw):
        self._user, self._password = user or reg, password
        super().__init__(broker, store, reg, **kw)


class AuthWatcher(Auth, h.StatusWatcher):
    def __init__(self, port, topic, user, password):
        self._user, self._password = user, password
        super().__init__(port, topic)


def connack(port, user=None, password=None, timeout_s=10):
    """The CONNACK code a fresh MQTT 3.1.1 client gets (0 = accepted)."""
    got = []
    done = threading.Event()
    c = mqtt.Client(client_id="probe-%s" % h.uuid7()[-10:], protocol=mqtt.MQTTv311)
    if user is not None:
        c.username_pw_set(user, password)

    def on_connect(_c, _u, _f, rc):
        got.append(rc)
        done.set()
    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=10)
    c.loop_start()
    try:
        h.check(done.wait(h.scaled(timeout_s)), "no CONNACK from port %d" % port)
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0]


def acl_rules(text):
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def postinst_credentials(dir):
    """Runs the postinst's store broker credential step with its /etc paths moved into DIR.
    Returns (password file, ACL written by the fallback, gateway secret)."""
    with open(POSTINST) as f:
        text = f.read()
    body = text.split('if [ "$1" = configure ]', 1)[0]
    passwd, acl, secret = (os.path.join(dir, n) for n in ("p4sync.passwd", "p4sync.acl",
                                                           "local.password"))
    body = (body.replace("/etc/mosquitto/p4sync.passwd", passwd)
            .replace("/etc/mosquitto/p4sync.acl", acl)
            .replace("/etc/p4gw/local.password", secret))
    # This machine has no p4gw group (the package creates it); ownership is not under test.
    body = body.replace("root:p4gw", "root:root")
    script = os.path.join(dir, "postinst-credentials.sh")
    with open(script, "w") as f:
        f.write(body + "\nstore_broker_credentials\n")
    res = subprocess.run(["sh", "-e", script], capture_output=True, text=True, timeout=60)
    h.check(res.returncode == 0, "postinst credential step failed: %s" % res.stderr)
    return passwd, acl, secret


def register_cmd(*args):
    res = subprocess.run([h.p4gw_path(), "register"] + list(args), capture_output=True,
                         text=True, timeout=60)
    return res


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def main():
    d = h.subdir("etc")
    passwd, acl_fallback, gw_secret = postinst_credentials(d)
    with open(gw_secret) as f:
        gw_password = f.read().strip()
    h.check(re.fullmatch(r"[A-Za-z0-9_-]{32}", gw_password), "gateway password not 32 "
            "base64url characters")
    h.check(mode(gw_secret) == 0o640, "gateway secret mode %o" % mode(gw_secret))
    with open(passwd) as f:
        h.check(re.search(r"^p4gw:\$7\$", f.read(), re.M), "no hashed p4gw user in passwd")
    with open(ACL) as f, open(acl_fallback) as g:
        h.check(acl_rules(f.read()) == acl_rules(g.read()),
                "postinst's fallback ACL differs from conf/mosquitto-store.acl")
    again = postinst_credentials(d)  # an upgrade keeps the account and its password
    with open(again[2]) as f:
        h.check(f.read().strip() == gw_password, "postinst changed the gateway's password")

    pid_file = os.path.join(d, "mosquitto.pid")
    store = h.Mosquitto("store", extra_conf="allow_anonymous false\npassword_file %s\n"
                        "acl_file %s\npid_file %s\n" % (passwd, ACL, pid_file))
    cloud = h.Mosquitto("cloud")
    hq = h.CloudConsumer(cloud, TENANT, STORE)

    # Provision r1 and r2 with the command a technician runs.
    out_dir = os.path.join(d, "registers")
    secrets = {}
    for reg in ("r1", "r2"):
        res = register_cmd("add", reg, "--store-conf", store.conf_path, "--out-dir", out_dir,
                           "--store", STORE)
        h.check(res.returncode == 0, "register add %s: %s" % (reg, res.stderr))
        path = os.path.join(out_dir, "%s.password" % reg)
        h.check(mode(path) == 0o600, "%s mode %o" % (path, mode(path)))
        with open(path) as f:
            secrets[reg] = f.read().strip()
        h.check(re.fullmatch(r"[A-Za-z0-9_-]{32}", secrets[reg]), "weak password for " + reg)
        h.check(secrets[reg] not in res.stdout + res.stderr, "the password was printed")
        for want in ("[broker]", "username = %s" % reg,
                     "password_file = /etc/p4term/%s.password" % reg, "id = %s" % reg,
                     "store = %s" % STORE, "store broker reloaded (SIGHUP"):
            h.check(want in res.stdout, "register add output lacks %r:\n%s" % (want, res.stdout))
    h.check(secrets["r1"] != secrets["r2"], "two registers got the same password")
    res = register_cmd("add", "p4gw", "--store-conf", store.conf_path, "--out-dir", out_dir)
    h.check(res.returncode == 2 and "gateway's own" in res.stderr,
            "a register could take the gateway's user: %r" % res.stderr)
    res = register_cmd("add", "R/1#", "--store-conf", store.conf_path, "--out-dir", out_dir)
    h.check(res.returncode == 2, "a register id with topic characters was accepted")

    # The reload is asynchronous: wait until the new accounts work.
    h.wait_until(lambda: connack(store.port, "r2", secrets["r2"]) == 0, 10, "r2 to log in")
    h.check(connack(store.port) == 5, "an anonymous client was let in")
    h.check(connack(store.port, "r1", "wrong-password") in (4, 5), "a wrong password worked")
    h.check(connack(store.port, "p4gw", gw_password) == 0, "the gateway's account is refused")
    h.log("logins: anonymous and wrong password refused; r1, r2 and p4gw accepted")

    gw = h.Gateway(store.uri, cloud.uri, TENANT, STORE, extra={
        "local": {"username": "p4gw", "password_file": gw_secret}})
    watcher = AuthWatcher(store.port, gw.status_topic, "r1", secrets["r1"])
    gw.start(states=("online",), watcher=watcher)
    r1 = AuthRegister(store, STORE, "r1", secrets["r1"], follow_changes=True)
    r2 = AuthRegister(store, STORE, "r2", secrets["r2"])
    ids = r1.sell(3)
    r1.wait_acked(ids)

    # r1 publishes a well-formed sale as r2, on r2's topic: the broker drops it.
    forged = r1.make_sale()
    forged["reg"] = "r2"
    r1.publish("pos/v1/%s/reg/r2/sale" % STORE, json.dumps(forged).encode())
    # Fence: r1's next sale on the same connection is acked after the forged one was handled.
    fence = r1.sell(1)
    r1.wait_acked(fence)
    h.wait_until(lambda: set(ids + fence) <= hq.ids(), 20, "r1's sales at HQ")
    h.check(not gw.query("SELECT 1 FROM sales WHERE id = ?", forged["id"]),
            "the gateway recorded a sale r1 published as r2")
    h.check(not gw.query("SELECT 1 FROM rejects WHERE CAST(payload AS TEXT) LIKE ?",
                         "%" + forged["id"] + "%"),
            "the forged sale reached the gateway (it is in rejects)")
    h.check(forged["id"] not in r2.acks and forged["id"] not in r1.acks,
            "the forged sale was acknowledged")
    h.check(forged["id"] not in hq.ids(), "the forged sale reached HQ")
    h.log("r1 publishing as r2: dropped by the broker, unseen by the gateway")

    # r1 snoops on r2: Mosquitto grants the subscriptions but delivers nothing the ACL denies.
    r1.subscribe("pos/v1/%s/reg/r2/ack" % STORE)
    r1.subscribe("pos/v1/%s/reg/+/sale" % STORE)
    x = r2.sell(1)
    r2.wait_acked(x)
    # Fence: the gateway acks r1's next sale after r2's, on the same connection to r1.
    y = r1.sell(1)
    r1.wait_acked(y)
    h.wait_until(lambda: any(isinstance(b, dict) and b.get("entity") or
                             isinstance(b, dict) and b.get("items") for b in r1.changes), 10,
                 "r1 to receive the store's change messages",
                 detail=lambda: r1.changes[-3:])
    leaked = [b for b in r1.changes if isinstance(b, dict) and
              (b.get("id") in x or b.get("reg") == "r2")]
    h.check(not leaked, "r1 read r2's traffic: %r" % (leaked[:2],))
    h.log("r1 reads the store's changes but none of r2's sales or acks")

    # A broker that lets anything through (here: the gateway's unrestricted account): the
    # gateway itself still refuses a sale whose reg is not its topic's register.
    rogue = AuthRegister(store, STORE, "r1", gw_password, user="p4gw")
    mismatch = rogue.make_sale()
    mismatch["reg"] = "r2"
    rogue.send(mismatch)
    h.wait_until(lambda: mismatch["id"] in r1.acks, 10, "an ack for the mismatched sale")
    ack = r1.acks[mismatch["id"]][0]
    h.check(ack.get("status") == "rejected" and "does not match" in ack.get("reason", ""),
            "mismatched reg was not rejected: %r" % ack)
    h.check(not gw.query("SELECT 1 FROM sales WHERE id = ?", mismatch["id"]),
            "a sale whose reg differs from its topic was recorded")
    rows = gw.query("SELECT reason FROM rejects WHERE CAST(payload AS TEXT) LIKE ?",
                    "%" + mismatch["id"] + "%")
    h.check(rows and "does not match" in rows[0][0], "the mismatch is not kept in rejects")
    h.log("reg/topic mismatch through a permissive account: rejected (%s)" % ack["reason"])
    rogue.close()

    # Remove r2: it can no longer log in; r1 is unaffected.
    r2.close()
    res = register_cmd("remove", "r2", "--store-conf", store.conf_path, "--out-dir", out_dir)
    h.check(res.returncode == 0, "register remove: %s" % res.stderr)
    h.check(not os.path.exists(os.path.join(out_dir, "r2.password")), "r2.password left")
    with open(passwd) as f:
        h.check(not re.search(r"^r2:", f.read(), re.M), "r2 still in the password file")
    h.wait_until(lambda: connack(store.port, "r2", secrets["r2"]) != 0, 10,
                 "r2 to be refused after removal")
    h.check(connack(store.port, "r1", secrets["r1"]) == 0, "r1 refused after r2's removal")

    # Files the gateway created are for its user only; no secret in its log.
    for suffix in ("", "-wal"):
        p = gw.replica + suffix
        if os.path.exists(p):
            h.check(mode(p) == 0o600, "%s mode %o" % (p, mode(p)))
    text = gw.log_text()
    for secret in [gw_password] + list(secrets.values()):
        h.check(secret not in text, "a password is in the gateway's log")
    h.check("username=p4gw" in text, "the gateway does not log which account it uses")
    r1.close()
    watcher.close()
    gw.stop()
    h.log("removed register refused; replica 0600; no password in logs or output")


if __name__ == "__main__":
    h.run_test(main)
