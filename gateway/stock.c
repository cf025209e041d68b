/* SPDX-License-Identifier: Apache-2.0 */
/* Stock and price writes with their change-log rows, and the CSV stock import. */
#include "p4gw.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

#define CSV_LINE_MAX 512
#define CSV_ROWS_MAX 10000000 /* a store's catalogue is far smaller; bounds the memory */
#define ON_HAND_MAX 1000000000000LL

int change_list_push(struct change_list *l, const struct change_rec *c)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct change_rec *items = realloc(l->items, cap * sizeof(*items));

        if (!items) {
            free(c->value);
            return P4GW_ENOMEM;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = *c;
    return P4GW_OK;
}

void change_list_truncate(struct change_list *l, size_t n)
{
    for (size_t i = n; i < l->n; i++)
        free(l->items[i].value);
    if (n < l->n)
        l->n = n;
}

void change_list_free(struct change_list *l)
{
    change_list_truncate(l, 0);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

int stock_record_change(struct replica *r, int64_t *head, enum p4t_entity entity,
                        const char *key, const char *value, struct change_list *out,
                        int64_t *seq)
{
    struct change_rec c = {.entity = entity, .seq = *head + 1};
    int rc;

    snprintf(c.key, sizeof(c.key), "%s", key);
    replica_bind_int(r, RS_CHANGE_INS, 1, c.seq);
    replica_bind_text(r, RS_CHANGE_INS, 2, p4t_entity_name(entity));
    replica_bind_text(r, RS_CHANGE_INS, 3, key);
    replica_bind_text(r, RS_CHANGE_INS, 4, value);
    rc = replica_exec(r, RS_CHANGE_INS);
    if (rc)
        return rc;
    *head = c.seq;
    if (seq)
        *seq = c.seq;
    if (!out)
        return P4GW_OK;
    c.value = strdup(value);
    if (!c.value)
        return P4GW_ENOMEM;
    return change_list_push(out, &c);
}

int stock_record_stock(struct replica *r, int64_t *head, const char *sku, int64_t on_hand,
                       struct change_list *out)
{
    char value[64];
    int64_t seq;
    int rc;

    snprintf(value, sizeof(value), "{\"on_hand\":%" PRId64 "}", on_hand);
    rc = stock_record_change(r, head, P4T_E_STOCK, sku, value, out, &seq);
    if (rc)
        return rc;
    replica_bind_text(r, RS_STOCK_SET, 1, sku);
    replica_bind_int(r, RS_STOCK_SET, 2, on_hand);
    replica_bind_int(r, RS_STOCK_SET, 3, seq);
    return replica_exec(r, RS_STOCK_SET);
}

int stock_get_row(struct replica *r, const char *sku, int64_t *on_hand, int64_t *count_at_ms,
                  int64_t *rowid)
{
    int rc;

    *on_hand = 0;
    *count_at_ms = 0;
    *rowid = 0;
    replica_bind_text(r, RS_STOCK_GET, 1, sku);
    rc = replica_row(r, RS_STOCK_GET);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *on_hand = sqlite3_column_int64(r->st[RS_STOCK_GET], 0);
        *count_at_ms = sqlite3_column_int64(r->st[RS_STOCK_GET], 1);
        *rowid = sqlite3_column_int64(r->st[RS_STOCK_GET], 2);
        replica_reset(r, RS_STOCK_GET);
    }
    return P4GW_OK;
}

int stock_get(struct replica *r, const char *sku, int64_t *on_hand, int64_t *count_at_ms,
              bool *exists)
{
    int64_t rowid;
    int rc = stock_get_row(r, sku, on_hand, count_at_ms, &rowid);

    if (exists)
        *exists = rowid > 0;
    return rc;
}

int stock_put_row(struct replica *r, int64_t *head, int64_t rowid, const char *sku,
                  int64_t on_hand, struct change_list *out)
{
    char value[64];
    int64_t seq;
    int rc;

    snprintf(value, sizeof(value), "{\"on_hand\":%" PRId64 "}", on_hand);
    rc = stock_record_change(r, head, P4T_E_STOCK, sku, value, out, &seq);
    if (rc)
        return rc;
    replica_bind_int(r, RS_STOCK_PUT, 1, rowid);
    replica_bind_int(r, RS_STOCK_PUT, 2, on_hand);
    replica_bind_int(r, RS_STOCK_PUT, 3, seq);
    return replica_exec(r, RS_STOCK_PUT);
}

