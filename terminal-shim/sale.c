/* SPDX-License-Identifier: Apache-2.0 */
/* Ringing a sale: priced, checked, encoded and journaled (fsync'd) before the call returns. */
#include "term.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4common.h"

int p4term_sale(struct p4term *t, const struct p4t_sale *sale, char id_out[P4T_UUID_MAX + 1],
                int64_t *seq_out, char *reason, size_t reason_len)
{
    struct p4t_sale *s = malloc(sizeof(*s));
    int rc;

    if (!s)
        return P4TERM_ENOMEM;
    rc = p4term_ring(t, sale, s, reason, reason_len); /* checks T and SALE */
    if (rc == 0 && id_out)
        memcpy(id_out, s->id, P4T_UUID_MAX + 1);
    if (rc == 0 && seq_out)
        *seq_out = s->seq;
    free(s);
    return rc;
}

int p4term_ring(struct p4term *t, const struct p4t_sale *sale, struct p4t_sale *out,
                char *reason, size_t reason_len)
{
    struct p4t_sale *s = NULL;
    char *payload = NULL;
    char tmp_reason[P4T_REASON_MAX] = "";
    int64_t now_ms = p4_now_ms(), seq = 0;
    bool priced = false, reachable, holds_ok;
    int rc;

    if (!t || !sale)
        return P4TERM_EINVAL;
    s = malloc(sizeof(*s));
    if (!s)
        return P4TERM_ENOMEM;
    memcpy(s, sale, sizeof(*s));
    if (p4_uuid7(s->id) != 0) {
        rc = P4TERM_EIO;
        goto out;
    }
    snprintf(s->store, sizeof(s->store), "%s", t->store);
    snprintf(s->reg, sizeof(s->reg), "%s", t->reg);
    p4_format_ts(now_ms, s->ts);
    s->ts_ms = now_ms;
    pthread_mutex_lock(&t->mu);
    reachable = t->gw_reachable;
    holds_ok = t->gw_holds;
    pthread_mutex_unlock(&t->mu);
    if (s->hold[0] && !holds_ok) {
        p4_warn("sale hold dropped hold=%s reason=\"the gateway never answered a hold request, "
                "so it may not read the field\"", s->hold);
        s->hold[0] = '\0';
    }
    pthread_mutex_lock(&t->db_mu);
    rc = basket_price_lines(t, s, &priced, tmp_reason, sizeof(tmp_reason));
    if (rc == 0)
        rc = basket_check_redeem(t, s, reachable, tmp_reason, sizeof(tmp_reason));
    if (rc) {
        pthread_mutex_unlock(&t->db_mu);
        p4_warn("sale refused reason=\"%s\"", tmp_reason);
        goto out;
    }
    if ((s->total_minor == 0 || priced) && s->n_lines <= P4T_MAX_LINES) {
        /* Bounded by the contract's limits (200 lines x 1e5 x 1e8 < 2^63); out-of-range lines
         * are refused by the encoder below. */
        s->total_minor = 0;
        for (size_t i = 0; i < s->n_lines; i++) {
            if (s->lines[i].qty > P4T_MAX_QTY || s->lines[i].qty < -P4T_MAX_QTY ||
                s->lines[i].price_minor > P4T_MAX_PRICE || s->lines[i].price_minor < 0)
                continue;
            s->total_minor += s->lines[i].qty * s->lines[i].price_minor;
        }
        /* The caller could not know the amount of a sale priced here. */
        if (priced && s->n_tenders == 1 && s->tenders[0].amount_minor == 0)
            s->tenders[0].amount_minor = s->total_minor;
    }
    seq = t->seq_known ? t->next_seq : 0;
    /* An unnumbered sale is encoded with seq 1 and re-encoded when numbered. */
    s->seq = seq > 0 ? seq : 1;
    rc = p4t_sale_encode(s, &payload, tmp_reason, sizeof(tmp_reason));
    if (rc != 0) {
        pthread_mutex_unlock(&t->db_mu);
        p4_warn("sale refused reason=\"%s\"", tmp_reason);
        rc = rc == P4T_ENOMEM ? P4TERM_ENOMEM : P4TERM_EINVAL;
        goto out;
    }
    rc = journal_append_sale(t->j, s->id, seq, payload, s->total_minor, now_ms, s->customer,
                             s->has_loyalty ? s->loyalty_redeem : 0);
    if (rc == 0 && seq > 0)
        t->next_seq = seq + 1;
    pthread_mutex_unlock(&t->db_mu);
    if (rc) {
        snprintf(tmp_reason, sizeof(tmp_reason), "journal write failed");
        goto out;
    }
    s->seq = seq;
    if (out)
        memcpy(out, s, sizeof(*s));
    if (t->thread_started)
        term_wake(t);
out:
    if (rc && reason && reason_len)
        snprintf(reason, reason_len, "%s", tmp_reason);
    free(payload);
    free(s);
    return rc;
}
