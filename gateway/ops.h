/* SPDX-License-Identifier: Apache-2.0 */
/* Operations for the store technician: replica backup/restore (backup.c), the metrics
 * endpoint and the status report (metrics.c). */
#ifndef P4GW_OPS_H
#define P4GW_OPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "p4gw.h"

#define P4GW_EBUSY (-6) /* the replica is locked by a running gateway */

/* ======================================================================================== */
/* backup.c: the replica lock, backup and restore                                           */
/* ======================================================================================== */
/* Takes the exclusive lock that marks "a gateway (or a restore) owns this replica": an
 * flock(2) on REPLICA_PATH + ".lock", released by the kernel when the process ends, even on
 * SIGKILL. *FD gets the lock's descriptor (-1 when not taken). Returns 0, P4GW_EBUSY when
 * another process holds it, P4GW_EIO when the lock file cannot be opened (logged). */
int p4gw_replica_lock(const char *replica_path, int *fd);
void p4gw_replica_unlock(int fd);

/* Writes a consistent copy of the replica of CFG to OUT_PATH (replacing it atomically) with
 * the SQLite online backup API, in steps, from one read snapshot: a running gateway keeps
 * committing meanwhile. The copy is checked (integrity_check), stamped with the tenant and
 * store in a table `backup_info`, fsync'd and written mode 0600. Prints one summary line to
 * OUT. Returns 0 or P4GW_EIO/P4GW_EINVAL with a reason in ERR. */
int p4gw_backup(const struct p4gw_config *cfg, const char *out_path, FILE *out, char *err,
                size_t err_len);

/* Restore options. NEXT_GW_SEQ: the first gw_seq the restored gateway will give (0 = not
 * given: taken from the replica being replaced when it is still readable, else refused). */
struct p4gw_restore_opts {
    int64_t next_gw_seq;
};

/* Installs the backup IN_PATH at [replica] path of CFG. Refuses (P4GW_EBUSY) while a gateway
 * holds the replica lock; checks the file (integrity, tables, tenant/store); copies it to a
 * temporary file beside the replica, makes gw_seq continue at NEXT_GW_SEQ (a `gap` row records
 * the numbers the lost replica gave) and the change log jump ahead (registers then take a
 * snapshot), fsyncs, and renames it into place. A replaced replica is kept beside it as
 * PATH.replaced-MS (with its WAL). Prints one summary line to OUT. Returns 0 or
 * P4GW_EBUSY/P4GW_EINVAL/P4GW_EIO with a reason in ERR. */
int p4gw_restore(const struct p4gw_config *cfg, const char *in_path,
                 const struct p4gw_restore_opts *opts, FILE *out, char *err, size_t err_len);

/* ======================================================================================== */
/* metrics.c: counters, the Prometheus endpoint and `p4gw status`                          */
/* ======================================================================================== */
#define P4GW_COMMIT_BUCKETS 12 /* upper bounds in P4GW_COMMIT_BOUNDS_US, then +Inf */
#define P4GW_AGE_SAMPLES 1024  /* (gw_seq, time) samples for the oldest undelivered age */

enum p4gw_alert_kind {
    P4GW_AK_OVERSELL,
    P4GW_AK_PRICE_MISMATCH,
    P4GW_AK_LOYALTY_OVERDRAW,
    P4GW_AK_BAD_DOWNLINK,
    P4GW_AK_OUTBOX_CAP,
    P4GW_AK_OTHER,
    P4GW_AK_COUNT
};

#define P4GW_SUBS_MAX (2 * LINK_SUBS_MAX) /* both links' subscriptions */

/* One subscription as the endpoint shows it. */
struct p4gw_sub_view {
    bool cloud;
    bool refused;
    char filter[P4T_TOPIC_MAX];
};

