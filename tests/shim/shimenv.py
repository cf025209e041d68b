# SPDX-License-Identifier: Apache-2.0
"""One store for the terminal-shim end-to-end tests: store and cloud brokers, HQ consumer,
p4gw with a known stock import, and helpers to run `p4term` (one-shot commands, a long-running
`simulate`) and to read a register's journal."""

import json
import os
import sqlite3
import subprocess
import threading
import time

import p4harness as h
from p4harness import check, log

TENANT = "acme"
STORE = "s001"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def p4term_path():
    return h.p4term_path()


def load_stock(path=os.path.join(FIXTURES, "stock.csv")):
    """Rows (sku, on_hand, price_minor, price_ver) of a stock fixture (header skipped)."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("sku"):
                sku, on_hand, price, ver = line.split(",")
                rows.append((sku, int(on_hand), int(price), int(ver)))
    return rows


class TermProc:
    """A long-running p4term (simulate, watch) registered with the harness cleanup."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.proc = h.spawn(argv, log_path)
        h.register_log("p4term " + os.path.basename(log_path), log_path)
        h._register(self)

    def wait(self, timeout_s):
        try:
            return self.proc.wait(timeout=h.scaled(timeout_s))
        finally:
            h._unregister(self)

    def kill(self):
        rc = h.kill_process(self.proc)
        h._unregister(self)
        return rc

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _cleanup(self):
        h.stop_process(self.proc, timeout_s=5)


class ShimEnv:
    """Store broker, cloud broker, HQ consumer and a configured (not started) gateway with the
    fixture stock imported."""

    def __init__(self, stock=None, gw_extra=None):
        self.p4term = p4term_path()
        h.p4gw_path()  # skip before starting brokers when p4gw is not built
        self.stock = stock or load_stock()
        self.store_broker = h.Mosquitto("store")
        self.cloud = h.Mosquitto("cloud")
        self.hq = h.CloudConsumer(self.cloud, TENANT, STORE)
        self.gw = h.Gateway(self.store_broker.uri, self.cloud.uri, TENANT, STORE,
                            extra=gw_extra)
        self.gw.import_stock(self.stock)
        self.status = h.StatusWatcher.for_store(self.store_broker, STORE)
        self.dir = h.subdir("registers")

    def start_gateway(self):
        st = self.gw.start(("online",), watcher=self.status)
        log("p4gw pid %d up: %s" % (self.gw.pid, st))

    def register_ini(self, reg, broker_uri=None, ack_timeout_ms=500, resend_max_ms=2000):
        """Writes the INI of register REG (journal in the registers dir); returns its path."""
        path = os.path.join(self.dir, reg + ".ini")
        h.write_ini(path, {
            "register": {"store": STORE, "id": reg,
                         "journal": os.path.join(self.dir, reg + ".db")},
            "broker": {"uri": broker_uri or self.store_broker.uri},
            "sync": {"ack_timeout_ms": ack_timeout_ms, "resend_max_ms": resend_max_ms},
        })
        return path

    def term(self, ini, *args, timeout_s=30, expect_rc=0):
        """Runs p4term --config INI ARGS to completion; checks the exit code; returns stdout."""
        res = subprocess.run([self.p4term, "--config", ini] + list(args), capture_output=True,
                             text=True, timeout=h.scaled(timeout_s))
        log("p4term %s -> rc %d: %s%s" % (" ".join(args), res.returncode, res.stdout.strip(),
                                          (" | " + res.stderr.strip()) if res.stderr else ""))
        if expect_rc is not None:
            check(res.returncode == expect_rc, "p4term %s exited %d (want %d): %s %s"
                  % (" ".join(args), res.returncode, expect_rc, res.stdout, res.stderr))
        return res.stdout

    def simulate(self, name, *args):
        """Starts `p4term simulate` against the store broker with journals in the registers
        dir. Returns the TermProc."""
        argv = [self.p4term, "simulate", "--broker", self.store_broker.uri, "--store", STORE,
                "--dir", self.dir] + [str(a) for a in args]
        return TermProc(argv, os.path.join(h.tmp_root(), name + ".log"))

    def journal(self, reg):
        """Rows (id, seq, state, gw_seq) of register REG's journal, in journal order."""
        conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, reg + ".db"),
                               uri=True, timeout=10)
        try:
            return conn.execute("SELECT id, seq, state, gw_seq FROM sales ORDER BY lid").fetchall()
        finally:
            conn.close()

    def journal_count(self, reg):
        try:
            return len(self.journal(reg))
        except sqlite3.Error:
            return 0  # not created yet

    def replica_sales(self, reg=None):
        """{id: (gw_seq, reg, seq)} from the replica, checking no id appears twice."""
        rows = self.gw.query("SELECT id, gw_seq, reg, seq FROM sales")
        out = {}
        for sid, gw_seq, r, seq in rows:
            check(sid not in out, "sale %s is in the replica twice" % sid)
            if reg is None or r == reg:
                out[sid] = (gw_seq, r, seq)
        return out

    def check_register_done(self, reg):
        """Every sale in REG's journal is acked, is in the replica exactly once with the same
        seq and gw_seq, the seqs are 1..N, and the cloud got each one. Returns N."""
        rows = self.journal(reg)
        replica = self.replica_sales(reg)
        pending = [r for r in rows if r[2] != 1]
        check(not pending, "%s: %d journal sales not acked, e.g. %r" % (reg, len(pending),
                                                                      pending[:3]))
        seqs = [r[1] for r in rows]
        check(seqs == list(range(1, len(rows) + 1)),
              "%s: journal seqs are not 1..%d in order: %r..." % (reg, len(rows), seqs[:10]))
        for sid, seq, _state, gw_seq in rows:
            check(sid in replica, "%s: sale %s (seq %d) missing from the replica"
                  % (reg, sid, seq))
            check(replica[sid] == (gw_seq, reg, seq), "%s: sale %s is %r in the replica, "
                  "journal says gw_seq %d seq %d" % (reg, sid, replica[sid], gw_seq, seq))
        extra = set(replica) - {r[0] for r in rows}
        check(not extra, "%s: replica holds %d sales the journal never made" % (reg, len(extra)))
        return len(rows)

    def check_cloud(self, timeout_s=60):
        """Waits until the cloud has every replica sale; checks none arrived under two ids."""
        want = {gw_seq for (gw_seq, _r, _s) in self.replica_sales().values()}
        h.wait_until(lambda: self.hq.has_gw_seqs(want), timeout_s,
                     "%d records at the cloud" % len(want),
                     detail=lambda: "%d of %d" % (len(self.hq.gw_seqs() & want), len(want)))
        self.hq.check_consistent()  # one id per gw_seq and one gw_seq per id
        return len(want)