int stock_move_row(struct replica *r, const char *sku, int64_t delta, int64_t amount,
                   int64_t occurred_ms, const char *reason, const char *ref)
{
    replica_bind_text(r, RS_MOVE_INS, 1, sku);
    replica_bind_int(r, RS_MOVE_INS, 2, delta);
    replica_bind_text(r, RS_MOVE_INS, 3, reason);
    replica_bind_text(r, RS_MOVE_INS, 4, ref);
    replica_bind_text(r, RS_MOVE_INS, 5, NULL);
    replica_bind_int(r, RS_MOVE_INS, 6, amount);
    replica_bind_int(r, RS_MOVE_INS, 7, occurred_ms);
    return replica_exec(r, RS_MOVE_INS);
}

/* Ledger row plus on_hand += DELTA. */
static int write_move(struct replica *r, const char *sku, int64_t delta, int64_t amount,
                      int64_t occurred_ms, const char *reason, const char *ref,
                      const char *move_id, int64_t *after)
{
    int rc;

    replica_bind_text(r, RS_MOVE_INS, 1, sku);
    replica_bind_int(r, RS_MOVE_INS, 2, delta);
    replica_bind_text(r, RS_MOVE_INS, 3, reason);
    replica_bind_text(r, RS_MOVE_INS, 4, ref);
    replica_bind_text(r, RS_MOVE_INS, 5, move_id);
    replica_bind_int(r, RS_MOVE_INS, 6, amount);
    replica_bind_int(r, RS_MOVE_INS, 7, occurred_ms);
    rc = replica_exec(r, RS_MOVE_INS);
    if (rc)
        return rc;
    replica_bind_text(r, RS_STOCK_ADD, 1, sku);
    replica_bind_int(r, RS_STOCK_ADD, 2, delta);
    rc = replica_row(r, RS_STOCK_ADD);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return P4GW_EIO;
    *after = sqlite3_column_int64(r->st[RS_STOCK_ADD], 0);
    replica_reset(r, RS_STOCK_ADD);
    return P4GW_OK;
}

int stock_apply_move(struct replica *r, const char *sku, int64_t amount, int64_t occurred_ms,
                     const char *reason, const char *ref, const char *move_id, int64_t *before,
                     int64_t *after)
{
    int64_t count_at;
    int rc = stock_get(r, sku, before, &count_at, NULL);

    if (rc)
        return rc;
    /* The latest count already saw a movement that happened at or before it. */
    return write_move(r, sku, occurred_ms > count_at ? amount : 0, amount, occurred_ms, reason,
                      ref, move_id, after);
}

int stock_apply_count(struct replica *r, const char *sku, int64_t on_hand, int64_t occurred_ms,
                      const char *move_id, int64_t *before, int64_t *after)
{
    int64_t count_at, later = 0;
    bool exists;
    int rc = stock_get(r, sku, before, &count_at, &exists);

    if (rc)
        return rc;
    if (exists && occurred_ms <= count_at) {
        /* An older count than the baseline we have: kept for the record only. */
        return write_move(r, sku, 0, on_hand, occurred_ms, "count", move_id, move_id, after);
    }
    replica_bind_text(r, RS_MOVES_AFTER, 1, sku);
    replica_bind_int(r, RS_MOVES_AFTER, 2, occurred_ms);
    rc = replica_int(r, RS_MOVES_AFTER, 0, &later);
    if (rc)
        return rc;
    rc = write_move(r, sku, on_hand + later - *before, on_hand, occurred_ms, "count", move_id,
                    move_id, after);
    if (rc)
        return rc;
    replica_bind_text(r, RS_STOCK_COUNT_AT, 1, sku);
    replica_bind_int(r, RS_STOCK_COUNT_AT, 2, occurred_ms);
    return replica_exec(r, RS_STOCK_COUNT_AT);
}

