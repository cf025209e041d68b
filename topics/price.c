/* SPDX-License-Identifier: Apache-2.0 */
/* Price state of one sku (base price plus time windows): resolution, updates and its codec. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "p4t.h"
#include "p4t_json.h"

static const char *const state_keys[] = {"price", "ver", "windows", NULL};
static const char *const window_keys[] = {"price", "ver", "from", "until", NULL};

/* True when window W covers AT_MS: from inclusive, until exclusive, a missing bound open. */
static bool window_covers(const struct p4t_price_window *w, int64_t at_ms)
{
    return (!w->has_from || w->from_ms <= at_ms) && (!w->has_until || at_ms < w->until_ms);
}

static int read_window(struct jx *j, const cJSON *it, struct p4t_price_window *w)
{
    int rc;

    if (!cJSON_IsObject(it))
        return jx_fail(j, NULL, "must be an object");
    rc = jx_keys(j, it, window_keys);
    if (!rc)
        rc = jx_int(j, it, "price", true, 0, P4T_MAX_PRICE, 0, &w->price_minor, NULL);
    if (!rc)
        rc = jx_int(j, it, "ver", true, 1, JX_INT_MAX, 0, &w->ver, NULL);
    if (!rc)
        rc = jx_ts(j, it, "from", false, &w->from_ms, &w->has_from);
    if (!rc)
        rc = jx_ts(j, it, "until", false, &w->until_ms, &w->has_until);
    if (rc)
        return rc;
    if (!w->has_from && !w->has_until)
        return jx_fail(j, NULL, "needs from and/or until (a price without a window is the "
                                "base price)");
    if (w->has_from && w->has_until && w->until_ms <= w->from_ms)
        return jx_fail(j, "until", "must be after from");
    return P4T_OK;
}

int price_state_read(struct jx *j, const cJSON *obj, struct p4t_price_state *out)
{
    /* SUB is roomier than a path so the compiler sees no truncation; jx_path bounds it. */
    char parent[sizeof j->path], sub[sizeof j->path + 16];
    const cJSON *windows, *it;
    bool has_price, has_ver;
    size_t i;
    int rc;

    memset(out, 0, sizeof *out);
    rc = jx_keys(j, obj, state_keys);
    if (!rc)
        rc = jx_int(j, obj, "price", false, 0, P4T_MAX_PRICE, 0, &out->price_minor, &has_price);
    if (!rc)
        rc = jx_int(j, obj, "ver", false, 0, JX_INT_MAX, 0, &out->ver, &has_ver);
    if (!rc)
        rc = jx_member(j, obj, "windows", false, cJSON_Array, &windows);
    if (rc)
        return rc;
    /* The base is price and ver together; a value without either has only windows. */
    if (has_price != has_ver)
        return jx_fail(j, has_price ? "ver" : "price", "missing");
    out->has_base = has_price;
    memcpy(parent, j->path, sizeof parent);
    snprintf(sub, sizeof sub, "%s%swindows", parent, parent[0] ? "." : "");
    i = 0;
    cJSON_ArrayForEach(it, windows) {
        struct p4t_price_window *w = &out->windows[i];
        jx_path(j, sub, NULL, (long)i);
        if (i == P4T_PRICE_MAX_WINDOWS)
            return jx_fail(j, NULL, "more than %d windows", P4T_PRICE_MAX_WINDOWS);
        rc = read_window(j, it, w);
        if (rc)
            return rc;
        if (i > 0 && w->ver <= out->windows[i - 1].ver)
            return jx_fail(j, "ver", "windows must be in increasing ver order");
        if (out->has_base && w->ver == out->ver)
            return jx_fail(j, "ver", "equals the base ver");
        i++;
    }
    out->n_windows = i;
    memcpy(j->path, parent, sizeof parent);
    if (!out->has_base && out->n_windows == 0)
        return jx_fail(j, "price", "missing");
    return P4T_OK;
}

int price_state_build(const struct p4t_price_state *s, cJSON **out)
{
    cJSON *root, *arr, *obj;
    size_t i;
    int rc = P4T_OK;

    *out = NULL;
    if (s->n_windows > P4T_PRICE_MAX_WINDOWS)
        return P4T_EINVAL;
    root = cJSON_CreateObject();
    if (!root)
        return P4T_ENOMEM;
    if (s->has_base) {
        rc = jx_add_int(root, "price", s->price_minor);
        if (!rc)
            rc = jx_add_int(root, "ver", s->ver);
    }
    if (!rc && s->n_windows) {
        arr = cJSON_AddArrayToObject(root, "windows");
        if (!arr)
            rc = P4T_ENOMEM;
        for (i = 0; !rc && i < s->n_windows; i++) {
            const struct p4t_price_window *w = &s->windows[i];
            obj = jx_append_object(arr);
            if (!obj) {
                rc = P4T_ENOMEM;
                break;
            }
            rc = jx_add_int(obj, "price", w->price_minor);
            if (!rc)
                rc = jx_add_int(obj, "ver", w->ver);
            if (!rc && w->has_from)
                rc = jx_add_ts(obj, "from", w->from_ms);
            if (!rc && w->has_until)
                rc = jx_add_ts(obj, "until", w->until_ms);
        }
    }
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return P4T_OK;
}

