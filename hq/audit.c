/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log: one row per change made at HQ, in the change's own transaction, so a change
 * and its audit row commit together or not at all. */
#include "audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A printable copy of S (a name from the environment or the host): controls become '?'. */
static void clean_copy(char *out, size_t out_len, const char *s)
{
    size_t i = 0;

    for (; s[i] && i + 1 < out_len; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = '\0';
}

void audit_actor_cli(struct audit_actor *a)
{
    struct passwd pw, *found = NULL;
    char buf[4096], user[64], host[128];
    const char *sudo = getenv("SUDO_USER");

    memset(a, 0, sizeof *a);
    a->via = "cli";
    /* The real uid: who ran the command, not a set-uid target. */
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found)
        clean_copy(user, sizeof user, found->pw_name);
    else
        snprintf(user, sizeof user, "uid:%u", (unsigned)getuid());
    if (sudo && sudo[0] && getuid() == 0) {
        char by[48];

        clean_copy(by, sizeof by, sudo);
        snprintf(a->actor, sizeof a->actor, "%s (sudo by %s)", user, by);
    } else {
        snprintf(a->actor, sizeof a->actor, "%s", user);
    }
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    clean_copy(a->origin, sizeof a->origin, host);
}

int audit_record(struct db *db, const char *tenant, const struct audit_actor *a,
                 const char *action, const char *detail)
{
    const char *v[7] = {tenant, a->via, a->actor, a->token_fp, a->origin, action, detail};

    return db_query(db,
                    "INSERT INTO audit_log (tenant, via, actor, token_fp, origin, action, detail)"
                    " VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7::jsonb)",
                    7, v, NULL);
}
