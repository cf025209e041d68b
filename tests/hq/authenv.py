# SPDX-License-Identifier: Apache-2.0
"""Issue 14's chain: real PostgreSQL, the cloud broker, p4hq, and stores whose registers are
real p4term processes (a `p4term watch` per register, tailed with the time each line is first
seen), optionally behind a cuttable WAN relay. Used by the auth_*.py tests."""

import os
import re
import subprocess
import threading
import time

import p4harness as h
import hqchain
from p4harness import check, log, wait_until

TENANT = hqchain.TENANT


class _CloudVia:
    """What hqchain.Store needs of the cloud broker (its uri), pointed at a relay."""

    def __init__(self, uri):
        self.uri = uri


class Watch:
    """`p4term watch` of one register, its output tailed every 2 ms: (monotonic time first
    seen, line) for each line."""

    def __init__(self, ini, name):
        self.ini = ini
        self.path = os.path.join(h.tmp_root(), name + ".watch.log")
        self.proc = h.spawn([h.p4term_path(), "--config", ini, "watch"], self.path)
        h.register_log("p4term watch " + name, self.path)
        h._register(self)
        self.lines = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._tail, daemon=True, name="tail-" + name)
        self._thread.start()

    def _tail(self):
        pos, buf = 0, b""
        while not self._stop:
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except OSError:
                data = b""
            if data:
                pos += len(data)
                buf += data
                now = time.monotonic()
                *done, buf = buf.split(b"\n")
                with self._lock:
                    self.lines += [(now, ln.decode("utf-8", "replace")) for ln in done]
            time.sleep(0.002)

    def price_seen(self, sku, ver):
        """Monotonic time the watch printed SKU's price at VER (or later), or None."""
        pat = re.compile(r"entity=price key=%s now=\d+ ver=(\d+)" % re.escape(sku))
        with self._lock:
            for (t, ln) in self.lines:
                m = pat.search(ln)
                if m and int(m.group(1)) >= ver:
                    return t
        return None

    def _cleanup(self):
        self._stop = True
        h.stop_process(self.proc, timeout_s=5)


class Store(hqchain.Store):
    """hqchain.Store, optionally reaching the cloud broker through a Relay (self.relay), with
    p4term registers (INI files in the store's folder)."""

    def __init__(self, chain, store, relay=False, **kw):
        self.relay = h.Relay(chain.cloud.port) if relay else None
        super().__init__(_CloudVia(self.relay.uri) if relay else chain.cloud, store, **kw)
        chain.stores.append(self)
        self.dir = h.subdir("regs-" + store)
        self.watches = []

    def ini(self, reg):
        return reg_ini(self.dir, self.id, reg, self.broker.uri)

    def watch(self, reg):
        w = Watch(self.ini(reg), "%s-%s" % (self.id, reg))
        self.watches.append(w)
        return w


def reg_ini(dir, store, reg, broker_uri):
    """The INI of p4term register REG of STORE (journal in DIR), written once; its path."""
    path = os.path.join(dir, reg + ".ini")
    if not os.path.exists(path):
        h.write_ini(path, {
            "register": {"store": store, "id": reg, "journal": os.path.join(dir, reg + ".db")},
            "broker": {"uri": broker_uri},
            "sync": {"ack_timeout_ms": 500, "resend_max_ms": 2000},
        })
    return path


def term(ini, *args, timeout_s=30, expect_rc=0):
    """p4term --config INI ARGS; checks the exit code unless EXPECT_RC is None; returns
    (rc, stdout, stderr)."""
    t0 = time.monotonic()
    res = subprocess.run([h.p4term_path(), "--log-level", "info", "--config", ini] +
                         [str(a) for a in args],
                         capture_output=True, text=True, timeout=h.scaled(timeout_s))
    log("p4term %s -> rc %d in %.0f ms: %s%s" % (" ".join(str(a) for a in args), res.returncode,
                                                 (time.monotonic() - t0) * 1000,
                                      res.stdout.strip()[:300],
                                      (" | " + res.stderr.strip()[-400:]) if res.stderr else ""))
    if expect_rc is not None:
        check(res.returncode == expect_rc, "p4term %s exited %d (want %d): %s %s"
              % (" ".join(str(a) for a in args), res.returncode, expect_rc, res.stdout,
                 res.stderr))
    return res.returncode, res.stdout, res.stderr


