/* SPDX-License-Identifier: Apache-2.0 */
/* Who may read the dashboard and the API: viewer and admin tokens checked against PBKDF2
 * hashes from the configuration, and the signed login cookie that stands for a token. */
#include "dash.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "p4common.h"

#define HASH_PREFIX "pbkdf2-sha256$"
#define KDF_ITER_MIN 1000           /* tests use few; p4hq --hash-token writes KDF_ITER_NEW */
#define KDF_ITER_MAX 10000000
#define KDF_ITER_NEW 600000         /* OWASP's 2023 figure for PBKDF2-HMAC-SHA256 */
#define KDF_SALT_MAX 64
#define KDF_OUT 32
#define CACHE_N 32                  /* tokens that passed, remembered by digest */
#define CACHE_TTL_S 600

struct token_hash {
    bool set;
    unsigned iter;
    unsigned char salt[KDF_SALT_MAX];
    size_t salt_len;
    unsigned char hash[KDF_OUT];
};

struct cached {
    unsigned char digest[32];
    enum role role;
    time_t until;
};

struct auth {
    struct token_hash viewer, admin;
    char viewer_fp[AUTH_FP_LEN], admin_fp[AUTH_FP_LEN];
    unsigned char key[32];          /* HMAC key of the login cookie */
    int session_s;
    pthread_mutex_t kdf_mu;         /* one KDF at a time */
    pthread_mutex_t cache_mu;
    struct cached cache[CACHE_N];
    size_t cache_next;
};

const char *role_name(enum role r)
{
    return r == ROLE_ADMIN ? "admin" : r == ROLE_VIEWER ? "viewer" : "none";
}

int auth_session_s(const struct auth *a)
{
    return a->session_s;
}

static int unhex(const char *s, size_t n, unsigned char *out, size_t out_max, size_t *out_len)
{
    if (n % 2 || n / 2 > out_max || n == 0)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;

        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + (size_t)j];

            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    *out_len = n / 2;
    return 0;
}

static void tohex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int parse_hash(const char *s, struct token_hash *h, char *why, size_t why_len)
{
    const char *p = s, *salt, *hash;
    char *end;
    unsigned long iter;
    size_t n;

    memset(h, 0, sizeof *h);
    if (strncmp(p, HASH_PREFIX, strlen(HASH_PREFIX)) != 0) {
        snprintf(why, why_len, "must look like pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX "
                               "(p4hq --hash-token)");
        return P4HQ_EINVAL;
    }
    p += strlen(HASH_PREFIX);
    errno = 0;
    iter = strtoul(p, &end, 10);
    if (errno || end == p || *end != '$' || iter < KDF_ITER_MIN || iter > KDF_ITER_MAX) {
        snprintf(why, why_len, "iterations must be %d..%d", KDF_ITER_MIN, KDF_ITER_MAX);
        return P4HQ_EINVAL;
    }
    salt = end + 1;
    hash = strchr(salt, '$');
    if (!hash || unhex(salt, (size_t)(hash - salt), h->salt, sizeof h->salt, &h->salt_len) ||
        h->salt_len < 8) {
        snprintf(why, why_len, "salt must be 16..%d hex digits", 2 * KDF_SALT_MAX);
        return P4HQ_EINVAL;
    }
    hash++;
    if (unhex(hash, strlen(hash), h->hash, sizeof h->hash, &n) || n != KDF_OUT) {
        snprintf(why, why_len, "hash must be %d hex digits", 2 * KDF_OUT);
        return P4HQ_EINVAL;
    }
    h->iter = (unsigned)iter;
    h->set = true;
    return P4HQ_OK;
}

/* "sha256:" and the first 8 bytes of SHA-256 over the configured hash line: tells which token
 * was used (and changes when it is rotated) without anything a guess could be checked on. */
static void fingerprint(const char *hash_line, char out[AUTH_FP_LEN])
{
    unsigned char d[32];
    char hex[17];

    out[0] = '\0';
    if (!hash_line[0])
        return;
    EVP_Digest(hash_line, strlen(hash_line), d, NULL, EVP_sha256(), NULL);
    tohex(d, 8, hex);
    snprintf(out, AUTH_FP_LEN, "sha256:%s", hex);
}

