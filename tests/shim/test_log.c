/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of libp4term's log callback, through the shared library a host application loads. */
#include "p4term.h"
#include "p4check.h"

#include <fcntl.h>
#include <sys/stat.h>

/* What the host's callback received. */
struct record {
    int n;
    int n_error;
    int last_level;
    char last[512];
    char all[4096];
};

static void host_log(enum p4term_log_level level, const char *msg, void *user)
{
    struct record *r = user;
    size_t used = strlen(r->all);

    r->n++;
    if (level == P4TERM_LOG_ERROR)
        r->n_error++;
    r->last_level = (int)level;
    snprintf(r->last, sizeof(r->last), "%s", msg);
    snprintf(r->all + used, sizeof(r->all) - used, "%s\n", msg);
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Opens an offline handle on a new journal (logs "new journal ..." at info) and closes it. */
static void open_fresh(const char *dir, const char *name)
{
    struct p4term_options o;
    struct p4term *t = NULL;
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    p4term_options_init(&o);
    o.store = "s1";
    o.reg = "r01";
    o.journal_path = path;
    o.offline = true;
    CHECK_INT(p4term_open(&o, NULL, NULL, &t), 0);
    p4term_close(t);
}

static int open_invalid(void)
{
    struct p4term_options o;
    struct p4term *t = NULL;

    p4term_options_init(&o); /* no store, register or journal: refused and logged */
    return p4term_open(&o, NULL, NULL, &t);
}

int main(void)
{
    struct record rec = {0};
    char dir[64], err_path[128];
    int saved_stderr, fd;

    tmpdir_make(dir, sizeof(dir));
    /* Whatever the library writes to stderr lands in this file. */
    snprintf(err_path, sizeof(err_path), "%s/stderr.txt", dir);
    fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    saved_stderr = dup(STDERR_FILENO);
    CHECK(fd >= 0 && saved_stderr >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);

    /* An error goes to the host's callback, with its level and text, and not to stderr. */
    p4term_set_log(host_log, &rec, P4TERM_LOG_INFO);
    CHECK_INT(open_invalid(), P4TERM_EINVAL);
    CHECK_INT(rec.n, 1);
    CHECK_INT(rec.n_error, 1);
    CHECK_INT(rec.last_level, P4TERM_LOG_ERROR);
    CHECK_CONTAINS(rec.last, "p4term_open: invalid options");
    CHECK(strchr(rec.last, '\n') == NULL); /* one event, no line end, no timestamp prefix */
    CHECK(strstr(rec.last, "level=") == NULL);

    /* Below the minimum level nothing is delivered; at it, info events are. */
    rec.n = 0;
    p4term_set_log(host_log, &rec, P4TERM_LOG_WARN);
    open_fresh(dir, "r01.db");
    CHECK_INT(rec.n, 0);
    p4term_set_log(host_log, &rec, P4TERM_LOG_INFO);
    open_fresh(dir, "r02.db");
    CHECK_CONTAINS(rec.all, "new journal path=");
    CHECK_INT(file_size(err_path), 0);

    /* A NULL callback goes back to stderr. */
    rec.n = 0;
    p4term_set_log(NULL, NULL, P4TERM_LOG_INFO);
    CHECK_INT(open_invalid(), P4TERM_EINVAL);
    CHECK_INT(rec.n, 0);
    CHECK(file_size(err_path) > 0);

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    tmpdir_remove(dir);
    CHECK_DONE();
}
