/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the price state: which price is in effect when, and how HQ items update it. */
#include "check.h"

#define DAY 86400000LL
#define T0 1795737600000LL /* 2026-11-27T00:00:00.000Z */

static int state_rt(const char *buf, size_t len, char **text, char *reason, size_t reason_len)
{
    struct p4t_price_state s;
    int rc = p4t_price_state_decode(buf, len, &s, reason, reason_len);

    *text = NULL;
    if (rc)
        return rc;
    return p4t_price_state_encode(&s, text);
}

static struct p4t_price_item item(int64_t price, int64_t ver, int64_t from, int64_t until)
{
    struct p4t_price_item it;

    memset(&it, 0, sizeof it);
    snprintf(it.sku, sizeof it.sku, "coffee-250g");
    it.price_minor = price;
    it.ver = ver;
    it.has_from = from >= 0;
    it.from_ms = from >= 0 ? from : 0;
    it.has_until = until >= 0;
    it.until_ms = until >= 0 ? until : 0;
    return it;
}

/* Price in effect at AT, or -1 when none. */
static int64_t price_at(const struct p4t_price_state *s, int64_t at, int64_t *ver)
{
    int64_t p, v;

    if (p4t_price_effective(s, at, &p, &v) != 0)
        return -1;
    if (ver)
        *ver = v;
    return p;
}

/* Applies IT at NOW and returns whether the state changed (-1 on error). */
static int apply(struct p4t_price_state *s, struct p4t_price_item it, int64_t now)
{
    bool changed = false;
    int rc = p4t_price_state_apply(s, &it, now, &changed);

    return rc ? rc : (int)changed;
}

static void test_effective(void)
{
    struct p4t_price_state s;
    char *buf, reason[P4T_REASON_MAX];
    size_t len;
    int64_t ver = 0;

    /* The v1 value: one base price, in effect at every instant. */
    buf = fixture_read("price_state_v1.json", &len);
    ASSERT_INT_EQ(p4t_price_state_decode(buf, len, &s, reason, sizeof reason), 0);
    ASSERT_TRUE(s.has_base);
    ASSERT_INT_EQ(s.n_windows, 0);
    ASSERT_INT_EQ(price_at(&s, 0, &ver), 949);
    ASSERT_INT_EQ(ver, 4);
    free(buf);

    /* Base 949 v4; window 799 v5 from Nov 27 to Nov 30; window 899 v6 until Dec 1. */
    buf = fixture_read("price_state_windows.json", &len);
    ASSERT_INT_EQ(p4t_price_state_decode(buf, len, &s, reason, sizeof reason), 0);
    ASSERT_INT_EQ(s.n_windows, 2);
    /* Before Dec 1 the v6 window beats everything (highest ver), v5 included. */
    ASSERT_INT_EQ(price_at(&s, T0 - 1, &ver), 899);
    ASSERT_INT_EQ(ver, 6);
    ASSERT_INT_EQ(price_at(&s, T0 + DAY, &ver), 899);
    /* At Dec 1 (until is exclusive) the base is back. */
    ASSERT_INT_EQ(price_at(&s, T0 + 4 * DAY, &ver), 949);
    ASSERT_INT_EQ(ver, 4);
    /* Without the v6 window, v5 wins inside its window only: from inclusive, until exclusive. */
    s.n_windows = 1;
    ASSERT_INT_EQ(price_at(&s, T0 - 1, NULL), 949);
    ASSERT_INT_EQ(price_at(&s, T0, &ver), 799);
    ASSERT_INT_EQ(ver, 5);
    ASSERT_INT_EQ(price_at(&s, T0 + 3 * DAY - 1, NULL), 799);
    ASSERT_INT_EQ(price_at(&s, T0 + 3 * DAY, NULL), 949);
    free(buf);

    /* Windows only: outside them the sku has no price. */
    buf = fixture_read("price_state_windows_only.json", &len);
    ASSERT_INT_EQ(p4t_price_state_decode(buf, len, &s, reason, sizeof reason), 0);
    ASSERT_TRUE(!s.has_base);
    {
        int64_t p = 7, v = 7;
        ASSERT_INT_EQ(p4t_price_effective(&s, T0 - 1, &p, &v), P4T_ENOENT);
        ASSERT_INT_EQ(p, 0);
        ASSERT_INT_EQ(v, 0);
    }
    ASSERT_INT_EQ(price_at(&s, T0, NULL), 799);
    free(buf);

    /* A window with a lower ver than the base never wins. */
    memset(&s, 0, sizeof s);
    s.has_base = true;
    s.price_minor = 500;
    s.ver = 9;
    s.n_windows = 1;
    s.windows[0].price_minor = 1;
    s.windows[0].ver = 3;
    s.windows[0].has_from = true;
    s.windows[0].from_ms = T0;
    ASSERT_INT_EQ(price_at(&s, T0 + 1, &ver), 500);
    ASSERT_INT_EQ(ver, 9);
}

