/* SPDX-License-Identifier: Apache-2.0 */
/* Answering sync requests (log slices or snapshots, chunked) and building change messages. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

_Static_assert(P4GW_SYNC_CHUNK <= P4T_CHANGES_MAX_ITEMS, "sync chunk over the contract limit");

/* Frees the value texts this module strdup'd into C's items. */
static void free_items(struct p4t_changes *c)
{
    for (size_t i = 0; i < c->n_items; i++)
        free(c->items[i].value_json);
    c->n_items = 0;
}

static int emit(const struct p4t_changes *c, const char *topic, struct out_list *out)
{
    char *text = NULL;
    int rc = p4t_changes_encode(c, &text);

    if (rc) {
        p4_error("changes encoding failed topic=%s from=%" PRId64 " to=%" PRId64 " rc=%d",
                 topic, c->from, c->to, rc);
        return rc == P4T_ENOMEM ? P4GW_ENOMEM : P4GW_EIO;
    }
    return out_list_push(out, topic, text);
}

int sync_decide(struct replica *r, int64_t cursor, int64_t *head, bool *snapshot)
{
    int64_t oldest;
    int rc;

    rc = replica_int(r, RS_CHANGE_HEAD, 0, head);
    if (rc == 0)
        rc = replica_int(r, RS_CHANGE_MIN, *head + 1, &oldest);
    if (rc)
        return rc;
    /* A log slice is possible when every change after the cursor is still kept. A cursor past
     * head means the register knew a replica we no longer have: start it over. A register
     * starting from nothing, or far behind, gets the current state instead of the history:
     * one row per key instead of every change since. */
    *snapshot = cursor > *head || cursor + 1 < oldest || (cursor == 0 && *head > 0) ||
                *head - cursor > P4GW_SYNC_LOG_MAX_BEHIND;
    return P4GW_OK;
}

/* Reads up to one chunk of log rows after AFTER into C (values strdup'd). */
static int read_log(struct replica *r, int64_t after, struct p4t_changes *c)
{
    sqlite3_stmt *st = r->st[RS_CHANGES_AFTER];
    int rc;

    replica_bind_int(r, RS_CHANGES_AFTER, 1, after);
    replica_bind_int(r, RS_CHANGES_AFTER, 2, P4GW_SYNC_CHUNK);
    for (;;) {
        struct p4t_change *it = &c->items[c->n_items];
        const char *entity, *key, *value;

        rc = replica_row(r, RS_CHANGES_AFTER);
        if (rc <= 0)
            return rc;
        entity = (const char *)sqlite3_column_text(st, 1);
        key = (const char *)sqlite3_column_text(st, 2);
        value = (const char *)sqlite3_column_text(st, 3);
        it->seq = sqlite3_column_int64(st, 0);
        if (!entity || !key || !value || p4t_entity_parse(entity, &it->entity) != 0) {
            replica_reset(r, RS_CHANGES_AFTER);
            p4_error("change row unreadable seq=%" PRId64, it->seq);
            return P4GW_EIO;
        }
        snprintf(it->key, sizeof(it->key), "%s", key);
        it->value_json = strdup(value);
        if (!it->value_json) {
            replica_reset(r, RS_CHANGES_AFTER);
            return P4GW_ENOMEM;
        }
        c->n_items++;
    }
}

/* ---- snapshots ----
 * A pass opens a read transaction on its own connection (WAL: the core thread's commits go on
 * while it reads one consistent state), collects (chg_seq, entity, rowid) of every state row a
 * few thousand rows per sync_pump call, sorts them in memory (the contract wants seq order;
 * an ORDER BY would sort the whole state inside one sqlite3_step), then emits 500-item chunks,
 * each item fetched by rowid. Nothing of it blocks the core loop for long. */

struct snap_row {
    int64_t seq;
    int64_t ref; /* rowid << 3 | entity */
};

#define REF_ENTITY_BITS 3
#define REF_ROWID_MAX (INT64_MAX >> REF_ENTITY_BITS)

