/* SPDX-License-Identifier: Apache-2.0 */
/* Customers at the register (contract 1.2): lookups forwarded to HQ, and customers signed up
 * at a register stored at once in the replica, acknowledged and uplinked as up/customer. */
#include "p4gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

/* Checks the size and the topic of a register's message. Returns 0 with REG set, or
 * P4GW_EINVAL with REASON. */
static int check_message(const char *topic, size_t orig_len, char reg[P4T_ID_MAX + 1],
                         char *reason, size_t reason_len)
{
    char store[P4T_ID_MAX + 1];
    enum p4t_local kind;

    if (p4t_topic_parse_local(topic, &kind, store, reg) != 0) {
        snprintf(reason, reason_len, "topic: not a register topic of the contract");
        return P4GW_EINVAL;
    }
    if (orig_len > P4T_MAX_PAYLOAD) {
        snprintf(reason, reason_len, "payload too large: %zu bytes (max %d)", orig_len,
                 P4T_MAX_PAYLOAD);
        return P4GW_EINVAL;
    }
    return P4GW_OK;
}

int customers_lookup(struct group *grp, struct link *cloud, const char *topic,
                     const char *payload, size_t len, size_t orig_len, int64_t now_ms)
{
    struct p4t_lookup *l = malloc(sizeof(*l));
    char reason[P4T_REASON_MAX] = "", reg[P4T_ID_MAX + 1] = "", up[P4T_TOPIC_MAX];
    char *text = NULL;
    int rc;

    if (!l)
        return P4GW_ENOMEM;
    rc = check_message(topic, orig_len, reg, reason, sizeof(reason));
    if (rc == 0 && p4t_lookup_decode(payload, len, l, reason, sizeof(reason)) != 0)
        rc = P4GW_EINVAL;
    if (rc) {
        /* Bad input is kept for inspection; a lookup has no answer to withhold. */
        p4_warn("lookup rejected topic=%s reason=\"%s\"", topic, reason);
        free(l);
        return group_reject(grp, topic, payload, len, reason, now_ms);
    }
    if (!cloud) {
        /* Not queued: an answer minutes later is worth nothing at the till, which keeps
         * serving its cached view (contract 6.9). */
        p4_info("lookup not forwarded, the WAN is down reg=%s req_id=%s", reg, l->req_id);
        free(l);
        return P4GW_OK;
    }
    rc = p4t_topic_up(up, sizeof(up), grp->cfg->tenant, grp->cfg->store, "lookup");
    if (rc == 0)
        rc = p4t_lookup_encode(l, &text);
    if (rc == 0 && link_publish(cloud, up, text, strlen(text), 1, false, NULL) != 0)
        p4_warn("lookup not forwarded, the cloud link refused it reg=%s req_id=%s", reg,
                l->req_id);
    else if (rc == 0)
        p4_debug("lookup forwarded reg=%s req_id=%s customers=%zu", reg, l->req_id,
                 l->n_customers);
    free(text);
    free(l);
    return P4GW_OK;
}

/* Stores item C as the store's own version (customers.ver 0, below any HQ version, so HQ's
 * item replaces it whatever its ver) unless the replica holds the card already. */
static int store_local(struct group *grp, const struct p4t_customer *c, bool *stored)
{
    struct replica *r = grp->r;
    char *value = NULL;
    int64_t seq;
    int rc;

    *stored = false;
    replica_bind_text(r, RS_CUST_VER, 1, c->id);
    rc = replica_row(r, RS_CUST_VER);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        replica_reset(r, RS_CUST_VER);
        return P4GW_OK; /* HQ's copy or an earlier sign-up: HQ decides between them */
    }
    /* The change-log value carries the register's ver (a value needs ver >= 1); registers
     * apply change rows in order, so it only names the version they show. */
    if (p4t_customer_value_encode(c, &value) != 0)
        return P4GW_EIO;
    rc = stock_record_change(r, &grp->change_head, P4T_E_CUSTOMER, c->id, value, &grp->changes,
                             &seq);
    if (rc == 0) {
        replica_bind_text(r, RS_CUST_SET, 1, c->id);
        replica_bind_int(r, RS_CUST_SET, 2, 0);
        replica_bind_text(r, RS_CUST_SET, 3, value);
        replica_bind_int(r, RS_CUST_SET, 4, seq);
        rc = replica_exec(r, RS_CUST_SET);
    }
    free(value);
    *stored = rc == 0;
    return rc;
}

int customers_signup(struct group *grp, const char *topic, const char *payload, size_t len,
                     size_t orig_len, int64_t now_ms)
{
    struct replica *r = grp->r;
    char reason[P4T_REASON_MAX] = "", reg[P4T_ID_MAX + 1] = "", ack[P4T_TOPIC_MAX];
    struct p4t_down d = {0};
    char *text = NULL, *copy = NULL;
    int rc;

    rc = check_message(topic, orig_len, reg, reason, sizeof(reason));
    if (rc == 0 && p4t_down_decode(P4T_D_CUSTOMER, payload, len, &d, reason, sizeof(reason)))
        rc = P4GW_EINVAL;
    if (rc) {
        /* Never acknowledged: the register keeps it journaled and staff can see why. */
        p4_warn("customer sign-up rejected topic=%s reason=\"%s\"", topic, reason);
        return group_reject(grp, topic, payload, len, reason, now_ms);
    }
    for (size_t i = 0; i < d.n_items && rc == 0; i++) {
        bool stored;

        rc = store_local(grp, &d.customer[i], &stored);
        if (rc == 0)
            p4_info("customer signed up reg=%s id=%s stored=%d", reg, d.customer[i].id,
                    (int)stored);
    }
    /* The canonical text goes to HQ through the outbox (durable, resent like alerts) and back
     * to the register as its ack, after the commit. A repeat is harmless at HQ. */
    if (rc == 0)
        rc = p4t_down_encode(&d, &text) == 0 ? P4GW_OK : P4GW_EIO;
    if (rc == 0) {
        replica_bind_text(r, RS_OUTBOX_INS, 1, "customer");
        replica_bind_text(r, RS_OUTBOX_INS, 2, NULL);
        replica_bind_text(r, RS_OUTBOX_INS, 3, text);
        rc = replica_exec(r, RS_OUTBOX_INS);
    }
    if (rc == 0) {
        grp->n_new++;
        rc = p4t_topic_local(ack, sizeof(ack), P4T_L_CUSTOMER_ACK, grp->cfg->store, reg);
        rc = rc == 0 ? P4GW_OK : P4GW_EINVAL;
    }
    if (rc == 0) {
        copy = text;
        text = NULL;
        rc = out_list_push(&grp->acks, ack, copy); /* takes COPY */
    }
    free(text);
    p4t_down_cleanup(&d);
    return rc;
}
