# SPDX-License-Identifier: Apache-2.0
"""Issue 14, customers signed up at a register (contract 6.8): `p4term customer add` at store
A is acked by A's gateway, usable at once by A's other registers (the replica's own version),
committed at HQ with an HQ version and shown at store B's registers. The same card number
signed up at A and at B (B's WAN down, so B has not heard of A's) with other details: HQ keeps
A's everywhere, B's copy is replaced, and HQ raises customer_conflict naming B."""

import time

import p4harness as h
import hqchain
from authenv import Store, check, customer, hq_alerts, log, start_chain, term, wait_until


def hq_customer(chain, cid):
    rows = chain.pg.sql("SELECT name, tier, ver FROM customers WHERE tenant = %s AND id = %s",
                        hqchain.TENANT, cid)
    return rows[0] if rows else None


def replica_customer(store, cid):
    rows = store.gw.query("SELECT ver, value FROM customers WHERE id = ?", cid)
    return rows[0] if rows else None


def main():
    chain, hq = start_chain()
    a = Store(chain, "s001")
    b = Store(chain, "s002", relay=True)
    for s in (a, b):
        s.start()
    a1, a2, b1 = a.ini("r01"), a.ini("r02"), b.ini("r01")
    for ini in (a1, a2, b1):
        term(ini, "sync")

    # 1. Signed up at A's r01: acked, in A's replica as the store's own version (ver 0), seen
    # by A's r02, then committed at HQ and shown at B.
    t0 = time.monotonic()
    _rc, out, _e = term(a1, "customer", "add", "C-NEW-1", "--name", "Åsa Nilsson", "--tier",
                        "gold")
    check("status=acked" in out, "sign-up not acked: %r" % out)
    local = replica_customer(a, "C-NEW-1")
    check(local is not None, "the sign-up is not in A's replica after its ack")
    check(customer(a2, "C-NEW-1") is not None and customer(a2, "C-NEW-1")[0] == "Åsa Nilsson",
          "A's other register does not show the new customer")
    wait_until(lambda: hq_customer(chain, "C-NEW-1"), 30, "C-NEW-1 committed at HQ")
    name, tier, ver = hq_customer(chain, "C-NEW-1")
    check((name, tier) == ("Åsa Nilsson", "gold") and ver >= 1, "HQ's row %r" % (
        hq_customer(chain, "C-NEW-1"),))
    wait_until(lambda: (customer(b1, "C-NEW-1") or ("",))[0] == "Åsa Nilsson", 30,
               "C-NEW-1 at store B's register")
    log("sign-up at A -> shown at B's register in %.0f ms (p4term processes included)"
        % ((time.monotonic() - t0) * 1000))
    wait_until(lambda: (replica_customer(a, "C-NEW-1") or (0,))[0] == ver, 30,
               "A's own version replaced by HQ's ver %d" % ver)
    check(not hq_alerts(chain, "customer_conflict"), "a conflict without one")

    # 2. The same card at A and at B with other details. B's WAN is down: B has not heard of
    # A's sign-up, stores its own and keeps it in its outbox until the WAN returns.
    b.relay.cut("close")
    wait_until(lambda: (b.status.latest() or {}).get("state") == "wan_down", 30,
               "s002 to report wan_down", detail=lambda: b.status.latest())
    _rc, out, _e = term(a1, "customer", "add", "C-DUP", "--name", "Anna A")
    check("status=acked" in out, "A's sign-up not acked: %r" % out)
    wait_until(lambda: hq_customer(chain, "C-DUP"), 30, "A's C-DUP at HQ")
    _rc, out, _e = term(b1, "customer", "add", "C-DUP", "--name", "Bert B", "--tier", "silver")
    check("status=acked" in out, "B's sign-up not acked by its gateway: %r" % out)
    check(customer(b1, "C-DUP")[0] == "Bert B", "B's own sign-up usable in B while offline")
    b.relay.restore()
    wait_until(lambda: hq_alerts(chain, "customer_conflict"), 30, "HQ's customer_conflict")
    alerts = hq_alerts(chain, "customer_conflict")
    log("HQ alerts: %r" % alerts)
    check(any(st == "s002" and "C-DUP" in msg for (st, msg) in alerts),
          "customer_conflict does not name s002 and C-DUP: %r" % alerts)
    wait_until(lambda: (customer(b1, "C-DUP") or ("",))[0] == "Anna A", 30,
               "HQ's C-DUP (A's) replacing B's at B's register")
    check(customer(a1, "C-DUP")[0] == "Anna A", "A keeps its C-DUP")
    check(hq_customer(chain, "C-DUP")[0] == "Anna A", "HQ kept the first it committed")
    # A sign-up of a card the register already knows is refused at the till.
    rc, _out, err = term(a1, "customer", "add", "C-DUP", "--name", "Again", expect_rc=None)
    check(rc == 1 and "already exists" in err, "a known card signed up again: %r" % err)
    hq.check_alive()


if __name__ == "__main__":
    h.run_test(main)
