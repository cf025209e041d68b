/* SPDX-License-Identifier: Apache-2.0 */
/* A file compiled into a program at build time (common/embed.cmake). */
#ifndef P4EMBED_H
#define P4EMBED_H

#include <stddef.h>

struct p4_blob {
    const char *name; /* the file's name, e.g. "001_ingest.sql" */
    const char *data; /* its bytes, followed by a NUL */
    size_t len;       /* without the NUL */
};

#endif
