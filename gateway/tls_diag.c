/* SPDX-License-Identifier: Apache-2.0 */
/* The cloud link's TLS diagnosis: a thread of ours repeats a failed handshake with OpenSSL and
 * logs in one line why the broker or we refused it. */
#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "p4common.h"

/* A diagnosis runs at the first failed connect and then every 30 s while the link is down;
 * its finding is logged when it differs from the last one or every ten minutes, so a link
 * refused for hours does not flood the log. Each network step is bounded by DIAG_IO_MS. */
#define DIAG_INTERVAL_MS 30000
#define DIAG_KICK_MIN_MS 5000 /* a kicked diagnosis at most this often */
#define DIAG_REPEAT_MS 600000
#define DIAG_IO_MS 4000
#define DIAG_ALERT_WAIT_MS 1500

/* Paho reports a refused handshake as a bare "TCP/TLS connect failure" (a hostname mismatch
 * does not even reach ssl_error_cb), so after a failed connect a thread of ours repeats the
 * handshake with OpenSSL and the same files, settings and host, and logs what went wrong in
 * one line: unknown CA, expired certificate, hostname mismatch, client certificate refused or
 * missing, TLS older than 1.2. It never blocks Paho's thread and never touches the core. */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    bool started;  /* THREAD exists (joined by tls_diag_stop) */
    bool kicked;   /* a connect just failed: diagnose now */
    bool stopping;
    const struct p4gw_config *cfg; /* set by cloud_link_start, lives as long as the process */
    MQTTAsync client;              /* destroyed only after tls_diag_stop */
    int64_t last_run_ms;
    int64_t last_report_ms;
    char last_report[P4GW_ERR_MAX];
} diag = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Splits a ssl://, mqtts:// or wss:// URI into HOST and PORT (default 8883, 443 for wss). */
static int uri_host_port(const char *uri, char *host, size_t host_len, char *port,
                         size_t port_len)
{
    const char *p = strstr(uri, "://"), *end, *at, *colon;
    bool ws = strncmp(uri, "wss://", 6) == 0;
    size_t n;

    if (!p)
        return -1;
    p += 3;
    end = p + strcspn(p, "/?");
    at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));

        if (!rb)
            return -1;
        n = (size_t)(rb - p - 1);
        if (n == 0 || n >= host_len)
            return -1;
        memcpy(host, p + 1, n);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        n = (size_t)((colon ? colon : end) - p);
        if (n == 0 || n >= host_len)
            return -1;
        memcpy(host, p, n);
    }
    host[n] = '\0';
    if (colon && colon + 1 < end) {
        n = (size_t)(end - colon - 1);
        if (n >= port_len)
            return -1;
        memcpy(port, colon + 1, n);
        port[n] = '\0';
    } else {
        snprintf(port, port_len, "%s", ws ? "443" : "8883");
    }
    return 0;
}

/* A TCP connection to HOST:PORT within DIAG_IO_MS, with send/receive timeouts set; -1 if the
 * broker cannot be reached (then there is nothing TLS-specific to say). */
static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct timeval tv = {DIAG_IO_MS / 1000, (DIAG_IO_MS % 1000) * 1000};
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        struct pollfd pfd;
        int err = 0;
        socklen_t elen = sizeof(err);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
            goto next;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, DIAG_IO_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
            goto next;
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
            goto next;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        break;
next:
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* snprintf for findings: a long path may cut the line, which is fine for a log message. */
static void say(char *out, size_t out_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *out, size_t out_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, out_len, fmt, ap);
    va_end(ap);
}

/* OpenSSL's default would prompt on the terminal for an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* What the broker's certificate check said, in the technician's terms. */
static void explain_verify(long vr, const struct p4gw_config *cfg, const char *host, char *out,
                           size_t out_len)
{
    const char *ca = cfg->ca_file[0] ? cfg->ca_file : "(the system's CA store)";

    switch (vr) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        say(out, out_len, "the broker's certificate is not issued for host %s (hostname "
                 "mismatch): use the host name the certificate names in [cloud] uri", host);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        say(out, out_len, "the broker's certificate has expired (or this machine's clock "
                 "is wrong)");
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        say(out, out_len, "the broker's certificate is not valid yet: check this "
                 "machine's clock");
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        say(out, out_len, "the broker's certificate is not signed by a CA in ca_file %s "
                 "(unknown CA: %s)", ca, X509_verify_cert_error_string(vr));
        break;
    default:
        say(out, out_len, "the broker's certificate was not accepted: %s",
                 X509_verify_cert_error_string(vr));
        break;
    }
}