/* The gateway's update rules: idempotent by ver, newer base wins, windows bounded. */
static void test_apply(void)
{
    struct p4t_price_state s, before;
    struct p4t_price_item it;
    int64_t now = T0, ver = 0;
    int i;

    memset(&s, 0, sizeof s);
    ASSERT_INT_EQ(apply(&s, item(949, 4, -1, -1), now), 1);
    ASSERT_INT_EQ(price_at(&s, now, &ver), 949);
    /* The same item again (a redelivery, a resync): no change. */
    ASSERT_INT_EQ(apply(&s, item(949, 4, -1, -1), now), 0);
    /* Same ver, other content: still a no-op, the first one of a ver is the price. */
    ASSERT_INT_EQ(apply(&s, item(1, 4, -1, -1), now), 0);
    ASSERT_INT_EQ(price_at(&s, now, NULL), 949);
    /* An older base never replaces a newer one. */
    ASSERT_INT_EQ(apply(&s, item(900, 3, -1, -1), now), 0);
    ASSERT_INT_EQ(price_at(&s, now, NULL), 949);
    /* A Black Friday window v6, and a later window v5 that loses to it where they overlap. */
    ASSERT_INT_EQ(apply(&s, item(799, 6, T0 + DAY, T0 + 2 * DAY), now), 1);
    ASSERT_INT_EQ(apply(&s, item(850, 5, T0 + DAY, T0 + 5 * DAY), now), 1);
    ASSERT_INT_EQ(s.n_windows, 2);
    ASSERT_INT_EQ(s.windows[0].ver, 5); /* kept in ver order */
    ASSERT_INT_EQ(price_at(&s, T0 + DAY, &ver), 799);
    ASSERT_INT_EQ(ver, 6);
    ASSERT_INT_EQ(price_at(&s, T0 + 3 * DAY, &ver), 850);
    ASSERT_INT_EQ(price_at(&s, T0 + 6 * DAY, &ver), 949);
    /* Known window ver: no-op. */
    ASSERT_INT_EQ(apply(&s, item(1, 6, T0, -1), now), 0);
    /* A window that already ended, or is older than the base: could never be in effect. */
    ASSERT_INT_EQ(apply(&s, item(1, 7, T0 - DAY, T0), now), 0);
    ASSERT_INT_EQ(apply(&s, item(1, 3, T0, -1), now), 0);
    ASSERT_INT_EQ(s.n_windows, 2);
    /* Time passes: applying anything prunes the windows that ended. */
    ASSERT_INT_EQ(apply(&s, item(960, 8, -1, -1), T0 + 2 * DAY), 1);
    /* The new base (v8) outranks both windows everywhere, so both are gone. */
    ASSERT_INT_EQ(s.n_windows, 0);
    ASSERT_INT_EQ(price_at(&s, T0 + 3 * DAY, &ver), 960);
    ASSERT_INT_EQ(ver, 8);

    /* Prune on its own: the gateway calls it when a window ends. */
    ASSERT_INT_EQ(apply(&s, item(100, 9, -1, T0 + 4 * DAY), T0 + 2 * DAY), 1);
    {
        bool changed = true;
        ASSERT_INT_EQ(p4t_price_state_prune(&s, T0 + 3 * DAY, &changed), 0);
        ASSERT_TRUE(!changed);
        ASSERT_INT_EQ(p4t_price_state_prune(&s, T0 + 4 * DAY, &changed), 0);
        ASSERT_TRUE(changed);
        ASSERT_INT_EQ(s.n_windows, 0);
    }

    /* At most 16 live windows: the 17th is refused and the state is left as it was. */
    memset(&s, 0, sizeof s);
    for (i = 0; i < P4T_PRICE_MAX_WINDOWS; i++)
        ASSERT_INT_EQ(apply(&s, item(100 + i, 10 + i, T0 + i * DAY, -1), now), 1);
    before = s;
    ASSERT_INT_EQ(apply(&s, item(1, 99, T0, -1), now), P4T_ETOOBIG);
    ASSERT_TRUE(memcmp(&before, &s, sizeof s) == 0);
    /* ...unless some have ended by then: the limit counts live windows. */
    for (i = 0; i < P4T_PRICE_MAX_WINDOWS; i++) {
        s.windows[i].has_until = i < 4;
        s.windows[i].until_ms = i < 4 ? T0 + i * DAY + 1 : 0;
    }
    ASSERT_INT_EQ(apply(&s, item(1, 99, T0 + 10 * DAY, -1), T0 + 5 * DAY), 1);
    ASSERT_INT_EQ(s.n_windows, P4T_PRICE_MAX_WINDOWS - 4 + 1);

    /* Items outside the contract are refused. */
    it = item(1, 0, -1, -1);
    ASSERT_INT_EQ(apply(&s, it, now), P4T_EINVAL);
    ASSERT_INT_EQ(apply(&s, item(-1, 100, -1, -1), now), P4T_EINVAL);
    ASSERT_INT_EQ(apply(&s, item(P4T_MAX_PRICE + 1, 100, -1, -1), now), P4T_EINVAL);
    ASSERT_INT_EQ(apply(&s, item(1, 100, T0, T0), now), P4T_EINVAL);
}

