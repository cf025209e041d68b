/* SPDX-License-Identifier: Apache-2.0 */
/* WAL checkpoints off the core thread.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses wal_autocheckpoint pages:
 * that commit copies about a thousand pages into the database file and fsyncs it, a few
 * milliseconds during which no sale is acknowledged (it set the p99 of acks at 500 sales/s).
 * Turning checkpoints off is worse: the WAL then only grows, and an fdatasync of a growing
 * file costs about twice one of a file rewritten in place. So the core connection's WAL hook
 * only wakes this thread, which checkpoints on a connection of its own (PASSIVE: it never
 * blocks the writer). Once every frame is copied, the core thread's next transaction starts
 * the WAL again from its beginning, rewriting the same file. Commits made during a pass leave
 * a few frames behind it; the core thread copies those itself when it is idle
 * (replica_checkpoint_idle), or the WAL would keep growing and each new pass fsync the
 * database file for a handful of pages.
 *
 * The core thread still owns its handle and all state: this thread touches nothing but its
 * own connection and the few fields below, under the mutex. */
#include "p4gw.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "p4common.h"

#define CKPT_WAKE_PAGES 4000    /* a pass per 16 MB of WAL */
#define CKPT_INLINE_PAGES 20000 /* ~80 MB of WAL: the thread is not keeping up, check inline */
#define CKPT_IDLE_MS 1000       /* a pass at least this often while frames wait */

struct pass_stats {
    int64_t failures;   /* failed passes in a row */
    int64_t slowest_us;
};

struct checkpointer {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    sqlite3 *db;        /* this thread's own connection */
    bool due, stop;
    bool in_pass;       /* the thread is checkpointing */
    int wal_pages;      /* the WAL's size in pages after the latest commit */
    int woken_at;       /* wal_pages when the thread was last woken */
    int copied;         /* frames the passes have copied since the WAL restarted */
    int64_t passes_done, inline_passes, tail_passes;
    struct pass_stats thread_stats; /* this thread's passes */
    struct pass_stats core_stats;   /* passes the core thread made inline */
};

/* One PASSIVE checkpoint; true when it copied every frame (the WAL can start again). A
 * failing checkpoint (disk full) is logged when it starts and when it ends, not per pass:
 * the sales are safe in the WAL meanwhile, which only grows. */
static bool checkpoint_pass(struct pass_stats *c, sqlite3 *db, const char *what, int *copied)
{
    int64_t t0 = p4gw_mono_us(), dt;
    int log_pages = 0, done_pages = 0, rc;

    *copied = 0;
    rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages,
                                   &done_pages);
    dt = p4gw_mono_us() - t0;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        if (c->failures++ == 0)
            p4_warn("replica checkpoint failed by=%s error=\"%s\" (retrying)", what,
                    sqlite3_errmsg(db));
        return false;
    }
    if (c->failures) {
        p4_info("replica checkpoint works again after failures=%" PRId64, c->failures);
        c->failures = 0;
    }
    p4_debug("replica checkpoint by=%s wal_pages=%d copied=%d us=%" PRId64, what, log_pages,
             done_pages, dt);
    if (dt > c->slowest_us)
        c->slowest_us = dt;
    *copied = done_pages > 0 ? done_pages : 0;
    return rc == SQLITE_OK && done_pages == log_pages;
}

