/* SPDX-License-Identifier: Apache-2.0 */
/* Files compiled into p4hq at build time (hq/embed.cmake): migrations and web assets. */
#ifndef P4HQ_EMBED_H
#define P4HQ_EMBED_H

#include <stddef.h>

struct p4hq_blob {
    const char *name; /* file name, e.g. "001_ingest.sql" */
    const char *data; /* NUL-terminated */
    size_t len;
};

/* The numbered migrations, in order. */
extern const struct p4hq_blob hq_migrations[];
extern const size_t hq_migrations_n;

#endif
