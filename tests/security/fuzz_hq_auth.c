/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz entry for p4hq's login path (hq/auth.c): bearer tokens against the configured PBKDF2
 * hashes, signed session cookies, the login form's token field; plus a mutation smoke run over
 * the fixtures when built as a plain test. The first input byte picks the check. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dash.h"
#include "p4common.h"

#define ADMIN "admin-token-for-the-fuzzer-0001"
#define VIEWER "viewer-token-for-the-fuzzer-001"
/* PBKDF2-HMAC-SHA256 of ADMIN and VIEWER, 1000 iterations (the fewest auth.c takes). */
#define ADMIN_HASH "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
#define VIEWER_HASH "pbkdf2-sha256$1000$0f0e0d0c0b0a09080706050403020100$"

static struct auth *auth;

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_hq_auth: broken promise: %s\n", what);
        abort();
    }
}

/* The configuration's hash lines are computed here once, so the fixture tokens are valid. */
static void setup(void)
{
    static struct p4hq_config cfg;
    unsigned char salt_a[16], salt_v[16], out[32];
    char hex[65];

    if (auth)
        return;
    for (int i = 0; i < 16; i++) {
        salt_a[i] = (unsigned char)i;
        salt_v[i] = (unsigned char)(15 - i);
    }
    PKCS5_PBKDF2_HMAC(ADMIN, (int)strlen(ADMIN), salt_a, 16, 1000, EVP_sha256(), 32, out);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", out[i]);
    snprintf(cfg.admin_token_hash, sizeof cfg.admin_token_hash, "%s%s", ADMIN_HASH, hex);
    PKCS5_PBKDF2_HMAC(VIEWER, (int)strlen(VIEWER), salt_v, 16, 1000, EVP_sha256(), 32, out);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", out[i]);
    snprintf(cfg.viewer_token_hash, sizeof cfg.viewer_token_hash, "%s%s", VIEWER_HASH, hex);
    cfg.session_hours = 1;
    must(auth_new(&auth, &cfg) == 0, "auth_new");
    must(auth_token(auth, ADMIN, strlen(ADMIN)) == ROLE_ADMIN, "the admin token");
    must(auth_token(auth, VIEWER, strlen(VIEWER)) == ROLE_VIEWER, "the viewer token");
}

static enum role expected(const char *s, size_t n)
{
    if (n == strlen(ADMIN) && memcmp(s, ADMIN, n) == 0)
        return ROLE_ADMIN;
    if (n == strlen(VIEWER) && memcmp(s, VIEWER, n) == 0)
        return ROLE_VIEWER;
    return ROLE_NONE;
}

static void one(const uint8_t *data, size_t size)
{
    char *s;
    size_t n;

    setup();
    if (size == 0)
        return;
    n = size - 1;
    s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, data + 1, n);
    s[n] = '\0';
    switch (data[0] % 4) {
    case 0: /* a bearer token, any bytes */
        must(auth_token(auth, s, n) == expected(s, n), "a token grants exactly its role");
        break;
    case 1: /* a cookie value: none was made with this key, so none is valid */
        must(auth_cookie_check(auth, s) == ROLE_NONE, "a forged cookie is refused");
        break;
    case 2: { /* the login form */
        char token[AUTH_TOKEN_MAX + 1];
        int got = auth_form_field(s, "token", token, sizeof token);

        must(got < (int)sizeof token, "the field fits its buffer");
        if (got > 0) {
            must(strlen(token) <= (size_t)got, "the length returned");
            must(auth_token(auth, token, (size_t)got) == expected(token, (size_t)got),
                 "a form token grants exactly its role");
        }
        break;
    }
    default: { /* a real cookie, then the input's bytes written over it */
        enum role r = n && (data[1] & 1) ? ROLE_ADMIN : ROLE_VIEWER;
        char cookie[AUTH_COOKIE_MAX], tampered[AUTH_COOKIE_MAX];
        size_t len;

        auth_cookie_make(auth, r, cookie);
        must(auth_cookie_check(auth, cookie) == r, "a cookie made here is valid");
        len = strlen(cookie);
        memcpy(tampered, cookie, len + 1);
        for (size_t i = 1; i < n && i < len; i++)
            tampered[(i * 7) % len] = s[i] ? s[i] : 'x';
        if (strcmp(tampered, cookie) != 0)
            must(auth_cookie_check(auth, tampered) == ROLE_NONE, "a tampered cookie fails");
        break;
    }
    }
    free(s);
}

#ifdef P4_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    return 0;
}
#else
int main(void)
{
    const char *root = getenv("P4_TEST_DATA");
    char dir[4096];
    struct dirent *e;
    unsigned long runs = 0;
    unsigned seed = 777;
    DIR *d;

    snprintf(dir, sizeof dir, "%s/fixtures/hq_auth", root ? root : ".");
    d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_hq_auth: cannot open %s\n", dir);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        char file[8192], *buf = NULL;
        size_t len = 0;

        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        if (p4_read_file(file, 1 << 16, &buf, &len) != 0)
            continue;
        one((const uint8_t *)buf, len);
        runs++;
        for (size_t cut = 1; cut < len; cut += 3, runs++)
            one((const uint8_t *)buf, cut);
        for (int i = 0; i < 300 && len > 1; i++, runs++) {
            char *m = malloc(len);

            if (!m)
                abort();
            memcpy(m, buf, len);
            seed = seed * 1103515245u + 12345u;
            m[1 + (seed >> 8) % (len - 1)] = (char)(seed >> 24);
            one((const uint8_t *)m, len);
            free(m);
        }
        free(buf);
    }
    closedir(d);
    auth_free(auth);
    printf("fuzz_hq_auth smoke: %lu inputs, no broken promise\n", runs);
    return runs > 0 ? 0 : 1;
}
#endif
