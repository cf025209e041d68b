/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the zstd payloads of revision 1.3: format rule, round trip, and every refusal
 * of p4t_zstd_unpack (unknown dictionary, no content size, over the limit, a frame that lies
 * about its size, corruption, truncation, trailing bytes) with its reason. */
#include <zstd.h>

#include "check.h"
#include "p4t_zstd.h"

static const char batch[] =
    "{\"store\":\"s001\",\"items\":[{\"id\":\"0190a5c4-6e1f-7b2a-9c3d-4e5f6a7b8c9d\",\"seq\":42,"
    "\"store\":\"s001\",\"reg\":\"r01\",\"ts\":\"2026-11-27T12:00:00.123Z\",\"kind\":\"sale\","
    "\"lines\":[{\"sku\":\"coffee-250g\",\"qty\":2,\"price\":899,\"ver\":3},{\"sku\":\"milk-1l\","
    "\"qty\":1,\"price\":129,\"ver\":1}],\"tenders\":[{\"type\":\"card\",\"amount\":1927}],"
    "\"total\":1927,\"gw_seq\":1234,\"flags\":[]}]}";

/* Offsets in a frame header (RFC 8878 3.1.1.1): the descriptor, then the window byte unless
 * single-segment, then the dictionary id and the content size. */
static size_t dict_id_offset(const unsigned char *f)
{
    return 4 + 1 + ((f[4] & 0x20) ? 0 : 1);
}

static void check_roundtrip(void)
{
    char *z = NULL, *back = NULL, reason[P4T_REASON_MAX] = "";
    size_t zlen = 0, blen = 0;
    struct p4t_batch_reader r;

    ASSERT_INT_EQ(p4t_wire_format(batch, strlen(batch)), P4T_WIRE_JSON);
    ASSERT_INT_EQ(p4t_zstd_pack(batch, strlen(batch), &z, &zlen), 0);
    ASSERT_TRUE(zlen > 0 && zlen < strlen(batch) / 2);
    ASSERT_INT_EQ(p4t_wire_format(z, zlen), P4T_WIRE_ZSTD);
    ASSERT_INT_EQ(ZSTD_getDictID_fromFrame(z, zlen), P4T_ZSTD_DICT_ID);
    ASSERT_TRUE(ZSTD_getFrameContentSize(z, zlen) == strlen(batch));
    ASSERT_INT_EQ(p4t_zstd_unpack(z, zlen, P4T_MAX_BATCH_PAYLOAD, &back, &blen, reason,
                                  sizeof reason),
                  0);
    ASSERT_INT_EQ(blen, strlen(batch));
    ASSERT_STR_EQ(back, batch);
    /* What comes out is what the JSON decoders read. */
    ASSERT_INT_EQ(p4t_batch_open(&r, back, blen, reason, sizeof reason), 0);
    p4t_batch_close(&r);
    fprintf(stderr, "example batch: %zu bytes JSON, %zu bytes zstd\n", strlen(batch), zlen);
    free(back);
    free(z);
}

static void expect_refused(const void *buf, size_t len, size_t max, int want_rc,
                           const char *want_reason)
{
    char *out = (char *)1, reason[P4T_REASON_MAX] = "";
    size_t out_len = 7;

    ASSERT_INT_EQ(p4t_zstd_unpack(buf, len, max, &out, &out_len, reason, sizeof reason), want_rc);
    ASSERT_TRUE(out == NULL && out_len == 0);
    ASSERT_CONTAINS(reason, want_reason);
}

