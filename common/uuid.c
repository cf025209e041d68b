/* SPDX-License-Identifier: Apache-2.0 */
/* UUIDv7 ids (RFC 9562): time-ordered, so a register's sale ids sort by creation time. */
#include "p4common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int p4_uuid7(char out[P4_UUID_LEN])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)p4_now_ms();
    ssize_t n;

    n = getrandom(b + 6, sizeof(b) - 6, 0);
    if (n != (ssize_t)(sizeof(b) - 6)) {
        p4_error("getrandom failed err=\"%s\"", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    snprintf(out, P4_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}
