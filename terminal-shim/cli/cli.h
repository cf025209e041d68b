/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the p4term command line tool: the utilities of cli.c and simulate_main. */
#ifndef P4TERM_CLI_H
#define P4TERM_CLI_H

#include <signal.h>
#include <stdint.h>

/* ---- cli.c: used by every command (main.c) and by simulate.c ---- */

/* Set by SIGINT/SIGTERM; commands that run until interrupted poll it. */
extern volatile sig_atomic_t cli_stop;

/* Installs the SIGINT/SIGTERM handlers that set cli_stop. */
void cli_install_signals(void);

/* Parses a decimal integer in MIN..MAX; returns 0 or -1. */
int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Sleeps MS milliseconds unless interrupted by a signal (used for paced loops). */
void cli_sleep_ms(int64_t ms);

/* ---- simulate.c ---- */

/* `p4term simulate ...`: many registers in one process. Returns the exit code. */
int simulate_main(int argc, char **argv);

#endif
