/* SPDX-License-Identifier: Apache-2.0 */
/* The two lanes of the cloud sender: after a reconnect the records made since (the live lane)
 * go out beside the backlog, which drains behind them in oid order within a bounded number of
 * bytes awaiting PUBACK, so a sale made now does not queue on the WAN behind minutes of
 * backlog. Pure bookkeeping over the send window: outbox.c reads the rows and publishes. */
#include "p4gw.h"

#include <stdint.h>
#include <string.h>

/* Slots of the window the live lane may hold; the rest are the backlog's, so neither lane can
 * shut the other out. */
static int live_slots(const struct p4gw_config *cfg)
{
    return cfg->max_inflight / 2 > 0 ? cfg->max_inflight / 2 : 1;
}

void lanes_start(struct lanes *ln, const struct p4gw_config *cfg, int64_t first_pending_oid,
                 int64_t head_oid)
{
    memset(ln, 0, sizeof(*ln));
    /* Only a backlog splits: with nothing undelivered every record is live anyway. */
    ln->split = cfg->live_lane && first_pending_oid > 0 && first_pending_oid <= head_oid;
    ln->live_from = head_oid + 1;
    ln->live_upto = head_oid;
}

/* Counts the current (this connection's) batches of each lane and the backlog's bytes. */
static void count(const struct inflight *win, size_t win_n, int *n_live, int *n_backlog,
                  int64_t *backlog_bytes)
{
    *n_live = *n_backlog = 0;
    *backlog_bytes = 0;
    for (size_t i = 0; i < win_n; i++) {
        if (!win[i].current)
            continue;
        if (win[i].live) {
            (*n_live)++;
        } else {
            (*n_backlog)++;
            *backlog_bytes += win[i].wire_bytes;
        }
    }
}

bool lanes_next(const struct lanes *ln, const struct p4gw_config *cfg,
                const struct inflight *win, size_t win_n, int64_t sent_upto, int64_t hq_through,
                unsigned skip, struct lane_next *out)
{
    int n_live, n_backlog, backlog_max;
    int64_t backlog_bytes, batch_bytes;

    if (!ln->split) {
        if (skip & (1u << LANE_BACKLOG))
            return false;
        out->lane = LANE_BACKLOG;
        out->after = sent_upto;
        out->upto = INT64_MAX;
        out->max_bytes = cfg->batch_max_bytes;
        return true;
    }
    count(win, win_n, &n_live, &n_backlog, &backlog_bytes);
    /* The live lane first: what is published first leaves first on the one TCP stream. */
    if (!(skip & (1u << LANE_LIVE)) && n_live < live_slots(cfg)) {
        out->lane = LANE_LIVE;
        out->after = ln->live_upto;
        out->upto = INT64_MAX;
        out->max_bytes = cfg->batch_max_bytes;
        return true;
    }
    backlog_max = cfg->max_inflight - live_slots(cfg) > 0 ? cfg->max_inflight - live_slots(cfg)
                                                          : 1;
    if ((skip & (1u << LANE_BACKLOG)) || ln->backlog_sent || n_backlog >= backlog_max ||
        (n_backlog > 0 && backlog_bytes >= cfg->backlog_window_bytes))
        return false;
    /* The broker takes what the WAN brings at once and queues it for HQ: when HQ commits
     * slower than the WAN carries, a live record would wait there behind the backlog. */
    if (hq_through >= 0 && cfg->backlog_ahead_max > 0 &&
        ln->backlog_gw_seq - hq_through >= cfg->backlog_ahead_max)
        return false;
    /* Batches of a quarter of the byte window keep several in flight (the link stays busy
     * across a round trip) and no single one long on the wire. The cap counts JSON, so a
     * compressed batch is smaller still. */
    batch_bytes = cfg->backlog_window_bytes / 4 > 1024 ? cfg->backlog_window_bytes / 4 : 1024;
    out->lane = LANE_BACKLOG;
    out->after = sent_upto;
    out->upto = ln->live_from - 1;
    out->max_bytes = batch_bytes < cfg->batch_max_bytes ? batch_bytes : cfg->batch_max_bytes;
    return true;
}

void lanes_sent(struct lanes *ln, enum lane lane, const struct inflight *b, int64_t *sent_upto)
{
    if (ln->split && lane == LANE_LIVE) {
        ln->live_upto = b->last_oid;
        return;
    }
    *sent_upto = b->last_oid;
    if (b->last_gw_seq > ln->backlog_gw_seq)
        ln->backlog_gw_seq = b->last_gw_seq;
}

void lanes_backlog_empty(struct lanes *ln, int64_t *sent_upto)
{
    if (!ln->split)
        return;
    ln->backlog_sent = true;
    if (*sent_upto < ln->live_from - 1)
        *sent_upto = ln->live_from - 1;
}

bool lanes_try_merge(struct lanes *ln, const struct inflight *win, size_t win_n,
                     int64_t *sent_upto)
{
    if (!ln->split || !ln->backlog_sent)
        return false;
    for (size_t i = 0; i < win_n; i++) {
        if (win[i].current && !win[i].live)
            return false; /* a backlog batch still awaits its PUBACK */
    }
    ln->split = false;
    if (ln->live_upto > *sent_upto)
        *sent_upto = ln->live_upto;
    return true;
}
