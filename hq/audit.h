/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log: who made each change at HQ, what it was, when and from where, written in the
 * change's own transaction into an append-only table. */
#ifndef P4HQ_AUDIT_H
#define P4HQ_AUDIT_H

#include "p4hq.h"

#define AUDIT_FP_LEN 24 /* "sha256:" and 16 hex digits, NUL-terminated */

struct audit_actor {
    const char *via;             /* "cli" or "api" */
    char actor[128];             /* OS user, or "admin (bearer)" / "admin (cookie)" */
    char token_fp[AUDIT_FP_LEN]; /* API: the token's fingerprint; CLI: empty */
    char origin[128];            /* CLI: the host name; API: the peer's address */
};

/* The CLI's actor: the real user's login name (and SUDO_USER when run through sudo) on this
 * host. Never fails: an unknown user is "uid:N". */
void audit_actor_cli(struct audit_actor *a);
/* Writes one audit row in the open transaction: ACTION ("price.set", ...) and DETAIL, a JSON
 * object text. Returns 0 or P4HQ_EDB (the caller rolls the change back with it). */
int audit_record(struct db *db, const char *tenant, const struct audit_actor *a,
                 const char *action, const char *detail);

#endif
