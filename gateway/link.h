/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the gateway's links, config and entry point: Paho callbacks shared by the local
 * and cloud links, the cloud TLS checks and diagnosis and URI redaction. */
#ifndef P4GW_LINK_H
#define P4GW_LINK_H

#include <stddef.h>

#include <MQTTAsync.h>

#include "p4gw.h"

void link_on_connected(void *context, char *cause);
void link_on_lost(void *context, char *cause);
int link_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m);

/* Copies URI into OUT with any "user:password@" part replaced by "***@", for log lines and
 * error messages. OUT is always NUL-terminated (truncated if OUT_LEN is short). */

/* The TLS cipher list of the cloud link: TLS 1.2 AEAD suites with forward secrecy only, so a
 * broker that offers nothing newer than TLS 1.1 has no suite in common and the handshake fails
 * (Paho 1.3.12 ignores sslVersion with OpenSSL >= 1.1 and offers no way to set the minimum
 * protocol). TLS 1.3 suites are chosen separately by OpenSSL and stay enabled. SECLEVEL 2
 * undoes Paho's SSL_CTX_set_security_level(1): no RSA keys under 2048 bits, no SHA-1. */
#define CLOUD_TLS_CIPHERS \
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!DSS:@SECLEVEL=2"

/* config.c: checks the [cloud] ca_file, cert_file and key_file with OpenSSL as the handshake
 * will use them. Files that can never work (no PEM certificate, no PEM key or one behind a pass
 * phrase, a key that does not belong to the certificate) return P4GW_EINVAL with one line in
 * ERR. Problems that can change with time (a certificate expired or not yet valid, a key file
 * open to other users) only fill WARN (if non-NULL) with one line and return 0. */
int config_check_tls(const struct p4gw_config *cfg, char *err, size_t err_len, char *warn,
                     size_t warn_len);

/* tls_diag.c: the one-line diagnosis of failed cloud TLS handshakes, on a thread of its own.
 * _start (cloud_link_start, TLS links only) makes the thread for CLIENT, which must outlive
 * it; _kick (Paho's thread, on a failed connect) asks for a diagnosis now and never waits;
 * _stop waits (bounded by the diagnosis's own timeouts, about 10 s) for a running one to
 * finish and starts no new one (link_stop, before the client is destroyed). */
void tls_diag_start(const struct p4gw_config *cfg, MQTTAsync client);
void tls_diag_kick(void);
void tls_diag_stop(void);

#endif
