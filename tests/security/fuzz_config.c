/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz entry for the gateway's INI loader (libFuzzer), plus a mutation smoke run over the
 * gateway's config fixtures when built as a plain test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p4gw.h"
#include "p4t.h"

static char path[64];
static int fd = -1;

/* The loader reads a file: every input goes through one private temporary file, unlinked at
 * once and reopened through /proc/self/fd, so nothing is left behind however the run ends. */
static int open_scratch(void)
{
    char name[] = "/tmp/p4-fuzz-config-XXXXXX";

    if (fd >= 0)
        return 0;
    fd = mkstemp(name);
    if (fd < 0)
        return -1;
    unlink(name);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return 0;
}

static void must(int cond, const char *what, const char *detail)
{
    if (!cond) {
        fprintf(stderr, "fuzz_config: broken promise: %s (%s)\n", what, detail);
        abort();
    }
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* Loads DATA as a config file and checks what the loader promises: never a crash; on failure
 * exactly one non-empty line naming the file; on success valid ids, terminated strings, a TLS
 * flag that agrees with the cloud URI, numbers inside their documented ranges. */
static void one(const uint8_t *data, size_t len)
{
    static struct p4gw_config cfg;
    char err[P4GW_ERR_MAX];
    int rc;

    if (open_scratch() != 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, len, 0) != (ssize_t)len)
        abort();
    rc = p4gw_config_load(path, &cfg, err, sizeof(err));
    if (rc != 0) {
        must(err[0] != '\0', "an error has a message", "empty");
        must(strchr(err, '\n') == NULL, "an error is one line", err);
        must(strncmp(err, path, strlen(path)) == 0, "an error names the file", err);
        return;
    }
    must(err[0] == '\0', "no message on success", err);
    must(p4t_id_valid(cfg.tenant), "tenant id valid", cfg.tenant);
    must(p4t_store_id_valid(cfg.store), "store id valid", cfg.store);
    must(terminated(cfg.local_uri, sizeof(cfg.local_uri)) && cfg.local_uri[0], "local uri set",
         "local_uri");
    must(terminated(cfg.cloud_uri, sizeof(cfg.cloud_uri)) && cfg.cloud_uri[0], "cloud uri set",
         "cloud_uri");
    must(terminated(cfg.local_client_id, sizeof(cfg.local_client_id)) &&
             terminated(cfg.cloud_client_id, sizeof(cfg.cloud_client_id)) &&
             terminated(cfg.ca_file, sizeof(cfg.ca_file)) &&
             terminated(cfg.cert_file, sizeof(cfg.cert_file)) &&
             terminated(cfg.key_file, sizeof(cfg.key_file)) &&
             terminated(cfg.replica_path, sizeof(cfg.replica_path)) &&
             terminated(cfg.log_file, sizeof(cfg.log_file)),
         "strings terminated", "a char[] field");
    must(cfg.cloud_tls == (strncmp(cfg.cloud_uri, "ssl://", 6) == 0 ||
                           strncmp(cfg.cloud_uri, "mqtts://", 8) == 0 ||
                           strncmp(cfg.cloud_uri, "wss://", 6) == 0),
         "cloud_tls agrees with the uri", cfg.cloud_uri);
    must(cfg.cloud_tls || (!cfg.ca_file[0] && !cfg.cert_file[0]), "no certificates without TLS",
         cfg.cloud_uri);
    must((cfg.cert_file[0] != '\0') == (cfg.key_file[0] != '\0'), "cert and key together",
         cfg.cert_file);
    must(cfg.max_inflight >= 1 && cfg.max_inflight <= 65535, "max_inflight range", "");
    must(cfg.batch_max_items >= 1 && cfg.commit_max_items >= 1, "batch ranges", "");
    must(cfg.mqtt_version == 4 || cfg.mqtt_version == 5, "mqtt version", "");
}

#ifdef P4_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    return 0;
}
#else
#include <dirent.h>

#include "p4common.h"

/* Every fixture as is, cut at every 7th byte, and with single bytes replaced by characters
 * that matter to an INI parser, from a fixed seed so a failure repeats. */
int main(void)
{
    static const char specials[] = "[]=;#\n\r\t \"\\/@:%\0\xff";
    const char *root = getenv("P4_TEST_DATA");
    char dir[4096];
    DIR *d;
    struct dirent *e;
    unsigned long runs = 0;
    unsigned seed = 12345;

    snprintf(dir, sizeof(dir), "%s/../gateway/fixtures", root ? root : ".");
    d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_config: cannot open %s\n", dir);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        char file[8192];
        char *buf = NULL;
        size_t len = 0;

        if (!strstr(e->d_name, ".ini"))
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
        if (p4_read_file(file, 1 << 20, &buf, &len) != 0)
            continue;
        one((const uint8_t *)buf, len);
        runs++;
        for (size_t cut = 0; cut < len; cut += 7, runs++)
            one((const uint8_t *)buf, cut);
        for (int i = 0; i < 1000 && len > 0; i++, runs++) {
            char *m = malloc(len);
            size_t at;

            if (!m)
                abort();
            memcpy(m, buf, len);
            seed = seed * 1103515245u + 12345u;
            at = (seed >> 8) % len;
            m[at] = specials[(seed >> 20) % (sizeof(specials) - 1)];
            seed = seed * 1103515245u + 12345u;
            m[(seed >> 8) % len] = (char)(seed >> 24);
            one((const uint8_t *)m, len);
            free(m);
        }
        free(buf);
    }
    closedir(d);
    if (fd >= 0)
        close(fd);
    printf("fuzz_config smoke: %lu inputs, no broken promise\n", runs);
    return runs > 0 ? 0 : 1;
}
#endif
