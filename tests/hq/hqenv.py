# SPDX-License-Identifier: Apache-2.0
"""Stores for the HQ downlink and conflict tests: a cloud broker shared by every store, per
store a store broker, a real p4gw (optionally behind a cuttable relay) with a known stock, an
HQ publisher for down/{kind} and a collector for what staff and HQ are told."""

import json
import os
import subprocess
import time

import p4harness as h
from p4harness import check, log, wait_until

TENANT = "acme"


class Collector(h.MqttClient):
    """Records every message on the topics it subscribes to: (topic, decoded JSON)."""

    def __init__(self, broker, topics):
        super().__init__(broker.port, "collect-%s" % h.uuid7()[-10:])
        self.msgs = []
        self.connect()
        for t in topics:
            self.subscribe(t)

    def on_message(self, msg):
        try:
            body = json.loads(msg.payload.decode())
        except ValueError:
            body = {"_raw": msg.payload}
        with self._lock:
            self.msgs.append((msg.topic, body))

    def on(self, topic):
        with self._lock:
            return [b for (t, b) in self.msgs if t == topic]


class Hq(h.MqttClient):
    """HQ publishing master data on the cloud broker."""

    def __init__(self, cloud):
        super().__init__(cloud.port, "hq-pub-%s" % h.uuid7()[-10:])
        self.connect()

    def down(self, kind, items, store="_all"):
        """Publishes {"items": ITEMS} on p4/v1/T/STORE/down/KIND (QoS 1); returns the time."""
        info = self.publish("p4/v1/%s/%s/down/%s" % (TENANT, store, kind),
                            json.dumps({"items": items}, separators=(",", ":")))
        info.wait_for_publish()
        return time.monotonic()


class Store:
    """One store: its broker, its gateway (started), staff alert collector, HQ consumer."""

    def __init__(self, cloud, store, stock, relay=False, extra=None, name=None):
        self.id = store
        self.stock = stock
        self.skus = [(sku, price, ver) for (sku, _n, price, ver) in stock]
        self.broker = h.Mosquitto("store-" + store)
        self.relay = h.Relay(cloud.port) if relay else None
        cloud_uri = self.relay.uri if relay else cloud.uri
        self.hq = h.CloudConsumer(cloud, TENANT, store)
        self.gw = h.Gateway(self.broker.uri, cloud_uri, TENANT, store, extra=extra,
                            name=name or "gw-" + store)
        self.gw.import_stock(stock)
        self.status = h.StatusWatcher.for_store(self.broker, store)
        self.alerts = Collector(self.broker, ["pos/v1/%s/alert" % store])

    def start(self):
        st = self.gw.start(("online",), watcher=self.status)
        log("p4gw %s pid %d up: %s" % (self.id, self.gw.pid, st))
        return self

    def register(self, reg, follow_changes=False):
        return h.Register(self.broker, self.id, reg, skus=self.skus,
                          follow_changes=follow_changes)

    def on_hand(self, sku):
        rows = self.gw.query("SELECT on_hand FROM stock WHERE sku = ?", sku)
        return rows[0][0] if rows else None

    def local_alerts(self, kind=None):
        got = self.alerts.on("pos/v1/%s/alert" % self.id)
        return [a for a in got if kind is None or a.get("kind") == kind]

    def cloud_alerts(self, kind=None):
        with self.hq._lock:
            got = list(self.hq.alerts)
        return [a for a in got if kind is None or a.get("kind") == kind]

    def record(self, sid):
        for r in self.hq.snapshot():
            if r.get("id") == sid:
                return r
        return None

    def flags(self, sid):
        rows = self.gw.query("SELECT flags FROM sales WHERE id = ?", sid)
        return json.loads(rows[0][0]) if rows else None


def sale_with(reg, lines, ts_ms=None, customer=None, earn=0, redeem=0, hold=None):
    """A valid sale of REG with LINES [(sku, qty, price, ver)]; optional ts, loyalty, hold."""
    s = reg.make_sale(lines=lines)
    if ts_ms is not None:
        s["ts"] = h._utc_ts(ts_ms)
    if customer:
        s["customer"] = customer
        s["loyalty"] = {"earn": earn, "redeem": redeem}
    if hold:
        s["hold"] = hold
    return s


def p4term_path():
    return h.p4term_path()


def term_ini(dir, store, reg, broker_uri):
    """Writes the INI of a p4term register; returns its path."""
    path = os.path.join(dir, reg + ".ini")
    h.write_ini(path, {
        "register": {"store": store, "id": reg, "journal": os.path.join(dir, reg + ".db")},
        "broker": {"uri": broker_uri},
        "sync": {"ack_timeout_ms": 500, "resend_max_ms": 2000},
    })
    return path


def term(ini, *args, timeout_s=30):
    """Runs p4term --config INI ARGS; returns (rc, stdout)."""
    res = subprocess.run([p4term_path(), "--config", ini] + list(args), capture_output=True,
                         text=True, timeout=h.scaled(timeout_s))
    return res.returncode, res.stdout


def wait_ok(what, cond, timeout_s=30, detail=None):
    return wait_until(cond, timeout_s, what, detail=detail)


__all__ = ["TENANT", "Collector", "Hq", "Store", "sale_with", "term_ini", "term", "check",
           "log", "wait_until"]


class TermProc:
    """A long-running p4term (watch) registered with the harness cleanup."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.proc = h.spawn(argv, log_path)
        h.register_log("p4term " + os.path.basename(log_path), log_path)
        h._register(self)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _cleanup(self):
        h.stop_process(self.proc, timeout_s=5)
