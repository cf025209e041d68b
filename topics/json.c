/* SPDX-License-Identifier: Apache-2.0 */
/* Strict JSON reading for the v1 codecs: integers only, known keys once, bounded strings. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4t_json.h"

size_t jx_strnlen(const char *s, size_t cap)
{
    const char *nul = memchr(s, '\0', cap);
    return nul ? (size_t)(nul - s) : cap;
}

int jx_fail(struct jx *j, const char *key, const char *fmt, ...)
{
    char msg[P4T_REASON_MAX];
    va_list ap;
    char *p;

    if (!j->reason || j->reason_len == 0)
        return P4T_EINVAL;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->path[0] && key)
        snprintf(j->reason, j->reason_len, "%s.%s: %s", j->path, key, msg);
    else if (j->path[0])
        snprintf(j->reason, j->reason_len, "%s: %s", j->path, msg);
    else
        snprintf(j->reason, j->reason_len, "%s: %s", key ? key : "payload", msg);
    /* Reasons travel back in acks and into logs; a key name from the payload could carry
     * control bytes or broken UTF-8, so reasons are kept to printable ASCII. */
    for (p = j->reason; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    }
    return P4T_EINVAL;
}

void jx_path(struct jx *j, const char *parent_path, const char *key, long i)
{
    char tmp[64];
    int n;

    /* PARENT_PATH may be J->path itself. A path longer than the buffer is cut short, which
     * only shortens a reason; v1 paths are at most "items[499].value". */
    n = snprintf(tmp, sizeof tmp, "%s", parent_path);
    if (key)
        n = snprintf(j->path, sizeof j->path, "%s%s%s", tmp, tmp[0] ? "." : "", key);
    else
        n = snprintf(j->path, sizeof j->path, "%s[%ld]", tmp, i);
    (void)n;
}

/* Finds the first number in TEXT written with a fraction, an exponent or a leading zero.
 * cJSON hands numbers over as doubles, so "2.0" and "2e0" would otherwise pass as 2; a v1
 * number is an integer in its text too. TEXT is known to be valid JSON. Returns the offset of
 * the offending number or -1. */
static long scan_non_integers(const char *text, size_t len, size_t *tok_len)
{
    size_t i = 0;

    while (i < len) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                if (text[i] == '\\')
                    i++;
            }
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i, digits;
            bool bad = false;
            if (c == '-')
                i++;
            digits = i;
            while (i < len && text[i] >= '0' && text[i] <= '9')
                i++;
            if (i - digits > 1 && text[digits] == '0')
                bad = true;
            while (i < len && (text[i] == '.' || text[i] == 'e' || text[i] == 'E' ||
                               text[i] == '+' || text[i] == '-' ||
                               (text[i] >= '0' && text[i] <= '9'))) {
                bad = true;
                i++;
            }
            if (bad) {
                *tok_len = i - start;
                return (long)start;
            }
            continue;
        }
        i++;
    }
    return -1;
}

/* True when TEXT ends inside a string or an open object/array: the usual shape of a payload
 * cut short, worth naming as such in the reason. */
