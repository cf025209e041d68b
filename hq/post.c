/* SPDX-License-Identifier: Apache-2.0 */
/* Sales posted in chunks: one statement writes a chunk of sales with everything that hangs off
 * them. A sale whose (store, gw_seq) or id is held already inserts nothing at all, and the
 * statement returns which sales were new; the caller sorts out the others. */
#include "post.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The column arrays, one text literal each; every sub-row names its sale by index (1-based, the
 * order of post_add). */
enum {
    C_STORE, C_GW_SEQ, C_ID, C_REG, C_SEQ, C_TS, C_KIND, C_REF, C_TOTAL, C_CUSTOMER, C_EARN,
    C_REDEEM, C_HOLD, C_FLAGS, C_UNITS, C_CANON,
    L_I, L_N, L_SKU, L_QTY, L_PRICE, L_VER,       /* lines */
    T_I, T_N, T_TYPE, T_AMT,                      /* tenders */
    K_I, K_SKU, K_DELTA,                          /* stock delta per (sale, sku) */
    J_I, J_N, J_ACCT, J_DEBIT, J_CREDIT,          /* journal lines */
    Y_I, Y_ENTRY, Y_POINTS,                       /* loyalty entries */
    N_COLS
};

struct post_chunk {
    struct arr a[N_COLS];
};

/* Stock moves once per (store, sku) in a statement (ON CONFLICT may touch a row once): the
 * sum of the new sales' deltas, each counted only if the sale is after the sku's last count. */
static const char sql_post[] =
    "WITH v AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::uuid[], $5::text[],"
    "  $6::bigint[], $7::timestamptz[], $8::text[], $9::text[], $10::bigint[], $11::text[],"
    "  $12::bigint[], $13::bigint[], $14::text[], $15::text[], $16::bigint[], $17::text[])"
    " WITH ORDINALITY AS u(store, gw_seq, sale_id, reg, seq, ts, kind, ref, total, customer,"
    "  earn, redeem, hold, flags, units, canon, i)),"
    "s AS (INSERT INTO sales (tenant, store, gw_seq, sale_id, reg, seq, ts, kind, ref,"
    "  total_minor, customer, loyalty_earn, loyalty_redeem, hold, flags, units, digest)"
    " SELECT $1, store, gw_seq, sale_id, reg, seq, ts, kind, NULLIF(ref, '')::uuid, total,"
    "  NULLIF(customer, ''), earn, redeem, NULLIF(hold, ''), string_to_array(flags, ','),"
    "  units, md5(canon) FROM v ORDER BY i"
    " ON CONFLICT DO NOTHING RETURNING store, gw_seq),"
    "si AS (SELECT v.* FROM s JOIN v USING (store, gw_seq)),"
    "l AS (INSERT INTO sale_lines (tenant, store, gw_seq, line_no, sku, qty, price_minor, ver)"
    " SELECT $1, si.store, si.gw_seq, u.n, u.sku, u.qty, u.price, u.ver"
    " FROM unnest($18::bigint[], $19::int[], $20::text[], $21::bigint[], $22::bigint[],"
    "  $23::bigint[]) AS u(i, n, sku, qty, price, ver) JOIN si USING (i)),"
    "t AS (INSERT INTO sale_tenders (tenant, store, gw_seq, tender_no, type, amount_minor)"
    " SELECT $1, si.store, si.gw_seq, u.n, u.type, u.amount"
    " FROM unnest($24::bigint[], $25::int[], $26::text[], $27::bigint[])"
    "  AS u(i, n, type, amount) JOIN si USING (i)),"
    "mv AS (SELECT si.store, si.gw_seq, si.kind, si.ts, u.sku, u.delta"
    " FROM unnest($28::bigint[], $29::text[], $30::bigint[]) AS u(i, sku, delta)"
    " JOIN si USING (i)),"
    "m AS (INSERT INTO stock_movements (tenant, store, sku, type, delta, occurred_at, gw_seq)"
    " SELECT $1, store, sku, kind, delta, ts, gw_seq FROM mv),"
    "k AS (INSERT INTO stock AS k (tenant, store, sku, on_hand)"
    " SELECT $1, store, sku, sum(delta) FROM mv GROUP BY store, sku"
    " ON CONFLICT (tenant, store, sku) DO UPDATE SET on_hand = k.on_hand +"
    "  (SELECT coalesce(sum(mv.delta), 0) FROM mv"
    "   WHERE mv.store = k.store AND mv.sku = k.sku AND mv.ts > k.count_at)),"
    "je AS (INSERT INTO journal_entries (tenant, store, gw_seq, sale_id, kind, occurred_at)"
    " SELECT $1, store, gw_seq, sale_id, kind, ts FROM si RETURNING id, store, gw_seq),"
    "jl AS (INSERT INTO journal_lines (entry_id, line_no, tenant, account, debit_minor,"
    "  credit_minor)"
    " SELECT je.id, u.n, $1, u.account, u.debit, u.credit"
    " FROM unnest($31::bigint[], $32::int[], $33::text[], $34::bigint[], $35::bigint[])"
    "  AS u(i, n, account, debit, credit) JOIN si USING (i)"
    " JOIN je ON je.store = si.store AND je.gw_seq = si.gw_seq),"
    "ly AS (INSERT INTO loyalty_ledger (tenant, customer, entry, points, reason, at, store,"
    "  gw_seq)"
    " SELECT $1, si.customer, u.entry, u.points, 'sale', si.ts, si.store, si.gw_seq"
    " FROM unnest($36::bigint[], $37::text[], $38::bigint[]) AS u(i, entry, points)"
    " JOIN si USING (i) ON CONFLICT DO NOTHING),"
    "cs AS (INSERT INTO customer_stores AS c (tenant, customer, store, last_sale_at)"
    " SELECT $1, customer, store, max(ts) FROM si WHERE customer <> ''"
    " GROUP BY customer, store ON CONFLICT (tenant, customer, store) DO UPDATE"
    "  SET last_sale_at = greatest(c.last_sale_at, excluded.last_sale_at))"
    "SELECT i FROM si";

