/* SPDX-License-Identifier: Apache-2.0 */
/* Files compiled into p4hq at build time (common/embed.cmake): migrations and web assets. */
#ifndef P4HQ_EMBED_H
#define P4HQ_EMBED_H

#include "p4embed.h"

/* The numbered migrations, in order. */
extern const struct p4_blob hq_migrations[];
extern const size_t hq_migrations_n;

#endif