int stock_price_load(struct replica *r, const char *sku, struct p4t_price_state *st,
                     bool *exists, char **value)
{
    sqlite3_stmt *q = r->st[RS_PRICE_GET];
    int rc;

    memset(st, 0, sizeof(*st));
    *exists = false;
    if (value)
        *value = NULL;
    replica_bind_text(r, RS_PRICE_GET, 1, sku);
    rc = replica_row(r, RS_PRICE_GET);
    if (rc <= 0)
        return rc;
    *exists = true;
    if (sqlite3_column_type(q, 2) != SQLITE_NULL && sqlite3_column_type(q, 4) != SQLITE_NULL &&
        sqlite3_column_int64(q, 4) == 0 && sqlite3_column_type(q, 0) != SQLITE_NULL) {
        /* Base only (the common case): the columns say all the state would; no decode. */
        st->has_base = true;
        st->price_minor = sqlite3_column_int64(q, 0);
        st->ver = sqlite3_column_int64(q, 1);
    } else if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
        const char *text = (const char *)sqlite3_column_text(q, 2);

        if (p4t_price_state_decode(text, strlen(text), st, NULL, 0) != 0) {
            /* Written by us, so unreadable means a damaged row: start the sku over. */
            p4_warn("price state unreadable sku=%s; starting it over", sku);
            memset(st, 0, sizeof(*st));
        }
    } else if (sqlite3_column_type(q, 0) != SQLITE_NULL) {
        st->has_base = true;
        st->price_minor = sqlite3_column_int64(q, 0);
        st->ver = sqlite3_column_int64(q, 1);
    }
    if (value && sqlite3_column_type(q, 3) != SQLITE_NULL) {
        *value = strdup((const char *)sqlite3_column_text(q, 3));
        if (!*value) {
            replica_reset(r, RS_PRICE_GET);
            return P4GW_ENOMEM;
        }
    }
    replica_reset(r, RS_PRICE_GET);
    return P4GW_OK;
}

/* The next instant after NOW_MS at which a window of ST starts or ends (0 for none): the price
 * in effect may change then, so a v1 value must be published again. */
static int64_t next_edge(const struct p4t_price_state *st, int64_t now_ms)
{
    int64_t best = 0;

    for (size_t i = 0; i < st->n_windows; i++) {
        const struct p4t_price_window *w = &st->windows[i];

        if (w->has_from && w->from_ms > now_ms && (!best || w->from_ms < best))
            best = w->from_ms;
        if (w->has_until && w->until_ms > now_ms && (!best || w->until_ms < best))
            best = w->until_ms;
    }
    return best;
}

int stock_price_store(struct replica *r, int64_t *head, const char *sku,
                      const struct p4t_price_state *st, bool v11, int64_t now_ms,
                      struct change_list *out, bool *changed)
{
    char *state = NULL, *old = NULL, value[96];
    const char *val = NULL;
    struct p4t_price_state cur;
    int64_t price, ver, edge, seq = 0;
    bool exists;
    int rc;

    *changed = false;
    rc = stock_price_load(r, sku, &cur, &exists, &old);
    if (rc)
        goto out;
    if (p4t_price_state_encode(st, &state) != 0) {
        p4_error("price state not encodable sku=%s", sku);
        rc = P4GW_EIO;
        goto out;
    }
    if (v11) {
        val = state;
    } else if (p4t_price_effective(st, now_ms, &price, &ver) == 0) {
        snprintf(value, sizeof(value), "{\"price\":%" PRId64 ",\"ver\":%" PRId64 "}", price,
                 ver);
        val = value;
    }
    edge = v11 ? 0 : next_edge(st, now_ms);
    if (val && (!old || strcmp(old, val) != 0)) {
        rc = stock_record_change(r, head, P4T_E_PRICE, sku, val, out, &seq);
        if (rc)
            goto out;
        *changed = true;
    }
    if (*changed || !exists) {
        replica_bind_text(r, RS_PRICE_SET, 1, sku);
        replica_bind_int(r, RS_PRICE_SET, 4, seq);
    } else {
        /* Same published value: keep the row's change seq (snapshots page by it). */
        replica_bind_text(r, RS_PRICE_STATE, 1, sku);
    }
    {
        enum replica_stmt id = (*changed || !exists) ? RS_PRICE_SET : RS_PRICE_STATE;
        int c_state = id == RS_PRICE_SET ? 5 : 4;

        if (st->has_base) {
            replica_bind_int(r, id, 2, st->price_minor);
            replica_bind_int(r, id, 3, st->ver);
        } else {
            replica_bind_text(r, id, 2, NULL);
            replica_bind_text(r, id, 3, NULL);
        }
        replica_bind_text(r, id, c_state, state);
        replica_bind_text(r, id, c_state + 1, val ? val : old);
        if (edge)
            replica_bind_int(r, id, c_state + 2, edge);
        else
            replica_bind_text(r, id, c_state + 2, NULL);
        replica_bind_int(r, id, c_state + 3, (int64_t)st->n_windows);
        rc = replica_exec(r, id);
    }
out:
    free(state);
    free(old);
    return rc;
}

