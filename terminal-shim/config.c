/* SPDX-License-Identifier: Apache-2.0 */
/* Loading a register's INI file ([register], [broker], [sync], [policy]) into p4term options. */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "p4common.h"


struct load_ctx {
    struct p4term_config *cfg;
    char error[256]; /* "[section] key: what is wrong", the first one only */
    bool seen_store, seen_id, seen_journal, seen_uri;
};

static int set_str(struct load_ctx *x, const char *section, const char *name, const char *value,
                   char *dst, size_t cap)
{
    if (strlen(value) >= cap) {
        snprintf(x->error, sizeof(x->error), "[%s] %s: longer than %zu characters", section,
                 name, cap - 1);
        return 0;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 1;
}

static int set_ms_in(struct load_ctx *x, const char *section, const char *name,
                     const char *value, long long min, long long max, int64_t *dst)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno || !end || end == value || *end != '\0' || v < min || v > max) {
        snprintf(x->error, sizeof(x->error), "[%s] %s: must be an integer %lld..%lld (ms)",
                 section, name, min, max);
        return 0;
    }
    *dst = v;
    return 1;
}

static int set_ms(struct load_ctx *x, const char *section, const char *name, const char *value,
                  int64_t *dst)
{
    return set_ms_in(x, section, name, value, 1, 86400000, dst);
}

/* inih handler: returns 0 on the first problem, which makes ini_parse report its line. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *x = user;
    struct p4term_config *c = x->cfg;

    if (x->error[0])
        return 0;
    if (strcmp(section, "register") == 0) {
        if (strcmp(name, "store") == 0) {
            x->seen_store = true;
            if (!p4t_store_id_valid(value)) {
                snprintf(x->error, sizeof(x->error),
                         "[register] store: must be 1..32 characters [a-z0-9_-] starting "
                         "with [a-z0-9]");
                return 0;
            }
            return set_str(x, section, name, value, c->store, sizeof(c->store));
        }
        if (strcmp(name, "id") == 0) {
            x->seen_id = true;
            if (!p4t_id_valid(value)) {
                snprintf(x->error, sizeof(x->error),
                         "[register] id: must be 1..32 characters [a-z0-9_-] starting with "
                         "[a-z0-9]");
                return 0;
            }
            return set_str(x, section, name, value, c->reg, sizeof(c->reg));
        }
        if (strcmp(name, "journal") == 0) {
            x->seen_journal = value[0] != '\0';
            return set_str(x, section, name, value, c->journal_path, sizeof(c->journal_path));
        }
    } else if (strcmp(section, "broker") == 0) {
        if (strcmp(name, "uri") == 0) {
            x->seen_uri = value[0] != '\0';
            return set_str(x, section, name, value, c->broker_uri, sizeof(c->broker_uri));
        }
        if (strcmp(name, "client_id") == 0)
            return set_str(x, section, name, value, c->client_id, sizeof(c->client_id));
        if (strcmp(name, "username") == 0)
            return set_str(x, section, name, value, c->username, sizeof(c->username));
        if (strcmp(name, "password_file") == 0)
            return set_str(x, section, name, value, c->password_file,
                           sizeof(c->password_file));
    } else if (strcmp(section, "sync") == 0) {
        if (strcmp(name, "ack_timeout_ms") == 0)
            return set_ms(x, section, name, value, &c->ack_timeout_ms);
        if (strcmp(name, "resend_max_ms") == 0)
            return set_ms(x, section, name, value, &c->resend_max_ms);
        if (strcmp(name, "keep_acked_ms") == 0)
            return set_ms_in(x, section, name, value, 0, 31536000000LL, &c->keep_acked_ms);
    } else if (strcmp(section, "policy") == 0) {
        if (strcmp(name, "offline_loyalty_redeem") == 0) {
            if (strcmp(value, "deny") == 0 || strcmp(value, "allow") == 0) {
                c->offline_redeem_allow = strcmp(value, "allow") == 0;
                return 1;
            }
            snprintf(x->error, sizeof(x->error),
                     "[policy] offline_loyalty_redeem: must be deny or allow");
            return 0;
        }
    } else {
        snprintf(x->error, sizeof(x->error), "[%s] %s: unknown section", section, name);
        return 0;
    }
    snprintf(x->error, sizeof(x->error), "[%s] %s: unknown key", section, name);
    return 0;
}

int p4term_config_load(const char *path, struct p4term_config *cfg, char *reason,
                       size_t reason_len)
{
    struct load_ctx x;
    const char *missing = NULL;
    int line;

    memset(cfg, 0, sizeof(*cfg));
    memset(&x, 0, sizeof(x));
    cfg->ack_timeout_ms = 2000;
    cfg->resend_max_ms = 30000;
    x.cfg = cfg;
    line = ini_parse(path, on_key, &x);
    if (line < 0) {
        snprintf(reason, reason_len, "%s:0: cannot read: %s", path,
                 line == -1 ? strerror(errno) : "out of memory");
        return P4TERM_ECONFIG;
    }
    if (line > 0) {
        snprintf(reason, reason_len, "%s:%d: %s", path, line,
                 x.error[0] ? x.error : "syntax error");
        return P4TERM_ECONFIG;
    }
    if (!x.seen_store)
        missing = "[register] store";
    else if (!x.seen_id)
        missing = "[register] id";
    else if (!x.seen_journal)
        missing = "[register] journal";
    else if (!x.seen_uri)
        missing = "[broker] uri";
    if (missing) {
        snprintf(reason, reason_len, "%s:0: %s: missing (required)", path, missing);
        return P4TERM_ECONFIG;
    }
    if (cfg->resend_max_ms < cfg->ack_timeout_ms) {
        snprintf(reason, reason_len, "%s:0: [sync] resend_max_ms: must be >= ack_timeout_ms",
                 path);
        return P4TERM_ECONFIG;
    }
    return 0;
}

int p4term_options_from_config(const struct p4term_config *cfg, struct p4term_options *opt,
                               char *password, size_t password_len)
{
    int rc;

    p4term_options_init(opt);
    opt->store = cfg->store;
    opt->reg = cfg->reg;
    opt->journal_path = cfg->journal_path;
    opt->broker_uri = cfg->broker_uri;
    opt->client_id = cfg->client_id;
    opt->username = cfg->username[0] ? cfg->username : NULL;
    opt->ack_timeout_ms = cfg->ack_timeout_ms;
    opt->resend_max_ms = cfg->resend_max_ms;
    opt->offline_redeem_allow = cfg->offline_redeem_allow;
    opt->keep_acked_ms = cfg->keep_acked_ms;
    if (cfg->password_file[0]) {
        rc = p4_read_secret(cfg->password_file, password, password_len);
        if (rc) {
            p4_error("password file unreadable path=%s err=\"%s\"", cfg->password_file,
                     rc == -2 ? "too long" : strerror(errno));
            return P4TERM_ECONFIG;
        }
        opt->password = password;
    }
    return 0;
}
