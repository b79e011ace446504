#!/bin/sh
# The closing table of `make fuzz`: one row per target, from what each run
# left in build-fuzz/ (see the Makefile's fuzz rule):
#   fuzz_NAME.log     libFuzzer's output (-print_final_stats=1)
#   fuzz_NAME.cpu     "user sys" CPU seconds of the run (/usr/bin/time)
#   artifacts/NAME/   crash-*, timeout-*, leak-*, oom-* inputs it wrote
#   cov/NAME.txt      llvm-cov's report over the final corpus (may be absent)
# seconds and exec/s are wall clock (libFuzzer's own); on a loaded machine
# the CPU seconds say how much of that time the target actually ran.
# cov and ft are libFuzzer's counters at the end (edges and features the
# inputs reached); corpus is the working corpus (files/bytes). Lines and
# functions are llvm-cov's, the final corpus replayed once, summed over the
# instrumented sources the target links (the compiler and the grammar, or
# the runtime's readers and training driver, as the Makefile builds them;
# the fuzz harness itself left out).
# Usage: fuzz-summary.sh TARGET ... ; exits 1 when any target found
# anything (a crash, a hang, a leak, a sanitizer report).
set -u
dir=build-fuzz
found=0
printf '\n%-12s %7s %7s %11s %8s %6s %7s %14s %7s %6s %8s %8s\n' target seconds cpu_s executions exec/s cov ft \
    corpus crashes hangs lines functions
for t in "$@"; do
    log=$dir/fuzz_$t.log
    [ -f "$log" ] || { printf '%-12s (no log: not run)\n' "$t"; found=1; continue; }
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # the last status line: "#N DONE cov: C ft: F corp: U/Sb ..." (or the
    # last pulse before a crash)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
    cpu=$(awk '{ printf "%.0f", $1 + $2 }' "$dir/fuzz_$t.cpu" 2>/dev/null)
    crashes=0; hangs=0
    if [ -d "$dir/artifacts/$t" ]; then
        crashes=$(find "$dir/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' \) | wc -l)
        hangs=$(find "$dir/artifacts/$t" -type f -name 'timeout-*' | wc -l)
    fi
    # a report without an artifact (an abort in libFuzzer itself)
    if [ "$crashes" = 0 ] && grep -qE '^==[0-9]+==ERROR|^SUMMARY: (Address|Undefined|Leak)|runtime error:' "$log"; then
        crashes=1
    fi
    [ "$crashes" = 0 ] && [ "$hangs" = 0 ] || found=1
    lines=-; funcs=-
    if [ -s "$dir/cov/$t.txt" ]; then
        # rows: file regions missed cover% functions missed executed% lines
        # missed cover% ...; summed over the project's sources, the fuzz
        # harness (fuzz/) left out
        lines=$(awk '$1 ~ /^(compiler|runtime|build-fuzzcov)\// && $8 ~ /^[0-9]+$/ { n += $8; m += $9 }
            END { if (n) printf "%.1f%%", 100 * (n - m) / n }' "$dir/cov/$t.txt")
        funcs=$(awk '$1 ~ /^(compiler|runtime|build-fuzzcov)\// && $5 ~ /^[0-9]+$/ { n += $5; m += $6 }
            END { if (n) printf "%.1f%%", 100 * (n - m) / n }' "$dir/cov/$t.txt")
    fi
    printf '%-12s %7s %7s %11s %8s %6s %7s %14s %7s %6s %8s %8s\n' "$t" "${secs:--}" "${cpu:--}" "${execs:--}" \
        "${rate:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$crashes" "$hangs" "${lines:--}" "${funcs:--}"
done
if [ "$found" = 1 ]; then
    echo "fuzz: findings above; inputs in $dir/artifacts/NAME: fix the cause, then copy each into fuzz/corpus/NAME"
    exit 1
fi
echo "fuzz: no crash, hang, leak or sanitizer report"
