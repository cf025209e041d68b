/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of the store-broker link's locking: no Paho call under a lock its callbacks take. */
#include "shim.h"
#include "p4check.h"

#include <pthread.h>
#include <time.h>

#include <MQTTAsync.h>

#include "p4common.h"

/* Paho runs its callbacks on its own threads, and may do so while another thread is inside a
 * Paho call (holding Paho's own mutex). This test links link.c with MQTTAsync_disconnect and
 * MQTTAsync_isConnected wrapped (-Wl,--wrap): the wrapped disconnect runs the completion
 * callback on a second thread, as Paho would, and waits for it. If link.c made the call while
 * holding a lock that the callback takes, the callback cannot finish: a deadlock in the field,
 * and a reported failure here. */

int __wrap_MQTTAsync_disconnect(MQTTAsync handle, const MQTTAsync_disconnectOptions *options);
int __wrap_MQTTAsync_isConnected(MQTTAsync handle);

struct callback_run {
    const MQTTAsync_disconnectOptions *opts;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static int n_disconnects;
static int n_blocked;

static void *paho_thread(void *arg)
{
    struct callback_run *r = arg;

    r->opts->onSuccess(r->opts->context, NULL);
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int __wrap_MQTTAsync_isConnected(MQTTAsync handle)
{
    (void)handle;
    return 1;
}

int __wrap_MQTTAsync_disconnect(MQTTAsync handle, const MQTTAsync_disconnectOptions *options)
{
    struct callback_run r = {.opts = options, .done = false};
    struct timespec until;
    pthread_t th;

    (void)handle;
    n_disconnects++;
    if (!options || !options->onSuccess)
        return MQTTASYNC_SUCCESS;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_create(&th, NULL, paho_thread, &r);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&r.mu);
    while (!r.done) {
        if (pthread_cond_timedwait(&r.cv, &r.mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&r.mu);
    if (!r.done) {
        /* The callback is stuck on a lock our caller holds: it never comes back. */
        n_blocked++;
        fprintf(stderr, "deadlock: the disconnect callback blocked for 2 s on a lock held "
                        "across MQTTAsync_disconnect\n");
        fflush(stderr);
        _exit(1);
    }
    pthread_join(th, NULL);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    return MQTTASYNC_SUCCESS;
}

static void wake_nothing(void *ctx)
{
    (void)ctx;
}

/* link_free() of a connected client: the DISCONNECT's completion arrives on Paho's thread
 * while the caller is still inside MQTTAsync_disconnect. */
static void test_free_connected_client(void)
{
    const char *subs[] = {"p4/v1/s1/r01/ack", NULL};
    struct link_opts o = {0};
    struct link *l = NULL;
    struct timespec t0, t1;
    long elapsed_ms;

    o.uri = "tcp://127.0.0.1:1";
    o.client_id = "test-link";
    o.subs = subs;
    CHECK_INT(link_new(&o, wake_nothing, NULL, &l), 0);
    if (!l)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    link_free(l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    elapsed_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK_INT(n_disconnects, 1);
    CHECK_INT(n_blocked, 0);
    /* The completion was seen: no wait for link_free's 300 ms fallback. */
    CHECK(elapsed_ms < 250);
}

int main(void)
{
    p4_log_set_level(P4_LOG_ERROR);
    test_free_connected_client();
    CHECK_DONE();
}
