# SPDX-License-Identifier: Apache-2.0
"""HQ's database restored from a pg_dump taken mid-stream (issue 22): every sale reaches HQ
again exactly once.

Two stores sell; a `pg_dump -Fc` is taken while they do; they sell on, so HQ commits (and
acknowledges on down/ack) sales the dump does not hold, then store s002 goes idle. p4hq stops,
the database is dropped, created again and the dump restored; p4hq starts on it. HQ's
watermark of each store is now below the one its gateway holds: s001, still selling, hears
it from HQ's next down/ack; idle s002 only from the down/ack HQ publishes in answer to its
retained status. Each gateway kept its delivered sales ([cloud] keep_delivered_h, default 48),
and after hq_resend_s sends the ones above HQ's watermark again (log line, hq_lost_sales alert,
p4gw_hq_rewinds_total). At the end HQ holds every sale the registers made once, by (store,
gw_seq) and by sale id, with the same totals; the trial balance is zero. Without the gateway's
resend HQ's watermark stays at the dump's and the wait for it fails."""

import os

import p4harness as h
from p4harness import check, log, wait_until
import hqchain

RATE = 20            # sales/s per store
AFTER_DUMP = 40      # sales per store HQ commits after the dump, at least
RESEND_S = 2         # [cloud] hq_resend_s of the gateways


def pg_prog(pg, prog, *args):
    """Runs a PostgreSQL client program against PG's server (its socket, its user)."""
    return pg._run(prog, "-h", pg.sock_dir, "-p", str(pg.port), *args)