/* What an OpenSSL error (often an alert the broker sent) means for this link. */
static void explain_error(unsigned long e, const struct p4gw_config *cfg, char *out,
                          size_t out_len)
{
    const char *why = ERR_reason_error_string(e);
    bool have_cert = cfg->cert_file[0] != '\0';

    if (!why)
        why = "unknown error";
    switch (ERR_GET_REASON(e)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
        say(out, out_len, "the broker offers no TLS 1.2 or newer with a strong cipher "
                 "(%s); p4gw requires TLS 1.2 or newer", why);
        return;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
        say(out, out_len, "the broker did not answer in TLS (%s): is the port a TLS "
                 "port, or should [cloud] uri be tcp://?", why);
        return;
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        say(out, out_len, "the broker requires a client certificate (%s): set [cloud] "
                 "cert_file and key_file", why);
        return;
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        if (!have_cert) {
            say(out, out_len, "the broker refused the handshake (%s): it probably "
                     "requires a client certificate; set [cloud] cert_file and key_file", why);
            return;
        }
        break;
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        say(out, out_len, "the broker refused this store's client certificate: it has "
                 "expired (%s) cert_file=%s", why, cfg->cert_file);
        return;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        if (have_cert) {
            say(out, out_len, "the broker refused this store's client certificate (%s): "
                     "it is not signed by a CA the broker trusts, or was revoked cert_file=%s",
                     why, cfg->cert_file);
        } else {
            say(out, out_len, "the broker requires a client certificate (%s): set "
                     "[cloud] cert_file and key_file", why);
        }
        return;
    default:
        break;
    }
    say(out, out_len, "the TLS handshake failed: %s", why);
}

/* One handshake as the link would make it; OUT gets the finding, or "" when TLS is fine or
 * the broker is unreachable. */
static void diagnose(const struct p4gw_config *cfg, char *out, size_t out_len)
{
    char host[256], port[16];
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    unsigned char probe[16];
    struct in6_addr a6;
    bool is_ip;
    int fd = -1, rc;

    out[0] = '\0';
    if (uri_host_port(cfg->cloud_uri, host, sizeof(host), port, sizeof(port)) != 0)
        return;
    fd = tcp_connect(host, port);
    if (fd < 0)
        goto out;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        goto out;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_set_cipher_list(ctx, CLOUD_TLS_CIPHERS) != 1)
        goto out;
    if (cfg->ca_file[0] ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1
                        : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        say(out, out_len, "ca_file %s cannot be loaded", cfg->ca_file);
        goto out;
    }
    if (cfg->cert_file[0] &&
        (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1)) {
        say(out, out_len, "cert_file %s or key_file %s cannot be loaded", cfg->cert_file,
                 cfg->key_file);
        goto out;
    }
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1)
        goto out;
    is_ip = inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), host, 0);
    }
    rc = SSL_connect(ssl);
    if (rc != 1) {
        long vr = SSL_get_verify_result(ssl);
        unsigned long e = ERR_peek_last_error();

        if (vr != X509_V_OK)
            explain_verify(vr, cfg, host, out, out_len);
        else if (e)
            explain_error(e, cfg, out, out_len);
        else
            say(out, out_len, "the broker closed the connection during the TLS "
                     "handshake");
        goto out;
    }
    /* With TLS 1.3 the broker checks our certificate after our side of the handshake is done:
     * its refusal arrives as an alert on the first read. The broker sends nothing else before
     * our MQTT CONNECT, so a quiet connection means TLS itself is fine. */
    {
        struct timeval tv = {0, DIAG_ALERT_WAIT_MS * 1000};

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    rc = SSL_read(ssl, probe, sizeof(probe));
    if (rc <= 0 && SSL_get_error(ssl, rc) == SSL_ERROR_SSL)
        explain_error(ERR_peek_last_error(), cfg, out, out_len);
    else if (rc <= 0 && SSL_get_error(ssl, rc) == SSL_ERROR_ZERO_RETURN)
        say(out, out_len, "the broker closed the connection right after the TLS "
                 "handshake (it may not accept this store's certificate)");
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    ERR_clear_error();
}

