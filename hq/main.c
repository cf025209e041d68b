/* SPDX-License-Identifier: Apache-2.0 */
/* p4hq entry point: arguments, configuration, signals, then the ingest loop or one operator
 * command. */
#include "p4hq.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "p4common.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reopen_flag;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reopen_flag = 1;
    else
        stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: p4hq --config FILE [--check-config]\n"
               "       p4hq --hash-token < TOKEN_FILE   (a [http] *_token_hash line)\n"
               "       p4hq --config FILE COMMAND ... [--format table|csv|json]\n"
               "Runs HQ's ingest daemon, or one operator command (p4hq --config FILE help).\n"
               "Exit codes: 0 ok, 1 failure, 2 usage or configuration error.\n");
}

/* Handlers only set flags; SA_RESTART keeps the threads' system calls going. Every thread
 * Paho starts later inherits the blocked mask set here, so signals reach the main thread. */
static void install_signals(sigset_t *handled)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(handled);
    sigaddset(handled, SIGTERM);
    sigaddset(handled, SIGINT);
    sigaddset(handled, SIGHUP);
}

struct worker {
    struct ingest *in;
    struct downlink *dl;
    volatile int stop;
};

static void *ingest_main(void *arg)
{
    struct worker *t = arg;

    ingest_run(t->in, &t->stop);
    return NULL;
}

static void *downlink_main(void *arg)
{
    struct worker *t = arg;

    downlink_run(t->dl, &t->stop);
    return NULL;
}

static int run_daemon(const struct p4hq_config *cfg)
{
    struct worker t = {0};
    struct link *link = NULL;
    struct http *http = NULL;
    struct db db;
    sigset_t handled, old;
    pthread_t th, th_dl;
    bool dl_started = false;
    int rc;

    /* Schema first, so that several processes starting together agree on it before any of
     * them takes messages; the database may still be starting: retry for a while. */
    for (int attempt = 0;; attempt++) {
        rc = db_open(&db, cfg, "p4hq migrate");
        if (!rc) {
            rc = migrate_apply(&db, NULL);
            if (!rc)
                rc = migrate_accounts(&db, cfg);
            db_close(&db);
        }
        if (!rc)
            break;
        if (attempt == 30 || stop_flag)
            return 1;
        sleep(1);
    }
    install_signals(&handled);
    pthread_sigmask(SIG_BLOCK, &handled, &old);
    rc = link_start(&link, cfg);
    if (!rc)
        rc = ingest_new(&t.in, cfg, link);
    if (!rc)
        rc = downlink_new(&t.dl, cfg, link);
    if (!rc)
        rc = http_start(&http, cfg, link); /* the dashboard and read API ([http] listen) */
    if (!rc && pthread_create(&th, NULL, ingest_main, &t) != 0)
        rc = P4HQ_ENOMEM;
    if (!rc) {
        if (pthread_create(&th_dl, NULL, downlink_main, &t) == 0) {
            dl_started = true;
        } else {
            t.stop = 1;
            link_wake(link);
            pthread_join(th, NULL);
            rc = P4HQ_ENOMEM;
        }
    }
    if (rc) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        http_stop(http);
        downlink_free(t.dl);
        ingest_free(t.in);
        link_stop(link);
        return 1;
    }
    p4_info("p4hq started tenant=%s version=%s", cfg->tenant, P4_VERSION);
    /* The handled signals stay blocked here except inside sigsuspend, so a signal that arrives
     * between the check and the wait is not missed. */
    while (!stop_flag) {
        sigsuspend(&old);
        if (reopen_flag) {
            reopen_flag = 0;
            if (cfg->log_file[0])
                p4_log_reopen(cfg->log_file);
        }
    }
    p4_info("stopping");
    http_stop(http);
    t.stop = 1;
    link_wake(link);
    pthread_join(th, NULL);
    if (dl_started)
        pthread_join(th_dl, NULL);
    link_stop(link);
    downlink_free(t.dl);
    ingest_free(t.in);
    p4_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    struct p4hq_config cfg;
    const char *path = NULL;
    bool check_only = false;
    char err[1024];
    int rest = argc, i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--hash-token") == 0) {
            return auth_hash_token_main();
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("p4hq %s\n", P4_VERSION);
            return 0;
        } else {
            rest = i;
            break;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    p4_log_set_component("p4hq");
    config_defaults(&cfg);
    if (config_load(&cfg, path, err, sizeof err) != 0) {
        fprintf(stderr, "p4hq: %s\n", err);
        return 2;
    }
    p4_log_set_level((enum p4_log_level)cfg.log_level);
    if (cfg.log_file[0] && p4_log_reopen(cfg.log_file) != 0) {
        fprintf(stderr, "p4hq: [log] file: cannot open %s\n", cfg.log_file);
        return 2;
    }
    if (check_only) {
        printf("%s: ok\n", path);
        return 0;
    }
    if (rest < argc)
        return cli_run(&cfg, argc - rest, argv + rest);
    return run_daemon(&cfg);
}
