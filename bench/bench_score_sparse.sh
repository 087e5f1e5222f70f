#!/usr/bin/env bash
# Scoring a real pool with the sparse tf-idf logreg (trawl-train's default) against the dense
# logreg over the 256-d embeddings, trained on the same labels: trawl-score's own rate (items/s,
# from its "scored" line) and wall time, best of REPS, shards in the page cache.
# Usage: bench/bench_score_sparse.sh POOL_DIR LABELS_TSV VOCAB [WORK_DIR] [REPS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pool=$1 labels=$2 vocab=$3 work=${4:-$here/runs/bench-score-sparse} reps=${5:-3}
bin=${BIN:-$here/build/bin}
mkdir -p "$work"
cat "$pool"/shard-*.h5 > /dev/null  # into the page cache
for f in tokens embedding; do
  "$bin/trawl-train" --pool "$pool" --labels "$labels" --vocab "$vocab" --features $f -o "$work/model-$f.h5" \
    --log-level warn
  best=
  for r in $(seq "$reps"); do
    rm -rf "$work/scores-$f"
    t0=$(date +%s.%N)
    line=$("$bin/trawl-score" --model "$work/model-$f.h5" --pool "$pool" --top-n 0 --cutoffs 0 --threads 1 \
      -o "$work/scores-$f" 2>&1 | grep -E "scored: [0-9]" | tail -1 || true)
    t1=$(date +%s.%N)
    w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    echo "$f rep $r: wall $w s; $line"
    if [ -z "$best" ] || awk -v a="$w" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$w; fi
  done
  echo "$f: best wall $best s"
done