/* Logs FINDING unless it is the one reported last, less than DIAG_REPEAT_MS ago. */
static void diag_report(const struct p4gw_config *cfg, const char *finding, int64_t now)
{
    char uri[P4GW_URI_MAX];

    if (!finding[0] || (strcmp(finding, diag.last_report) == 0 &&
                        now - diag.last_report_ms < DIAG_REPEAT_MS))
        return;
    p4_uri_redact(cfg->cloud_uri, uri, sizeof(uri));
    p4_error("cloud TLS: %s uri=%s", finding, uri);
    snprintf(diag.last_report, sizeof(diag.last_report), "%s", finding);
    diag.last_report_ms = now;
}

/* The diagnosis thread: Paho reports only the first failed connect (its automatic retries
 * are silent), so besides that kick it looks every DIAG_INTERVAL_MS while the link is down.
 * Once the link is up the last finding is forgotten, so a later refusal is reported again. */
static void *diag_main(void *arg)
{
    const struct p4gw_config *cfg = arg;
    char finding[P4GW_ERR_MAX];

    for (;;) {
        MQTTAsync client;
        struct timespec until;
        int64_t now = p4_mono_ms();
        bool due, up;

        /* Paho's lock is never taken while holding ours: its callbacks take ours. */
        pthread_mutex_lock(&diag.mu);
        if (diag.stopping) {
            pthread_mutex_unlock(&diag.mu);
            break;
        }
        due = diag.kicked ? now - diag.last_run_ms >= DIAG_KICK_MIN_MS
                          : now - diag.last_run_ms >= DIAG_INTERVAL_MS;
        if (due) {
            diag.kicked = false;
            diag.last_run_ms = now;
        }
        client = diag.client;
        pthread_mutex_unlock(&diag.mu);
        if (due && client) {
            up = MQTTAsync_isConnected(client);
            if (!up)
                diagnose(cfg, finding, sizeof(finding)); /* bounded by its own timeouts */
            pthread_mutex_lock(&diag.mu);
            if (up)
                diag.last_report[0] = '\0';
            else if (!diag.stopping)
                diag_report(cfg, finding, p4_mono_ms());
            pthread_mutex_unlock(&diag.mu);
        }
        pthread_mutex_lock(&diag.mu);
        if (!diag.stopping) {
            /* Re-checks once a second; a kick or a stop wakes it at once. */
            clock_gettime(CLOCK_MONOTONIC, &until); /* diag.wake waits on it (diag_start) */
            until.tv_sec += 1;
            pthread_cond_timedwait(&diag.wake, &diag.mu, &until);
        }
        pthread_mutex_unlock(&diag.mu);
    }
    return NULL;
}

/* Paho's thread: asks for a diagnosis now; never waits. */
void tls_diag_kick(void)
{
    pthread_mutex_lock(&diag.mu);
    diag.kicked = true;
    pthread_cond_signal(&diag.wake);
    pthread_mutex_unlock(&diag.mu);
}

/* Starts the diagnosis thread for CLIENT (a TLS cloud link). A failure to start it only costs
 * the diagnosis (logged). */
void tls_diag_start(const struct p4gw_config *cfg, MQTTAsync client)
{
    pthread_mutex_lock(&diag.mu);
    diag.cfg = cfg;
    diag.client = client;
    diag.stopping = false;
    diag.kicked = false;
    diag.last_run_ms = p4_mono_ms() - DIAG_INTERVAL_MS; /* the first failure is looked at */
    diag.last_report[0] = '\0';
    if (!diag.started) {
        /* Before the first connect, so no kick can signal it meanwhile: timed waits on the
         * monotonic clock, which a wall clock set back or forward does not move. */
        pthread_cond_destroy(&diag.wake);
        if (p4gw_cond_init_mono(&diag.wake) != 0) {
            pthread_cond_init(&diag.wake, NULL); /* for kicks; no thread waits on it */
            p4_warn("cloud TLS diagnosis thread not started (%s): TLS failures are not "
                    "explained", strerror(errno));
        } else if (pthread_create(&diag.thread, NULL, diag_main, (void *)cfg) == 0) {
            diag.started = true;
        } else {
            p4_warn("cloud TLS diagnosis thread not started: TLS failures are not explained");
        }
    }
    pthread_mutex_unlock(&diag.mu);
}

void tls_diag_stop(void)
{
    bool join;

    pthread_mutex_lock(&diag.mu);
    diag.stopping = true;
    join = diag.started;
    diag.started = false;
    pthread_cond_signal(&diag.wake);
    pthread_mutex_unlock(&diag.mu);
    if (join)
        pthread_join(diag.thread, NULL);
    pthread_mutex_lock(&diag.mu);
    diag.client = NULL;
    pthread_mutex_unlock(&diag.mu);
}