static bool looks_truncated(const char *text, size_t len)
{
    size_t i;
    long depth = 0;
    bool in_string = false;

    for (i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return in_string || depth > 0;
}

int jx_parse(struct jx *j, const char *buf, size_t len, size_t max_len, cJSON **root)
{
    int rc = P4T_OK;
    char *copy = NULL;
    const char *end = NULL;
    cJSON *doc = NULL;

    *root = NULL;
    if (len > max_len) {
        jx_fail(j, NULL, "%zu bytes, over the limit of %zu", len, max_len);
        rc = P4T_ETOOBIG;
        goto out;
    }
    if (!buf || len == 0) {
        rc = jx_fail(j, NULL, "empty");
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        rc = jx_fail(j, NULL, "contains a NUL byte");
        goto out;
    }
    /* A private NUL-terminated copy lets cJSON insist that nothing follows the object. */
    copy = malloc(len + 1);
    if (!copy) {
        rc = P4T_ENOMEM;
        goto out;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';
    j->text = copy;
    j->text_len = len;
    doc = cJSON_ParseWithOpts(copy, &end, 1);
    if (!doc) {
        if (looks_truncated(copy, len))
            rc = jx_fail(j, NULL, "not valid JSON (truncated)");
        else
            rc = jx_fail(j, NULL, "not valid JSON (near byte %ld)",
                         end ? (long)(end - copy) : 0L);
        goto out;
    }
    if (!cJSON_IsObject(doc)) {
        rc = jx_fail(j, NULL, "must be a JSON object");
        goto out;
    }
    *root = doc;
    doc = NULL;
out:
    cJSON_Delete(doc);
    return rc;
}

int jx_finish(struct jx *j, int rc)
{
    long bad_at;
    size_t tok_len = 0;

    if (rc == P4T_OK && j->text) {
        bad_at = scan_non_integers(j->text, j->text_len, &tok_len);
        if (bad_at >= 0)
            rc = jx_fail(j, NULL, "number \"%.*s\" at byte %ld: numbers must be integers "
                                  "(no fraction, exponent or leading zero)",
                         (int)(tok_len > 24 ? 24 : tok_len), j->text + bad_at, bad_at);
    }
    free(j->text);
    j->text = NULL;
    j->text_len = 0;
    return rc;
}

int jx_keys(struct jx *j, const cJSON *obj, const char *const *allowed)
{
    const cJSON *it, *prev;

    for (it = obj->child; it; it = it->next) {
        size_t k;
        bool known = false;
        for (k = 0; allowed[k]; k++) {
            if (strcmp(it->string, allowed[k]) == 0) {
                known = true;
                break;
            }
        }
        if (!known)
            return jx_fail(j, it->string, "unknown field");
        /* Objects here have a handful of keys; a quadratic check is the simple choice. */
        for (prev = obj->child; prev != it; prev = prev->next) {
            if (strcmp(prev->string, it->string) == 0)
                return jx_fail(j, it->string, "duplicate field");
        }
    }
    return P4T_OK;
}

int jx_int(struct jx *j, const cJSON *obj, const char *key, bool required, int64_t min,
           int64_t max, int64_t def, int64_t *out, bool *present)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    double v;
    int64_t iv;

    *out = def;
    if (present)
        *present = it != NULL;
    if (!it) {
        if (required)
            return jx_fail(j, key, "missing");
        return P4T_OK;
    }
    if (!cJSON_IsNumber(it))
        return jx_fail(j, key, "must be an integer");
    v = it->valuedouble;
    /* Range first: the cast below is only defined for values an int64_t can hold. */
    if (!(v >= -(double)JX_INT_MAX && v <= (double)JX_INT_MAX))
        return jx_fail(j, key, "out of range %" PRId64 "..%" PRId64, min, max);
    iv = (int64_t)v;
    if ((double)iv != v)
        return jx_fail(j, key, "must be an integer (no fraction)");
    if (iv < min || iv > max)
        return jx_fail(j, key, "%" PRId64 " is out of range %" PRId64 "..%" PRId64, iv, min,
                       max);
    *out = iv;
    return P4T_OK;
}

/* Validates UTF-8 and refuses control characters, so a reason or message prints safely. */
static const char *text_check(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n, k;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return "must not contain control characters";
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return "must be valid UTF-8";
        }
        if (i + n >= len)
            return "must be valid UTF-8";
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return "must be valid UTF-8";
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || (cp >= 0x80 && cp < 0xa0))
            return "must be valid UTF-8 without control characters";
        i += n + 1;
    }
    return NULL;
}

