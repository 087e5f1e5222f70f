#!/usr/bin/env bash
# trawl's sparse logreg (tokens, tf-idf) against scikit-learn's LogisticRegression on the same
# TF-IDF features, trained on every labelled item of a pool except trawl's held-out test split.
#
#   bench/logreg_vs_sklearn.sh --pool runs/dev/shards --vocab runs/dev/vocab.h5 --target hard_ham
#   bench/logreg_vs_sklearn.sh --pool runs/npm/shards --vocab runs/npm/vocab.h5 --target npm
#
# Steps (each skipped when its output exists, so a rerun resumes):
#   1. trawl-seed-labels --all            -> WORK/labels-all.tsv (every item's label)
#   2. trawl-simulate --rounds 1 --method random on those labels
#                                          -> WORK/trawl/{test-split.tsv,metrics.tsv,round-000/...}
#      (trains trawl's logreg on all labels minus the stratified 20% test split, scores the pool)
#   3. trawl-train alone on the same training labels (WORK/trawl/labels-000.tsv), without the 5
#      out-of-fold fits trawl-simulate adds (its train_seconds covers 1 + 5 fits)
#                                          -> WORK/train-only/{model.h5,train.log}: one fit's time
#   4. bench/logreg_vs_sklearn.py          -> WORK/report.md (+ WORK/sklearn-test-probs.tsv)
#      (rebuilds the TF-IDF matrix in numpy/scipy, fits sklearn, compares on the test split)
#
# Options: --pool DIR --vocab FILE --target CLASS [--name NAME] [--work DIR] [--bin DIR]
#          [--seed N] [--threads N] [--max-iter N] [--tol X]
# WORK defaults to runs/logreg-vs-sklearn/NAME, NAME to the pool's parent directory name.
# Python: /usr/bin/python3 (needs numpy, scipy, h5py, scikit-learn); override with $PYTHON.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
pool= vocab= target= name= work= bin="$root/runs/bin-study" seed=1 threads=1 max_iter=10000 tol=1e-10
while [ $# -gt 0 ]; do
  case "$1" in
    --pool) pool=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --max-iter) max_iter=$2; shift 2 ;;
    --tol) tol=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[ -n "$pool" ] && [ -n "$vocab" ] && [ -n "$target" ] || { echo "need --pool, --vocab and --target" >&2; exit 2; }
[ -n "$name" ] || name="$(basename "$(cd "$pool/.." && pwd)")"
[ -n "$work" ] || work="$root/runs/logreg-vs-sklearn/$name"
py="${PYTHON:-/usr/bin/python3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"

if [ ! -s "$work/labels-all.tsv" ]; then
  echo "== trawl-seed-labels --all -> $work/labels-all.tsv"
  "$bin/trawl-seed-labels" --pool "$pool" --all -o "$work/labels-all.tsv" --log-level warn
fi

if [ ! -s "$work/trawl/metrics.tsv" ]; then
  echo "== trawl-simulate (all labels, 1 round) -> $work/trawl"
  /usr/bin/time -v -o "$work/trawl-simulate.time" \
    "$bin/trawl-simulate" --pool "$pool" --labels "$work/labels-all.tsv" --rounds 1 --method random \
    --vocab "$vocab" -o "$work/trawl" --target "$target" --seed "$seed" --threads "$threads" \
    --log-level info 2>&1 | tee "$work/trawl-simulate.log"
fi

if [ ! -s "$work/train-only/model.h5" ]; then
  echo "== trawl-train alone (no out-of-fold fits) -> $work/train-only"
  mkdir -p "$work/train-only"
  "$bin/trawl-train" --pool "$pool" --labels "$work/trawl/labels-000.tsv" --vocab "$vocab" --seed "$seed" --round 0 \
    --threads "$threads" -o "$work/train-only/model.h5" --log-level info 2>&1 | tee "$work/train-only/train.log"
fi
fit_s="$(awk '$4 == "time" && $5 == "train" { sub(/s$/, "", $6); print $6 }' "$work/train-only/train.log" | tail -1)"

echo "== sklearn vs trawl"
"$py" "$here/logreg_vs_sklearn.py" --pool "$pool" --vocab "$vocab" --target "$target" \
  --test-split "$work/trawl/test-split.tsv" --scores-dir "$work/trawl/round-000/pool-scores" \
  --metrics "$work/trawl/metrics.tsv" --model "$work/trawl/round-000/model.h5" \
  --trawl-fit-seconds "${fit_s:-nan}" --train-only-model "$work/train-only/model.h5" \
  --max-iter "$max_iter" --tol "$tol" --save-probs "$work/sklearn-test-probs.tsv" \
  | tee "$work/report.md"
