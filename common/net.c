/* SPDX-License-Identifier: Apache-2.0 */
/* Turns Nagle's algorithm off on the process's TCP sockets (Paho cannot be asked to). */
#include "p4common.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int p4_tcp_nodelay_all(void)
{
    DIR *d;
    struct dirent *e;
    int n = 0;

    d = opendir("/proc/self/fd");
    if (!d) {
        p4_warn("cannot list sockets for TCP_NODELAY err=\"%s\"", strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof(ss), t_len;
        int fd, type = 0, one = 1;
        char *end;

        fd = (int)strtol(e->d_name, &end, 10);
        if (*end != '\0' || fd == dirfd(d))
            continue;
        t_len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &t_len) != 0 || type != SOCK_STREAM)
            continue; /* not a socket, or not a stream */
        if (getsockname(fd, (struct sockaddr *)&ss, &ss_len) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
            n++;
    }
    closedir(d);
    return n;
}
