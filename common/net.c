/* SPDX-License-Identifier: Apache-2.0 */
/* Socket and URI helpers for the MQTT links: Nagle off (Paho cannot be asked to), and URIs
 * fit for logs. */
#include "p4common.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Sets TCP_NODELAY on the process's TCP sockets whose peer port is PEER_PORT, or on all of
 * them when PEER_PORT is 0. */
static int nodelay(int peer_port)
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
        if (peer_port) {
            ss_len = sizeof(ss);
            if (getpeername(fd, (struct sockaddr *)&ss, &ss_len) != 0)
                continue;
            if (ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port) !=
                peer_port)
                continue;
        }
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

int p4_tcp_nodelay_all(void)
{
    return nodelay(0);
}

int p4_tcp_nodelay_uri(const char *uri)
{
    const char *p = strstr(uri, "://"), *end, *colon = NULL;
    long port;

    p = p ? p + 3 : uri;
    end = p + strcspn(p, "/?");
    for (const char *q = p; q < end; q++) {
        if (*q == ':')
            colon = q; /* the last ':' before the path precedes the port */
    }
    port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (port <= 0 || port > 65535)
        port = strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0 ? 8883 : 1883;
    return nodelay((int)port);
}

void p4_uri_redact(const char *uri, char *out, size_t out_len)
{
    const char *p = strstr(uri, "://"), *end, *at;

    if (out_len == 0)
        return;
    if (!p) {
        snprintf(out, out_len, "%s", uri);
        return;
    }
    p += 3;
    end = p + strcspn(p, "/?");
    at = NULL;
    for (const char *q = p; q < end; q++) {
        if (*q == '@')
            at = q; /* the last '@' before the path ends the user info */
    }
    if (!at) {
        snprintf(out, out_len, "%s", uri);
        return;
    }
    snprintf(out, out_len, "%.*s***%s", (int)(p - uri), uri, at);
}
