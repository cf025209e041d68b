# SPDX-License-Identifier: Apache-2.0
"""One store for the gateway's end-to-end tests: store broker, cloud broker (optionally behind
a cuttable relay), HQ consumer, status watcher and p4gw with a known stock import; plus the
checks several tests share (replica consistency, stock arithmetic, cloud completeness)."""

import os
import statistics

import p4harness as h
from p4harness import check, log, wait_until

TENANT = "acme"
STORE = "s001"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def load_stock(path=os.path.join(FIXTURES, "stock.csv")):
    """Rows (sku, on_hand, price_minor, price_ver) of a stock fixture (header skipped)."""
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("sku"):
                continue
            sku, on_hand, price, ver = line.split(",")
            rows.append((sku, int(on_hand), int(price), int(ver)))
    return rows


class StoreEnv:
    """Everything one store needs; the gateway is configured but not started."""

    def __init__(self, relay=False, extra=None, stock=None, acker=True, cloud_persistence=False,
                 cloud_autosave_s=1, hq_client_id=None):
        """ACKER: HQ is an h.HQAcker that publishes its watermark on down/ack, and p4gw counts
        a record delivered when that covers it (delivered_on = hq, the default); without it HQ
        only reads, and p4gw runs with delivered_on = puback. CLOUD_PERSISTENCE: the cloud
        broker saves its state every CLOUD_AUTOSAVE_S and at a clean stop. HQ_CLIENT_ID: HQ
        subscribes with that id on a persistent session (clean session 0)."""
        h.p4gw_path()  # skip before starting brokers when p4gw is not built
        self.stock = stock or load_stock()
        self.skus = [(sku, price, ver) for (sku, _n, price, ver) in self.stock]
        self.store_broker = h.Mosquitto("store")
        self.cloud = h.Mosquitto("cloud", persistence=cloud_persistence,
                                 autosave_s=cloud_autosave_s)
        self.relay = h.Relay(self.cloud.port) if relay else None
        cloud_uri = self.relay.uri if relay else self.cloud.uri
        if acker:
            self.hq = h.HQAcker(self.cloud, TENANT, STORE, client_id=hq_client_id,
                                clean_session=hq_client_id is None)
        else:
            self.hq = h.CloudConsumer(self.cloud, TENANT, STORE)
            extra = dict(extra or {})
            extra["cloud"] = dict(extra.get("cloud", {}), delivered_on="puback")
        self.gw = h.Gateway(self.store_broker.uri, cloud_uri, TENANT, STORE, extra=extra)
        self.gw.import_stock(self.stock)
        self.status = h.StatusWatcher.for_store(self.store_broker, STORE)

    def start(self, states=("online",), timeout_s=20):
        st = self.gw.start(states, timeout_s=timeout_s, watcher=self.status)
        log("p4gw pid %d up: %s" % (self.gw.pid, st))
        return st

    def register(self, reg, follow_changes=False):
        return h.Register(self.store_broker, STORE, reg, skus=self.skus,
                          follow_changes=follow_changes)

    # ---- checks ----

    def expected_stock(self, sales):
        """Imported on_hand minus the qty of each sale/return in SALES (each counted once)."""
        want = {sku: n for (sku, n, _p, _v) in self.stock}
        for s in sales:
            if s["kind"] in ("sale", "return"):
                for line in s["lines"]:
                    want[line["sku"]] -= line["qty"]
        return want

    def check_stock(self, sales):
        want = self.expected_stock(sales)
        got = dict(self.gw.query("SELECT sku, on_hand FROM stock"))
        wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
        check(not wrong, "stock.on_hand (replica, expected) wrong for %d SKUs: %r"
              % (len(wrong), dict(list(wrong.items())[:5])))
        # The ledger explains the number: count + sale/return moves add up to on_hand.
        ledger = dict(self.gw.query("SELECT sku, SUM(delta) FROM stock_moves GROUP BY sku"))
        bad = {k: (ledger.get(k), v) for k, v in got.items() if ledger.get(k) != v}
        check(not bad, "stock_moves do not sum to stock.on_hand: %r" % (dict(list(
            bad.items())[:5]),))

    def check_replica_sales(self, sales, acks):
        """SALES: every sale made ({id: sale}); ACKS: {id: gw_seq} from ok/duplicate acks.
        Each sale is in the replica exactly once with the acked gw_seq, gw_seq is 1..N."""
        rows = self.gw.query("SELECT gw_seq, id, reg, seq, kind, total FROM sales "
                             "ORDER BY gw_seq")
        n = len(rows)
        check([r[0] for r in rows] == list(range(1, n + 1)),
              "sales.gw_seq not gap-free 1..%d: %r..." % (n, [r[0] for r in rows][:10]))
        by_id = {}
        for gw_seq, sid, reg, seq, kind, total in rows:
            check(sid not in by_id, "sale %s applied twice (gw_seq %d and %d)"
                  % (sid, by_id.get(sid, (0,))[0], gw_seq))
            by_id[sid] = (gw_seq, reg, seq, kind, total)
        missing = [sid for sid in sales if sid not in by_id]
        check(not missing, "%d sales missing from the replica, e.g. %s"
              % (len(missing), missing[:3]))
        extra = [sid for sid in by_id if sid not in sales]
        check(not extra, "replica holds %d sales nobody made: %s" % (len(extra), extra[:3]))
        for sid, s in sales.items():
            gw_seq, reg, seq, kind, total = by_id[sid]
            check((reg, seq, kind, total) == (s["reg"], s["seq"], s["kind"], s["total"]),
                  "replica row of %s is %r" % (sid, by_id[sid]))
            if sid in acks:
                check(acks[sid] == gw_seq, "sale %s acked with gw_seq %d but stored as %d"
                      % (sid, acks[sid], gw_seq))
        lines = self.gw.query("SELECT COUNT(*) FROM sale_lines")[0][0]
        want_lines = sum(len(s["lines"]) for s in sales.values())
        check(lines == want_lines, "sale_lines has %d rows, want %d" % (lines, want_lines))
        return {sid: v[0] for sid, v in by_id.items()}

    def check_cloud(self, sales, gw_seq_of, timeout_s=60):
        """Waits until every gw_seq of GW_SEQ_OF ({id: gw_seq}) reached HQ, then checks each
        record carries its sale unchanged, first arrivals are in gw_seq order and no gw_seq
        ever carried two ids."""
        want = set(gw_seq_of.values())
        wait_until(lambda: self.hq.has_gw_seqs(want), timeout_s,
                   "%d records at the cloud" % len(want),
                   detail=lambda: "%d of %d" % (len(self.hq.gw_seqs() & want), len(want)))
        self.hq.check_consistent()
        by_seq = self.hq.sales_by_gw_seq()
        for sid, gw_seq in gw_seq_of.items():
            rec, sale = by_seq[gw_seq], sales[sid]
            for key in ("id", "seq", "store", "reg", "ts", "kind", "lines", "tenders", "total"):
                check(rec.get(key) == sale[key], "cloud record gw_seq %d: %s is %r, sent %r"
                      % (gw_seq, key, rec.get(key), sale[key]))
            check(isinstance(rec.get("flags"), list), "record gw_seq %d without flags list"
                  % gw_seq)
        extra = self.hq.gw_seqs() - want
        check(not extra, "cloud got unknown gw_seqs %r" % sorted(extra)[:5])

    def wait_outbox_drained(self, timeout_s=30):
        wait_until(lambda: self.gw.query(
            "SELECT COUNT(*) FROM outbox WHERE delivered = 0")[0][0] == 0, timeout_s,
            "the replica outbox to be fully delivered",
            detail=lambda: self.gw.query("SELECT COUNT(*) FROM outbox WHERE delivered = 0"))


