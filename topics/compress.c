/* SPDX-License-Identifier: Apache-2.0 */
/* zstd payloads of contract revision 1.3 (README 6.10): one frame per message, made with a
 * dictionary shipped in this library, inflated only within declared and capped bounds. */
#include "p4t_zstd.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader, ZSTD_createCDict_advanced */
#include <zstd.h>

#include "p4embed.h"
#include "p4t.h"

/* topics/dict/p4-ID.zdict, compiled in by topics/CMakeLists.txt (common/embed.cmake). */
extern const struct p4_blob p4t_dict_blobs[];
extern const size_t p4t_dict_blobs_n;

/* A dictionary's id, from its file name "p4-ID.zdict". */
static uint32_t blob_id(const struct p4_blob *b)
{
    return (uint32_t)strtoul(b->name + 3, NULL, 10);
}

/* Levels, chosen on the generated sales of topics/dict (test_topics_wire_size prints the
 * figures): 19 on a live message (a few hundred bytes) costs ~0.15 ms; on a 500-sale backlog
 * batch (~215 KB) 17 costs ~30 ms (about 7 MB/s, far above any WAN it serves) for 59.5 bytes a
 * sale, where 15 gives 63 and 19 needs twice the time for 59. */
#define LEVEL_SMALL 19
#define LEVEL_BULK 17
/* The size hint each CDict is built for: it sizes the match tables (a few MB for the bulk
 * one), instead of level 19's tables for inputs of unknown size (~80 MB). */
#define HINT_BULK (256 * 1024)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static ZSTD_CDict *cdict_small, *cdict_bulk; /* for P4T_ZSTD_DICT_ID */
static ZSTD_DDict **ddicts;                   /* one per p4t_dict_blobs entry, same order */

/* Digests every dictionary once per process (ZSTD_CDict/ZSTD_DDict are read-only after
 * creation and shared by all threads). A failure leaves the pointers NULL: packing then
 * fails (the caller sends plain JSON) and unpacking refuses the frame. Never freed: they
 * live as long as the process, like the dictionaries compiled into it. */
static void init_dicts(void)
{
    ddicts = calloc(p4t_dict_blobs_n, sizeof *ddicts);
    for (size_t i = 0; ddicts && i < p4t_dict_blobs_n; i++) {
        const struct p4_blob *b = &p4t_dict_blobs[i];

        ddicts[i] = ZSTD_createDDict_advanced(b->data, b->len, ZSTD_dlm_byRef, ZSTD_dct_auto,
                                              ZSTD_defaultCMem);
        if (blob_id(b) != P4T_ZSTD_DICT_ID)
            continue;
        cdict_small = ZSTD_createCDict_advanced(
            b->data, b->len, ZSTD_dlm_byRef, ZSTD_dct_auto,
            ZSTD_getCParams(LEVEL_SMALL, P4T_ZSTD_SMALL, b->len), ZSTD_defaultCMem);
        cdict_bulk = ZSTD_createCDict_advanced(
            b->data, b->len, ZSTD_dlm_byRef, ZSTD_dct_auto,
            ZSTD_getCParams(LEVEL_BULK, HINT_BULK, b->len), ZSTD_defaultCMem);
    }
}

enum p4t_wire_format p4t_wire_format(const void *buf, size_t len)
{
    static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

    return len >= 4 && memcmp(buf, magic, 4) == 0 ? P4T_WIRE_ZSTD : P4T_WIRE_JSON;
}

static ssize_t dict_index(uint32_t id)
{
    for (size_t i = 0; i < p4t_dict_blobs_n; i++) {
        if (blob_id(&p4t_dict_blobs[i]) == id)
            return (ssize_t)i;
    }
    return -1;
}

uint32_t p4t_zstd_frame_dict(const void *buf, size_t len)
{
    return p4t_wire_format(buf, len) == P4T_WIRE_ZSTD ? ZSTD_getDictID_fromFrame(buf, len) : 0;
}

bool p4t_zstd_dict_known(uint32_t id)
{
    return dict_index(id) >= 0;
}

size_t p4t_zstd_dicts(uint32_t *ids, size_t max)
{
    size_t n = 0;

    for (; n < max && n < p4t_dict_blobs_n; n++)
        ids[n] = blob_id(&p4t_dict_blobs[n]);
    return n;
}

int p4t_zstd_dict_list(char *out, size_t out_len)
{
    size_t n = 0;
    int w;

    for (size_t i = 0; i <= p4t_dict_blobs_n; i++) {
        if (i == p4t_dict_blobs_n)
            w = snprintf(out + n, out_len - n, "]");
        else
            w = snprintf(out + n, out_len - n, "%s%u", i ? "," : "[",
                         blob_id(&p4t_dict_blobs[i]));
        if (w < 0 || (size_t)w >= out_len - n)
            return P4T_ETOOBIG;
        n += (size_t)w;
    }
    return P4T_OK;
}