def parse_summary(text):
    """key=value pairs of a simulate summary (last value wins)."""
    out = {}
    for line in text.splitlines():
        if line.startswith("simulate:"):
            for tok in line.split()[1:]:
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    out[k] = v
    return out


class ScriptedGateway(h.MqttClient):
    """The gateway's side of the store topics for one store, spoken by the test as contract 1.1
    says (5.1-5.6): a retained `online` status (again after every reconnect), acks with gap-free
    gw_seqs, change messages the test asks for, sync replies that are log slices of them, and
    hold replies granting what `available` allows. Used where a test needs store data the real
    gateway cannot produce (yet); every register under test is the real p4term."""

    def __init__(self, broker, store=STORE):
        super().__init__(broker.port, "scripted-gw-" + store)
        self.store = store
        self.lock = threading.Lock()
        self.items = []        # change items, seq 1..n
        self.sales = {}        # id -> (gw_seq, payload dict)
        self.sale_order = []   # ids in arrival order
        self.hold_reqs = []    # hold request payloads (dicts)
        self.available = {}    # sku -> units a hold may take (absent: all asked)
        self.syncs = []        # (reg, request dict)
        self.acking = True     # False: sales are recorded but not acknowledged

    def _on_connect(self, client, userdata, flags, rc):
        super()._on_connect(client, userdata, flags, rc)
        if rc == 0:
            client.publish("pos/v1/%s/gateway/status" % self.store, json.dumps(
                {"state": "online", "outbox": 0, "delivered": 0, "ts": h._utc_ts()}),
                qos=1, retain=True)

    def start(self):
        self.connect()
        for kind in ("sale", "sync", "hold"):
            self.subscribe("pos/v1/%s/reg/+/%s" % (self.store, kind))
        return self

    def change(self, entity, key, value):
        """Appends one change-log item and publishes it on the changes topic; returns its seq."""
        with self.lock:
            seq = len(self.items) + 1
            item = {"seq": seq, "entity": entity, "key": key, "value": value}
            self.items.append(item)
        self.publish("pos/v1/%s/changes" % self.store,
                     json.dumps({"from": seq, "to": seq, "items": [item]}))
        return seq

    def alert(self, kind, message, sku=None, sales=None, details=None):
        a = {"id": h.uuid7(), "kind": kind, "severity": "warning", "ts": h._utc_ts(),
             "store": self.store, "message": message}
        if sku:
            a["sku"] = sku
        if sales:
            a["sales"] = sales
        if details:
            a["details"] = details
        self.publish("pos/v1/%s/alert" % self.store, json.dumps(a))
        return a

    def sale(self, sid):
        with self.lock:
            return self.sales.get(sid, (None, None))[1]

    def on_message(self, msg):
        parts = msg.topic.split("/")
        reg, kind = parts[4], "/".join(parts[5:])
        base = "pos/v1/%s/reg/%s/" % (self.store, reg)
        body = json.loads(msg.payload)
        if kind == "sale":
            with self.lock:
                if body["id"] not in self.sales:
                    self.sales[body["id"]] = (len(self.sales) + 1, body)
                    self.sale_order.append(body["id"])
                gw_seq = self.sales[body["id"]][0]
                if not self.acking:
                    return
            self.client.publish(base + "ack", json.dumps(
                {"id": body["id"], "status": "ok", "gw_seq": gw_seq, "seq": body["seq"]}), qos=1)
        elif kind == "sync":
            with self.lock:
                self.syncs.append((reg, body))
                cursor = body["cursor"]
                items = [it for it in self.items if it["seq"] > cursor]
                head = len(self.items)
                last = max([s["seq"] for (_g, s) in self.sales.values() if s["reg"] == reg]
                           or [0])
            self.client.publish(base + "sync/reply", json.dumps(
                {"req_id": body["req_id"], "from": cursor + 1, "to": cursor + len(items),
                 "snapshot": False, "more": False, "head": head, "last_sale_seq": last,
                 "items": items}), qos=1)
        elif kind == "hold":
            with self.lock:
                self.hold_reqs.append(body)
            reply = {"req_id": body["req_id"], "hold": body["hold"], "granted": [],
                     "expires": h._utc_ts()}
            if not body.get("release"):
                short = []
                for line in body["lines"]:
                    got = min(line["qty"], self.available.get(line["sku"], line["qty"]))
                    reply["granted"].append({"sku": line["sku"], "qty": got})
                    if got < line["qty"]:
                        short.append("%s: %d of %d available" % (line["sku"], got,
                                                                  line["qty"]))
                reply["expires"] = h._utc_ts(int(time.time() * 1000) + body["ttl_ms"])
                if short:
                    reply["reason"] = "; ".join(short)
            self.client.publish(base + "hold/reply", json.dumps(reply), qos=1)
