/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of customers.c (contract 1.2) on a temporary replica: a register's sign-up is
 * stored as the store's own version with a change row, an outbox row of kind customer and an
 * ack; HQ's item replaces it; a bad message goes to rejects unacknowledged; an HQ item on the
 * store's own topic with the ver held adds a change row (the lookup answer), on _all not. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p4check.h"
#include "p4common.h"

static char dir[] = "/tmp/p4gw-customers-test-XXXXXX";

static int64_t sql_int(struct replica *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

typedef int (*step_fn)(struct group *in, const char *topic, const char *payload);

static int signup(struct group *in, const char *topic, const char *payload)
{
    return customers_signup(in, topic, payload, strlen(payload), strlen(payload), p4_now_ms());
}

static int down(struct group *in, const char *topic, const char *payload)
{
    return downlink_apply(in, topic, payload, strlen(payload), strlen(payload), p4_now_ms());
}

/* Runs one message in its own transaction; returns how many change rows it made. */
static size_t one(struct replica *r, struct group *in, step_fn fn, const char *topic,
                  const char *payload)
{
    size_t n;

    CHECK_INT(replica_begin(r), 0);
    CHECK_INT(group_begin(in), 0);
    CHECK_INT(fn(in, topic, payload), 0);
    CHECK_INT(replica_commit(r), 0);
    n = in->changes.n;
    return n;
}

int main(void)
{
    static const char reg_topic[] = "pos/v1/s001/reg/r01/customer";
    static const char lookup[] = "{\"req_id\":\"l1\",\"customers\":[\"C-9\"]}";
    struct p4gw_config cfg;
    struct replica r = {0};
    struct group in;
    char path[PATH_MAX];

    p4_log_set_level(P4_LOG_ERROR);
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/replica.db", dir);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.tenant, sizeof(cfg.tenant), "acme");
    snprintf(cfg.store, sizeof(cfg.store), "s001");
    CHECK_INT(replica_open(&r, path, false), 0);
    CHECK_INT(group_init(&in, &r, &cfg), 0);

    /* A sign-up: the store's own version, a change row, an outbox row and the ack. */
    CHECK_INT(one(&r, &in, signup, reg_topic,
                  "{\"items\":[{\"id\":\"C-9\",\"ver\":5,\"name\":\"Ann\",\"tier\":\"gold\"}]}"),
              1);
    CHECK_INT(in.acks.n, 1);
    CHECK_STR(in.acks.items[0].topic, "pos/v1/s001/reg/r01/customer/ack");
    CHECK(strstr(in.acks.items[0].payload, "\"id\":\"C-9\"") != NULL);
    group_done(&in);
    CHECK_INT(sql_int(&r, "SELECT ver FROM customers WHERE id = 'C-9'"), 0);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM outbox WHERE kind = 'customer'"), 1);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM meta WHERE key = 'hw_customer'"), 0);

    /* Sent again (no ack reached the register): no second change, but acked and uplinked. */
    CHECK_INT(one(&r, &in, signup, reg_topic,
                  "{\"items\":[{\"id\":\"C-9\",\"ver\":5,\"name\":\"Ann\",\"tier\":\"gold\"}]}"),
              0);
    CHECK_INT(in.acks.n, 1);
    group_done(&in);

    /* HQ's version replaces it whatever its ver. */
    CHECK_INT(one(&r, &in, down, "p4/v1/acme/_all/down/customer",
                  "{\"items\":[{\"id\":\"C-9\",\"ver\":1,\"name\":\"Anna\",\"tier\":\"gold\"}]}"),
              1);
    group_done(&in);
    CHECK_INT(sql_int(&r, "SELECT ver FROM customers WHERE id = 'C-9'"), 1);
    /* The same item again on _all changes nothing; on the store's own topic (HQ answering a
     * lookup) it is published to the registers again. */
    CHECK_INT(one(&r, &in, down, "p4/v1/acme/_all/down/customer",
                  "{\"items\":[{\"id\":\"C-9\",\"ver\":1,\"name\":\"Anna\",\"tier\":\"gold\"}]}"),
              0);
    group_done(&in);
    CHECK_INT(one(&r, &in, down, "p4/v1/acme/s001/down/customer",
                  "{\"items\":[{\"id\":\"C-9\",\"ver\":1,\"name\":\"Anna\",\"tier\":\"gold\"}]}"),
              1);
    group_done(&in);
    /* A balance held already, on the store's own topic: published again. */
    CHECK_INT(one(&r, &in, down, "p4/v1/acme/s001/down/loyalty",
                  "{\"items\":[{\"customer\":\"C-9\",\"balance\":40,\"ver\":3,"
                  "\"as_of\":\"2026-11-27T10:00:00.000Z\"}]}"),
              1);
    group_done(&in);
    CHECK_INT(one(&r, &in, down, "p4/v1/acme/s001/down/loyalty",
                  "{\"items\":[{\"customer\":\"C-9\",\"balance\":40,\"ver\":3,"
                  "\"as_of\":\"2026-11-27T10:00:00.000Z\"}]}"),
              1);
    group_done(&in);
    CHECK_INT(one(&r, &in, down, "p4/v1/acme/_all/down/loyalty",
                  "{\"items\":[{\"customer\":\"C-9\",\"balance\":40,\"ver\":3,"
                  "\"as_of\":\"2026-11-27T10:00:00.000Z\"}]}"),
              0);
    group_done(&in);

    /* A message that breaks the contract: kept in rejects, never acknowledged. */
    CHECK_INT(one(&r, &in, signup, reg_topic, "{\"items\":[{\"id\":\"C-10\",\"ver\":5}]}"), 0);
    CHECK_INT(in.acks.n, 0);
    group_done(&in);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM rejects"), 1);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM customers WHERE id = 'C-10'"), 0);

    /* A lookup with the WAN down is dropped; a bad one goes to rejects. */
    CHECK_INT(replica_begin(&r), 0);
    CHECK_INT(customers_lookup(&in, NULL, "pos/v1/s001/reg/r01/lookup", lookup,
                               strlen(lookup), strlen(lookup), p4_now_ms()),
              0);
    CHECK_INT(customers_lookup(&in, NULL, "pos/v1/s001/reg/r01/lookup", "{}", 2, 2,
                               p4_now_ms()),
              0);
    CHECK_INT(replica_commit(&r), 0);
    CHECK_INT(sql_int(&r, "SELECT count(*) FROM rejects"), 2);

    group_cleanup(&in);
    replica_close(&r);
    {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    CHECK_DONE();
}
