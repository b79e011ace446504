#!/bin/sh
# Runs each Check test binary given, then prints one closing line
# "N passed, N failed" counting binaries. Exits non-zero if any failed.
set -u
pass=0; fail=0; failed=""
for t in "$@"; do
    echo "== $t"
    if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "suites: $pass passed, $fail failed"
[ "$fail" = 0 ]