int post_init(struct post *p)
{
    memset(p, 0, sizeof *p);
    p->c = calloc(1, sizeof *p->c);
    return p->c ? P4HQ_OK : P4HQ_ENOMEM;
}

void post_clear(struct post *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].canon);
        free(p->items[i].record);
    }
    p->n = 0;
    if (p->c) {
        for (int i = 0; i < N_COLS; i++)
            arr_reset(&p->c->a[i]);
    }
}

void post_free(struct post *p)
{
    post_clear(p);
    if (p->c) {
        for (int i = 0; i < N_COLS; i++)
            arr_free(&p->c->a[i]);
    }
    free(p->c);
    p->c = NULL;
}

int post_prepare(struct db *db)
{
    return db_prepare(db, "post", sql_post);
}

bool post_must_run(const struct post *p, const char *store, int64_t gw_seq, const char *sale_id)
{
    if (p->n == POST_CHUNK_MAX)
        return true;
    for (size_t i = 0; i < p->n; i++) {
        const struct post_item *it = &p->items[i];
        if ((it->gw_seq == gw_seq && strcmp(it->store, store) == 0) ||
            strcmp(it->sale_id, sale_id) == 0)
            return true;
    }
    return false;
}

/* One row of the sub-table COL0.. for sale I: I, then the given columns. */
static int add_i(struct arr *a, int64_t i)
{
    return arr_add_int(a, i);
}

/* The sale's own row. */
static int add_sale(struct arr *a, const char *store, int64_t gw_seq, const struct p4t_sale *s,
                    char flags[][P4T_KIND_MAX + 1], size_t n_flags, const char *canon)
{
    char joined[P4T_MAX_FLAGS * (P4T_KIND_MAX + 1) + 1];
    size_t off = 0;
    int64_t units = 0;
    int rc;

    joined[0] = '\0';
    for (size_t i = 0; i < n_flags; i++)
        off += (size_t)snprintf(joined + off, sizeof joined - off, "%s%s", i ? "," : "",
                                flags[i]);
    for (size_t i = 0; i < s->n_lines; i++)
        units += s->lines[i].qty;
    rc = arr_add_str(&a[C_STORE], store);
    rc = rc ? rc : arr_add_int(&a[C_GW_SEQ], gw_seq);
    rc = rc ? rc : arr_add_str(&a[C_ID], s->id);
    rc = rc ? rc : arr_add_str(&a[C_REG], s->reg);
    rc = rc ? rc : arr_add_int(&a[C_SEQ], s->seq);
    rc = rc ? rc : arr_add_str(&a[C_TS], s->ts);
    rc = rc ? rc : arr_add_str(&a[C_KIND], p4t_sale_kind_name(s->kind));
    rc = rc ? rc : arr_add_str(&a[C_REF], s->ref);
    rc = rc ? rc : arr_add_int(&a[C_TOTAL], s->total_minor);
    rc = rc ? rc : arr_add_str(&a[C_CUSTOMER], s->customer);
    rc = rc ? rc : arr_add_int(&a[C_EARN], s->has_loyalty ? s->loyalty_earn : 0);
    rc = rc ? rc : arr_add_int(&a[C_REDEEM], s->has_loyalty ? s->loyalty_redeem : 0);
    rc = rc ? rc : arr_add_str(&a[C_HOLD], s->hold);
    rc = rc ? rc : arr_add_str(&a[C_FLAGS], joined);
    rc = rc ? rc : arr_add_int(&a[C_UNITS], units);
    rc = rc ? rc : arr_add_str(&a[C_CANON], canon);
    return rc;
}