int p4t_zstd_pack(const char *text, size_t len, char **out, size_t *out_len)
{
    ZSTD_CDict *cd;
    ZSTD_CCtx *cctx;
    size_t cap = ZSTD_compressBound(len), n;
    char *buf;

    *out = NULL;
    *out_len = 0;
    pthread_once(&once, init_dicts);
    cd = len <= P4T_ZSTD_SMALL ? cdict_small : cdict_bulk;
    if (!cd)
        return P4T_EINVAL;
    cctx = ZSTD_createCCtx();
    buf = malloc(cap);
    if (!cctx || !buf) {
        ZSTD_freeCCtx(cctx);
        free(buf);
        return P4T_ENOMEM;
    }
    /* The frame always says its content size and dictionary (the receiver's bounds and
     * choice of dictionary come from them) and carries a checksum (corruption is named as
     * such rather than surfacing as a JSON error). */
    if (ZSTD_isError(ZSTD_CCtx_refCDict(cctx, cd)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 1))) {
        n = (size_t)-1;
    } else {
        n = ZSTD_compress2(cctx, buf, cap, text, len);
    }
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n)) {
        free(buf);
        return P4T_EINVAL;
    }
    *out = buf;
    *out_len = n;
    return P4T_OK;
}

static int fail(int rc, char *reason, size_t reason_len, const char *fmt, ...)
{
    va_list ap;

    if (reason && reason_len) {
        va_start(ap, fmt);
        vsnprintf(reason, reason_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int p4t_zstd_unpack(const void *buf, size_t len, size_t max_len, char **out, size_t *out_len,
                    char *reason, size_t reason_len)
{
    ZSTD_frameHeader h;
    ZSTD_DCtx *dctx = NULL;
    size_t rc, frame_len;
    ssize_t di;
    char *dst = NULL;

    *out = NULL;
    *out_len = 0;
    if (p4t_wire_format(buf, len) != P4T_WIRE_ZSTD)
        return fail(P4T_EINVAL, reason, reason_len, "payload: not a zstd frame");
    rc = ZSTD_getFrameHeader(&h, buf, len);
    if (ZSTD_isError(rc))
        return fail(P4T_EINVAL, reason, reason_len, "payload: zstd frame header invalid (%s)",
                    ZSTD_getErrorName(rc));
    if (rc > 0)
        return fail(P4T_EINVAL, reason, reason_len, "payload: zstd frame header truncated");
    if (h.frameType != ZSTD_frame)
        return fail(P4T_EINVAL, reason, reason_len, "payload: zstd skippable frame");
    if (h.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN)
        return fail(P4T_EINVAL, reason, reason_len,
                    "payload: zstd frame does not declare its content size");
    if (h.frameContentSize > max_len)
        return fail(P4T_ETOOBIG, reason, reason_len,
                    "payload: zstd frame of %llu bytes, over the limit of %zu",
                    (unsigned long long)h.frameContentSize, max_len);
    if (h.windowSize > ((unsigned long long)1 << P4T_ZSTD_WINDOW_LOG_MAX))
        return fail(P4T_EINVAL, reason, reason_len,
                    "payload: zstd window of %llu bytes, over the limit of %llu",
                    (unsigned long long)h.windowSize,
                    (unsigned long long)1 << P4T_ZSTD_WINDOW_LOG_MAX);
    if (h.dictID == 0)
        return fail(P4T_EINVAL, reason, reason_len, "payload: zstd frame names no dictionary");
    di = dict_index(h.dictID);
    if (di < 0)
        return fail(P4T_EINVAL, reason, reason_len,
                    "payload: zstd dictionary %u is not known here", h.dictID);
    frame_len = ZSTD_findFrameCompressedSize(buf, len);
    if (ZSTD_isError(frame_len))
        return fail(P4T_EINVAL, reason, reason_len, "payload: zstd frame truncated or corrupt");
    if (frame_len != len)
        return fail(P4T_EINVAL, reason, reason_len,
                    "payload: %zu bytes after the zstd frame", len - frame_len);
    pthread_once(&once, init_dicts);
    if (!ddicts || !ddicts[di])
        return fail(P4T_ENOMEM, reason, reason_len, "payload: zstd dictionary unavailable");
    dctx = ZSTD_createDCtx();
    dst = malloc((size_t)h.frameContentSize + 1);
    if (!dctx || !dst) {
        ZSTD_freeDCtx(dctx);
        free(dst);
        return fail(P4T_ENOMEM, reason, reason_len, "payload: out of memory");
    }
    /* The output buffer is exactly the declared size: a frame whose blocks inflate to more
     * fails with dstSize_tooSmall instead of writing past it; the window limit caps the
     * decoder's own buffer. */
    rc = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, P4T_ZSTD_WINDOW_LOG_MAX);
    if (!ZSTD_isError(rc))
        rc = ZSTD_DCtx_refDDict(dctx, ddicts[di]);
    if (!ZSTD_isError(rc))
        rc = ZSTD_decompressDCtx(dctx, dst, (size_t)h.frameContentSize, buf, len);
    ZSTD_freeDCtx(dctx);
    if (ZSTD_isError(rc) || rc != h.frameContentSize) {
        free(dst);
        if (ZSTD_isError(rc))
            return fail(P4T_EINVAL, reason, reason_len, "payload: zstd frame corrupt (%s)",
                        ZSTD_getErrorName(rc));
        return fail(P4T_EINVAL, reason, reason_len,
                    "payload: zstd frame inflated to %zu bytes, not the %llu it declares", rc,
                    (unsigned long long)h.frameContentSize);
    }
    dst[rc] = '\0';
    *out = dst;
    *out_len = rc;
    return P4T_OK;
}
