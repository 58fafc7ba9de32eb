#!/bin/sh
# check-ran.sh: make check fails when the suite ran nothing, or skipped a test (a missing
# dependency is an error, not a skip).
log=${1:-test-suite.log}
[ -f "$log" ] || { echo "check-ran: $log not found: no test ran" >&2; exit 1; }
pass=$(sed -n 's/^# PASS: *\([0-9]*\)$/\1/p' "$log" | head -n 1)
skip=$(sed -n 's/^# SKIP: *\([0-9]*\)$/\1/p' "$log" | head -n 1)
fail=$(sed -n 's/^# FAIL: *\([0-9]*\)$/\1/p' "$log" | head -n 1)
pass=${pass:-0}; skip=${skip:-0}; fail=${fail:-0}
if [ "$pass" -eq 0 ]; then echo "check-ran: no test passed" >&2; exit 1; fi
if [ "$skip" -ne 0 ]; then echo "check-ran: $skip tests were skipped; skips are failures here" >&2; exit 1; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