static void check_refusals(void)
{
    size_t n = strlen(batch), zlen, cap = ZSTD_compressBound(1 << 22);
    unsigned char *f = malloc(cap), *g = malloc(cap);
    char *z = NULL;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_inBuffer in;
    ZSTD_outBuffer out;

    ASSERT_INT_EQ(p4t_zstd_pack(batch, n, &z, &zlen), 0);
    memcpy(f, z, zlen);
    free(z);

    /* Not a frame at all, or JSON handed to the decompressor. */
    expect_refused(batch, n, 1 << 20, P4T_EINVAL, "payload: not a zstd frame");
    expect_refused(f, 3, 1 << 20, P4T_EINVAL, "payload: not a zstd frame");
    /* Header cut short, body cut short, bytes after the frame. */
    expect_refused(f, 6, 1 << 20, P4T_EINVAL, "zstd frame header truncated");
    expect_refused(f, zlen - 5, 1 << 20, P4T_EINVAL, "zstd frame truncated or corrupt");
    memcpy(g, f, zlen);
    memcpy(g + zlen, "{}", 2);
    expect_refused(g, zlen + 2, 1 << 20, P4T_EINVAL, "payload: 2 bytes after the zstd frame");
    /* A dictionary this library does not hold. */
    memcpy(g, f, zlen);
    g[dict_id_offset(g)] ^= 0x01;
    expect_refused(g, zlen, 1 << 20, P4T_EINVAL, "payload: zstd dictionary 32768 is not known");
    /* Corruption inside the compressed block: the checksum (or the block itself) says so. */
    memcpy(g, f, zlen);
    g[zlen - 10] ^= 0x5a;
    expect_refused(g, zlen, 1 << 20, P4T_EINVAL, "payload: zstd frame corrupt");
    /* Over the receiver's limit: refused from the header, before anything is inflated. */
    expect_refused(f, zlen, n - 1, P4T_ETOOBIG, "over the limit of");

    /* No dictionary at all. */
    zlen = ZSTD_compress(g, cap, batch, n, 3);
    expect_refused(g, zlen, 1 << 20, P4T_EINVAL, "payload: zstd frame names no dictionary");

    /* A bomb: 64 MiB in a few KB, refused from its header without inflating anything. */
    {
        size_t big = (size_t)64 << 20;
        char *fill = malloc(big);
        char *bomb = NULL;
        size_t bomb_len = 0;

        memset(fill, ' ', big);
        fill[0] = '{';
        ASSERT_INT_EQ(p4t_zstd_pack(fill, big, &bomb, &bomb_len), 0);
        free(fill);
        ASSERT_TRUE(bomb_len < 1 << 16);
        expect_refused(bomb, bomb_len, P4T_MAX_BATCH_PAYLOAD, P4T_ETOOBIG,
                       "payload: zstd frame of 67108864 bytes, over the limit of 4194304");
        free(bomb);
    }

    /* Content size not declared (a streaming frame): refused. */
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    in = (ZSTD_inBuffer){batch, n, 0};
    out = (ZSTD_outBuffer){g, cap, 0};
    ASSERT_INT_EQ(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
    expect_refused(g, out.pos, 1 << 20, P4T_EINVAL,
                   "payload: zstd frame does not declare its content size");

    /* A window over the limit (2^27 requested in the window byte). */
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    in = (ZSTD_inBuffer){batch, n, 0};
    out = (ZSTD_outBuffer){g, cap, 0};
    ASSERT_INT_EQ(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
    g[5] = (unsigned char)((27 - 10) << 3); /* window descriptor: 2^27 */
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    {
        /* give it a content size so that the window is what refuses it: rebuild the header */
        unsigned char h[32];
        size_t hl = 0;

        memcpy(h, g, 4);
        h[4] = 0xc0; /* FCS 8 bytes, not single-segment, no checksum, no dict id */
        h[5] = (unsigned char)((27 - 10) << 3);
        for (int k = 0; k < 8; k++)
            h[6 + k] = k == 0 ? (unsigned char)n : k == 1 ? (unsigned char)(n >> 8) : 0;
        hl = 14;
        expect_refused(h, hl, 1 << 20, P4T_EINVAL, "payload: zstd window of 134217728 bytes");
    }

    /* A frame that declares less than it holds: our frame with its content size lowered. The
     * single-segment frame of a small batch keeps the size in the 2 bytes after the id (the
     * field stores size - 256). */
    ASSERT_INT_EQ(p4t_zstd_pack(batch, n, &z, &zlen), 0);
    memcpy(g, z, zlen);
    if ((g[4] & 0xc0) == 0x40 && (g[4] & 0x20) && (g[4] & 0x03) == 2) {
        size_t at = dict_id_offset(g) + 2;
        unsigned v = (unsigned)g[at] | ((unsigned)g[at + 1] << 8);

        v -= 10;
        g[at] = (unsigned char)(v & 0xff);
        g[at + 1] = (unsigned char)(v >> 8);
        expect_refused(g, zlen, 1 << 20, P4T_EINVAL, "payload: zstd frame corrupt");
    } else {
        CHECK_FAIL("unexpected frame header layout 0x%02x", g[4]);
    }
    free(z);
    ZSTD_freeCCtx(cc);
    free(f);
    free(g);
}

static void check_dict_list(void)
{
    char list[64], tiny[3];

    ASSERT_INT_EQ(p4t_zstd_dict_list(list, sizeof list), 0);
    ASSERT_STR_EQ(list, "[32769]");
    ASSERT_INT_EQ(p4t_zstd_dict_list(tiny, sizeof tiny), P4T_ETOOBIG);
    ASSERT_TRUE(p4t_zstd_dict_known(P4T_ZSTD_DICT_ID));
    ASSERT_TRUE(!p4t_zstd_dict_known(1));
}

/* down/caps: round trip, fields of a later revision skipped, bad ids refused. */
static void check_caps(void)
{
    struct p4t_caps c = {.n_zstd = 2, .zstd = {P4T_ZSTD_DICT_ID, 40000}}, d;
    char reason[P4T_REASON_MAX] = "", *text = NULL;
    const char *later = "{\"zstd\":[32769],\"brotli\":[1],\"ts\":\"2026-11-27T12:00:00.000Z\"}";
    const char *bad = "{\"zstd\":[0],\"ts\":\"2026-11-27T12:00:00.000Z\"}";
    const char *none = "{\"ts\":\"2026-11-27T12:00:00.000Z\"}";

    snprintf(c.ts, sizeof c.ts, "2026-11-27T12:00:00.000Z");
    ASSERT_INT_EQ(p4t_caps_encode(&c, &text), 0);
    ASSERT_STR_EQ(text, "{\"zstd\":[32769,40000],\"ts\":\"2026-11-27T12:00:00.000Z\"}");
    ASSERT_INT_EQ(p4t_caps_decode(text, strlen(text), &d, reason, sizeof reason), 0);
    ASSERT_TRUE(p4t_caps_has_zstd(&d, 40000) && !p4t_caps_has_zstd(&d, 1));
    free(text);
    ASSERT_INT_EQ(p4t_caps_decode(later, strlen(later), &d, reason, sizeof reason), 0);
    ASSERT_TRUE(d.n_zstd == 1 && p4t_caps_has_zstd(&d, P4T_ZSTD_DICT_ID));
    ASSERT_INT_EQ(p4t_caps_decode(bad, strlen(bad), &d, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "zstd[0]: must be a dictionary id 1..4294967295");
    ASSERT_INT_EQ(p4t_caps_decode(none, strlen(none), &d, reason, sizeof reason), P4T_EINVAL);
    ASSERT_STR_EQ(reason, "zstd: missing");
}

int main(void)
{
    check_caps();
    check_roundtrip();
    check_refusals();
    check_dict_list();
    return check_done("test_topics_compress");
}