const char *jx_charset_check(const char *s, size_t len, enum jx_charset charset)
{
    size_t i;

    switch (charset) {
    case JX_ID:
    case JX_STORE:
        if (len == 0 || len > P4T_ID_MAX)
            return "must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]";
        for (i = 0; i < len; i++) {
            char c = s[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      (i > 0 && (c == '_' || c == '-'));
            if (!ok)
                return "must be 1..32 characters [a-z0-9_-] starting with [a-z0-9]";
        }
        return NULL;
    case JX_UUID:
        if (len != 36)
            return "must be a canonical lowercase UUID (36 characters)";
        for (i = 0; i < len; i++) {
            char c = s[i];
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            bool ok = dash ? c == '-' : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
            if (!ok)
                return "must be a canonical lowercase UUID (36 characters)";
        }
        return NULL;
    case JX_PRINTABLE:
        for (i = 0; i < len; i++) {
            if (s[i] < 0x21 || s[i] > 0x7e)
                return "must be printable ASCII without spaces (0x21..0x7e)";
        }
        return NULL;
    case JX_TENDER:
    case JX_KIND:
        for (i = 0; i < len; i++) {
            char c = s[i];
            bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
                      (charset == JX_TENDER && c >= '0' && c <= '9');
            if (!ok)
                return charset == JX_TENDER ? "must be [a-z0-9_]" : "must be [a-z_]";
        }
        return NULL;
    case JX_TEXT:
        return text_check((const unsigned char *)s, len);
    case JX_TS: {
        int64_t ms;
        char tmp[P4T_TS_LEN];
        if (len != P4T_TS_LEN - 1)
            return "must be YYYY-MM-DDTHH:MM:SS.mmmZ (UTC, milliseconds)";
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        if (p4t_ts_parse(tmp, &ms))
            return "must be a real date and time as YYYY-MM-DDTHH:MM:SS.mmmZ";
        return NULL;
    }
    }
    return "unknown character set";
}

int jx_str(struct jx *j, const cJSON *obj, const char *key, bool required, size_t min_len,
           enum jx_charset charset, char *out, size_t out_len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *why;
    size_t len;

    out[0] = '\0';
    if (!it) {
        if (required)
            return jx_fail(j, key, "missing");
        return P4T_OK;
    }
    if (!cJSON_IsString(it) || !it->valuestring)
        return jx_fail(j, key, "must be a string");
    len = strlen(it->valuestring);
    if (len < min_len)
        return jx_fail(j, key, min_len == 1 ? "must not be empty" : "too short");
    if (len >= out_len)
        return jx_fail(j, key, "longer than %zu bytes", out_len - 1);
    why = jx_charset_check(it->valuestring, len, charset);
    if (why)
        return jx_fail(j, key, "%s", why);
    memcpy(out, it->valuestring, len + 1);
    return P4T_OK;
}

int jx_bool(struct jx *j, const cJSON *obj, const char *key, bool *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = false;
    if (!it)
        return jx_fail(j, key, "missing");
    if (!cJSON_IsBool(it))
        return jx_fail(j, key, "must be true or false");
    *out = cJSON_IsTrue(it);
    return P4T_OK;
}

int jx_member(struct jx *j, const cJSON *obj, const char *key, bool required, int type,
              const cJSON **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = NULL;
    if (!it) {
        if (required)
            return jx_fail(j, key, "missing");
        return P4T_OK;
    }
    if ((it->type & 0xff) != type)
        return jx_fail(j, key, type == cJSON_Array ? "must be an array" : "must be an object");
    *out = it;
    return P4T_OK;
}

int jx_add_int(cJSON *obj, const char *key, int64_t v)
{
    char digits[24];

    snprintf(digits, sizeof digits, "%" PRId64, v);
    return cJSON_AddRawToObject(obj, key, digits) ? P4T_OK : P4T_ENOMEM;
}

int jx_add_str(cJSON *obj, const char *key, const char *v, size_t cap)
{
    if (jx_strnlen(v, cap) == cap)
        return P4T_EINVAL;
    return cJSON_AddStringToObject(obj, key, v) ? P4T_OK : P4T_ENOMEM;
}

/* cJSON prints numbers through a double with "%1.15g", so 1000000000000000 would come out as
 * "1e+15", which the contract's own decoders reject. Decoded numbers are integers of at most
 * 2^53 - 1 (enforced on input), so each is turned into raw digits before printing. */
static int integers_to_raw(cJSON *node)
{
    for (; node; node = node->next) {
        if ((node->type & 0xff) == cJSON_Number) {
            char digits[24];
            double d = node->valuedouble;

            if (d != d || d > 9007199254740991.0 || d < -9007199254740991.0 ||
                (double)(int64_t)d != d)
                continue; /* not an integer: leave cJSON's text */
            snprintf(digits, sizeof digits, "%" PRId64, (int64_t)d);
            node->valuestring = strdup(digits);
            if (!node->valuestring)
                return P4T_ENOMEM;
            node->type = cJSON_Raw | (node->type & cJSON_StringIsConst);
        } else if (node->child && integers_to_raw(node->child) != P4T_OK) {
            return P4T_ENOMEM;
        }
    }
    return P4T_OK;
}

int jx_print(const cJSON *root, char **out)
{
    *out = cJSON_PrintUnformatted(root);
    return *out ? P4T_OK : P4T_ENOMEM;
}

int jx_print_value(cJSON *value, char **out)
{
    *out = NULL;
    if (integers_to_raw(value->child) != P4T_OK)
        return P4T_ENOMEM;
    *out = cJSON_PrintUnformatted(value);
    return *out ? P4T_OK : P4T_ENOMEM;
}

int jx_ts(struct jx *j, const cJSON *obj, const char *key, bool required, int64_t *ms,
          bool *present)
{
    char text[P4T_TS_LEN];
    int rc;

    *ms = 0;
    if (present)
        *present = false;
    rc = jx_str(j, obj, key, required, 1, JX_TS, text, sizeof text);
    if (rc || !text[0])
        return rc;
    if (p4t_ts_parse(text, ms))
        return jx_fail(j, key, "must be a real date and time as YYYY-MM-DDTHH:MM:SS.mmmZ");
    if (present)
        *present = true;
    return P4T_OK;
}

int jx_add_ts(cJSON *obj, const char *key, int64_t ms)
{
    char text[P4T_TS_LEN];

    if (p4t_ts_format(ms, text))
        return P4T_EINVAL;
    return cJSON_AddStringToObject(obj, key, text) ? P4T_OK : P4T_ENOMEM;
}

int jx_enum(struct jx *j, const cJSON *obj, const char *key, const char *const *names,
            size_t n, const char *why, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    size_t i;

    *out = 0;
    if (!it)
        return jx_fail(j, key, "missing");
    if (!cJSON_IsString(it) || !it->valuestring)
        return jx_fail(j, key, "must be a string");
    for (i = 0; i < n; i++) {
        if (strcmp(it->valuestring, names[i]) == 0) {
            *out = (int)i;
            return P4T_OK;
        }
    }
    return jx_fail(j, key, "%s", why);
}

int jx_decode_with(const char *buf, size_t len, size_t max_len, jx_read_fn read, void *arg,
                   char *reason, size_t reason_len)
{
    struct jx j = {.reason = reason, .reason_len = reason_len};
    cJSON *root = NULL;
    int rc;

    if (reason && reason_len)
        reason[0] = '\0';
    rc = jx_parse(&j, buf, len, max_len, &root);
    if (!rc)
        rc = read(&j, root, arg);
    rc = jx_finish(&j, rc);
    cJSON_Delete(root);
    return rc;
}

int jx_decode(const char *buf, size_t len, size_t max_len, jx_read_fn read, void *out,
              size_t out_size, char *reason, size_t reason_len)
{
    int rc;

    memset(out, 0, out_size);
    rc = jx_decode_with(buf, len, max_len, read, out, reason, reason_len);
    if (rc)
        memset(out, 0, out_size);
    return rc;
}

int jx_encode(cJSON *root, int rc, jx_check_fn check, size_t scratch_size, const void *arg,
              char **out)
{
    char *text = NULL;
    void *scratch = NULL;

    *out = NULL;
    if (rc)
        goto out;
    rc = jx_print(root, &text);
    if (rc)
        goto out;
    scratch = calloc(1, scratch_size);
    if (!scratch) {
        rc = P4T_ENOMEM;
        goto out;
    }
    rc = check(text, strlen(text), scratch, arg);
    if (rc)
        goto out;
    *out = text;
    text = NULL;
out:
    free(scratch);
    free(text);
    cJSON_Delete(root);
    return rc;
}

cJSON *jx_append_object(cJSON *arr)
{
    cJSON *obj = cJSON_CreateObject();

    if (obj && !cJSON_AddItemToArray(arr, obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}
