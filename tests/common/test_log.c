/* SPDX-License-Identifier: Apache-2.0 */
/* Unit test of common/log.c: a log reopen while other threads log loses no line and puts
 * none into a descriptor that another file has since been given. */
#include "p4common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "p4check.h"

#define N_WRITERS 4
#define RUN_MS 2000 /* reopening this long; a failure usually shows within a few ms */

static atomic_bool stop;
static long n_logged[N_WRITERS];

/* Logs numbered lines until STOP, as the Paho, checkpoint and metrics threads do. */
static void *writer_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    long n = 0;

    while (!atomic_load(&stop))
        p4_info("writer=%d n=%ld", id, n++);
    n_logged[id] = n;
    return NULL;
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int ch;

    if (!f)
        return -1;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* Rotates the log while writers log: each pass reopens it, then opens another file the way
 * SQLite or a socket would, which gets the lowest free descriptor number, the one a reopen
 * that closes the old descriptor has just freed. Nothing may ever be written to it. */
static void test_reopen_under_writers(const char *dir)
{
    char log_path[256], old_path[256], other_path[256];
    pthread_t writers[N_WRITERS];
    long passes = 0, total = 0, in_files, n_moved = 0;
    int64_t deadline_ms;
    off_t other_bytes = 0;
    int other = -1;
    struct stat st;

    snprintf(log_path, sizeof(log_path), "%s/p4.log", dir);
    snprintf(other_path, sizeof(other_path), "%s/other.db", dir);
    CHECK_INT(p4_log_reopen(log_path), 0);
    for (int i = 0; i < N_WRITERS; i++)
        CHECK_INT(pthread_create(&writers[i], NULL, writer_main, (void *)(intptr_t)i), 0);
    deadline_ms = p4_mono_ms() + RUN_MS;
    while (p4_mono_ms() < deadline_ms && other_bytes == 0) {
        if (other >= 0)
            close(other);
        if (passes % 64 == 63) { /* logrotate's move, now and then */
            snprintf(old_path, sizeof(old_path), "%s/p4.log.%ld", dir, ++n_moved);
            CHECK_INT(rename(log_path, old_path), 0);
        }
        CHECK_INT(p4_log_reopen(log_path), 0);
        other = open(other_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        CHECK(other >= 0);
        if (other >= 0 && fstat(other, &st) == 0)
            other_bytes = st.st_size;
        passes++;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < N_WRITERS; i++) {
        pthread_join(writers[i], NULL);
        total += n_logged[i];
    }
    if (other >= 0)
        close(other);
    CHECK_INT(p4_log_reopen(NULL), 0);
    CHECK_INT(stat(other_path, &st), 0);
    if (st.st_size != 0)
        fprintf(stderr, "log lines landed in another file's descriptor after %ld reopens\n",
                passes);
    CHECK_INT(st.st_size, 0);
    /* Every line is in the log or a moved one; none was written to a closed descriptor. */
    in_files = count_lines(log_path);
    for (long k = 1; k <= n_moved; k++) {
        snprintf(old_path, sizeof(old_path), "%s/p4.log.%ld", dir, k);
        in_files += count_lines(old_path);
    }
    CHECK_INT(in_files, total);
    printf("%ld reopens, %ld lines from %d threads\n", passes, total, N_WRITERS);
}

/* After a reopen the log descriptor keeps its number and stays close-on-exec. */
static void test_reopen_keeps_descriptor(const char *dir)
{
    char path[256];
    int fd_before, fd_after, flags;

    snprintf(path, sizeof(path), "%s/keep.log", dir);
    CHECK_INT(p4_log_reopen(path), 0);
    fd_before = p4_log_fd();
    CHECK(fd_before > STDERR_FILENO);
    CHECK_INT(p4_log_reopen(path), 0);
    fd_after = p4_log_fd();
    CHECK_INT(fd_after, fd_before);
    flags = fcntl(fd_after, F_GETFD);
    CHECK(flags >= 0 && (flags & FD_CLOEXEC));
    CHECK_INT(p4_log_reopen("/nonexistent-dir/p4.log"), -1);
    CHECK_INT(p4_log_fd(), fd_before); /* a failed reopen keeps logging where it did */
    CHECK_INT(p4_log_reopen(NULL), 0);
}

int main(void)
{
    char dir[] = "/tmp/p4-log-test-XXXXXX";
    char cmd[64];

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    p4_log_set_level(P4_LOG_INFO);
    test_reopen_keeps_descriptor(dir);
    test_reopen_under_writers(dir);
    if (!check_failures) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "kept %s\n", dir);
    }
    CHECK_DONE();
}