/* Lines, tenders and the stock delta of each sku (a void moves nothing, contract 5.1). */
static int add_goods(struct arr *a, int64_t idx, const struct p4t_sale *s)
{
    int rc = P4HQ_OK;

    for (size_t i = 0; i < s->n_lines && !rc; i++) {
        const struct p4t_line *l = &s->lines[i];
        rc = add_i(&a[L_I], idx);
        rc = rc ? rc : arr_add_int(&a[L_N], (int64_t)i + 1);
        rc = rc ? rc : arr_add_str(&a[L_SKU], l->sku);
        rc = rc ? rc : arr_add_int(&a[L_QTY], l->qty);
        rc = rc ? rc : arr_add_int(&a[L_PRICE], l->price_minor);
        rc = rc ? rc : arr_add_int(&a[L_VER], l->ver);
    }
    for (size_t i = 0; i < s->n_tenders && !rc; i++) {
        rc = add_i(&a[T_I], idx);
        rc = rc ? rc : arr_add_int(&a[T_N], (int64_t)i + 1);
        rc = rc ? rc : arr_add_str(&a[T_TYPE], s->tenders[i].type);
        rc = rc ? rc : arr_add_int(&a[T_AMT], s->tenders[i].amount_minor);
    }
    if (s->kind == P4T_VOID)
        return rc;
    for (size_t i = 0; i < s->n_lines && !rc; i++) {
        int64_t delta = 0;
        bool first = true;

        for (size_t j = 0; j < s->n_lines; j++) {
            if (strcmp(s->lines[j].sku, s->lines[i].sku) != 0)
                continue;
            if (j < i) {
                first = false;
                break;
            }
            delta -= s->lines[j].qty;
        }
        if (!first)
            continue;
        rc = add_i(&a[K_I], idx);
        rc = rc ? rc : arr_add_str(&a[K_SKU], s->lines[i].sku);
        rc = rc ? rc : arr_add_int(&a[K_DELTA], delta);
    }
    return rc;
}

static int add_money(struct arr *a, int64_t idx, const struct p4t_sale *s,
                     const struct posting *post, size_t n_post)
{
    int rc = P4HQ_OK;

    for (size_t i = 0; i < n_post && !rc; i++) {
        rc = add_i(&a[J_I], idx);
        rc = rc ? rc : arr_add_int(&a[J_N], (int64_t)i + 1);
        rc = rc ? rc : arr_add_str(&a[J_ACCT], post[i].account);
        rc = rc ? rc : arr_add_int(&a[J_DEBIT], post[i].amount > 0 ? post[i].amount : 0);
        rc = rc ? rc : arr_add_int(&a[J_CREDIT], post[i].amount < 0 ? -post[i].amount : 0);
    }
    if (rc || !s->customer[0] || !s->has_loyalty)
        return rc;
    for (int leg = 0; leg < 2 && !rc; leg++) {
        int64_t points = leg == 0 ? s->loyalty_earn : -s->loyalty_redeem;
        char entry[P4T_UUID_MAX + 16];

        if (points == 0)
            continue;
        snprintf(entry, sizeof entry, "sale:%s:%s", s->id, leg == 0 ? "earn" : "redeem");
        rc = add_i(&a[Y_I], idx);
        rc = rc ? rc : arr_add_str(&a[Y_ENTRY], entry);
        rc = rc ? rc : arr_add_int(&a[Y_POINTS], points);
    }
    return rc;
}

int post_add(struct post *p, const char *store, int64_t gw_seq, const struct p4t_sale *sale,
             char flags[][P4T_KIND_MAX + 1], size_t n_flags, const struct posting *postings,
             size_t n_postings, char *canon, char *record)
{
    struct post_item *it = &p->items[p->n];
    int64_t idx = (int64_t)p->n + 1;
    int rc;

    if (p->n == POST_CHUNK_MAX) {
        free(canon);
        free(record);
        return P4HQ_EINVAL;
    }
    memset(it, 0, sizeof *it);
    snprintf(it->store, sizeof it->store, "%s", store);
    it->gw_seq = gw_seq;
    snprintf(it->sale_id, sizeof it->sale_id, "%s", sale->id);
    if (sale->customer[0] && sale->has_loyalty &&
        (sale->loyalty_earn > 0 || sale->loyalty_redeem > 0))
        snprintf(it->customer, sizeof it->customer, "%s", sale->customer);
    it->canon = canon;
    it->record = record;
    p->n++; /* owned from here: post_clear frees them */
    rc = add_sale(p->c->a, store, gw_seq, sale, flags, n_flags, canon);
    rc = rc ? rc : add_goods(p->c->a, idx, sale);
    rc = rc ? rc : add_money(p->c->a, idx, sale, postings, n_postings);
    return rc;
}

int post_run(struct post *p, struct db *db, const char *tenant)
{
    const char *v[N_COLS + 1];
    PGresult *res;
    int rc;

    if (p->n == 0)
        return P4HQ_OK;
    v[0] = tenant;
    for (int i = 0; i < N_COLS; i++)
        v[i + 1] = arr_text(&p->c->a[i]);
    rc = db_run(db, "post", N_COLS + 1, v, &res);
    if (rc)
        return rc;
    for (int r = 0; r < PQntuples(res); r++) {
        long i = strtol(PQgetvalue(res, r, 0), NULL, 10);
        if (i >= 1 && (size_t)i <= p->n)
            p->items[i - 1].inserted = true;
    }
    PQclear(res);
    return P4HQ_OK;
}