static const char *const snap_sql[SN_COUNT] = {
    [SN_BEGIN] = "BEGIN",
    [SN_END] = "COMMIT",
    [SN_HEAD] = "SELECT coalesce(max(seq), 0) FROM changes",
    /* entity numbers are enum p4t_entity */
    [SN_COLLECT] = "SELECT chg_seq, 0, rowid FROM stock"
                   " UNION ALL SELECT chg_seq, 1, rowid FROM prices"
                   "  WHERE value IS NOT NULL OR price IS NOT NULL"
                   " UNION ALL SELECT chg_seq, 2, rowid FROM promos"
                   " UNION ALL SELECT chg_seq, 3, rowid FROM customers"
                   " UNION ALL SELECT chg_seq, 4, rowid FROM loyalty WHERE chg_seq > 0",
    [SN_STOCK] = "SELECT sku, '{\"on_hand\":' || on_hand || '}' FROM stock WHERE rowid = ?1",
    [SN_PRICE] = "SELECT sku, coalesce(value, '{\"price\":' || price || ',\"ver\":' || ver"
                 " || '}') FROM prices WHERE rowid = ?1",
    [SN_PROMO] = "SELECT id, value FROM promos WHERE rowid = ?1",
    [SN_CUST] = "SELECT id, value FROM customers WHERE rowid = ?1",
    [SN_LOY] = "SELECT customer, '{\"balance\":' || balance || '}' FROM loyalty"
               " WHERE rowid = ?1",
};

void sync_init(struct syncer *s, struct replica *r, const char *store)
{
    memset(s, 0, sizeof(*s));
    s->r = r;
    snprintf(s->store, sizeof(s->store), "%s", store);
}

