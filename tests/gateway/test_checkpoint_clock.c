/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test: the checkpointer's timed waits (checkpoint.c) are on CLOCK_MONOTONIC. A wait
 * whose deadline is read from the wall clock sleeps an hour longer when the clock is set back
 * an hour during it, and no idle pass runs meanwhile. The test wraps pthread_cond_init and
 * pthread_cond_timedwait at link time (-Wl,--wrap) to see which clock each waited-on condvar
 * uses and whether each deadline is on that clock. */
#include "p4gw.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "p4check.h"
#include "p4common.h"

#define CONDS_MAX 64

int __real_pthread_cond_init(pthread_cond_t *cv, const pthread_condattr_t *attr);
int __real_pthread_cond_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu,
                                  const struct timespec *abstime);

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    pthread_cond_t *cv;
    clockid_t clock;
} conds[CONDS_MAX];
static int n_conds;
static int waits_mono, waits_other, bad_deadlines;

int __wrap_pthread_cond_init(pthread_cond_t *cv, const pthread_condattr_t *attr)
{
    clockid_t clock = CLOCK_REALTIME; /* the default */

    if (attr)
        pthread_condattr_getclock(attr, &clock);
    pthread_mutex_lock(&seen_mu);
    if (n_conds < CONDS_MAX) {
        conds[n_conds].cv = cv;
        conds[n_conds].clock = clock;
        n_conds++;
    }
    pthread_mutex_unlock(&seen_mu);
    return __real_pthread_cond_init(cv, attr);
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu,
                                  const struct timespec *abstime)
{
    clockid_t clock = CLOCK_REALTIME;
    struct timespec now;
    double ahead_s;

    pthread_mutex_lock(&seen_mu);
    for (int i = n_conds - 1; i >= 0; i--) {
        if (conds[i].cv == cv) {
            clock = conds[i].clock;
            break;
        }
    }
    clock_gettime(clock, &now);
    ahead_s = (double)(abstime->tv_sec - now.tv_sec) + (abstime->tv_nsec - now.tv_nsec) / 1e9;
    if (ahead_s < -1.0 || ahead_s > 10.0)
        bad_deadlines++; /* a deadline read from another clock than the condvar's */
    if (clock == CLOCK_MONOTONIC)
        waits_mono++;
    else
        waits_other++;
    pthread_mutex_unlock(&seen_mu);
    return __real_pthread_cond_timedwait(cv, mu, abstime);
}

int main(void)
{
    char dir[] = "/tmp/p4gw-ckpt-clock-XXXXXX";
    char path[PATH_MAX];
    struct replica r = {0};
    struct timespec pause = {1, 500 * 1000 * 1000};

    p4_log_set_level(P4_LOG_ERROR);
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/replica.db", dir);
    CHECK_INT(replica_open(&r, path, false), 0);
    CHECK_INT(replica_checkpointer_start(&r, path, false), 0);
    nanosleep(&pause, NULL); /* the idle checkpointer waits about once a second */
    replica_checkpointer_stop(&r);
    replica_close(&r);
    CHECK(waits_mono >= 1);
    CHECK_INT(waits_other, 0);
    CHECK_INT(bad_deadlines, 0);
    unlink(path);
    {
        char wal[PATH_MAX + 8];

        snprintf(wal, sizeof(wal), "%s-wal", path);
        unlink(wal);
        snprintf(wal, sizeof(wal), "%s-shm", path);
        unlink(wal);
    }
    rmdir(dir);
    CHECK_DONE();
}