const char *auth_fingerprint(const struct auth *a, enum role role)
{
    return role == ROLE_ADMIN ? a->admin_fp : role == ROLE_VIEWER ? a->viewer_fp : "";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int auth_form_field(const char *body, const char *name, char *out, size_t out_len)
{
    size_t nlen = strlen(name), o = 0;
    const char *p = body;

    while (p && *p) {
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            for (p += nlen + 1; *p && *p != '&'; p++) {
                int c = (unsigned char)*p;

                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

                    if (lo < 0)
                        return -1;
                    c = hi * 16 + lo;
                    p += 2;
                }
                if (o + 1 >= out_len)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return (int)o;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return -1;
}

int auth_hash_valid(const char *hash, char *why, size_t why_len)
{
    struct token_hash h;

    return parse_hash(hash, &h, why, why_len);
}

int auth_new(struct auth **out, const struct p4hq_config *cfg)
{
    struct auth *a = calloc(1, sizeof *a);
    char why[128];

    *out = NULL;
    if (!a)
        return P4HQ_ENOMEM;
    if ((cfg->viewer_token_hash[0] &&
         parse_hash(cfg->viewer_token_hash, &a->viewer, why, sizeof why)) ||
        (cfg->admin_token_hash[0] &&
         parse_hash(cfg->admin_token_hash, &a->admin, why, sizeof why))) {
        p4_error("http not started reason=\"token hash: %s\"", why);
        free(a);
        return P4HQ_EINVAL;
    }
    if (cfg->session_key_file[0]) {
        char secret[256];
        int rc = p4_read_secret(cfg->session_key_file, secret, sizeof secret);

        if (rc || strlen(secret) < 32) {
            p4_error("http not started reason=\"[http] session_key_file %s: %s\"",
                     cfg->session_key_file, rc ? "unreadable" : "shorter than 32 characters");
            p4_memzero(secret, sizeof secret);
            free(a);
            return P4HQ_EINVAL;
        }
        /* The file's text itself is not the key: hash it to a fixed size. */
        EVP_Digest(secret, strlen(secret), a->key, NULL, EVP_sha256(), NULL);
        p4_memzero(secret, sizeof secret);
    } else if (RAND_bytes(a->key, sizeof a->key) != 1) {
        free(a);
        return P4HQ_EIO;
    }
    fingerprint(cfg->viewer_token_hash, a->viewer_fp);
    fingerprint(cfg->admin_token_hash, a->admin_fp);
    if (!a->viewer.set && !a->admin.set)
        p4_warn("http: no [http] viewer_token_hash or admin_token_hash: only /healthz answers");
    a->session_s = cfg->session_hours * 3600;
    pthread_mutex_init(&a->kdf_mu, NULL);
    pthread_mutex_init(&a->cache_mu, NULL);
    *out = a;
    return P4HQ_OK;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->kdf_mu);
    pthread_mutex_destroy(&a->cache_mu);
    p4_memzero(a, sizeof *a);
    free(a);
}

static bool kdf_matches(const struct token_hash *h, const char *token, size_t len)
{
    unsigned char got[KDF_OUT];
    bool ok;

    if (!h->set)
        return false;
    if (PKCS5_PBKDF2_HMAC(token, (int)len, h->salt, (int)h->salt_len, (int)h->iter,
                          EVP_sha256(), sizeof got, got) != 1)
        return false;
    ok = CRYPTO_memcmp(got, h->hash, sizeof got) == 0;
    p4_memzero(got, sizeof got);
    return ok;
}

enum role auth_token(struct auth *a, const char *token, size_t len)
{
    unsigned char digest[32];
    enum role role = ROLE_NONE;
    time_t now = time(NULL);

    if (len == 0 || len > AUTH_TOKEN_MAX)
        return ROLE_NONE;
    EVP_Digest(token, len, digest, NULL, EVP_sha256(), NULL);
    pthread_mutex_lock(&a->cache_mu);
    for (size_t i = 0; i < CACHE_N; i++) {
        if (a->cache[i].role != ROLE_NONE && a->cache[i].until > now &&
            CRYPTO_memcmp(a->cache[i].digest, digest, sizeof digest) == 0)
            role = a->cache[i].role;
    }
    pthread_mutex_unlock(&a->cache_mu);
    if (role != ROLE_NONE)
        return role;
    /* Both hashes are always computed, so the time taken does not tell which role failed. */
    pthread_mutex_lock(&a->kdf_mu);
    {
        bool admin = kdf_matches(&a->admin, token, len);
        bool viewer = kdf_matches(&a->viewer, token, len);

        role = admin ? ROLE_ADMIN : viewer ? ROLE_VIEWER : ROLE_NONE;
    }
    pthread_mutex_unlock(&a->kdf_mu);
    if (role != ROLE_NONE) {
        pthread_mutex_lock(&a->cache_mu);
        memcpy(a->cache[a->cache_next].digest, digest, sizeof digest);
        a->cache[a->cache_next].role = role;
        a->cache[a->cache_next].until = now + CACHE_TTL_S;
        a->cache_next = (a->cache_next + 1) % CACHE_N;
        pthread_mutex_unlock(&a->cache_mu);
    }
    p4_memzero(digest, sizeof digest);
    return role;
}

static void cookie_mac(const struct auth *a, const char *msg, char hex[65])
{
    unsigned char mac[32];
    unsigned int n = sizeof mac;

    HMAC(EVP_sha256(), a->key, sizeof a->key, (const unsigned char *)msg, strlen(msg), mac,
         &n);
    tohex(mac, sizeof mac, hex);
}

void auth_cookie_make(struct auth *a, enum role role, char *out)
{
    char msg[64], mac[65];

    snprintf(msg, sizeof msg, "v1.%s.%" PRId64, role_name(role),
             (int64_t)time(NULL) + a->session_s);
    cookie_mac(a, msg, mac);
    snprintf(out, AUTH_COOKIE_MAX, "%s.%s", msg, mac);
}

enum role auth_cookie_check(struct auth *a, const char *value)
{
    char msg[64], mac[65];
    const char *dot;
    enum role role;
    long long exp;
    char *end;
    size_t n;

    if (!value || strlen(value) >= AUTH_COOKIE_MAX)
        return ROLE_NONE;
    dot = strrchr(value, '.');
    if (!dot || (size_t)(dot - value) >= sizeof msg || strlen(dot + 1) != 64)
        return ROLE_NONE;
    n = (size_t)(dot - value);
    memcpy(msg, value, n);
    msg[n] = '\0';
    cookie_mac(a, msg, mac);
    if (CRYPTO_memcmp(mac, dot + 1, 64) != 0)
        return ROLE_NONE;
    if (strncmp(msg, "v1.admin.", 9) == 0)
        role = ROLE_ADMIN;
    else if (strncmp(msg, "v1.viewer.", 10) == 0)
        role = ROLE_VIEWER;
    else
        return ROLE_NONE;
    /* A role whose hash was removed from the configuration loses its sessions too. */
    if ((role == ROLE_ADMIN && !a->admin.set) || (role == ROLE_VIEWER && !a->viewer.set))
        return ROLE_NONE;
    exp = strtoll(strchr(msg + 3, '.') + 1, &end, 10);
    if (*end || exp < (long long)time(NULL))
        return ROLE_NONE;
    return role;
}

int auth_hash_token_main(void)
{
    char token[AUTH_TOKEN_MAX + 2];
    unsigned char salt[16], hash[KDF_OUT];
    char salt_hex[33], hash_hex[65];
    size_t n;

    fprintf(stderr, "token (one line, %d bytes at most): ", AUTH_TOKEN_MAX);
    if (!fgets(token, sizeof token, stdin)) {
        fprintf(stderr, "\np4hq: no token on standard input\n");
        return 2;
    }
    n = strcspn(token, "\r\n");
    token[n] = '\0';
    if (n < 16 || n > AUTH_TOKEN_MAX) {
        fprintf(stderr, "\np4hq: a token needs 16..%d characters (e.g. openssl rand -hex 24)\n",
                AUTH_TOKEN_MAX);
        p4_memzero(token, sizeof token);
        return 2;
    }
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        PKCS5_PBKDF2_HMAC(token, (int)n, salt, sizeof salt, KDF_ITER_NEW, EVP_sha256(),
                          sizeof hash, hash) != 1) {
        p4_memzero(token, sizeof token);
        return 1;
    }
    p4_memzero(token, sizeof token);
    tohex(salt, sizeof salt, salt_hex);
    tohex(hash, sizeof hash, hash_hex);
    printf(HASH_PREFIX "%d$%s$%s\n", KDF_ITER_NEW, salt_hex, hash_hex);
    return 0;
}
