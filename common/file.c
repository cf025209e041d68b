/* SPDX-License-Identifier: Apache-2.0 */
/* Small-file and secret-file reading, and secret wiping. */
#include "p4common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int p4_read_file(const char *path, size_t max, char **out, size_t *out_len)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t n;
    int rc = -1;

    f = fopen(path, "rb");
    if (!f)
        goto out;
    buf = malloc(max + 2);
    if (!buf)
        goto out;
    n = fread(buf, 1, max + 1, f);
    if (ferror(f))
        goto out;
    if (n > max) {
        rc = -2;
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

int p4_read_secret(const char *path, char *out, size_t out_len)
{
    FILE *f;
    size_t n;

    f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(out, (int)out_len, f)) {
        int err = ferror(f) ? EIO : 0;
        fclose(f);
        out[0] = '\0';
        errno = err;
        return err ? -1 : 0;
    }
    fclose(f);
    n = strlen(out);
    if (n > 0 && out[n - 1] == '\n') {
        out[--n] = '\0';
        if (n > 0 && out[n - 1] == '\r')
            out[--n] = '\0';
        return 0;
    }
    if (n == out_len - 1) {
        p4_memzero(out, out_len);
        return -2;
    }
    return 0;
}

void p4_memzero(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}
