/* SPDX-License-Identifier: Apache-2.0 */
/* Tiny assertion macros and the fixture-table runner shared by the libp4topics unit tests. */
#ifndef P4_TOPICS_CHECK_H
#define P4_TOPICS_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p4t.h"

static int check_failures;
static int check_count;

#define CHECK_FAIL(...)                                                                        \
    do {                                                                                       \
        check_failures++;                                                                      \
        fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                                  \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
    } while (0)

#define ASSERT_TRUE(c)                                                                         \
    do {                                                                                       \
        check_count++;                                                                         \
        if (!(c))                                                                              \
            CHECK_FAIL("%s", #c);                                                              \
    } while (0)

#define ASSERT_INT_EQ(a, b)                                                                    \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        check_count++;                                                                         \
        if (a_ != b_)                                                                          \
            CHECK_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                              \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                    \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        check_count++;                                                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                 \
            CHECK_FAIL("%s == %s:\n  got  \"%s\"\n  want \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                       b_ ? b_ : "(null)");                                                    \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                           \
    do {                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                \
        check_count++;                                                                         \
        if (!h_ || !strstr(h_, n_))                                                            \
            CHECK_FAIL("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);              \
    } while (0)

/* Ends a test program: prints a summary and returns its exit status. */
static inline int check_done(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* Reads fixtures/NAME under $P4_TEST_DATA into a malloc'd NUL-terminated buffer. Aborts the
 * test when the file cannot be read: a missing fixture is a broken test, not a pass. */
static inline char *fixture_read(const char *name, size_t *len)
{
    const char *dir = getenv("P4_TEST_DATA");
    char path[1024];
    FILE *f;
    long size;
    char *buf;

    snprintf(path, sizeof path, "%s/fixtures/%s", dir ? dir : ".", name);
    f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "cannot read fixture %s: %s\n", path, strerror(errno));
        exit(2);
    }
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read fixture %s\n", path);
        exit(2);
    }
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* Decodes BUF and, on success, re-encodes it into *TEXT (malloc'd; NULL on failure). */
typedef int (*codec_roundtrip_fn)(const char *buf, size_t len, char **text, char *reason,
                                  size_t reason_len);

static inline char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* Runs every row of fixtures/cases.txt whose codec is CODEC through FN (see cases.txt for the
 * expectations). Returns the number of rows run, so a test can insist it ran some. */
static inline int run_cases(const char *codec, codec_roundtrip_fn fn)
{
    size_t table_len;
    char *table = fixture_read("cases.txt", &table_len);
    char *save = NULL, *line;
    int rows = 0;

    for (line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c = line, *file, *expect, *buf, *text = NULL, reason[P4T_REASON_MAX];
        size_t len;
        int rc;

        if (line[0] == '#')
            continue;
        file = strchr(c, '|');
        if (!file)
            continue;
        *file++ = '\0';
        expect = strchr(file, '|');
        if (!expect)
            continue;
        *expect++ = '\0';
        c = trim(c);
        file = trim(file);
        expect = trim(expect);
        if (strcmp(c, codec) != 0)
            continue;
        rows++;
        buf = fixture_read(file, &len);
        memset(reason, 'x', sizeof reason);
        rc = fn(buf, len, &text, reason, sizeof reason);
        check_count++;
        if (strcmp(expect, "ok") == 0 || strcmp(expect, "accept") == 0) {
            if (rc != 0) {
                CHECK_FAIL("%s: rejected (%d): %s", file, rc, reason);
            } else if (!text) {
                CHECK_FAIL("%s: accepted but not re-encoded", file);
            } else if (strcmp(expect, "ok") == 0 && strcmp(text, trim(buf)) != 0) {
                CHECK_FAIL("%s: re-encoded differently:\n  got  %s\n  want %s", file, text,
                           buf);
            }
        } else {
            int want_rc = P4T_EINVAL;
            if (strncmp(expect, "toobig:", 7) == 0) {
                want_rc = P4T_ETOOBIG;
                expect = trim(expect + 7);
            }
            if (rc != want_rc)
                CHECK_FAIL("%s: rc %d, want %d (reason \"%s\")", file, rc, want_rc,
                           rc ? reason : "");
            else if (!strstr(reason, expect))
                CHECK_FAIL("%s: reason \"%s\" lacks \"%s\"", file, reason, expect);
            if (text)
                CHECK_FAIL("%s: rejected but produced output", file);
        }
        free(text);
        free(buf);
    }
    free(table);
    return rows;
}

#endif
