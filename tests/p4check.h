/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal assertions for the gateway and terminal-shim unit tests: report file:line and keep
 * counting. */
#ifndef P4_CHECK_H
#define P4_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_INT(a, b)                                                                 \
    do {                                                                                \
        long long a_ = (long long)(a), b_ = (long long)(b);                             \
        if (a_ != b_) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
                    __LINE__, #a, #b, a_, b_);                                          \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_STR(a, b)                                                                 \
    do {                                                                                \
        const char *a_ = (a), *b_ = (b);                                                \
        if (strcmp(a_, b_) != 0) {                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",       \
                    __FILE__, __LINE__, #a, #b, a_, b_);                                \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                     \
    do {                                                                                \
        const char *h_ = (hay), *n_ = (needle);                                         \
        if (!strstr(h_, n_)) {                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n", __FILE__,  \
                    __LINE__, h_, n_);                                                  \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_DONE()                                                                    \
    do {                                                                                \
        if (check_failures) {                                                           \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                   \
            return 1;                                                                   \
        }                                                                               \
        printf("all checks passed\n");                                                  \
        return 0;                                                                       \
    } while (0)

/* A fresh temporary directory for one test's files; removed by tmpdir_remove(). */
static inline void tmpdir_make(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/p4shim-test-XXXXXX");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
}

static inline void tmpdir_remove(const char *dir)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* The fixture directory (P4_TEST_DATA is set by p4_c_test to this source dir). */
static inline const char *fixture_dir(void)
{
    const char *d = getenv("P4_TEST_DATA");
    return d ? d : ".";
}

#endif
