/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the pending list of refused local publishes: order, caps, clearing. */
#include "p4gw.h"

#include <stdlib.h>

#include "p4check.h"
#include "p4common.h"

static char *dup_text(const char *s)
{
    char *p = strdup(s);

    if (!p)
        abort();
    return p;
}

int main(void)
{
    struct pending p;
    struct link none;

    p4_log_set_level(P4_LOG_ERROR);
    memset(&none, 0, sizeof(none)); /* no client: every publish is refused */
    CHECK_INT(pending_init(&p, 3, 1000), 0);
    CHECK_INT(pending_push(&p, "t/1", dup_text("a"), 1, false), 0);
    CHECK_INT(pending_push(&p, "t/2", dup_text("bb"), 2, true), 0);
    CHECK_INT(pending_push(&p, "t/3", dup_text("ccc"), 3, false), 0);
    /* At the message cap the newest is dropped and counted; the waiting ones stay. */
    CHECK_INT(pending_push(&p, "t/4", dup_text("d"), 1, false), P4GW_EFULL);
    CHECK_INT(p.dropped, 1);
    CHECK_INT(p.n, 3);
    CHECK_INT(p.bytes, 6);
    /* A refused flush keeps everything, in order. */
    CHECK_INT(pending_flush(&p, &none), 0);
    CHECK_INT(p.n, 3);
    CHECK_STR(p.items[p.first].topic, "t/1");
    CHECK_STR(p.items[p.first + 1].payload, "bb");
    CHECK(p.items[p.first + 1].retained);
    /* The byte cap. */
    pending_clear(&p);
    CHECK_INT(p.n, 0);
    CHECK_INT(p.bytes, 0);
    CHECK_INT(pending_push(&p, "t/5", dup_text("x"), 999, false), 0);
    CHECK_INT(pending_push(&p, "t/6", dup_text("y"), 2, false), P4GW_EFULL);
    pending_cleanup(&p);
    /* Growth past the first allocation keeps order. */
    CHECK_INT(pending_init(&p, 100000, 1u << 30), 0);
    for (int i = 0; i < 1000; i++) {
        char t[32];

        snprintf(t, sizeof(t), "t/%d", i);
        CHECK_INT(pending_push(&p, t, dup_text(t), strlen(t), false), 0);
    }
    CHECK_INT(p.n, 1000);
    CHECK_STR(p.items[p.first + 999].topic, "t/999");
    pending_cleanup(&p);
    CHECK_DONE();
}