static void *checkpoint_main(void *arg)
{
    struct checkpointer *c = arg;
    int copied = 0;

    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;

        if (!c->due) {
            /* The condvar waits on CLOCK_MONOTONIC (set at start): a wall clock set back
             * would put this deadline in the past and spin the thread; set forward, it
             * would never wake for an idle pass. */
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += CKPT_IDLE_MS / 1000;
            if (pthread_cond_timedwait(&c->wake, &c->mu, &until) == ETIMEDOUT &&
                c->wal_pages > c->copied)
                c->due = true;
            continue;
        }
        c->due = false;
        c->in_pass = true;
        pthread_mutex_unlock(&c->mu);
        checkpoint_pass(&c->thread_stats, c->db, "thread", &copied);
        pthread_mutex_lock(&c->mu);
        /* All of the WAL or most of it: what commits added during the pass is left to the
         * core thread's idle step. */
        if (copied > c->copied)
            c->copied = copied;
        c->in_pass = false;
        c->passes_done++;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Called by SQLite on the core thread after every commit with the WAL's size in pages. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct checkpointer *c = arg;
    bool inline_pass;
    int copied;

    (void)name;
    pthread_mutex_lock(&c->mu);
    if (pages < c->wal_pages) {
        c->woken_at = 0; /* the WAL started again */
        c->copied = 0;
    }
    c->wal_pages = pages;
    if (pages - c->woken_at >= CKPT_WAKE_PAGES && !c->due) {
        c->due = true;
        c->woken_at = pages;
        pthread_cond_signal(&c->wake);
    }
    inline_pass = pages >= CKPT_INLINE_PAGES;
    if (inline_pass)
        c->inline_passes++;
    pthread_mutex_unlock(&c->mu);
    if (inline_pass)
        checkpoint_pass(&c->core_stats, db, "core", &copied);
    return SQLITE_OK;
}

void replica_checkpoint_idle(struct replica *r)
{
    struct checkpointer *c = r->ckpt;
    bool tail;
    int copied;

    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    tail = c->copied > 0 && c->wal_pages > c->copied && !c->due && !c->in_pass;
    if (tail)
        c->tail_passes++;
    pthread_mutex_unlock(&c->mu);
    if (tail && checkpoint_pass(&c->core_stats, r->db, "idle", &copied)) {
        pthread_mutex_lock(&c->mu);
        if (c->copied > 0)
            c->copied = copied;
        pthread_mutex_unlock(&c->mu);
    }
}

int replica_checkpointer_start(struct replica *r, const char *path, bool full_sync)
{
    struct checkpointer *c = calloc(1, sizeof(*c));
    char *err = NULL;
    int rc = P4GW_EIO;

    if (!c)
        return P4GW_ENOMEM;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        p4_error("replica checkpoint connection failed path=%s error=\"%s\"", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto out;
    }
    /* The checkpoint syncs the database file per this connection's setting. */
    if (sqlite3_exec(c->db, full_sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;",
                     NULL, NULL, &err) != SQLITE_OK) {
        p4_error("replica checkpoint connection setup failed error=\"%s\"", err ? err : "");
        sqlite3_free(err);
        goto out;
    }
    pthread_mutex_init(&c->mu, NULL);
    if (p4gw_cond_init_mono(&c->wake) != 0) {
        p4_error("replica checkpoint condvar not made: %s", strerror(errno));
        pthread_mutex_destroy(&c->mu);
        goto out;
    }
    if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
        p4_error("replica checkpoint thread not started: %s", strerror(errno));
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->mu);
        goto out;
    }
    /* Replaces the automatic checkpoint of the core connection. */
    sqlite3_wal_hook(r->db, on_wal_commit, c);
    r->ckpt = c;
    return P4GW_OK;
out:
    sqlite3_close(c->db);
    free(c);
    return rc;
}

void replica_checkpoint_stats(struct replica *r, int64_t *passes, int *wal_pages, bool *busy)
{
    struct checkpointer *c = r->ckpt;

    *passes = 0;
    *wal_pages = 0;
    *busy = false;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *passes = c->passes_done;
    *wal_pages = c->wal_pages;
    *busy = c->due || c->in_pass;
    pthread_mutex_unlock(&c->mu);
}

void replica_checkpointer_stop(struct replica *r)
{
    struct checkpointer *c = r->ckpt;

    if (!c)
        return;
    sqlite3_wal_hook(r->db, NULL, NULL);
    sqlite3_exec(r->db, "PRAGMA wal_autocheckpoint=1000;", NULL, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    p4_info("replica checkpoints passes=%" PRId64 " tails=%" PRId64 " inline=%" PRId64
            " slowest_ms=%.1f", c->passes_done, c->tail_passes, c->inline_passes,
            (double)(c->thread_stats.slowest_us > c->core_stats.slowest_us
                         ? c->thread_stats.slowest_us : c->core_stats.slowest_us) / 1000.0);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    free(c);
    r->ckpt = NULL;
}