static void close_reader(struct syncer *s)
{
    for (int i = 0; i < SN_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

/* Opens the read connection on the replica's file. Returns 0 or P4GW_EIO (logged). */
static int open_reader(struct syncer *s)
{
    const char *path = sqlite3_db_filename(s->r->db, "main");
    char *msg = NULL;

    if (s->db)
        return P4GW_OK;
    if (!path || !path[0]) {
        p4_error("snapshot needs a replica file (not an in-memory database)");
        return P4GW_EIO;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(s->db, 5000);
    /* This connection only reads; a bug that tried to write through it fails loudly. */
    if (sqlite3_exec(s->db, "PRAGMA query_only=1;", NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < SN_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, snap_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK)
            goto fail;
    }
    return P4GW_OK;
fail:
    p4_error("snapshot reader open failed path=%s error=\"%s\"", path,
             msg ? msg : s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite3_free(msg);
    close_reader(s);
    return P4GW_EIO;
}

static int snap_step(struct syncer *s, enum snap_stmt id)
{
    int rc = sqlite3_step(s->st[id]);

    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(s->st[id]);
    if (rc == SQLITE_DONE)
        return 0;
    p4_error("snapshot read failed stmt=%d error=\"%s\"", (int)id, sqlite3_errmsg(s->db));
    return P4GW_EIO;
}

/* Ends the pass: the read transaction, the targets, the rows (capacity kept for the next). */
static void end_pass(struct syncer *s)
{
    if (s->active) {
        sqlite3_reset(s->st[SN_COLLECT]);
        if (sqlite3_get_autocommit(s->db) == 0)
            snap_step(s, SN_END);
        sqlite3_reset(s->st[SN_END]);
    }
    s->active = false;
    s->emitting = false;
    s->n_targets = 0;
    s->n_rows = 0;
    s->next_row = 0;
    if (s->cap_rows > 65536) {
        /* A store-sized array is not kept between passes: memory goes back. */
        free(s->rows);
        s->rows = NULL;
        s->cap_rows = 0;
    }
}

void sync_reset(struct syncer *s)
{
    if (s->active || s->n_waiting)
        p4_info("snapshots dropped registers=%zu waiting=%zu", s->n_targets, s->n_waiting);
    end_pass(s);
    s->n_waiting = 0;
}

void sync_cleanup(struct syncer *s)
{
    end_pass(s);
    free(s->rows);
    s->rows = NULL;
    close_reader(s);
}

/* Adds REG's request to LIST (replacing an older one of the same register). */
static bool list_put(struct snap_req *list, size_t *n, size_t max, const char *reg,
                     const char *req_id)
{
    size_t i;

    for (i = 0; i < *n && strcmp(list[i].reg, reg) != 0; i++)
        ;
    if (i == *n) {
        if (*n == max)
            return false;
        (*n)++;
    }
    snprintf(list[i].reg, sizeof(list[i].reg), "%s", reg);
    snprintf(list[i].req_id, sizeof(list[i].req_id), "%s", req_id);
    return true;
}

static void queue_snapshot(struct syncer *s, const char *reg, const char *req_id)
{
    /* Before its first chunk a pass can still take a register (or its newer req_id). */
    if (s->active && !s->emitting &&
        list_put(s->targets, &s->n_targets, P4GW_SNAP_TARGETS_MAX, reg, req_id))
        return;
    if (list_put(s->waiting, &s->n_waiting, P4GW_SNAP_WAIT_MAX, reg, req_id))
        return;
    s->dropped++;
    p4_warn("snapshot request dropped: %d waiting reg=%s req_id=%s", P4GW_SNAP_WAIT_MAX, reg,
            req_id);
}

static int start_pass(struct syncer *s)
{
    size_t n;
    int rc;

    rc = open_reader(s);
    if (rc)
        return rc;
    rc = snap_step(s, SN_BEGIN);
    if (rc < 0)
        return rc;
    s->active = true;
    rc = snap_step(s, SN_HEAD); /* the read transaction starts here */
    if (rc < 0)
        return rc;
    s->head = rc == 1 ? sqlite3_column_int64(s->st[SN_HEAD], 0) : 0;
    sqlite3_reset(s->st[SN_HEAD]);
    n = s->n_waiting < P4GW_SNAP_TARGETS_MAX ? s->n_waiting : P4GW_SNAP_TARGETS_MAX;
    memcpy(s->targets, s->waiting, n * sizeof(*s->targets));
    s->n_targets = n;
    memmove(s->waiting, s->waiting + n, (s->n_waiting - n) * sizeof(*s->waiting));
    s->n_waiting -= n;
    s->n_rows = 0;
    s->next_row = 0;
    s->emitting = false;
    s->started_ms = p4_mono_ms();
    return P4GW_OK;
}

static int row_cmp(const void *a, const void *b)
{
    const struct snap_row *x = a, *y = b;

    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* Reads up to P4GW_SNAP_PUMP_ROWS (seq, entity, rowid); sorts once the statement is done. */
static int collect(struct syncer *s)
{
    sqlite3_stmt *st = s->st[SN_COLLECT];

    for (int i = 0; i < P4GW_SNAP_PUMP_ROWS; i++) {
        int64_t rowid;
        int rc = snap_step(s, SN_COLLECT);

        if (rc < 0)
            return rc;
        if (rc == 0) {
            qsort(s->rows, s->n_rows, sizeof(*s->rows), row_cmp);
            s->emitting = true;
            return P4GW_OK;
        }
        if (s->n_rows == s->cap_rows) {
            size_t cap = s->cap_rows ? s->cap_rows * 2 : 4096;
            struct snap_row *rows;

            if (cap > P4GW_SNAP_ROWS_MAX) {
                p4_error("snapshot larger than %d rows: not sent", P4GW_SNAP_ROWS_MAX);
                return P4GW_ENOMEM;
            }
            rows = realloc(s->rows, cap * sizeof(*rows));
            if (!rows)
                return P4GW_ENOMEM;
            s->rows = rows;
            s->cap_rows = cap;
        }
        rowid = sqlite3_column_int64(st, 2);
        if (rowid < 0 || rowid > REF_ROWID_MAX) {
            p4_error("snapshot row id out of range rowid=%" PRId64, rowid);
            return P4GW_EIO;
        }
        s->rows[s->n_rows].seq = sqlite3_column_int64(st, 0);
        s->rows[s->n_rows].ref = rowid << REF_ENTITY_BITS | (sqlite3_column_int64(st, 1) & 7);
        s->n_rows++;
    }
    return P4GW_OK;
}

/* A growing text buffer; after a failed allocation every append is a no-op and OOM is set. */
struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < b->n + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_lit(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_int(struct sbuf *b, int64_t v)
{
    char tmp[24], *e = tmp + sizeof(tmp), *q = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    sb_put(b, q, (size_t)(e - q));
}

/* S as a JSON string (quotes, backslashes and control characters escaped). */
static void sb_str(struct sbuf *b, const char *s)
{
    const char *run = s;

    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        sb_put(b, run, (size_t)(s - run));
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            sb_put(b, esc, 2);
        } else {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            sb_put(b, esc, 6);
        }
        run = s + 1;
    }
    sb_put(b, run, (size_t)(s - run));
    sb_put(b, "\"", 1);
}

/* Appends ROW as one change item: {"seq":..,"entity":..,"key":..,"value":{..}}. The value is
 * the JSON text the replica stores (written by our own encoders), copied as it is. */
static int append_item(struct syncer *s, const struct snap_row *row, bool comma,
                       struct sbuf *b)
{
    static const enum snap_stmt by_entity[] = {
        [P4T_E_STOCK] = SN_STOCK, [P4T_E_PRICE] = SN_PRICE, [P4T_E_PROMO] = SN_PROMO,
        [P4T_E_CUSTOMER] = SN_CUST, [P4T_E_LOYALTY] = SN_LOY,
    };
    int entity = (int)(row->ref & 7);
    enum snap_stmt id;
    const char *key, *value;
    int rc;

    if (entity > P4T_E_LOYALTY)
        return P4GW_EIO;
    id = by_entity[entity];
    sqlite3_bind_int64(s->st[id], 1, row->ref >> REF_ENTITY_BITS);
    rc = snap_step(s, id);
    if (rc <= 0) {
        p4_error("snapshot row vanished entity=%d rowid=%" PRId64, entity,
                 row->ref >> REF_ENTITY_BITS);
        return P4GW_EIO;
    }
    key = (const char *)sqlite3_column_text(s->st[id], 0);
    value = (const char *)sqlite3_column_text(s->st[id], 1);
    rc = P4GW_OK;
    if (!key || !value || value[0] != '{' || strlen(key) > P4T_SKU_MAX) {
        p4_error("snapshot row unreadable entity=%d rowid=%" PRId64, entity,
                 row->ref >> REF_ENTITY_BITS);
        rc = P4GW_EIO;
    } else {
        sb_lit(b, comma ? ",{\"seq\":" : "{\"seq\":");
        sb_int(b, row->seq);
        sb_lit(b, ",\"entity\":\"");
        sb_lit(b, p4t_entity_name((enum p4t_entity)entity));
        sb_lit(b, "\",\"key\":");
        sb_str(b, key);
        sb_lit(b, ",\"value\":");
        sb_put(b, value, (size_t)sqlite3_column_bytes(s->st[id], 1));
        sb_put(b, "}", 1);
        if (b->oom)
            rc = P4GW_ENOMEM;
    }
    sqlite3_reset(s->st[id]);
    return rc;
}

/* Emits the next chunk to every target of the pass. The items are written once and framed
 * per register (req_id and last_sale_seq differ): printing 500 items through a JSON tree and
 * decoding them back, as p4t_changes_encode does, would make a 100,000-SKU snapshot take
 * seconds. The unit tests decode every chunk with p4t_changes_decode. */
static int emit_chunk(struct syncer *s, bool *more, struct out_list *out)
{
    struct sbuf items = {0};
    size_t n = s->n_rows - s->next_row;
    int rc = P4GW_OK;

    if (n > P4GW_SYNC_CHUNK)
        n = P4GW_SYNC_CHUNK;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = append_item(s, &s->rows[s->next_row + i], i > 0, &items);
    if (rc)
        goto out;
    s->next_row += n;
    *more = s->next_row < s->n_rows;
    for (size_t t = 0; t < s->n_targets && rc == 0; t++) {
        struct sbuf msg = {0};
        char topic[P4T_TOPIC_MAX];

        if (p4t_topic_local(topic, sizeof(topic), P4T_L_SYNC_REPLY, s->store,
                            s->targets[t].reg) != 0) {
            rc = P4GW_EINVAL;
            break;
        }
        sb_lit(&msg, "{\"req_id\":");
        sb_str(&msg, s->targets[t].req_id);
        sb_lit(&msg, ",\"from\":0,\"to\":");
        sb_int(&msg, s->head);
        sb_lit(&msg, *more ? ",\"snapshot\":true,\"more\":true,\"head\":"
                           : ",\"snapshot\":true,\"more\":false,\"head\":");
        sb_int(&msg, s->head);
        sb_lit(&msg, ",\"last_sale_seq\":");
        sb_int(&msg, s->target_last_seq[t]);
        sb_lit(&msg, ",\"items\":[");
        if (items.n)
            sb_put(&msg, items.p, items.n);
        sb_lit(&msg, "]}");
        if (msg.oom) {
            free(msg.p);
            rc = P4GW_ENOMEM;
            break;
        }
        rc = out_list_push(out, topic, msg.p); /* takes msg.p, also on failure */
    }
out:
    free(items.p);
    return rc;
}

/* last_sale_seq of each target, read when its first chunk is built (the newest we know). */
static int read_last_seqs(struct syncer *s)
{
    for (size_t t = 0; t < s->n_targets; t++) {
        int rc;

        replica_bind_text(s->r, RS_REG_LAST, 1, s->targets[t].reg);
        rc = replica_int(s->r, RS_REG_LAST, 0, &s->target_last_seq[t]);
        if (rc)
            return rc;
    }
    return P4GW_OK;
}

int sync_pump(struct syncer *s, struct out_list *out, bool *busy)
{
    int rc = P4GW_OK;

    if (!s->active && s->n_waiting) {
        rc = start_pass(s);
        if (rc)
            goto out;
    }
    if (s->active && !s->emitting) {
        rc = collect(s);
        if (rc == 0 && s->emitting)
            rc = read_last_seqs(s);
        if (rc)
            goto out;
    } else if (s->active) {
        int64_t until_ms = p4_mono_ms() + P4GW_SNAP_PUMP_MS;
        bool more = true;

        /* At least one chunk, then as many as fit in the time slice. */
        do {
            rc = emit_chunk(s, &more, out);
            if (rc == 0 && !more) {
                s->passes++;
                p4_info("snapshot sent registers=%zu head=%" PRId64 " rows=%zu ms=%" PRId64,
                        s->n_targets, s->head, s->n_rows, p4_mono_ms() - s->started_ms);
                end_pass(s);
                break;
            }
        } while (rc == 0 && p4_mono_ms() < until_ms);
    }
out:
    if (rc) {
        p4_error("snapshot dropped registers=%zu rc=%d (they ask again)", s->n_targets, rc);
        end_pass(s);
    }
    *busy = s->active || s->n_waiting > 0;
    return rc;
}

int sync_request(struct syncer *s, const char *reg, const struct p4t_sync_req *req,
                 struct out_list *out)
{
    struct p4t_changes c = {.is_reply = true};
    char topic[P4T_TOPIC_MAX];
    int64_t head, last_seq = 0, after;
    bool snapshot, more;
    int rc;

    rc = sync_decide(s->r, req->cursor, &head, &snapshot);
    if (rc)
        return rc;
    if (snapshot) {
        p4_info("sync snapshot queued reg=%s req_id=%s cursor=%" PRId64 " head=%" PRId64, reg,
                req->req_id, req->cursor, head);
        queue_snapshot(s, reg, req->req_id);
        return P4GW_OK;
    }
    c.items = calloc(P4GW_SYNC_CHUNK, sizeof(*c.items));
    if (!c.items)
        return P4GW_ENOMEM;
    rc = p4t_topic_local(topic, sizeof(topic), P4T_L_SYNC_REPLY, s->store, reg);
    if (rc) {
        rc = P4GW_EINVAL;
        goto out;
    }
    replica_bind_text(s->r, RS_REG_LAST, 1, reg);
    rc = replica_int(s->r, RS_REG_LAST, 0, &last_seq);
    if (rc)
        goto out;
    snprintf(c.req_id, sizeof(c.req_id), "%s", req->req_id);
    c.head = head;
    c.last_sale_seq = last_seq;
    after = req->cursor;
    /* A log slice is at most P4GW_SYNC_LOG_MAX_BEHIND rows (a few chunks): answered at once. */
    do {
        free_items(&c);
        rc = read_log(s->r, after, &c);
        if (rc)
            goto out;
        c.from = after + 1;
        c.to = c.n_items ? c.items[c.n_items - 1].seq : after;
        more = c.to < head && c.n_items > 0;
        c.more = more;
        if (c.n_items)
            after = c.items[c.n_items - 1].seq;
        rc = emit(&c, topic, out);
        if (rc)
            goto out;
    } while (more);
    p4_info("sync answered reg=%s req_id=%s cursor=%" PRId64 " head=%" PRId64
            " last_sale_seq=%" PRId64, reg, req->req_id, req->cursor, head, last_seq);
out:
    free_items(&c);
    free(c.items);
    return rc;
}

int sync_answer(struct replica *r, const char *store, const char *reg,
                const struct p4t_sync_req *req, struct out_list *out)
{
    struct syncer s;
    bool busy = false;
    int rc;

    sync_init(&s, r, store);
    rc = sync_request(&s, reg, req, out);
    if (rc == 0)
        busy = s.n_waiting > 0;
    while (rc == 0 && busy)
        rc = sync_pump(&s, out, &busy);
    sync_cleanup(&s);
    return rc;
}

/* Change messages are written directly, like snapshot chunks (one per group commit: going
 * through p4t_changes_encode's JSON tree and check decode cost as much as a sale's SQL). The
 * values are the texts this gateway wrote into the change log. */
int sync_changes_msgs(const struct change_list *changes, const char *topic,
                      struct out_list *out)
{
    int rc = P4GW_OK;

    for (size_t i = 0; i < changes->n && rc == 0; i += P4GW_SYNC_CHUNK) {
        size_t n = changes->n - i < P4GW_SYNC_CHUNK ? changes->n - i : P4GW_SYNC_CHUNK;
        struct sbuf b = {0};

        sb_lit(&b, "{\"from\":");
        sb_int(&b, changes->items[i].seq);
        sb_lit(&b, ",\"to\":");
        sb_int(&b, changes->items[i + n - 1].seq);
        sb_lit(&b, ",\"items\":[");
        for (size_t k = 0; k < n; k++) {
            const struct change_rec *rec = &changes->items[i + k];

            sb_lit(&b, k ? ",{\"seq\":" : "{\"seq\":");
            sb_int(&b, rec->seq);
            sb_lit(&b, ",\"entity\":\"");
            sb_lit(&b, p4t_entity_name(rec->entity));
            sb_lit(&b, "\",\"key\":");
            sb_str(&b, rec->key);
            sb_lit(&b, ",\"value\":");
            sb_lit(&b, rec->value);
            sb_put(&b, "}", 1);
        }
        sb_lit(&b, "]}");
        if (b.oom) {
            free(b.p);
            p4_error("changes message not built: out of memory topic=%s", topic);
            return P4GW_ENOMEM;
        }
        rc = out_list_push(out, topic, b.p);
    }
    return rc;
}
