#!/usr/bin/env bash
# The failure policy (docs/CONVENTIONS.md): one failing rank — a failed assertion, an exception
# escaping a thread, a stage error — ends the whole job within 10 s with a non-zero exit code,
# at 1..4 ranks, while the other ranks wait in a collective.
set -uo pipefail
exe=${1:?usage: failure_policy.sh FAULT_RANK_BINARY}
fail=0
for mode in assert thread input; do
  for np in 1 2 3 4; do
    t0=$(date +%s.%N)
    timeout 60 mpirun -n "$np" --oversubscribe "$exe" "$mode" > /tmp/fault-$$.log 2>&1
    rc=$?
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
      echo "FAIL $mode np=$np: exit code $rc (expected a failure, not 0 or a hang)"; fail=1
    elif awk -v s="$secs" 'BEGIN { exit !(s > 10) }'; then
      echo "FAIL $mode np=$np: took $secs s (> 10 s)"; fail=1
    elif ! grep -q "injected" /tmp/fault-$$.log; then
      echo "FAIL $mode np=$np: the failing rank's message is missing"; cat /tmp/fault-$$.log; fail=1
    else
      echo "ok   $mode np=$np: exit $rc in $secs s"
    fi
  done
done
rm -f /tmp/fault-$$.log
exit $fail
