/* SPDX-License-Identifier: Apache-2.0 */
/* Register accounts on the store broker: a strong random password added with mosquitto_passwd,
 * the register's own password file, its p4term INI block, and a reload of the broker. */
#include "provision.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p4common.h"
#include "p4t.h"

extern char **environ;

#define DEFAULT_STORE_CONF "/etc/mosquitto/conf.d/p4sync.conf"
#define DEFAULT_OUT_DIR "/etc/p4gw/registers"
#define DEFAULT_GATEWAY_USER "p4gw"
#define DEBIAN_PID_FILE "/run/mosquitto/mosquitto.pid"
#define PASSWORD_BYTES 24 /* 192 random bits, 32 characters of base64url */
#define PASSWORD_LEN 33   /* with the NUL */

/* What `register` needs from the store broker's Mosquitto config. */
struct store_conf {
    char password_file[4096];
    char pid_file[4096];
    int port; /* the first listener's port, for the printed INI block; 0 if none */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: p4gw register add REG [options]\n"
            "       p4gw register remove REG [options]\n"
            "\n"
            "Adds (or gives a new password to) register REG's account on the store broker, or\n"
            "removes it, then tells Mosquitto to reload its password file.\n"
            "  --store-conf FILE    the store broker's Mosquitto config naming password_file\n"
            "                       (and optionally pid_file) [" DEFAULT_STORE_CONF "]\n"
            "  --out-dir DIR        where REG.password is written for the register (0600)\n"
            "                       [" DEFAULT_OUT_DIR "]\n"
            "  --store ID           store id printed in the register's INI block\n"
            "  --host HOST          store broker host printed in the INI block [127.0.0.1]\n"
            "  --gateway-user NAME  the gateway's own broker user, which no register may take\n"
            "                       [" DEFAULT_GATEWAY_USER "]\n");
}

/* Reads password_file, pid_file and the first listener's port from PATH. Mosquitto's syntax
 * is one "key value" per line; '#' starts a comment line. Returns 0, or -1 (message printed). */
