/* SPDX-License-Identifier: Apache-2.0 */
/* Experiment only: an LD_PRELOAD shim that sets TCP_NODELAY on every TCP socket a process
 * connects, to measure what the gateway gains when its MQTT sockets do (Paho 1.3.12 never
 * sets it, so Nagle holds a small publish behind an unacknowledged PUBACK for the peer's
 * delayed-ACK time, about 40 ms on Linux). Not for production use: the fix belongs in the
 * gateway's links (see bench/README.md). */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static connect_fn real;
    int rc, saved, type = 0, one = 1;
    socklen_t tlen = sizeof(type);

    if (!real)
        real = (connect_fn)dlsym(RTLD_NEXT, "connect");
    rc = real(fd, addr, len);
    saved = errno;
    /* Paho connects non-blocking (EINPROGRESS); the option holds once the connect completes. */
    if ((rc == 0 || saved == EINPROGRESS) && addr &&
        (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    errno = saved;
    return rc;
}
