/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the operator commands: parsed options and the commands that change master
 * data. */
#ifndef P4HQ_CLI_H
#define P4HQ_CLI_H

#include "p4hq.h"

#define CLI_MAX_OPTS 16
#define CLI_NOT_A_CHANGE 100 /* cli_change: WORDS is not one of its commands */

struct cli_opts {
    const char *keys[CLI_MAX_OPTS]; /* without the leading "--" */
    const char *vals[CLI_MAX_OPTS];
    int n;
};

/* The value of --KEY (the last one given), or NULL. */
const char *cli_opt(const struct cli_opts *o, const char *key);
/* Runs a change command (price, promo, customer, stock, loyalty) in one transaction and prints
 * the version or id it created. Returns an exit code, or CLI_NOT_A_CHANGE. */
int cli_change(struct db *db, const struct p4hq_config *cfg, char **words, int n_words,
               const struct cli_opts *opts);

#endif
