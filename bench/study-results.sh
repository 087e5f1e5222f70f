#!/usr/bin/env bash
# The docs/RESULTS.md study: trawl-simulate for several methods x seeds on one pool, then
# trawl-report. Usage:
#   bench/study-results.sh POOL_DIR OUT_DIR TARGET MINORITY ROUNDS EVAL_EVERY SUBPOOL [VOCAB] [METHODS] [STRATEGY]
# e.g. bench/study-results.sh runs/spam/shards runs/study-spam hard_ham hard_ham,spam 20 1 1000 runs/spam/vocab.h5
# BIN (default build/bin) picks the binaries; SEEDS (default 1,2,3); EXTRA adds trawl-simulate
# options (e.g. EXTRA="--features embedding"), TAG a suffix for the run directories.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pool=$1 out=$2 target=$3 minority=$4 rounds=$5 every=$6 M=$7 vocab=${8:-} methods=${9:-anchoral seals randsub full random}
strategy=${10:-entropy}
bin=${BIN:-$here/build/bin}
seeds=${SEEDS:-1,2,3}
mkdir -p "$out"
runs=()
for m in $methods; do
  v=()
  [ -n "$vocab" ] && v=(--vocab "$vocab")
  /usr/bin/time -f "$m: %e s wall, %M KiB peak" "$bin/trawl-simulate" --pool "$pool" --initial-minority "$minority" \
    --target "$target" --method "$m" --strategy "$strategy" --rounds "$rounds" --eval-every "$every" -b 25 \
    --subpool-size "$M" --seeds "$seeds" "${v[@]}" ${EXTRA:-} -o "$out/$m-$strategy${TAG:-}" --log-level warn
  runs+=("$out/$m-$strategy${TAG:-}")
done
"$bin/trawl-report" "${runs[@]}" -o "$out/report" --title "trawl-simulate: $(basename "$pool") / $target"