static int store_conf_read(const char *path, struct store_conf *sc)
{
    char line[4200];
    FILE *f = fopen(path, "r");

    memset(sc, 0, sizeof(*sc));
    if (!f) {
        fprintf(stderr, "p4gw register: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char key[64], value[4096];
        int n = sscanf(line, " %63s %4095[^\r\n]", key, value);

        if (n < 2 || key[0] == '#')
            continue;
        /* Trailing blanks are part of neither key nor path. */
        for (size_t len = strlen(value); len > 0 && (value[len - 1] == ' ' ||
                                                     value[len - 1] == '\t');)
            value[--len] = '\0';
        if (strcmp(key, "password_file") == 0)
            snprintf(sc->password_file, sizeof(sc->password_file), "%s", value);
        else if (strcmp(key, "pid_file") == 0)
            snprintf(sc->pid_file, sizeof(sc->pid_file), "%s", value);
        else if (strcmp(key, "listener") == 0 && sc->port == 0)
            sc->port = atoi(value);
    }
    fclose(f);
    if (!sc->password_file[0]) {
        fprintf(stderr, "p4gw register: %s sets no password_file: the store broker would "
                "accept anyone; see conf/mosquitto-store.conf\n", path);
        return -1;
    }
    return 0;
}

/* PASSWORD_BYTES from the kernel as base64url without padding (safe in INI files and argv-free
 * pipes). Returns 0 or -1. */
static int make_password(char out[PASSWORD_LEN])
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[PASSWORD_BYTES];
    size_t o = 0;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        fprintf(stderr, "p4gw register: no random bytes from the kernel: %s\n",
                strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    p4_memzero(raw, sizeof(raw));
    return 0;
}

/* Runs mosquitto_passwd with ARGS. With PASSWORD non-NULL it is written twice on the child's
 * stdin (the prompt and its confirmation), so it never appears in a process listing. The
 * child's prompts go to /dev/null; its errors to our stderr. Returns its exit status or -1. */
static int run_passwd(char *const args[], const char *password)
{
    posix_spawn_file_actions_t fa;
    int in[2] = {-1, -1};
    pid_t pid;
    int status = -1, rc;

    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, "mosquitto_passwd", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    if (rc != 0) {
        fprintf(stderr, "p4gw register: cannot run mosquitto_passwd: %s (install the "
                "mosquitto package)\n", strerror(rc));
        close(in[1]);
        return -1;
    }
    if (password) {
        char buf[2 * PASSWORD_LEN + 2];
        int n = snprintf(buf, sizeof(buf), "%s\n%s\n", password, password);

        /* A broken pipe (the child failed early) is reported by its exit status. */
        signal(SIGPIPE, SIG_IGN);
        if (n > 0 && write(in[1], buf, (size_t)n) != n)
            fprintf(stderr, "p4gw register: mosquitto_passwd did not take the password\n");
        p4_memzero(buf, sizeof(buf));
    }
    close(in[1]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Puts back the owner and mode PATH had before mosquitto_passwd rewrote it; a new file gets
 * 0640 root:mosquitto so the broker (which drops to user mosquitto) can read it. */
static void keep_owner(const char *path, const struct stat *before, bool existed)
{
    if (existed) {
        if (chown(path, before->st_uid, before->st_gid) != 0 ||
            chmod(path, before->st_mode & 07777) != 0)
            fprintf(stderr, "p4gw register: warning: cannot restore owner/mode of %s: %s\n",
                    path, strerror(errno));
        return;
    }
    {
        struct group *g = getgrnam("mosquitto");

        if (g && chown(path, 0, g->gr_gid) != 0)
            fprintf(stderr, "p4gw register: warning: cannot chown %s: %s\n", path,
                    strerror(errno));
        if (chmod(path, g ? 0640 : 0600) != 0)
            fprintf(stderr, "p4gw register: warning: cannot chmod %s: %s\n", path,
                    strerror(errno));
    }
}

/* Writes PASSWORD and a newline to DIR/REG.password (0600) through a temporary file, so a
 * register never reads half a password. Returns 0 or -1 (message printed). */
static int write_register_secret(const char *dir, const char *reg, const char *password,
                                 char *path, size_t path_len)
{
    char tmp[4200];
    int fd = -1, rc = -1;
    size_t len = strlen(password);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "p4gw register: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(path, path_len, "%s/%s.password", dir, reg);
    snprintf(tmp, sizeof(tmp), "%s/.%s.password.tmp", dir, reg);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "p4gw register: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, password, len) != (ssize_t)len ||
        write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        fprintf(stderr, "p4gw register: cannot write %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "p4gw register: cannot rename %s to %s: %s\n", tmp, path,
                strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

/* SIGHUP to the pid in PATH. Returns 0 if the signal was sent. */
static int hup_pid_file(const char *path)
{
    char buf[32];
    FILE *f = fopen(path, "r");
    long pid;

    if (!f)
        return -1;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    pid = strtol(buf, NULL, 10);
    if (pid <= 1 || kill((pid_t)pid, SIGHUP) != 0)
        return -1;
    printf("store broker reloaded (SIGHUP to pid %ld from %s)\n", pid, path);
    return 0;
}

/* Mosquitto re-reads its password file on SIGHUP: through the config's pid_file, else
 * `systemctl reload mosquitto`, else Debian's pid file. Returns 0, or -1 (told what to do). */
static int reload_broker(const struct store_conf *sc)
{
    if (sc->pid_file[0] && hup_pid_file(sc->pid_file) == 0)
        return 0;
    if (access("/run/systemd/system", F_OK) == 0) {
        char *const args[] = {"systemctl", "reload", "mosquitto", NULL};
        pid_t pid;
        int status;

        if (posix_spawnp(&pid, "systemctl", NULL, NULL, args, environ) == 0 &&
            waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("store broker reloaded (systemctl reload mosquitto)\n");
            return 0;
        }
    }
    if (hup_pid_file(DEBIAN_PID_FILE) == 0)
        return 0;
    fprintf(stderr, "p4gw register: could not reload the store broker: run `systemctl reload "
            "mosquitto` (or send it SIGHUP) for the change to take effect\n");
    return -1;
}

static int do_add(const char *reg, const struct store_conf *sc, const char *out_dir,
                  const char *store, const char *host)
{
    char password[PASSWORD_LEN], secret_path[4200];
    struct stat before;
    bool existed = stat(sc->password_file, &before) == 0;
    char *const args_add[] = {"mosquitto_passwd", (char *)sc->password_file, (char *)reg, NULL};
    char *const args_new[] = {"mosquitto_passwd", "-c", (char *)sc->password_file, (char *)reg,
                              NULL};
    int rc = 1;

    if (make_password(password) != 0)
        return 1;
    if (run_passwd(existed ? args_add : args_new, password) != 0) {
        fprintf(stderr, "p4gw register: mosquitto_passwd could not add %s to %s\n", reg,
                sc->password_file);
        goto out;
    }
    keep_owner(sc->password_file, &before, existed);
    if (write_register_secret(out_dir, reg, password, secret_path, sizeof(secret_path)) != 0)
        goto out;
    printf("register %s added to %s\n", reg, sc->password_file);
    printf("its password is in %s: copy it to the register as /etc/p4term/%s.password "
           "(mode 0600), then delete this copy\n\n", secret_path, reg);
    printf("; p4term.ini for register %s\n[register]\n", reg);
    if (store)
        printf("store = %s\n", store);
    printf("id = %s\n\n[broker]\nuri = tcp://%s:%d\nusername = %s\n"
           "password_file = /etc/p4term/%s.password\n\n", reg, host, sc->port ? sc->port : 1883,
           reg, reg);
    reload_broker(sc);
    rc = 0;
out:
    p4_memzero(password, sizeof(password));
    return rc;
}

static int do_remove(const char *reg, const struct store_conf *sc, const char *out_dir)
{
    char *const args[] = {"mosquitto_passwd", "-D", (char *)sc->password_file, (char *)reg,
                          NULL};
    char path[4200];
    struct stat before;
    bool existed = stat(sc->password_file, &before) == 0;

    if (!existed) {
        fprintf(stderr, "p4gw register: %s does not exist\n", sc->password_file);
        return 1;
    }
    if (run_passwd(args, NULL) != 0) {
        fprintf(stderr, "p4gw register: mosquitto_passwd could not remove %s from %s\n", reg,
                sc->password_file);
        return 1;
    }
    keep_owner(sc->password_file, &before, true);
    snprintf(path, sizeof(path), "%s/%s.password", out_dir, reg);
    if (unlink(path) == 0)
        printf("removed %s\n", path);
    printf("register %s removed from %s\n", reg, sc->password_file);
    reload_broker(sc);
    return 0;
}

int p4gw_register_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store-conf", required_argument, NULL, 'c'},
        {"out-dir", required_argument, NULL, 'o'},
        {"store", required_argument, NULL, 's'},
        {"host", required_argument, NULL, 'H'},
        {"gateway-user", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = DEFAULT_STORE_CONF, *out_dir = DEFAULT_OUT_DIR, *store = NULL;
    const char *host = "127.0.0.1", *gw_user = DEFAULT_GATEWAY_USER, *verb, *reg;
    struct store_conf sc;
    int c;

    /* Options may come before or after the verb and the register id (getopt permutes). */
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            conf = optarg;
            break;
        case 'o':
            out_dir = optarg;
            break;
        case 's':
            store = optarg;
            break;
        case 'H':
            host = optarg;
            break;
        case 'g':
            gw_user = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    verb = argv[optind];
    reg = argv[optind + 1];
    if (!p4t_id_valid(reg)) {
        fprintf(stderr, "p4gw register: \"%s\" is not a valid register id "
                "([a-z0-9][a-z0-9_-]{0,31})\n", reg);
        return 2;
    }
    if (strcmp(reg, gw_user) == 0) {
        /* The ACL gives the gateway's user all of pos/v1/#. */
        fprintf(stderr, "p4gw register: \"%s\" is the gateway's own broker user\n", reg);
        return 2;
    }
    if (store && !p4t_store_id_valid(store)) {
        fprintf(stderr, "p4gw register: \"%s\" is not a valid store id\n", store);
        return 2;
    }
    if (store_conf_read(conf, &sc) != 0)
        return 1;
    if (strcmp(verb, "add") == 0)
        return do_add(reg, &sc, out_dir, store, host);
    if (strcmp(verb, "remove") == 0)
        return do_remove(reg, &sc, out_dir);
    usage(stderr);
    return 2;
}
