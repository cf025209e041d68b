/* SPDX-License-Identifier: Apache-2.0 */
/* `p4gw register add|remove`: store broker accounts for registers (provision.c). */
#ifndef P4GW_PROVISION_H
#define P4GW_PROVISION_H

/* Runs `p4gw register ...` with ARGV[0] = "register". Prints what it did on stdout and one
 * line per error on stderr. Returns the process exit code: 0 done, 1 failure, 2 usage. */
int p4gw_register_main(int argc, char **argv);

#endif
