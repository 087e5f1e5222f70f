#!/usr/bin/env bash
# A real large imbalanced pool from ../shared/data/package-summaries.tsv.gz (1,029,343 package
# summaries): every PyPI summary (label "pypi") plus a seeded sample of the npm ones (label
# "npm") drawn so that npm is SHARE_PERCENT (default 1) of the pool: ~840k items with a 1%
# minority — the shape of the AnchorAL paper's 1% tasks. Writes CHUNKS chunk-NNN.tsv.gz files
# (id, text, label) to OUT_DIR; the same input and seed give the same rows.
# Usage: tools/make-package-pool.sh [OUT_DIR] [SEED] [CHUNKS] [SHARE_PERCENT]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/runs/package-pool/data}
seed=${2:-1}
chunks=${3:-8}
pct=${4:-1}
src=${TRAWL_PACKAGE_SUMMARIES:-$here/../shared/data/package-summaries.tsv.gz}
[ -f "$src" ] || { echo "make-package-pool: $src not found (set TRAWL_PACKAGE_SUMMARIES)" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# keep probability of an npm row: share / (1 - share) * n_pypi / n_npm
read -r npy nnpm < <(zcat "$src" | awk -F'\t' 'NR > 1 { if (substr($1, 1, 4) == "npm:") m++; else p++ } END { print p, m }')
keep=$(awk -v s="$pct" -v p="$npy" -v m="$nnpm" 'BEGIN { k = (s / 100) / (1 - s / 100) * p / m; if (k > 1) k = 1; printf "%.8f", k * 100 }')
zcat "$src" | awk -F'\t' -v OFS='\t' -v seed="$seed" -v pct="$keep" -v n="$chunks" -v dir="$tmp" '
  BEGIN { srand(seed) }
  NR == 1 { next }
  { src = substr($1, 1, index($1, ":") - 1)
    if (src == "npm") { if (rand() * 100 >= pct) next; lab = "npm" } else lab = "pypi"
    k = (kept++) % n
    f = sprintf("%s/chunk-%03d.tsv", dir, k)
    if (!(f in seen)) { print "id", "text", "label" > f; seen[f] = 1 }
    gsub(/\r/, "", $2)
    print $1, $2, lab > f
    cnt[lab]++ }
  END { for (l in cnt) printf "%s %d\n", l, cnt[l] > "/dev/stderr" }'
for f in "$tmp"/chunk-*.tsv; do gzip -n "$f"; done
mv "$tmp"/chunk-*.tsv.gz "$out"/
echo "make-package-pool: $(ls "$out"/chunk-*.tsv.gz | wc -l) chunks in $out" >&2
