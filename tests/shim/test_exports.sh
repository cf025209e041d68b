#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Checks that libp4term.so exports the functions of p4term.h and no other symbol of its own.
# Usage: test_exports.sh LIBP4TERM_SO P4TERM_H
set -eu
lib=$1
header=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What a host application that loads the library can bind to (defined dynamic symbols).
nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u >"$work/exported"
[ -s "$work/exported" ] || { echo "FAIL: nm listed no symbols in $lib"; exit 1; }
# The public functions: every p4term_name( in the header.
grep -oE '\bp4term_[a-z_]+\(' "$header" | tr -d '(' | sort -u >"$work/api"

status=0
extra=$(comm -23 "$work/exported" "$work/api")
if [ -n "$extra" ]; then
    echo "FAIL: $(echo "$extra" | wc -l) symbols exported that p4term.h does not declare:"
    echo "$extra" | head -40
    status=1
fi
missing=$(comm -13 "$work/exported" "$work/api")
if [ -n "$missing" ]; then
    echo "FAIL: declared in p4term.h but not exported:"
    echo "$missing"
    status=1
fi
[ $status -eq 0 ] && echo "exports: $(wc -l <"$work/api") functions of p4term.h, nothing else"
exit $status