def hq_count_and_total(chain, store):
    rows = chain.pg.sql("SELECT count(*), coalesce(sum(total_minor), 0)::bigint FROM sales "
                        "WHERE tenant = %s AND store = %s", hqchain.TENANT, store)
    return rows[0]


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    hq.import_products()
    ports = {}
    stores = []
    for sid in ("s001", "s002"):
        ports[sid] = h.free_port()
        stores.append(chain.store(sid, hq_resend_s=RESEND_S, extra={
            "metrics": {"listen": "127.0.0.1:%d" % ports[sid]}}))
    for s in stores:
        s.start()
    busy, idle = stores
    hqchain.Load(stores, RATE, 3600).start()  # stopped and drained store by store below
    hqchain.wait_sales_at_hq(chain, 60, 60)

    # The dump, mid-stream.
    dump = os.path.join(chain.pg.dir, "p4hq.dump")
    pg_prog(chain.pg, "pg_dump", "-Fc", "-f", dump, chain.pg.dbname)
    at_dump = {s.id: chain.hq_through(s.id) for s in stores}
    log("pg_dump taken with HQ at %r (or a little later)" % at_dump)

    # More sales that HQ commits and acknowledges after the dump.
    wait_until(lambda: all((chain.safe(lambda s=s: chain.hq_through(s.id)) or 0)
                           >= at_dump[s.id] + AFTER_DUMP for s in stores), 60,
               "HQ to commit %d more sales of each store" % AFTER_DUMP,
               detail=lambda: {s.id: chain.hq_through(s.id) for s in stores})
    # s002 goes idle with all of its sales at HQ: its gateway holds HQ's watermark = its last.
    for sim in idle.sims:
        sim.stop()
    for sim in idle.sims:
        check(sim.drain(60) == 0, "%r left sales unacked" % sim)
    idle_last = idle.last_gw_seq()
    wait_until(lambda: chain.hq_through(idle.id) == idle_last, 30,
               "HQ to hold s002's %d sales" % idle_last,
               detail=lambda: chain.hq_through(idle.id))
    idle.status.wait_state(("online",), 30, pred=lambda st: st.get("hq_through") == idle_last)
    held = {s.id: chain.hq_through(s.id) for s in stores}
    counts_before = {s.id: hq_count_and_total(chain, s.id)[0] for s in stores}

    # HQ goes down; its database comes back from the dump.
    check(hq.stop() == 0, "p4hq did not stop cleanly")
    chain.pg.close_conn()
    pg_prog(chain.pg, "dropdb", "--force", chain.pg.dbname)
    pg_prog(chain.pg, "createdb", chain.pg.dbname)
    pg_prog(chain.pg, "pg_restore", "--exit-on-error", "-d", chain.pg.dbname, dump)
    restored = {s.id: chain.hq_through(s.id) for s in stores}
    counts_restored = {s.id: hq_count_and_total(chain, s.id)[0] for s in stores}
    log("restored: HQ watermarks %r (were %r), sales %r (were %r)"
        % (restored, held, counts_restored, counts_before))
    for s in stores:
        check(restored[s.id] < held[s.id] and counts_restored[s.id] < counts_before[s.id],
              "%s: the dump holds everything (watermark %s of %s): not taken mid-stream"
              % (s.id, restored[s.id], held[s.id]))

    hq.start()
    # s001 sells on for a while; s002 stays idle.
    wait_until(lambda: (chain.safe(lambda: hq_count_and_total(chain, busy.id)[0]) or 0)
               >= counts_before[busy.id] + 2 * RATE, 60,
               "s001 to sell on after the restore",
               detail=lambda: chain.safe(lambda: hq_count_and_total(chain, busy.id)))
    for sim in busy.sims:
        sim.stop()
    for sim in busy.sims:
        check(sim.drain(60) == 0, "%r left sales unacked" % sim)
    check(idle.last_gw_seq() == idle_last, "s002 sold while it was meant to be idle")

    # Every sale at HQ exactly once.
    chain.wait_caught_up(60)
    chain.verify()
    for s in stores:
        sales, acked = s.register_truth()
        rows = chain.pg.sql("SELECT sale_id::text, count(*) FROM sales WHERE tenant = %s AND "
                            "store = %s GROUP BY sale_id", hqchain.TENANT, s.id)
        twice = [r for r in rows if r[1] != 1]
        check(not twice, "%s: sales held more than once at HQ: %r" % (s.id, twice[:5]))
        at_hq = {r[0] for r in rows}
        check(at_hq == set(acked), "%s: HQ holds %d sale ids, the registers were acked %d "
              "(missing %r, extra %r)" % (s.id, len(at_hq), len(acked),
                                          sorted(set(acked) - at_hq)[:5],
                                          sorted(at_hq - set(acked))[:5]))
        n, total = hq_count_and_total(chain, s.id)
        want_total = sum(sales[sid]["total"] for sid in acked)
        check((n, total) == (len(acked), want_total), "%s: HQ count and total %r, registers "
              "%r" % (s.id, (n, total), (len(acked), want_total)))
        log("%s: %d sales, total %d minor units, at HQ once each" % (s.id, n, total))
    tb = chain.pg.value("SELECT coalesce(sum(balance), 0) FROM trial_balance WHERE tenant = %s",
                        hqchain.TENANT)
    check(tb == 0, "trial balance sums to %s" % tb)

    # The gateways resent, and said so.
    for s in stores:
        m = h.scrape_metrics(ports[s.id])
        text = s.gw.log_text()
        check(m.get("p4gw_hq_rewinds_total", 0) >= 1 and "HQ lost sale records" in text,
              "%s: the gateway did not resend what HQ lost: %r" % (
                  s.id, {k: v for k, v in m.items() if k.startswith("p4gw_hq")}))
        lost = held[s.id] - restored[s.id]
        check(m.get("p4gw_hq_resent_records_total", 0) >= lost,
              "%s: %s records resent, HQ lost %d" % (
                  s.id, m.get("p4gw_hq_resent_records_total"), lost))
        alerts = chain.pg.sql("SELECT details FROM alerts WHERE tenant = %s AND store = %s "
                              "AND kind = 'hq_lost_sales'", hqchain.TENANT, s.id)
        check(alerts, "%s: no hq_lost_sales alert at HQ" % s.id)
        log("%s: HQ lost %d records; gateway rewinds %d, resent %d; alert %r"
            % (s.id, lost, m["p4gw_hq_rewinds_total"], m["p4gw_hq_resent_records_total"],
               alerts[0][0]))
    check("store reports HQ's watermark above the one HQ holds store=s002" in hq.log_text(),
          "p4hq did not notice s002's status above its watermark")
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