static void test_codec(void)
{
    struct p4t_price_state s;
    char *text = NULL;

    ASSERT_TRUE(run_cases("price_state", state_rt) >= 18);

    memset(&s, 0, sizeof s);
    ASSERT_INT_EQ(p4t_price_state_encode(&s, &text), P4T_EINVAL); /* no price at all */
    s.has_base = true;
    s.price_minor = 949;
    s.ver = 4;
    ASSERT_INT_EQ(p4t_price_state_encode(&s, &text), 0);
    ASSERT_STR_EQ(text, "{\"price\":949,\"ver\":4}"); /* exactly the v1 value */
    free(text);
    s.n_windows = 1;
    s.windows[0].price_minor = 799;
    s.windows[0].ver = 5;
    s.windows[0].has_until = true;
    s.windows[0].until_ms = T0;
    ASSERT_INT_EQ(p4t_price_state_encode(&s, &text), 0);
    ASSERT_STR_EQ(text, "{\"price\":949,\"ver\":4,\"windows\":[{\"price\":799,\"ver\":5,"
                        "\"until\":\"2026-11-27T00:00:00.000Z\"}]}");
    free(text);
    s.windows[0].has_until = false;
    ASSERT_INT_EQ(p4t_price_state_encode(&s, &text), P4T_EINVAL);
    s.windows[0].has_until = true;
    s.windows[0].ver = 4;
    ASSERT_INT_EQ(p4t_price_state_encode(&s, &text), P4T_EINVAL);
    s.windows[0].ver = 5;
    s.n_windows = P4T_PRICE_MAX_WINDOWS + 1;
    ASSERT_INT_EQ(p4t_price_state_encode(&s, &text), P4T_EINVAL);
    ASSERT_TRUE(text == NULL);
}

int main(void)
{
    test_effective();
    test_apply();
    test_codec();
    return check_done("test_price");
}