static int read_state(struct jx *j, const cJSON *obj, void *arg)
{
    return price_state_read(j, obj, arg);
}

int p4t_price_state_decode(const char *buf, size_t len, struct p4t_price_state *out,
                           char *reason, size_t reason_len)
{
    return jx_decode(buf, len, P4T_MAX_PAYLOAD, read_state, out, sizeof *out, reason,
                     reason_len);
}

static int check_state(const char *text, size_t len, void *scratch, const void *arg)
{
    (void)arg;
    return p4t_price_state_decode(text, len, scratch, NULL, 0);
}

int p4t_price_state_encode(const struct p4t_price_state *s, char **out)
{
    cJSON *root = NULL;
    int rc = price_state_build(s, &root);

    return jx_encode(root, rc, check_state, sizeof(struct p4t_price_state), NULL, out);
}

int p4t_price_effective(const struct p4t_price_state *s, int64_t at_ms, int64_t *price,
                        int64_t *ver)
{
    bool found = false;
    int64_t best_price = 0, best_ver = 0;
    size_t i;

    *price = 0;
    *ver = 0;
    if (s->has_base) {
        found = true;
        best_price = s->price_minor;
        best_ver = s->ver;
    }
    for (i = 0; i < s->n_windows && i < P4T_PRICE_MAX_WINDOWS; i++) {
        const struct p4t_price_window *w = &s->windows[i];
        if (!window_covers(w, at_ms))
            continue;
        /* Vers are distinct within a state, so ">" leaves no tie to break. */
        if (!found || w->ver > best_ver) {
            found = true;
            best_price = w->price_minor;
            best_ver = w->ver;
        }
    }
    if (!found)
        return P4T_ENOENT;
    *price = best_price;
    *ver = best_ver;
    return P4T_OK;
}

/* True when W can never be in effect again after NOW_MS: it has ended, or the base (which
 * covers every instant) has a higher ver. */
static bool window_dead(const struct p4t_price_state *s, const struct p4t_price_window *w,
                        int64_t now_ms)
{
    return (w->has_until && w->until_ms <= now_ms) || (s->has_base && w->ver < s->ver);
}

int p4t_price_state_prune(struct p4t_price_state *s, int64_t now_ms, bool *changed)
{
    size_t i, kept = 0;

    *changed = false;
    if (s->n_windows > P4T_PRICE_MAX_WINDOWS)
        return P4T_EINVAL;
    for (i = 0; i < s->n_windows; i++) {
        if (window_dead(s, &s->windows[i], now_ms)) {
            *changed = true;
            continue;
        }
        s->windows[kept++] = s->windows[i];
    }
    s->n_windows = kept;
    return P4T_OK;
}

int p4t_price_state_apply(struct p4t_price_state *s, const struct p4t_price_item *item,
                          int64_t now_ms, bool *changed)
{
    struct p4t_price_state next;
    struct p4t_price_window w;
    bool pruned = false;
    size_t i, at;
    int rc;

    *changed = false;
    if (item->ver < 1 || item->ver > JX_INT_MAX || item->price_minor < 0 ||
        item->price_minor > P4T_MAX_PRICE || s->n_windows > P4T_PRICE_MAX_WINDOWS ||
        (item->has_from && item->has_until && item->until_ms <= item->from_ms))
        return P4T_EINVAL;
    /* A known ver is a repeat of an item already applied: HQ resends freely. */
    if (s->has_base && s->ver == item->ver)
        return P4T_OK;
    for (i = 0; i < s->n_windows; i++) {
        if (s->windows[i].ver == item->ver)
            return P4T_OK;
    }
    next = *s;
    if (!item->has_from && !item->has_until) {
        if (next.has_base && item->ver < next.ver)
            return P4T_OK;
        next.has_base = true;
        next.price_minor = item->price_minor;
        next.ver = item->ver;
    } else {
        w.price_minor = item->price_minor;
        w.ver = item->ver;
        w.has_from = item->has_from;
        w.from_ms = item->has_from ? item->from_ms : 0;
        w.has_until = item->has_until;
        w.until_ms = item->has_until ? item->until_ms : 0;
        if (window_dead(&next, &w, now_ms))
            return P4T_OK;
        if (next.n_windows == P4T_PRICE_MAX_WINDOWS) {
            /* Make room by pruning first; only live windows count against the limit. */
            rc = p4t_price_state_prune(&next, now_ms, &pruned);
            if (rc)
                return rc;
            if (next.n_windows == P4T_PRICE_MAX_WINDOWS)
                return P4T_ETOOBIG;
        }
        for (at = 0; at < next.n_windows && next.windows[at].ver < w.ver; at++)
            ;
        memmove(&next.windows[at + 1], &next.windows[at],
                (next.n_windows - at) * sizeof next.windows[0]);
        next.windows[at] = w;
        next.n_windows++;
    }
    rc = p4t_price_state_prune(&next, now_ms, &pruned);
    if (rc)
        return rc;
    *s = next;
    *changed = true;
    return P4T_OK;
}