int stock_record_price(struct replica *r, int64_t *head, const char *sku, int64_t price,
                       int64_t ver, struct change_list *out)
{
    struct p4t_price_state st;
    bool exists, changed, dropped;
    int rc = stock_price_load(r, sku, &st, &exists, NULL);

    if (rc)
        return rc;
    st.has_base = true;
    st.price_minor = price;
    st.ver = ver;
    /* Windows HQ sent stay unless the new base outranks them. */
    p4t_price_state_prune(&st, p4_now_ms(), &dropped);
    return stock_price_store(r, head, sku, &st, false, p4_now_ms(), out, &changed);
}

static int csv_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static bool sku_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > P4T_SKU_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    }
    return true;
}

/* Parses one CSV data line into ROW. Returns 0 or -1 with REASON filled. */
static int csv_parse(char *line, struct csv_row *row, char *reason, size_t reason_len)
{
    char *field[4];
    int n = 0;
    char *p = line;

    while (n < 4) {
        field[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p++ = '\0';
    }
    if (n != 4 || p) {
        snprintf(reason, reason_len, "expected 4 fields sku,on_hand,price_minor,price_ver");
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char *f = field[i];
        size_t len;

        while (*f == ' ' || *f == '\t')
            f++;
        len = strlen(f);
        while (len > 0 && (f[len - 1] == ' ' || f[len - 1] == '\t'))
            f[--len] = '\0';
        field[i] = f;
    }
    if (!sku_valid(field[0])) {
        snprintf(reason, reason_len, "sku: must be 1..%d printable ASCII characters",
                 P4T_SKU_MAX);
        return -1;
    }
    snprintf(row->sku, sizeof(row->sku), "%s", field[0]);
    if (csv_int(field[1], 0, ON_HAND_MAX, &row->on_hand)) {
        snprintf(reason, reason_len, "on_hand: must be an integer 0..%lld (got \"%.32s\")",
                 ON_HAND_MAX, field[1]);
        return -1;
    }
    if (csv_int(field[2], 0, P4T_MAX_PRICE, &row->price)) {
        snprintf(reason, reason_len,
                 "price_minor: must be an integer 0..%d in minor units (got \"%.32s\")",
                 P4T_MAX_PRICE, field[2]);
        return -1;
    }
    if (csv_int(field[3], 0, INT64_MAX, &row->ver)) {
        snprintf(reason, reason_len, "price_ver: must be an integer >= 0 (got \"%.32s\")",
                 field[3]);
        return -1;
    }
    return 0;
}

/* Applies one parsed row inside the open transaction. */
static int csv_apply(struct replica *r, int64_t *head, const struct csv_row *row)
{
    int64_t cur = 0;
    bool have_stock = false, have_price = false;
    int64_t cur_ver = 0;
    int rc;

    replica_bind_text(r, RS_STOCK_GET, 1, row->sku);
    rc = replica_row(r, RS_STOCK_GET);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        have_stock = true;
        cur = sqlite3_column_int64(r->st[RS_STOCK_GET], 0);
        replica_reset(r, RS_STOCK_GET);
    }
    if (!have_stock || cur != row->on_hand) {
        if (row->on_hand != cur) {
            int64_t after;

            /* An import sets the number (a "count" of the delta) but is no count of the
             * stock rule: it does not move the baseline time HQ's counts use. */
            rc = write_move(r, row->sku, row->on_hand - cur, row->on_hand - cur, p4_now_ms(),
                            "count", "import", NULL, &after);
            if (rc)
                return rc;
        }
        rc = stock_record_stock(r, head, row->sku, row->on_hand, NULL);
        if (rc)
            return rc;
    }
    replica_bind_text(r, RS_PRICE_GET, 1, row->sku);
    rc = replica_row(r, RS_PRICE_GET);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        have_price = true;
        cur_ver = sqlite3_column_int64(r->st[RS_PRICE_GET], 1);
        replica_reset(r, RS_PRICE_GET);
    }
    if (!have_price || row->ver > cur_ver)
        return stock_record_price(r, head, row->sku, row->price, row->ver, NULL);
    return P4GW_OK;
}