def sale(ini, customer=None, earn=0, redeem=0, line="coffee-250g:1:899"):
    """A sale of one line at INI's register, acked by its gateway (fails otherwise); returns
    the output's fields {id, status, ...}."""
    args = ["sale", "--line", line]
    if customer:
        args += ["--customer", customer]
        if earn:
            args += ["--earn", earn]
        if redeem:
            args += ["--redeem", redeem]
    _rc, out, _err = term(ini, *args)
    fields = dict(re.findall(r"(\w+)=(\S+)", out.strip().splitlines()[-1]))
    check(fields.get("status") == "acked", "sale not acked: %r" % out)
    return fields


def balance(ini, customer, *extra):
    """`p4term loyalty CUSTOMER` at INI's register: the balance printed, or None."""
    rc, out, _err = term(ini, "loyalty", customer, *extra, expect_rc=None)
    m = re.search(r"balance=(-?\d+)", out)
    return int(m.group(1)) if rc == 0 and m else None


def balance_shown(ini, customer):
    """Runs `p4term loyalty CUSTOMER` at INI's register and returns (balance or None, the
    monotonic time its line was printed). The print is when the till shows the balance; the
    process's exit (closing the MQTT client) may come up to a second later and is not part
    of it."""
    t0 = time.monotonic()
    proc = subprocess.Popen([h.p4term_path(), "--log-level", "info", "--config", ini,
                             "loyalty", customer], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    got, shown = None, None
    try:
        for line in proc.stdout:
            m = re.search(r"balance=(-?\d+)", line)
            if m and got is None:
                got, shown = int(m.group(1)), time.monotonic()
        _out, err = proc.communicate(timeout=h.scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log("p4term loyalty %s -> rc %d, balance=%s shown in %.0f ms, exited in %.0f ms | %s"
        % (customer, proc.returncode, got, ((shown or t0) - t0) * 1000,
           (time.monotonic() - t0) * 1000, (err or "").strip()[-300:]))
    return (got if proc.returncode == 0 else None), shown


def customer(ini, cid):
    """`p4term customer CID --sync`: (name, tier, ver) or None."""
    rc, out, _err = term(ini, "customer", cid, "--sync", "--wait-ms", 2000, expect_rc=None)
    m = re.search(r'name="(.*)" tier=(\S+) ver=(\d+)', out)
    return (m.group(1), m.group(2), int(m.group(3))) if rc == 0 and m else None


def hq_alerts(chain, kind):
    """HQ's own alerts of KIND: [(store, message)]."""
    return chain.pg.sql("SELECT store, message FROM alerts WHERE tenant = %s AND kind = %s"
                        " ORDER BY received_at", TENANT, kind)


def start_chain(persistence=False):
    """PostgreSQL, the cloud broker and one p4hq with its schema; returns (chain, hq)."""
    chain = hqchain.Chain(persistence=persistence)
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    return chain, hq


def price_set(hq, sku, price, *extra):
    """`p4hq price set SKU PRICE`: the version it printed."""
    out = hq.cli_ok("price", "set", sku, str(price), *extra)
    m = re.search(r"(\d+)", out)
    check(m, "p4hq price set printed no version: %r" % out)
    return int(m.group(1))


__all__ = ["Store", "reg_ini", "Watch", "term", "sale", "balance", "balance_shown", "customer",
           "hq_alerts", "start_chain", "price_set", "check", "log", "wait_until", "TENANT"]
