# SPDX-License-Identifier: Apache-2.0
"""The whole chain for p4hq's integration tests: a throwaway PostgreSQL cluster, the cloud
broker, p4hq processes, and stores (store broker, p4gw, registers) whose own journals and
replicas are the ground truth HQ is compared with.

What "HQ is right" means here (verify()): every sale a store's gateway accepted is in HQ's
`sales` exactly once under its (store, gw_seq) with the register's content; lines, tenders,
stock, the journal (recomputed here from the sales and the product master with the posting
rule of issue 13) and the loyalty ledger match; every entry balances and the trial balance sums
to zero; `stores.hq_through` is each store's last gw_seq, HQ's retained down/ack says so, and
the gateway's status shows delivered = hq_through.
"""

import csv
import json
import os
import subprocess
import threading
import time

import p4harness as h
import pgcluster
from p4harness import check, log, wait_until

TENANT = "acme"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
ACCOUNTS = {"cash": "1000", "card": "1010", "other": "1190", "inventory": "1200",
            "tax": "2200", "loyalty": "2300", "revenue": "4000", "cogs": "5000"}
DEFAULT_TAX_RATE = "10"   # percent, for skus missing from the product master
SALE_KINDS_MOVING_STOCK = ("sale", "return")


def p4hq_path():
    """BUILD_DIR/hq/p4hq; a missing binary fails the test (p4harness.NotBuilt)."""
    return h.require_built("hq", "p4hq")


def percent_bp(text):
    """'7.5' -> 750 basis points, exactly (no floating point)."""
    whole, _, frac = text.strip().partition(".")
    frac = (frac + "00")[:2]
    return int(whole or "0") * 100 + int(frac)


def load_stock(path=os.path.join(FIXTURES, "chain_stock.csv")):
    with open(path) as f:
        return [(r["sku"], int(r["on_hand"]), int(r["price_minor"]), int(r["price_ver"]))
                for r in csv.DictReader(f)]


def load_products(path=os.path.join(FIXTURES, "products.csv")):
    """{sku: (tax_bp, unit_cost or None)} of a product CSV fixture."""
    out = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            cost = r["unit_cost"].strip()
            out[r["sku"]] = (percent_bp(r["tax_rate"]), int(cost) if cost else None)
    return out


# ---------------------------------------------------------------------------------------------
# the cloud broker and what HQ publishes on it

def cloud_broker(persistence=False, extra_conf=""):
    """The cloud Mosquitto; its log shows subscriptions, which is how P4hq.start() knows the
    daemon is listening."""
    return h.Mosquitto("cloud", persistence=persistence,
                       extra_conf="log_type subscribe\n" + extra_conf)


class AckWatcher(h.MqttClient):
    """Follows HQ's retained p4/v1/T/+/down/ack: every (wall time, store, through, retained)."""

    def __init__(self, cloud):
        super().__init__(cloud.port, "ackwatch-%s" % h.uuid7()[-10:])
        self.seen = []
        self.bad = []
        self.connect()
        self.subscribe("p4/v1/%s/+/down/ack" % TENANT)

    def on_message(self, msg):
        now = time.time()
        store = msg.topic.split("/")[3]
        try:
            body = json.loads(msg.payload.decode())
            ok = (isinstance(body, dict) and body.get("store") == store and
                  isinstance(body.get("through"), int) and isinstance(body.get("ts"), str))
        except (ValueError, UnicodeDecodeError):
            body, ok = msg.payload, False
        with self._lock:
            if ok:
                self.seen.append((now, store, body["through"], bool(msg.retain)))
            else:
                self.bad.append((msg.topic, body))

    def through(self, store):
        with self._lock:
            vals = [t for (_w, s, t, _r) in self.seen if s == store]
        return max(vals) if vals else None

    def covered_at(self, store, gw_seq):
        """Wall time of the first down/ack (live) of STORE covering GW_SEQ, or None."""
        with self._lock:
            for (w, s, t, r) in self.seen:
                if s == store and t >= gw_seq and not r:
                    return w
        return None


