/* SPDX-License-Identifier: Apache-2.0 */
/* Database set-up commands for operators (p4hq db init, p4hq db status). */
#ifndef P4HQ_DBADMIN_H
#define P4HQ_DBADMIN_H

#include "p4hq.h"

/* Creates, if missing, the login role and database [db] conninfo names, an owner role
 * "{role}_owner" (NOLOGIN) that owns the schema, and gives the login role row privileges only;
 * then applies the migrations as the owner. ADMIN_CONNINFO connects as a role that may create
 * roles and databases (a superuser, e.g. "host=/run/postgresql user=postgres"). Idempotent.
 * Returns an exit code. */
int dbadmin_init(const struct p4hq_config *cfg, const char *admin_conninfo);
/* Prints every compiled-in migration as applied (with its time) or pending. Exit code. */
int dbadmin_status(const struct p4hq_config *cfg, bool json);

#endif
