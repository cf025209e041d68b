# SPDX-License-Identifier: Apache-2.0
"""One store for the terminal-shim end-to-end tests: store and cloud brokers, HQ consumer,
p4gw with a known stock import, and helpers to run `p4term` (one-shot commands, a long-running
`simulate`) and to read a register's journal."""

import os
import sqlite3
import subprocess

import p4harness as h
from p4harness import check, log

TENANT = "acme"
STORE = "s001"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def p4term_path():
    if not h.BUILD_DIR:
        raise h.SkipTest("P4_BUILD_DIR is not set")
    path = os.path.join(h.BUILD_DIR, "terminal-shim", "p4term")
    if not os.access(path, os.X_OK):
        raise h.SkipTest("%s is not built" % path)
    return path


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

    def __init__(self, stock=None):
        self.p4term = p4term_path()
        h.p4gw_path()  # skip before starting brokers when p4gw is not built
        self.stock = stock or load_stock()
        self.store_broker = h.Mosquitto("store")
        self.cloud = h.Mosquitto("cloud")
        self.hq = h.CloudConsumer(self.cloud, TENANT, STORE)
        self.gw = h.Gateway(self.store_broker.uri, self.cloud.uri, TENANT, STORE)
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
