/* SPDX-License-Identifier: Apache-2.0 */
/* p4gw entry point: arguments, config check, stock import, signals, then the core loop. */
#include "p4gw.h"
#include "link.h"
#include "ops.h"
#include "provision.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "p4common.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: p4gw --config FILE [--check-config | --import-stock CSV]\n"
            "       p4gw --config FILE backup OUT.db | status\n"
            "       p4gw --config FILE restore IN.db [--next-gw-seq N]\n"
            "       p4gw register add|remove REG [--store-conf FILE] (see p4gw register --help)\n"
            "       p4gw --help | --version\n"
            "\n"
            "Runs the store gateway in the foreground, logging to stderr (or [log] file).\n"
            "  --config FILE        gateway INI file (required)\n"
            "  --check-config       validate FILE and exit (0 ok, 2 invalid)\n"
            "  --import-stock CSV   load sku,on_hand,price_minor,price_ver rows into the\n"
            "                       replica in one transaction and exit\n"
            "  backup OUT.db        write a checked copy of the replica (0600), also while\n"
            "                       the gateway runs\n"
            "  restore IN.db        install a backup at [replica] path (gateway stopped);\n"
            "                       --next-gw-seq N: first gw_seq to give (above HQ's highest)\n"
            "  status               the running gateway's figures ([metrics] listen), else the\n"
            "                       replica's\n"
            "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reopens the log file.\n"
            "Exit codes: 0 clean stop, 1 runtime failure, 2 usage or config error.\n");
}

static void on_stop(int sig)
{
    (void)sig;
    p4gw_stop_flag = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    p4gw_reopen_flag = 1;
}

/* Handlers only set flags; SA_RESTART keeps the owning thread's calls from failing with
 * EINTR. Blocked here, before any thread exists, so that only the core thread takes them once
 * p4gw_run unblocks them there: no helper thread is interrupted. */
static void install_signals(void)
{
    struct sigaction sa;

    p4gw_signals_mask(SIG_BLOCK);
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* The lock a restore takes: a gateway refuses to start on a replica being restored, and a
 * restore refuses while a gateway runs. Held until the process ends. A `status` probe holds it
 * shared for an instant, so a busy lock is retried for a moment before giving up. */
static int lock_replica(const struct p4gw_config *cfg)
{
    struct timespec pause = {0, 50 * 1000 * 1000};
    int fd = -1, rc = P4GW_EBUSY;

    for (int i = 0; i < 40 && rc == P4GW_EBUSY; i++) {
        rc = p4gw_replica_lock(cfg->replica_path, &fd);
        if (rc == P4GW_EBUSY)
            nanosleep(&pause, NULL);
    }
    if (rc == P4GW_EBUSY) {
        p4_error("replica in use by another gateway or a restore path=\"%s\"",
                 cfg->replica_path);
        return 2;
    }
    if (rc)
        p4_warn("replica lock not taken, running unguarded path=\"%s\"", cfg->replica_path);
    return 0; /* the descriptor stays open (and the lock held) until exit */
}

/* Runs a technician's subcommand (ARGS: the words after the options). */
static int command(const struct p4gw_config *cfg, char **args, int n_args, int64_t next_gw_seq)
{
    char err[P4GW_ERR_MAX];
    int rc;

    if (strcmp(args[0], "status") == 0 && n_args == 1)
        return p4gw_status(cfg, stdout);
    if (strcmp(args[0], "backup") == 0 && n_args == 2) {
        rc = p4gw_backup(cfg, args[1], stdout, err, sizeof(err));
        if (rc)
            fprintf(stderr, "backup failed: %s\n", err);
        return rc ? 1 : 0;
    }
    if (strcmp(args[0], "restore") == 0 && n_args == 2) {
        struct p4gw_restore_opts o = {.next_gw_seq = next_gw_seq};

        rc = p4gw_restore(cfg, args[1], &o, stdout, err, sizeof(err));
        if (rc)
            fprintf(stderr, "restore refused: %s\n", err);
        return rc == 0 ? 0 : rc == P4GW_EIO ? 1 : 2;
    }
    usage(stderr);
    return 2;
}

/* Validates the whole CSV before the replica is touched: a bad row imports nothing. */
static int import_stock(const struct p4gw_config *cfg, const char *csv)
{
    struct replica r;
    struct csv_row *rows = NULL;
    size_t n = 0;
    char err[P4GW_ERR_MAX];
    int rc;

    rc = stock_csv_load(csv, &rows, &n, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (replica_open(&r, cfg->replica_path, cfg->durability_full) != 0) {
        free(rows);
        return 1;
    }
    rc = stock_import_rows(&r, rows, n, err, sizeof(err));
    replica_close(&r);
    free(rows);
    if (rc) {
        fprintf(stderr, "%s: %s\n", csv, err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"import-stock", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"next-gw-seq", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    static struct p4gw_config cfg; /* large: kept off the stack */
    const char *config = NULL, *csv = NULL;
    char err[P4GW_ERR_MAX], warn[P4GW_ERR_MAX];
    bool check = false;
    int64_t next_gw_seq = 0;
    char *end = NULL;
    int c;

    /* Replica, journal, backups, logs and secrets are created for our user only (0600). */
    umask(077);
    p4_log_set_component("p4gw");
    if (argc >= 2 && strcmp(argv[1], "register") == 0)
        return p4gw_register_main(argc - 1, argv + 1);
    while ((c = getopt_long(argc, argv, "c:ki:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'i':
            csv = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'n':
            errno = 0;
            next_gw_seq = strtoll(optarg, &end, 10);
            if (errno || !end || *end || next_gw_seq < 1) {
                fprintf(stderr, "--next-gw-seq: %s is not a positive integer\n", optarg);
                return 2;
            }
            break;
        case 'V':
            printf("p4gw %s (contract v%d)\n", P4_VERSION, P4T_CONTRACT_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!config || (check && (csv || optind != argc)) || (csv && optind != argc) ||
        (next_gw_seq && (optind == argc || strcmp(argv[optind], "restore") != 0))) {
        usage(stderr);
        return 2;
    }
    if (p4gw_config_load(config, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (check) {
        /* Certificate expiry does not stop the gateway (the store keeps selling), but the
         * technician checking the config should see it. */
        if (cfg.cloud_tls && config_check_tls(&cfg, err, sizeof(err), warn, sizeof(warn)) == 0 &&
            warn[0])
            fprintf(stderr, "warning: %s\n", warn);
        printf("config ok: %s\n", config);
        return 0;
    }
    p4_log_set_level((enum p4_log_level)cfg.log_level);
    if (cfg.log_file[0] && p4_log_reopen(cfg.log_file) != 0) {
        fprintf(stderr, "%s: cannot open log file %s\n", config, cfg.log_file);
        return 2;
    }
    if (csv)
        return import_stock(&cfg, csv);
    if (optind < argc)
        return command(&cfg, argv + optind, argc - optind, next_gw_seq);
    if (lock_replica(&cfg) != 0)
        return 2;
    install_signals();
    return p4gw_run(&cfg);
}
