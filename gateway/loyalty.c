/* SPDX-License-Identifier: Apache-2.0 */
/* Loyalty points: a ledger per customer (the store's sales and HQ's entries) on top of HQ's
 * authoritative balance, balance = baseline + entries after the baseline's as_of. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "p4common.h"

int loyalty_refresh(struct group *grp, const char *customer, int64_t *balance)
{
    struct replica *r = grp->r;
    sqlite3_stmt *st = r->st[RS_LOY_GET];
    int64_t base = 0, as_of = 0, old = 0, later = 0, chg = 0, seq;
    char value[64];
    int rc;

    replica_bind_text(r, RS_LOY_GET, 1, customer);
    rc = replica_row(r, RS_LOY_GET);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        base = sqlite3_column_int64(st, 0);
        as_of = sqlite3_column_int64(st, 2);
        old = sqlite3_column_int64(st, 3);
        chg = sqlite3_column_int64(st, 4);
        replica_reset(r, RS_LOY_GET);
    }
    replica_bind_text(r, RS_LOY_SUM, 1, customer);
    replica_bind_int(r, RS_LOY_SUM, 2, as_of);
    rc = replica_int(r, RS_LOY_SUM, 0, &later);
    if (rc)
        return rc;
    *balance = base + later;
    /* Unchanged and already published (chg_seq > 0): nothing to tell the registers. */
    if (chg > 0 && *balance == old)
        return P4GW_OK;
    snprintf(value, sizeof(value), "{\"balance\":%" PRId64 "}", *balance);
    rc = stock_record_change(r, &grp->change_head, P4T_E_LOYALTY, customer, value, &grp->changes,
                             &seq);
    if (rc)
        return rc;
    replica_bind_text(r, RS_LOY_SET, 1, customer);
    replica_bind_int(r, RS_LOY_SET, 2, *balance);
    replica_bind_int(r, RS_LOY_SET, 3, seq);
    return replica_exec(r, RS_LOY_SET);
}

int loyalty_add(struct group *grp, const char *customer, const char *entry, int64_t points,
                int64_t at_ms, const char *source, const char *ref, const char *reason,
                bool *added, int64_t *balance)
{
    struct replica *r = grp->r;
    int rc;

    *added = false;
    if (entry) {
        int64_t has = 0;

        replica_bind_text(r, RS_LEDGER_HAS, 1, entry);
        rc = replica_int(r, RS_LEDGER_HAS, 0, &has);
        if (rc)
            return rc;
        if (has) /* HQ resent it (QoS 1, resync, both topics): already counted */
            return loyalty_refresh(grp, customer, balance);
    }
    replica_bind_text(r, RS_LEDGER_INS, 1, customer);
    replica_bind_text(r, RS_LEDGER_INS, 2, entry);
    replica_bind_int(r, RS_LEDGER_INS, 3, points);
    replica_bind_int(r, RS_LEDGER_INS, 4, at_ms);
    replica_bind_text(r, RS_LEDGER_INS, 5, source);
    replica_bind_text(r, RS_LEDGER_INS, 6, ref);
    replica_bind_text(r, RS_LEDGER_INS, 7, reason && reason[0] ? reason : NULL);
    rc = replica_exec(r, RS_LEDGER_INS);
    if (rc)
        return rc;
    *added = true;
    return loyalty_refresh(grp, customer, balance);
}