def all_sales(registers):
    out = {}
    for r in registers:
        out.update(r.sales)
    return out


def ack_gw_seqs(registers):
    """{id: gw_seq} from ok/duplicate acks; fails if one id was acked with two gw_seqs."""
    out = {}
    for r in registers:
        with r._lock:
            items = [(sid, list(acks)) for sid, acks in r.acks.items()]
        for sid, acks in items:
            seqs = {a.get("gw_seq") for a in acks if a.get("status") in ("ok", "duplicate")}
            check(len(seqs) <= 1, "sale %s acked with several gw_seqs %r" % (sid, seqs))
            if seqs:
                out[sid] = seqs.pop()
    return out


def latency_summary(values_s):
    if not values_s:
        return "n=0"
    v = sorted(values_s)
    p99 = v[min(len(v) - 1, int(len(v) * 0.99))]
    return "n=%d p50=%.1fms p99=%.1fms max=%.1fms" % (
        len(v), statistics.median(v) * 1000, p99 * 1000, v[-1] * 1000)


def ack_latencies(reg, ids=None):
    out = []
    for sid in (reg.order if ids is None else ids):
        a = reg.final_ack(sid)
        if a and a.get("status") in ("ok", "duplicate"):
            out.append(a["_t"] - reg.sent_at[sid])
    return out
