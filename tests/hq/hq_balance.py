# SPDX-License-Identifier: Apache-2.0
"""The database itself refuses a journal entry that does not balance, whoever writes it: a
direct unbalanced INSERT fails at COMMIT (and at once with SET CONSTRAINTS ALL IMMEDIATE), as
do an UPDATE or a DELETE that unbalances a committed entry; a balanced entry commits and shows
in the trial balance, which still sums to zero."""

import psycopg2

import p4harness as h
from p4harness import check, log, wait_until
import hqchain
from hqchain import ACCOUNTS, TENANT


def refused(pg, what, statements, immediate=False):
    """Runs STATEMENTS [(sql, params)] in one transaction; it must fail (at COMMIT unless
    IMMEDIATE) with a check violation. Returns the error message."""
    conn = pg.connect(autocommit=False)
    try:
        cur = conn.cursor()
        try:
            if immediate:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            entry = None
            for sql, params in statements:
                cur.execute(sql, tuple(entry if p is ENTRY else p for p in params))
                if cur.description is not None:
                    entry = cur.fetchone()[0]
            conn.commit()
        except psycopg2.Error as e:
            conn.rollback()
            check(e.pgcode == "23514", "%s failed with %s, want a check violation (23514): %s"
                  % (what, e.pgcode, e))
            log("%s refused: %s" % (what, str(e).strip().splitlines()[0]))
            return str(e)
        raise AssertionError("%s was committed" % what)
    finally:
        conn.close()


class _Entry:
    pass


ENTRY = _Entry()   # placeholder for the entry id RETURNING gave


def run(pg, statements):
    """Runs STATEMENTS in one transaction that must commit; returns the entry id."""
    conn = pg.connect(autocommit=False)
    try:
        cur = conn.cursor()
        entry = None
        for sql, params in statements:
            params = tuple(entry if p is ENTRY else p for p in params)
            cur.execute(sql, params)
            if cur.description is not None:
                entry = cur.fetchone()[0]
        conn.commit()
        return entry
    finally:
        conn.close()


NEW_ENTRY = ("INSERT INTO journal_entries (tenant, store, kind, occurred_at) "
             "VALUES (%s, 'manual', 'manual', now()) RETURNING id", (TENANT,))
LINE = ("INSERT INTO journal_lines (entry_id, line_no, tenant, account, debit_minor, "
        "credit_minor) VALUES (%s, %s, %s, %s, %s, %s)")


def main():
    chain = hqchain.Chain()
    hq = chain.hq()
    hq.start()
    chain.wait_tables()
    pg = chain.pg
    wait_until(lambda: pg.value("SELECT count(*) FROM accounts WHERE tenant = %s", TENANT)
               >= len(ACCOUNTS), 20, "the chart of accounts")
    entries = pg.value("SELECT count(*) FROM journal_entries")

    cash, revenue = ACCOUNTS["cash"], ACCOUNTS["revenue"]
    # one-sided
    stmts = [NEW_ENTRY, (LINE, (ENTRY, 1, TENANT, cash, 100, 0))]
    refused(pg, "an entry with a debit only", stmts)
    refused(pg, "an entry with a debit only (constraints immediate)", stmts, immediate=True)
    # debit 100, credit 99
    refused(pg, "an entry debit 100 / credit 99",
            [NEW_ENTRY, (LINE, (ENTRY, 1, TENANT, cash, 100, 0)),
             (LINE, (ENTRY, 2, TENANT, revenue, 0, 99))])
    check(pg.value("SELECT count(*) FROM journal_entries") == entries,
          "a refused entry left a journal_entries row")

    # balanced: commits
    eid = run(pg, [NEW_ENTRY, (LINE, (ENTRY, 1, TENANT, cash, 250, 0)),
                   (LINE, (ENTRY, 2, TENANT, revenue, 0, 250))])
    check(pg.value("SELECT count(*) FROM journal_lines WHERE entry_id = %s", eid) == 2,
          "the balanced entry was not stored")
    # unbalancing it afterwards is refused
    refused(pg, "an UPDATE of one side of a committed entry",
            [("UPDATE journal_lines SET debit_minor = 300 WHERE entry_id = %s AND line_no = 1",
              (eid,))])
    refused(pg, "a DELETE of one side of a committed entry",
            [("DELETE FROM journal_lines WHERE entry_id = %s AND line_no = 2", (eid,))])
    tb = dict(pg.sql("SELECT account, balance FROM trial_balance WHERE tenant = %s", TENANT))
    check(tb.get(cash) == 250 and tb.get(revenue) == -250, "trial balance %r" % tb)
    check(sum(tb.values()) == 0, "trial balance sums to %d" % sum(tb.values()))
    # and p4hq's own report agrees
    rows = hq.cli_json("report", "trial-balance")
    check(sum(r["balance"] for r in rows) == 0, "p4hq report trial-balance: %r" % rows)
    hq.check_alive()
    check(hq.stop() == 0, "p4hq did not stop cleanly")


if __name__ == "__main__":
    h.run_test(main)