def publish_raw(cloud, topic, payload, qos=1):
    """Publishes PAYLOAD (bytes/str) on the cloud broker and waits for the PUBACK."""
    c = h.MqttClient(cloud.port, "rawpub-%s" % h.uuid7()[-10:]).connect()
    try:
        if isinstance(payload, str):
            payload = payload.encode()
        info = c.publish(topic, payload, qos=qos)
        info.wait_for_publish()
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# p4hq

class P4hq:
    """p4hq with a generated INI in its own folder. EXTRA ({section: {key: value}}) overrides
    keys (None removes one). start() returns once the cloud broker logged its subscription."""

    def __init__(self, cloud, pg, name="hq", client_id="p4hq-1", share_group="",
                 mqtt_version="5", extra=None):
        self.bin = p4hq_path()
        self.name = name
        self.cloud = cloud
        self.pg = pg
        self.client_id = client_id
        self.dir = h.subdir(name)
        self.ini = os.path.join(self.dir, "p4hq.ini")
        self.log_path = os.path.join(self.dir, "p4hq.log")
        self.proc = None
        self.starts = 0
        self.config = {
            "tenant": {"id": TENANT},
            "cloud": {"uri": cloud.uri, "client_id": client_id, "mqtt_version": mqtt_version,
                      "share_group": share_group, "keepalive_s": "5", "reconnect_max_s": "1"},
            "db": {"conninfo": pg.conninfo(), "password_file": ""},
            "http": {"listen": "127.0.0.1:%d" % h.free_port()},
            "log": {"level": "info"},
            "accounts": dict(ACCOUNTS),
            "ledger": {"default_tax_rate": DEFAULT_TAX_RATE},
        }
        for section, keys in (extra or {}).items():
            sec = self.config.setdefault(section, {})
            for k, v in keys.items():
                if v is None:
                    sec.pop(k, None)
                else:
                    sec[k] = v
        h.write_ini(self.ini, self.config)
        h.register_log("p4hq " + name, self.log_path)
        h._post_checks.append(self.check_log_clean)

    def __repr__(self):
        return "P4hq(%s pid=%s)" % (self.name, self.pid)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s=30, wait_subscribed=True):
        check(not self.running(), "%r already running" % self)
        mark = self._broker_log_size()
        self.proc = h.spawn([self.bin, "--config", self.ini], self.log_path)
        self.starts += 1
        h._register(self)
        if wait_subscribed:
            def up():
                if self.proc.poll() is not None:
                    raise RuntimeError("p4hq exited with %s during start; see %s"
                                       % (self.proc.returncode, self.log_path))
                return self._subscribed_since(mark)
            wait_until(up, timeout_s, "p4hq %s to subscribe on the cloud broker" % self.name)
        return self

    def _broker_log_size(self):
        try:
            return os.path.getsize(self.cloud.log_path)
        except OSError:
            return 0

    def _subscribed_since(self, offset):
        try:
            with open(self.cloud.log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return False
        return any(self.client_id + " 1 " in line and "up/sale" in line
                   for line in text.splitlines())

    def stop(self, timeout_s=20):
        rc = h.stop_process(self.proc, timeout_s) if self.proc else None
        h._unregister(self)
        return rc

    def kill(self):
        rc = h.kill_process(self.proc) if self.proc else None
        h._unregister(self)
        return rc

    def _cleanup(self):
        if self.proc:
            h.stop_process(self.proc, timeout_s=5)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def check_log_clean(self):
        text = self.log_text()
        for mark in h.Gateway.SANITIZER_MARKS:
            at = text.find(mark)
            check(at < 0, "sanitizer report in %s: %s" % (self.log_path, text[at:at + 300]))

    def check_alive(self):
        check(self.running(), "p4hq %s is not running (exit %s); see %s"
              % (self.name, self.proc.returncode if self.proc else None, self.log_path))

    # ---- operator commands ----

    def cli(self, *args, ini=None, timeout_s=60):
        """Runs p4hq --config INI ARGS; returns CompletedProcess (text), logged."""
        argv = [self.bin, "--config", ini or self.ini] + list(args)
        res = subprocess.run(h._child_argv(argv), capture_output=True, text=True,
                             timeout=h.scaled(timeout_s))
        with open(os.path.join(self.dir, "cli.log"), "a") as f:
            f.write("$ %s\nrc=%d\n%s%s\n" % (" ".join(argv), res.returncode, res.stdout,
                                              res.stderr))
        return res

    def cli_ok(self, *args):
        res = self.cli(*args)
        check(res.returncode == 0, "p4hq %s exited %d: %s" % (" ".join(args), res.returncode,
                                                               res.stderr.strip()[:500]))
        return res.stdout

    def cli_json(self, *args):
        out = self.cli_ok(*(list(args) + ["--format", "json"]))
        try:
            rows = json.loads(out)
        except ValueError as e:
            raise AssertionError("p4hq %s --format json printed no JSON (%s): %r"
                                 % (" ".join(args), e, out[:300]))
        check(isinstance(rows, list) and all(isinstance(r, dict) for r in rows),
              "p4hq %s --format json is not an array of objects: %r" % (" ".join(args),
                                                                       out[:300]))
        return rows

    def import_products(self, path=os.path.join(FIXTURES, "products.csv")):
        return self.cli_ok("import", "products", path)


# ---------------------------------------------------------------------------------------------
# stores

_hq_acks = None


def gateway_has_hq_acks():
    """True when p4gw knows contract 1.2's [cloud] hq_resend_s (it counts a record delivered
    only when HQ's down/ack covers it); else it still counts the broker's PUBACK."""
    global _hq_acks
    if _hq_acks is None:
        d = h.subdir("probe-gw")
        ini = os.path.join(d, "p4gw.ini")
        h.write_ini(ini, {"store": {"tenant": TENANT, "id": "s000"},
                          "local": {"uri": "tcp://127.0.0.1:1"},
                          "cloud": {"uri": "tcp://127.0.0.1:1", "hq_resend_s": "2"},
                          "replica": {"path": os.path.join(d, "r.db")}})
        res = subprocess.run([h.p4gw_path(), "--config", ini, "--check-config"],
                             capture_output=True, text=True, timeout=30)
        _hq_acks = res.returncode == 0
        if not _hq_acks:
            log("NOTE: this p4gw predates contract 1.2 (%s): it counts a record delivered on "
                "the broker's PUBACK, so HQ-side losses are not resent"
                % res.stderr.strip()[:160])
    return _hq_acks


class Store:
    """One store: its broker, p4gw (configured, started by start()) on the cloud broker CLOUD,
    a status watcher, registers made on demand. HQ_RESEND_S: [cloud] hq_resend_s."""

    def __init__(self, cloud, store, stock=None, hq_resend_s=2, extra=None):
        self.id = store
        self.stock = stock or load_stock()
        self.skus = [(sku, price, ver) for (sku, _n, price, ver) in self.stock
                     if sku != "last-one"]
        self.broker = h.Mosquitto("store-" + store)
        cfg = {"cloud": {"mqtt_version": "5"}}
        if gateway_has_hq_acks():
            cfg["cloud"]["hq_resend_s"] = str(hq_resend_s)
        for section, keys in (extra or {}).items():
            cfg.setdefault(section, {}).update(keys)
        self.gw = h.Gateway(self.broker.uri, cloud.uri, TENANT, store, extra=cfg,
                            name="gw-" + store)
        self.gw.import_stock(self.stock)
        self.status = h.StatusWatcher.for_store(self.broker, store)
        self.sims = []
        self.registers = []

    def __repr__(self):
        return "Store(%s)" % self.id

    def start(self):
        st = self.gw.start(("online",), watcher=self.status)
        log("p4gw %s pid %d up" % (self.id, self.gw.pid))
        return st

    def simulator(self, rate, duration_s, registers=2, name=None, grace_s=60):
        name = name or "sim%d" % (len(self.sims) + 1)
        sim = h.Simulator(self.broker.uri, self.id, h.subdir("%s-%s" % (self.id, name)),
                          registers=registers, rate=rate, duration_s=duration_s,
                          grace_s=grace_s, prefix="%s%s-r" % (self.id, name), name=name)
        self.sims.append(sim)
        return sim

    def register(self, reg):
        r = h.Register(self.broker, self.id, reg, skus=self.skus)
        self.registers.append(r)
        return r

    # ---- truth ----

    def replica_sales(self):
        """{gw_seq: sale id} the gateway accepted."""
        return dict(self.gw.query("SELECT gw_seq, id FROM sales"))

    def last_gw_seq(self):
        return self.gw.query("SELECT coalesce(max(gw_seq), 0) FROM sales")[0][0]

    def register_truth(self):
        """(sales, acked): SALES {id: sale dict as published} of every register of this store
        (simulators' journals and harness registers); ACKED {id: gw_seq} of those acked ok or
        duplicate. Fails if an id was acked with two gw_seqs."""
        sales, acked = {}, {}
        for sim in self.sims:
            for path in sim.journals():
                if not os.path.exists(path):
                    continue
                for row in h.read_journal(path):
                    sales[row["id"]] = row["sale"]
                    if row["state"] == h.JOURNAL_ACKED and row["gw_seq"]:
                        acked[row["id"]] = row["gw_seq"]
        for r in self.registers:
            with r._lock:
                items = [(sid, list(a)) for sid, a in r.acks.items()]
                made = dict(r.sales)
            sales.update(made)
            for sid, acks in items:
                seqs = {a.get("gw_seq") for a in acks if a.get("status") in ("ok", "duplicate")}
                check(len(seqs) <= 1, "sale %s acked with gw_seqs %r" % (sid, seqs))
                if seqs:
                    acked[sid] = seqs.pop()
        return sales, acked


# ---------------------------------------------------------------------------------------------
# the chain

class Chain:
    """PostgreSQL + cloud broker (+ optional persistence) + p4hq instances + stores."""

    def __init__(self, persistence=False, cloud_extra="", cloud=None):
        """CLOUD: another cloud broker than a Mosquitto of our own (an object with .uri for
        p4gw and p4hq, .port for the test's own clients; tests/hq/hq_rabbitmq.py)."""
        p4hq_path()       # skip before starting anything when p4hq is not built
        h.p4gw_path()
        h.p4term_path()
        self.pg = pgcluster.PgCluster("pg")
        self.cloud = cloud or cloud_broker(persistence=persistence, extra_conf=cloud_extra)
        self.acks = AckWatcher(self.cloud)
        self.hqs = []
        self.stores = []

    def hq(self, name="hq", **kw):
        q = P4hq(self.cloud, self.pg, name=name, **kw)
        self.hqs.append(q)
        return q

    def store(self, store_id, **kw):
        s = Store(self.cloud, store_id, **kw)
        self.stores.append(s)
        return s

    def wait_tables(self, timeout_s=30):
        """Until p4hq's migrations created the schema."""
        wait_until(lambda: self.pg.value("SELECT to_regclass('public.stores') IS NOT NULL"),
                   timeout_s, "p4hq's migrations (table stores)")

    # ---- HQ state ----

    def hq_through(self, store):
        return self.pg.value("SELECT hq_through FROM stores WHERE tenant = %s AND store = %s",
                             TENANT, store)

    def hq_count(self, store=None):
        if store is None:
            return self.pg.value("SELECT count(*) FROM sales WHERE tenant = %s", TENANT)
        return self.pg.value("SELECT count(*) FROM sales WHERE tenant = %s AND store = %s",
                             TENANT, store)

    def safe(self, fn, default=None):
        """FN() or DEFAULT while the database is restarting (for wait conditions)."""
        import psycopg2
        try:
            return fn()
        except psycopg2.OperationalError:
            return default

    def wait_caught_up(self, timeout_s=60):
        """Until HQ's watermark of every store is the store's last gw_seq (as the replica
        says, re-read each time)."""
        def done():
            for s in self.stores:
                if self.safe(lambda: self.hq_through(s.id)) != s.last_gw_seq():
                    return False
            return True

        def detail():
            return ", ".join("%s: hq_through %s of %s (hq sales %s)" % (
                s.id, self.safe(lambda: self.hq_through(s.id)), s.last_gw_seq(),
                self.safe(lambda: self.hq_count(s.id))) for s in self.stores)
        wait_until(done, timeout_s, "HQ to hold every store's sales", interval_s=0.2,
                   detail=detail)

    def wait_store_status_delivered(self, timeout_s=30):
        """Until each gateway's status says delivered = hq_through = its last gw_seq."""
        for s in self.stores:
            last = s.last_gw_seq()

            def ok(st, last=last):
                if st.get("delivered") != last or st.get("outbox") != 0:
                    return False
                return not gateway_has_hq_acks() or st.get("hq_through") == last
            s.status.wait_state(("online",), timeout_s, pred=ok)

    # ---- the verdict ----

    def verify(self, products=None, extra_sales=None, exact_retained=True):
        """Compares everything HQ holds with the stores' truth (see the module comment).
        PRODUCTS: {sku: (tax_bp, unit_cost)} imported into HQ. EXTRA_SALES {(store, gw_seq):
        sale} are records published straight to the cloud broker that HQ must have posted.
        EXACT_RETAINED: the retained down/ack must be the last gw_seq (with several HQ
        instances two publishes may reach the broker in either order, so it may be lower).
        Returns a summary dict."""
        products = load_products() if products is None else products
        default_bp = percent_bp(DEFAULT_TAX_RATE)
        all_sales = dict(extra_sales or {})
        exp_bal = {}
        exp_stock = {}
        exp_loyalty = {}
        n_loyalty_entries = 0
        n_moving = 0
        for s in self.stores:
            sales, acked = s.register_truth()
            replica = s.replica_sales()
            n = len(replica)
            check(sorted(replica) == list(range(1, n + 1)), "%s replica gw_seq not 1..%d" % (
                s.id, n))
            # Every sale a register was told is stored is in the replica under that gw_seq.
            for sid, g in acked.items():
                check(replica.get(g) == sid, "%s: sale %s acked to its register with gw_seq "
                      "%d, replica has %r" % (s.id, sid, g, replica.get(g)))
            rows = self.pg.sql(
                "SELECT gw_seq, sale_id::text, reg, seq, kind, total_minor, customer, "
                "loyalty_earn, loyalty_redeem FROM sales WHERE tenant = %s AND store = %s "
                "ORDER BY gw_seq", TENANT, s.id)
            hq = {r[0]: r for r in rows}
            missing = [g for g in replica if g not in hq]
            extra = [g for g in hq if g not in replica]
            check(not missing, "%s: %d sales the gateway accepted are missing at HQ, e.g. "
                  "gw_seq %s" % (s.id, len(missing), sorted(missing)[:10]))
            check(not extra, "%s: HQ holds gw_seqs the store never made: %s"
                  % (s.id, sorted(extra)[:10]))
            for g, sid in replica.items():
                r = hq[g]
                sale = sales.get(sid)
                check(sale is not None, "%s: replica sale %s is in no register's journal"
                      % (s.id, sid))
                check(r[1] == sid, "%s gw_seq %d: HQ has sale %s, store %s" % (s.id, g, r[1],
                                                                               sid))
                want = (sale["reg"], sale["seq"], sale["kind"], sale["total"],
                        sale.get("customer"),
                        (sale.get("loyalty") or {}).get("earn", 0),
                        (sale.get("loyalty") or {}).get("redeem", 0))
                check(tuple(r[2:]) == want, "%s gw_seq %d: HQ row %r, register sold %r"
                      % (s.id, g, r[2:], want))
                all_sales[(s.id, g)] = sale
            # lines and tenders, in order
            got_lines, got_tenders = {}, {}
            for g, sku, qty, price in self.pg.sql(
                    "SELECT gw_seq, sku, qty, price_minor FROM sale_lines WHERE tenant = %s "
                    "AND store = %s ORDER BY gw_seq, line_no", TENANT, s.id):
                got_lines.setdefault(g, []).append((sku, qty, price))
            for g, typ, amount in self.pg.sql(
                    "SELECT gw_seq, type, amount_minor FROM sale_tenders WHERE tenant = %s "
                    "AND store = %s ORDER BY gw_seq, tender_no", TENANT, s.id):
                got_tenders.setdefault(g, []).append((typ, amount))
            for g, sid in replica.items():
                sale = sales[sid]
                lines = [(l["sku"], l["qty"], l["price"]) for l in sale["lines"]]
                check(got_lines.get(g) == lines, "%s gw_seq %d lines: HQ %r, sold %r"
                      % (s.id, g, got_lines.get(g), lines))
                tenders = [(t["type"], t["amount"]) for t in sale.get("tenders", [])]
                check(got_tenders.get(g, []) == tenders, "%s gw_seq %d tenders: HQ %r, sold %r"
                      % (s.id, g, got_tenders.get(g), tenders))
        # the expected postings, stock and loyalty, from the sales
        for (store, g), sale in all_sales.items():
            tenders = sale.get("tenders", [])
            if tenders:
                for t in tenders:
                    acc = ACCOUNTS.get(t["type"]) if t["type"] in ("cash", "card", "loyalty") \
                        else ACCOUNTS["other"]
                    exp_bal[acc] = exp_bal.get(acc, 0) + t["amount"]
            else:
                exp_bal[ACCOUNTS["other"]] = exp_bal.get(ACCOUNTS["other"], 0) + sale["total"]
            moving = sale["kind"] in SALE_KINDS_MOVING_STOCK
            n_moving += moving
            for l in sale["lines"]:
                bp, cost = products.get(l["sku"], (default_bp, None))
                gross = l["qty"] * l["price"]
                tax = round_half_away(gross * bp, 10000 + bp)
                exp_bal[ACCOUNTS["tax"]] = exp_bal.get(ACCOUNTS["tax"], 0) - tax
                exp_bal[ACCOUNTS["revenue"]] = exp_bal.get(ACCOUNTS["revenue"], 0) - (gross - tax)
                if moving:
                    key = (store, l["sku"])
                    exp_stock[key] = exp_stock.get(key, 0) - l["qty"]
                    if cost is not None:
                        c = cost * l["qty"]
                        exp_bal[ACCOUNTS["cogs"]] = exp_bal.get(ACCOUNTS["cogs"], 0) + c
                        exp_bal[ACCOUNTS["inventory"]] = exp_bal.get(ACCOUNTS["inventory"], 0) - c
            if sale.get("customer") and sale.get("loyalty"):
                pts = sale["loyalty"]["earn"] - sale["loyalty"]["redeem"]
                exp_loyalty[sale["customer"]] = exp_loyalty.get(sale["customer"], 0) + pts
                n_loyalty_entries += (sale["loyalty"]["earn"] != 0) + \
                    (sale["loyalty"]["redeem"] != 0)
        n_sales = len(all_sales)
        # stock
        got_stock = {(st, sku): n for st, sku, n in self.pg.sql(
            "SELECT store, sku, on_hand FROM stock WHERE tenant = %s", TENANT) if n != 0}
        want_stock = {k: v for k, v in exp_stock.items() if v != 0}
        wrong = {k: (got_stock.get(k), v) for k in set(got_stock) | set(want_stock)
                 if got_stock.get(k) != want_stock.get(k)}
        check(not wrong, "HQ stock (got, want) wrong for %d (store, sku): %r"
              % (len(wrong), dict(list(wrong.items())[:6])))
        moved = self.pg.sql("SELECT store, sku, sum(delta)::bigint FROM stock_movements "
                            "WHERE tenant = %s GROUP BY store, sku", TENANT)
        bad = [(st, sku, d) for st, sku, d in moved if d != exp_stock.get((st, sku), 0)]
        check(not bad, "stock_movements do not add up to the sales: %r" % bad[:5])
        n_moved = self.pg.value("SELECT count(DISTINCT (store, gw_seq)) FROM stock_movements "
                                "WHERE tenant = %s AND gw_seq IS NOT NULL", TENANT)
        check(n_moved == n_moving, "%s sales have stock movements, want %d (sales and returns)"
              % (n_moved, n_moving))
        # the journal: one entry per sale, each balanced, the right amount on each account
        per_sale = self.pg.sql("SELECT store, gw_seq, count(*) FROM journal_entries WHERE "
                               "tenant = %s GROUP BY store, gw_seq", TENANT)
        twice = [r for r in per_sale if r[2] != 1]
        check(not twice, "sales posted more than once: %r" % twice[:5])
        posted = {(r[0], r[1]) for r in per_sale}
        check(posted == set(all_sales), "journal entries for %d sales, want %d (missing %r, "
              "extra %r)" % (len(posted), n_sales, sorted(set(all_sales) - posted)[:5],
                             sorted(posted - set(all_sales))[:5]))
        unbalanced = self.pg.sql(
            "SELECT entry_id, sum(debit_minor), sum(credit_minor) FROM journal_lines WHERE "
            "tenant = %s GROUP BY entry_id HAVING sum(debit_minor) <> sum(credit_minor)",
            TENANT)
        check(not unbalanced, "unbalanced journal entries: %r" % unbalanced[:5])
        tb = {acc: bal for acc, bal in self.pg.sql(
            "SELECT account, balance FROM trial_balance WHERE tenant = %s", TENANT)}
        check(sum(tb.values()) == 0, "trial balance sums to %d" % sum(tb.values()))
        want_tb = {a: v for a, v in exp_bal.items() if v != 0}
        got_tb = {a: v for a, v in tb.items() if v != 0}
        check(got_tb == want_tb, "trial balance per account (got vs want): %r vs %r"
              % (sorted(got_tb.items()), sorted(want_tb.items())))
        # loyalty
        got_loy = dict(self.pg.sql("SELECT customer, balance FROM loyalty_balances WHERE "
                                   "tenant = %s", TENANT))
        check(got_loy == exp_loyalty, "loyalty balances %r, want %r" % (got_loy, exp_loyalty))
        n_entries = self.pg.value("SELECT count(*) FROM loyalty_ledger WHERE tenant = %s",
                                  TENANT)
        check(n_entries == n_loyalty_entries, "%d loyalty entries, want %d"
              % (n_entries, n_loyalty_entries))
        # watermarks: the table, the retained down/ack, the gateway's status
        for s in self.stores:
            last = s.last_gw_seq()
            row = self.pg.sql("SELECT hq_through, max_gw_seq FROM stores WHERE tenant = %s "
                              "AND store = %s", TENANT, s.id)
            check(row and row[0] == (last, last), "%s: stores (hq_through, max_gw_seq) = %r, "
                  "want (%d, %d)" % (s.id, row, last, last))
            wait_until(lambda: self.acks.through(s.id) == last, 15,
                       "HQ's down/ack of %s to say %d" % (s.id, last),
                       detail=lambda: self.acks.through(s.id))
            retained = h.fetch_retained(self.cloud, "p4/v1/%s/%s/down/ack" % (TENANT, s.id))
            check(retained.get("through") == last if exact_retained else
                  0 < retained.get("through", 0) <= last,
                  "%s: retained down/ack %r, want through %d" % (s.id, retained, last))
        check(not self.acks.bad, "malformed down/ack: %r" % self.acks.bad[:3])
        self.wait_store_status_delivered()
        summary = {"sales": n_sales, "accounts": len(got_tb),
                   "stores": {s.id: s.last_gw_seq() for s in self.stores}}
        log("HQ exact: %d sales once each, lines/tenders/stock/GL/loyalty right, trial "
            "balance 0, watermarks %r" % (n_sales, summary["stores"]))
        return summary


def percentiles(values_s):
    """'n=N p50=..ms p99=..ms max=..ms' of VALUES_S (seconds)."""
    if not values_s:
        return "n=0"
    v = sorted(values_s)
    pick = lambda q: v[min(len(v) - 1, int(len(v) * q))]  # noqa: E731
    return "n=%d p50=%.0fms p99=%.0fms max=%.0fms" % (len(v), pick(0.5) * 1000,
                                                       pick(0.99) * 1000, v[-1] * 1000)


def round_half_away(num, den):
    """num/den rounded half away from zero, exactly (den > 0)."""
    q = (2 * abs(num) + den) // (2 * den)
    return q if num >= 0 else -q


def special_sales(reg, customer="C-1001"):
    """Sales that exercise every posting rule, made on harness register REG and sent: cash,
    card, a split with an unknown tender (-> other), no tender (-> other), a return paid out,
    a void reversing a sale, loyalty earn and redeem (loyalty tender), skus without a product
    row (default tax) or without a unit cost. Returns their ids."""
    ids = []

    def send(lines, kind="sale", tenders=None, ref=None, customer=None, earn=0, redeem=0):
        s = reg.make_sale(lines=lines, kind=kind, ref=ref)
        if tenders is not None:
            s["tenders"] = [{"type": t, "amount": a} for t, a in tenders]
            if not tenders:
                del s["tenders"]
        if customer:
            s["customer"] = customer
            s["loyalty"] = {"earn": earn, "redeem": redeem}
        ids.append(reg.send(s))
        return s

    a = send([("coffee-250g", 2, 899, 1), ("milk-1l", 3, 129, 1)], tenders=[("cash", 2185)])
    send([("bread-500g", 1, 349, 1), ("cheese-200g", 1, 449, 1)],
         tenders=[("card", 500), ("voucher", 298)])
    send([("pasta-500g", 5, 179, 1)], tenders=[])
    send([("coffee-250g", -1, 899, 1)], kind="return", ref=a["id"], tenders=[("cash", -899)])
    b = send([("eggs-10", 1, 319, 1), ("butter-250g", 2, 259, 1)], tenders=[("card", 837)])
    send([("eggs-10", -1, 319, 1), ("butter-250g", -2, 259, 1)], kind="void", ref=b["id"],
         tenders=[("card", -837)])
    send([("apples-1kg", 3, 299, 1)], tenders=[("card", 897)], customer=customer, earn=89)
    send([("coffee-250g", 1, 899, 1)], tenders=[("loyalty", 500), ("card", 399)],
         customer=customer, earn=39, redeem=500)
    return ids


class Load:
    """Stores selling concurrently with p4term simulate: RATE sales/s per store for
    DURATION_S; wait() returns when every simulator exited and checks each got every ack."""

    def __init__(self, stores, rate, duration_s, registers=2, name=None):
        self.sims = [s.simulator(rate, duration_s, registers=registers, name=name)
                     for s in stores]

    def start(self):
        for sim in self.sims:
            sim.start()
        return self

    def running(self):
        return any(sim.running() for sim in self.sims)

    def wait(self, timeout_s):
        for sim in self.sims:
            rc = sim.wait(timeout_s)
            summ = sim.summary()
            check(rc == 0, "%r exited %d: %r" % (sim, rc, summ))
        return [sim.summary() for sim in self.sims]


def wait_sales_at_hq(chain, n, timeout_s=30):
    """Until HQ holds at least N sales in total (for the middle of a test)."""
    wait_until(lambda: (chain.safe(chain.hq_count, 0) or 0) >= n, timeout_s,
               "HQ to hold %d sales" % n, interval_s=0.1,
               detail=lambda: chain.safe(chain.hq_count))


class Ticker(threading.Thread):
    """Calls FN every INTERVAL_S on a daemon thread until stop() (background observations)."""

    def __init__(self, fn, interval_s):
        super().__init__(daemon=True)
        self.fn, self.interval_s = fn, interval_s
        self._stop_ev = threading.Event()
        self.errors = []

    def run(self):
        while not self._stop_ev.wait(self.interval_s):
            try:
                self.fn()
            except Exception as e:  # observation only; the test decides
                self.errors.append(e)

    def stop(self):
        self._stop_ev.set()
        self.join(timeout=5)
