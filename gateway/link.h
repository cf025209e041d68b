/* SPDX-License-Identifier: Apache-2.0 */
/* Paho callbacks shared by the local and cloud links (internal to link*.c). */
#ifndef P4GW_LINK_H
#define P4GW_LINK_H

#include <MQTTAsync.h>

#include "p4gw.h"

void link_on_connected(void *context, char *cause);
void link_on_lost(void *context, char *cause);
int link_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m);

#endif
