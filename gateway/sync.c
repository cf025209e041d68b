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

/* Reads up to one chunk of current state with chg_seq after AFTER; *MORE if rows remain. */
static int read_snapshot(struct replica *r, int64_t after, struct p4t_changes *c, bool *more)
{
    sqlite3_stmt *st = r->st[RS_SNAPSHOT];
    int rc;

    *more = false;
    replica_bind_int(r, RS_SNAPSHOT, 1, after);
    replica_bind_int(r, RS_SNAPSHOT, 2, P4GW_SYNC_CHUNK + 1); /* one more to know `more` */
    for (;;) {
        struct p4t_change *it;
        const char *entity, *key, *value;

        rc = replica_row(r, RS_SNAPSHOT);
        if (rc <= 0)
            return rc;
        if (c->n_items == P4GW_SYNC_CHUNK) {
            *more = true;
            replica_reset(r, RS_SNAPSHOT);
            return P4GW_OK;
        }
        it = &c->items[c->n_items];
        entity = (const char *)sqlite3_column_text(st, 0);
        key = (const char *)sqlite3_column_text(st, 1);
        value = (const char *)sqlite3_column_text(st, 2);
        if (!entity || !key || !value || p4t_entity_parse(entity, &it->entity) != 0) {
            replica_reset(r, RS_SNAPSHOT);
            return P4GW_EIO;
        }
        it->seq = sqlite3_column_int64(st, 3);
        snprintf(it->key, sizeof(it->key), "%s", key);
        it->value_json = strdup(value);
        if (!it->value_json) {
            replica_reset(r, RS_SNAPSHOT);
            return P4GW_ENOMEM;
        }
        c->n_items++;
    }
}

int sync_answer(struct replica *r, const char *store, const char *reg,
                const struct p4t_sync_req *req, struct out_list *out)
{
    struct p4t_changes c = {.is_reply = true};
    char topic[P4T_TOPIC_MAX];
    int64_t head, last_seq = 0, after;
    bool snapshot, more;
    int rc;

    c.items = calloc(P4GW_SYNC_CHUNK, sizeof(*c.items));
    if (!c.items)
        return P4GW_ENOMEM;
    rc = p4t_topic_local(topic, sizeof(topic), P4T_L_SYNC_REPLY, store, reg);
    if (rc) {
        rc = P4GW_EINVAL;
        goto out;
    }
    replica_bind_text(r, RS_REG_LAST, 1, reg);
    rc = replica_int(r, RS_REG_LAST, 0, &last_seq);
    if (rc == 0)
        rc = sync_decide(r, req->cursor, &head, &snapshot);
    if (rc)
        goto out;
    snprintf(c.req_id, sizeof(c.req_id), "%s", req->req_id);
    c.head = head;
    c.last_sale_seq = last_seq;
    c.snapshot = snapshot;
    after = snapshot ? 0 : req->cursor;
    do {
        free_items(&c);
        if (snapshot) {
            rc = read_snapshot(r, after, &c, &more);
            c.from = 0;
            c.to = head;
        } else {
            rc = read_log(r, after, &c);
            c.from = after + 1;
            c.to = c.n_items ? c.items[c.n_items - 1].seq : after;
            more = c.to < head && c.n_items > 0;
        }
        if (rc)
            goto out;
        c.more = more;
        if (c.n_items)
            after = c.items[c.n_items - 1].seq;
        rc = emit(&c, topic, out);
        if (rc)
            goto out;
    } while (more);
    p4_info("sync answered reg=%s req_id=%s cursor=%" PRId64 " head=%" PRId64
            " snapshot=%d last_sale_seq=%" PRId64, reg, req->req_id, req->cursor, head,
            (int)snapshot, last_seq);
out:
    free_items(&c);
    free(c.items);
    return rc;
}

int sync_changes_msgs(const struct change_list *changes, const char *topic,
                      struct out_list *out)
{
    struct p4t_changes c = {0};
    struct p4t_change items[P4T_CHANGES_MAX_ITEMS];
    int rc = P4GW_OK;

    for (size_t i = 0; i < changes->n; i += P4GW_SYNC_CHUNK) {
        size_t n = changes->n - i < P4GW_SYNC_CHUNK ? changes->n - i : P4GW_SYNC_CHUNK;

        for (size_t k = 0; k < n; k++) {
            const struct change_rec *rec = &changes->items[i + k];

            items[k].seq = rec->seq;
            items[k].entity = rec->entity;
            memcpy(items[k].key, rec->key, sizeof(items[k].key));
            /* Borrowed: the encoder only reads it. */
            items[k].value_json = (char *)rec->value;
        }
        c.items = items;
        c.n_items = n;
        c.from = items[0].seq;
        c.to = items[n - 1].seq;
        rc = emit(&c, topic, out);
        if (rc)
            break;
    }
    return rc;
}
