#!/usr/bin/env bash
# trawl-fit throughput on real text, against scikit-learn's randomized SVD on the same matrix.
#   bench/bench_lsa_fit.sh [INPUT.tsv.gz] [CHUNKS] [DIM]
# Default input: ../shared/data/package-summaries.tsv.gz (1,029,343 one-line texts), split into
# CHUNKS (8) gzip chunks; trawl-vocab (min-df 2), then trawl-fit --dim DIM (256)
# --max-features 65536 --power-iterations 4 --oversample 10 at 1 and 2 ranks (1 thread per rank),
# and TruncatedSVD(algorithm="randomized", n_iter=4, n_oversamples=10, random_state=0) on the
# TF-IDF matrix trawl-fit dumps (tests/support/lsa_ref.py bench: the fit alone, the matrix
# already in memory). Prints wall seconds, the stage's own SVD time, CPU seconds (user + sys of
# every rank, from /usr/bin/time; the load-independent figure on a shared machine) and
# sklearn's fit time and CPU seconds. SKLEARN_THREADS (default "1 2"): the BLAS thread counts.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
in=${1:-$here/../shared/data/package-summaries.tsv.gz}
chunks=${2:-8}
dim=${3:-256}
BIN=${TRAWL_BIN:-$here/build/bin}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d "${TMPDIR:-/tmp}/trawl-bench-fit-XXXXXX")
trap '[ -n "${TRAWL_KEEP_TEST_DIRS:-}" ] || rm -rf "$W"' EXIT
mkdir -p "$W/in"
zcat "$in" | awk -v n="$chunks" -v dir="$W/in" 'NR==1 {h=$0; next}
  { rows[++m]=$0 }
  END { per=int((m+n-1)/n); for (c=0;c<n;c++) { f=sprintf("%s/chunk-%03d.tsv",dir,c); print h > f;
        for (i=c*per+1;i<=(c+1)*per && i<=m;i++) print rows[i] > f; close(f) } }'
gzip -6 "$W"/in/chunk-*.tsv
calc() { awk "BEGIN { print $* }"; }
"$BIN/trawl-vocab" -i "$W"/in/chunk-*.tsv.gz -o "$W/vocab.h5" --log-level warn
F=(-i "$W"/in/chunk-*.tsv.gz --vocab "$W/vocab.h5" --dim "$dim" --max-features 65536 --power-iterations 4 --oversample 10 --force)
run() {  # label np extra...
  local label=$1 np=$2; shift 2
  local s e log=$W/$label.log
  s=$(date +%s.%N)
  /usr/bin/time -f "cpu %U %S %M" -o "$W/$np.time" \
    mpirun -n "$np" --oversubscribe "$BIN/trawl-fit" "${F[@]}" -o "$W/enc-$np.h5" --threads 1 "$@" 2> "$log"
  e=$(date +%s.%N)
  local svd rows nnz
  # "time fit: randomized svd 12.3s" (1 rank) or "... min 1s  mean 2s  max 12.3s" (the max)
  svd=$(grep 'time fit: randomized svd' "$log" | grep -o '[0-9.]*s$' | tr -d s | tail -1 || true)
  rows=$(grep -o 'fit: [0-9]* TF-IDF rows ([0-9]* entries' "$log" | head -1 || true)
  grep -E 'pass [0-9]+/[0-9]+: .*done in' "$log" | sed 's/^.*INFO  /    /' | head -5 || true
  local cpu rss
  cpu=$(awk '/^cpu/ { print $2 + $3 }' "$W/$np.time")
  rss=$(awk '/^cpu/ { printf "%.0f", $4 / 1024 }' "$W/$np.time")
  printf '%-10s wall %7.1f s   svd %7.1f s   cpu %7.1f s (all ranks, whole run)   peak RSS %s MiB (largest process)   %s\n' \
    "$label" "$(calc "$e - $s")" "$svd" "$cpu" "$rss" "$rows"
}
run "1 rank" 1 --dump-matrix "$W/matrix"
run "2 ranks" 2
cmp <(h5dump -d /basis "$W/enc-1.h5" | tail -n +3) <(h5dump -d /basis "$W/enc-2.h5" | tail -n +3) > /dev/null \
  && echo "basis at 1 and 2 ranks: identical" || echo "basis at 1 and 2 ranks: DIFFERENT"
for t in ${SKLEARN_THREADS:-1 2}; do
  s=$(OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t /usr/bin/python3 "$here/tests/support/lsa_ref.py" bench "$W/matrix")
  printf 'sklearn TruncatedSVD randomized, %s BLAS thread(s): fit %s\n' "$t" "$s"
done
