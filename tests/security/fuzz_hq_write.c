/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz entry for the write API's request decoding (hq/api_write.c: the path argument and the
 * JSON body of every route, down to the contract's encoders in hq/authority.c), with the
 * database replaced by stubs that refuse every query; plus a mutation smoke run over the
 * fixtures when built as a plain test. Input: the path after /api/, a newline, the body. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dash.h"
#include "p4common.h"

/* ---- the database and api.c, stubbed: nothing is ever written ---- */

int db_exec(struct db *db, const char *sql, const char *what)
{
    (void)db;
    (void)sql;
    (void)what;
    return P4HQ_OK; /* BEGIN, ROLLBACK */
}

bool db_ok(const struct db *db)
{
    (void)db;
    return true;
}

int db_query(struct db *db, const char *sql, int n, const char *const *values, PGresult **res)
{
    (void)db;
    (void)sql;
    (void)n;
    (void)values;
    if (res)
        *res = NULL;
    return P4HQ_EDB; /* every change stops at its first statement, after its validation */
}

void api_error(struct reply *out, unsigned int status, const char *what)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "error", what);
    out->status = status;
    out->body = cJSON_PrintUnformatted(o);
    out->len = out->body ? strlen(out->body) : 0;
    cJSON_Delete(o);
}

static void must(int cond, const char *what, const char *detail)
{
    if (!cond) {
        fprintf(stderr, "fuzz_hq_write: broken promise: %s (%s)\n", what, detail);
        abort();
    }
}

static void one(const uint8_t *data, size_t size)
{
    static const struct p4hq_config cfg = {.tenant = "acme"};
    struct db db = {0};
    struct audit_actor who = {.via = "api", .actor = "admin (bearer)", .origin = "fuzz"};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *path = malloc(plen + 1), *body;
    size_t blen = nl ? size - plen - 1 : 0;
    struct reply out = {0};
    bool routed;

    if (!path)
        abort();
    memcpy(path, data, plen);
    path[plen] = '\0';
    if (strlen(path) != plen) { /* a NUL in the path: MHD would have cut it there too */
        free(path);
        return;
    }
    /* The body as http.c hands it over: exactly its bytes, in a buffer of its own. */
    body = malloc(blen + 1);
    if (!body)
        abort();
    memcpy(body, nl ? nl + 1 : data, blen);
    body[blen] = '\0';
    routed = api_write_handle(&cfg, &db, path, body, blen, &who, &out);
    if (routed) {
        cJSON *j;

        must(out.body != NULL, "an answer", path);
        must(out.status == 400 || out.status == 409 || out.status == 503, "a 4xx or 503",
             out.body);
        j = cJSON_Parse(out.body);
        must(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")), "a JSON error",
             out.body);
        must(out.status != 400 || strstr(out.body, ": ") != NULL, "\"field: what\"", out.body);
        cJSON_Delete(j);
    }
    free(out.body);
    free(body);
    free(path);
}

#ifdef P4_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    return 0;
}
#else
/* Every fixture as is, cut at every 5th byte, and with bytes replaced by characters that
 * matter to JSON and to the path, from a fixed seed so a failure repeats. */
int main(void)
{
    static const char specials[] = "{}[]\":,\\/-+.eE0123456789 \n\0\xff";
    const char *root = getenv("P4_TEST_DATA");
    char dir[4096];
    struct dirent *e;
    unsigned long runs = 0;
    unsigned seed = 4242;
    DIR *d;

    snprintf(dir, sizeof dir, "%s/fixtures/hq_write", root ? root : ".");
    d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_hq_write: cannot open %s\n", dir);
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
        for (size_t cut = 0; cut < len; cut += 5, runs++)
            one((const uint8_t *)buf, cut);
        for (int i = 0; i < 2000 && len > 0; i++, runs++) {
            char *m = malloc(len);

            if (!m)
                abort();
            memcpy(m, buf, len);
            seed = seed * 1103515245u + 12345u;
            m[(seed >> 8) % len] = specials[(seed >> 20) % (sizeof specials - 1)];
            seed = seed * 1103515245u + 12345u;
            if (i % 3 == 0)
                m[(seed >> 8) % len] = (char)(seed >> 24);
            one((const uint8_t *)m, len);
            free(m);
        }
        free(buf);
    }
    closedir(d);
    printf("fuzz_hq_write smoke: %lu inputs, no broken promise\n", runs);
    return runs > 0 ? 0 : 1;
}
#endif