int stock_csv_load(const char *csv_path, struct csv_row **rows_out, size_t *n_out, char *err,
                   size_t err_len)
{
    FILE *f = NULL;
    struct csv_row *rows = NULL;
    size_t n_rows = 0, cap = 0;
    char line[CSV_LINE_MAX];
    char reason[P4T_REASON_MAX];
    int lineno = 0;
    int rc = P4GW_OK;

    err[0] = '\0';
    *rows_out = NULL;
    *n_out = 0;
    f = fopen(csv_path, "r");
    if (!f) {
        snprintf(err, err_len, "%s:0: cannot open: %s", csv_path, strerror(errno));
        rc = P4GW_EIO;
        goto out;
    }
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);

        lineno++;
        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, err_len, "%s:%d: line longer than %d bytes", csv_path, lineno,
                     CSV_LINE_MAX - 2);
            rc = P4GW_EINVAL;
            goto out;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || strspn(line, " \t") == len)
            continue;
        if (lineno == 1 && strncmp(line, "sku", 3) == 0)
            continue; /* header */
        if (n_rows == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct csv_row *nrows;

            if (ncap > CSV_ROWS_MAX) {
                snprintf(err, err_len, "%s:%d: more than %d rows", csv_path, lineno,
                         CSV_ROWS_MAX);
                rc = P4GW_EINVAL;
                goto out;
            }
            nrows = realloc(rows, ncap * sizeof(*rows));
            if (!nrows) {
                snprintf(err, err_len, "%s:%d: out of memory", csv_path, lineno);
                rc = P4GW_ENOMEM;
                goto out;
            }
            rows = nrows;
            cap = ncap;
        }
        if (csv_parse(line, &rows[n_rows], reason, sizeof(reason))) {
            snprintf(err, err_len, "%s:%d: %s", csv_path, lineno, reason);
            rc = P4GW_EINVAL;
            goto out;
        }
        n_rows++;
    }
    if (ferror(f)) {
        snprintf(err, err_len, "%s:%d: read error", csv_path, lineno);
        rc = P4GW_EIO;
        goto out;
    }
    *rows_out = rows;
    *n_out = n_rows;
    rows = NULL;
out:
    if (f)
        fclose(f);
    free(rows);
    return rc;
}

int stock_import_rows(struct replica *r, const struct csv_row *rows, size_t n_rows, char *err,
                      size_t err_len)
{
    int64_t head = 0;
    int rc;

    err[0] = '\0';
    rc = replica_begin(r);
    if (rc)
        goto db_fail;
    rc = replica_int(r, RS_CHANGE_HEAD, 0, &head);
    if (rc)
        goto db_fail;
    for (size_t i = 0; i < n_rows; i++) {
        rc = csv_apply(r, &head, &rows[i]);
        if (rc)
            goto db_fail;
    }
    rc = replica_commit(r);
    if (rc)
        goto db_fail;
    p4_info("stock imported rows=%zu change_head=%" PRId64, n_rows, head);
    return P4GW_OK;
db_fail:
    replica_rollback(r);
    snprintf(err, err_len, "database error: %s", sqlite3_errmsg(r->db));
    return P4GW_EIO;
}

int stock_import_csv(struct replica *r, const char *csv_path, char *err, size_t err_len)
{
    struct csv_row *rows = NULL;
    size_t n = 0;
    int rc = stock_csv_load(csv_path, &rows, &n, err, err_len);

    if (rc == 0)
        rc = stock_import_rows(r, rows, n, err, err_len);
    free(rows);
    return rc;
}