/* What the endpoint shows: filled by the core thread, copied under the mutex. */
struct p4gw_counters {
    int64_t sales_ingested, duplicates, rejects;
    uint64_t dropped;          /* store messages refused by the full queue */
    int64_t outbox_depth;      /* undelivered outbox rows (sales and alerts) */
    int64_t oldest_age_s;      /* age of the oldest undelivered sale at the gateway, 0 if none */
    int64_t backlog_depth;     /* of outbox_depth: made before the cloud link came back */
    int64_t backlog_age_s;     /* age of the oldest sale among those, by its ts (0: none) */
    int64_t live_depth;        /* of outbox_depth: made since (sent beside the backlog) */
    int64_t gw_seq_head, delivered, change_head;
    int64_t broker_acked;      /* newest sale gw_seq the cloud broker acknowledged (PUBACK) */
    bool hq_wait;              /* delivered_on = hq: hq_through is shown */
    int64_t hq_through;        /* HQ's committed watermark as received (down/ack) */
    int64_t hq_resends;        /* resends because HQ did not cover acknowledged records */
    int64_t hq_rewinds;        /* HQ's watermark went back (restored HQ): records sent again */
    int64_t hq_reopened;       /* sale records marked undelivered again by those */
    bool cloud_up, local_up;
    int64_t cloud_connects, local_connects; /* connections made; reconnects = connects - 1 */
    struct p4gw_sub_view subs[P4GW_SUBS_MAX]; /* every subscription; refused ones flagged */
    int n_subs;
    uint64_t sub_refusals_cloud, sub_refusals_local; /* SUBACKs that refused, since start */
    uint64_t commit_buckets[P4GW_COMMIT_BUCKETS + 1]; /* cumulative at formatting time */
    uint64_t commit_count;
    int64_t commit_sum_us;
    uint64_t alerts[P4GW_AK_COUNT];
    int64_t started_ms; /* wall clock of the start */
};

/* The endpoint: libmicrohttpd's own thread reads SNAP under MU. */
struct p4gw_metrics {
    pthread_mutex_t mu;
    struct p4gw_counters snap; /* guarded by mu */
    void *daemon;              /* struct MHD_Daemon */
    /* Core thread only: when each range of gw_seq was committed, oldest first, to tell the
     * age of the oldest undelivered sale. Full: every other sample is dropped (coarser). */
    struct {
        int64_t gw_seq, mono_ms;
    } age[P4GW_AGE_SAMPLES];
    size_t n_age;
};

/* Parses LISTEN "ADDR:PORT" (ADDR an IPv4 loopback address or "localhost"). Returns 0 or
 * P4GW_EINVAL with a reason in ERR. */
int p4gw_metrics_parse_listen(const char *listen, char *host, size_t host_len, int *port,
                              char *err, size_t err_len);
/* Starts the endpoint on LISTEN (GET /metrics). *OUT is malloc'd; free with _stop. Returns 0
 * or P4GW_EINVAL/P4GW_EIO (logged). */
int p4gw_metrics_start(const char *listen, struct p4gw_metrics **out);
/* Stops the endpoint's thread and frees M (NULL is fine). */
void p4gw_metrics_stop(struct p4gw_metrics *m);
/* Core thread: records that every gw_seq <= GW_SEQ was committed by now, drops the samples
 * the cloud acknowledged (<= DELIVERED) and sets C->oldest_age_s. Sales already waiting at the
 * start count from the start (the replica keeps no arrival time). */
void p4gw_metrics_age(struct p4gw_metrics *m, struct p4gw_counters *c, int64_t gw_seq,
                      int64_t delivered, int64_t now_mono_ms);
/* Core thread: publishes C for the endpoint (a copy under the mutex). */
void p4gw_metrics_update(struct p4gw_metrics *m, const struct p4gw_counters *c);
/* Counts one commit that took US microseconds. */
void p4gw_counters_commit(struct p4gw_counters *c, int64_t us);
/* Counts the alert whose JSON text is PAYLOAD by its kind. */
void p4gw_counters_alert(struct p4gw_counters *c, const char *payload);
/* Monotonic microseconds, for commit latency. */
int64_t p4gw_mono_us(void);

/* Formats C as Prometheus text exposition (version 0.0.4) into a malloc'd string. */
int p4gw_metrics_format(const struct p4gw_counters *c, char **out);

/* `p4gw status`: prints the running gateway's figures from its endpoint when [metrics] listen
 * is set and it answers, else what the replica holds (read-only). Returns 0, or 1 when
 * neither could be read (reason printed to OUT). */
int p4gw_status(const struct p4gw_config *cfg, FILE *out);

#endif
