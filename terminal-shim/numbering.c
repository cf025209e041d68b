/* SPDX-License-Identifier: Apache-2.0 */
/* Journal numbering: a fresh journal's sales get their seqs once the gateway says where this
 * register's seq stands. */
#include "term.h"

#include <stdlib.h>

#include "p4common.h"

#define NUMBER_BATCH 64

/* Called with db_mu held. Gives every unnumbered sale the next seq after LAST_SALE_SEQ, in
 * journal order, re-encoding its payload, in one transaction. */
int numbering_assign(struct p4term *t, int64_t last_sale_seq, int64_t *last_out)
{
    struct journal_row rows[NUMBER_BATCH];
    struct p4t_sale *s = NULL;
    int64_t next = last_sale_seq + 1;
    char reason[P4T_REASON_MAX];
    size_t n = 0;
    int rc;

    s = malloc(sizeof(*s));
    if (!s)
        return P4TERM_ENOMEM;
    rc = journal_begin(t->j);
    if (rc)
        goto out;
    do {
        rc = journal_unnumbered(t->j, rows, NUMBER_BATCH, &n);
        if (rc)
            goto out;
        for (size_t i = 0; i < n && rc == 0; i++) {
            char *payload = NULL;

            rc = p4t_sale_decode(rows[i].payload, rows[i].payload_len, s, reason,
                                 sizeof(reason));
            if (rc == 0) {
                s->seq = next;
                rc = p4t_sale_encode(s, &payload, reason, sizeof(reason));
            }
            if (rc != 0) {
                /* Only this library writes the journal, so this is disk damage. */
                p4_error("journaled sale unreadable id=%s reason=\"%s\"", rows[i].id, reason);
                rc = P4TERM_EIO;
            } else {
                rc = journal_number(t->j, rows[i].lid, next, payload);
                next++;
            }
            free(payload);
        }
        for (size_t i = 0; i < n; i++)
            journal_row_cleanup(&rows[i]);
        if (rc)
            goto out;
    } while (n == NUMBER_BATCH);
    rc = journal_set_next_seq(t->j, next);
    if (rc)
        goto out;
    rc = journal_commit(t->j);
    if (rc)
        goto out;
    t->next_seq = next;
    t->seq_known = true;
    *last_out = next - 1;
out:
    if (rc)
        journal_rollback(t->j);
    free(s);
    return rc;
}
