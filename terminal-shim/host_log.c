/* SPDX-License-Identifier: Apache-2.0 */
/* The host application's log callback: libp4term's log events in place of our stderr. */
#include "shim.h"

#include "p4common.h"

/* Both enums list the same levels in the same order: the cast below relies on it. */
_Static_assert((int)P4TERM_LOG_DEBUG == (int)P4_LOG_DEBUG &&
                   (int)P4TERM_LOG_INFO == (int)P4_LOG_INFO &&
                   (int)P4TERM_LOG_WARN == (int)P4_LOG_WARN &&
                   (int)P4TERM_LOG_ERROR == (int)P4_LOG_ERROR,
               "p4term_log_level follows p4_log_level");

static p4term_log_cb host_cb;

/* p4_log_sink_fn adapter: the p4common level becomes the public one. */
static void to_host(enum p4_log_level level, const char *msg, void *user)
{
    host_cb((enum p4term_log_level)level, msg, user);
}

void p4term_set_log(p4term_log_cb cb, void *user, enum p4term_log_level min_level)
{
    host_cb = cb;
    p4_log_set_sink(cb ? to_host : NULL, user);
    p4_log_set_level((enum p4_log_level)min_level);
}
