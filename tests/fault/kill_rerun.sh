# kill_rerun.sh STAGE [KILLS]: SIGKILL a stage at random points, rerun it, get what an
# uninterrupted run makes (docs/CONVENTIONS.md, "What a rerun guarantees").
#
# For STAGE in embed vocab fit index retrieve merge train score select label simulate: one
# uninterrupted run into OUT, kept as the reference; then KILLS times (default 10, fixed seeds):
# fresh inputs, the same command started and SIGKILLed after a delay drawn uniformly from
# [0, 1.2 x the reference's wall time] (a few land after the end: a finished run rerun must be
# left as is), then run again to completion: OUT must hold the same files as the reference —
# equal datasets, attributes and table rows, and no temporary left (same_outputs.py). Runs on
# small generated pools so the kills land in start-up, reading, computing and committing alike.
source "$(dirname "$0")/../e2e/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' || fail "python3-h5py and python3-numpy are needed (tools/install-deps.sh)"
HERE=$(cd "$(dirname "$0")" && pwd)
STAGE=${1:?usage: kill_rerun.sh STAGE [KILLS]}
KILLS=${2:-10}
L=(--log-level error)
D="$WORK/data"
mkdir -p "$D"

# ---- shared inputs, made once
"$BIN/trawl-gen-text" -o "$D/in" --chunks 4 --rows 3000 --seed 5 --positive-rate 0.04 "${L[@]}"
pool() { "$BIN/trawl-embed" -i "$D"/in/chunk-* --label-column label --dim 64 -o "$1" "${L[@]}"; }
case $STAGE in
  embed|vocab) ;;
  fit) "$BIN/trawl-vocab" -i "$D"/in/chunk-* --min-df 2 -o "$D/vocab.h5" "${L[@]}" ;;
  *)
    pool "$D/pool"
    "$BIN/trawl-seed-labels" --pool "$D/pool" -o "$D/labels.tsv" --minority pos --per-class 6 --rest 50 "${L[@]}"
    R=(--pool "$D/pool" --labels "$D/labels.tsv" --neighbours 30 --anchors-per-class 5 --subpool-size 600 "${L[@]}")
    ;;
esac
case $STAGE in
  train|score|select|label)
    "$BIN/trawl-retrieve" "${R[@]}" -o "$D/r0"
    "$BIN/trawl-train" --pool "$D/pool" --labels "$D/labels.tsv" --subpool "$D/r0/subpool.h5" -o "$D/r0/model.h5" "${L[@]}"
    "$BIN/trawl-score" --model "$D/r0/model.h5" --subpool "$D/r0/subpool.h5" --features -o "$D/r0" "${L[@]}"
    ;;
esac
if [ "$STAGE" = label ]; then
  "$BIN/trawl-select" --scores "$D/r0/subpool.scores.h5" --strategy least-confidence -b 200 --labels "$D/labels.tsv" \
    --pool "$D/pool" -o "$D/q" "${L[@]}"
  # Three annotators' answers to every queued item: the neutral long table.
  awk -F'\t' 'BEGIN { OFS = "\t"; print "item_id", "annotator_id", "label", "timestamp" }
              /^#/ || !h++ { next }
              { for (a = 1; a <= 3; ++a)
                  print $1, "ann" a, ((NR * 7 + a * 3) % 5 == 0 ? "pos" : "neg"), "2026-01-01T00:00:0" a "Z" }' \
    "$D/q/queue.tsv" > "$D/ann.tsv"
fi
if [ "$STAGE" = merge ]; then
  for t in 0 1 2; do "$BIN/trawl-retrieve" "${R[@]}" -o "$D/parts" --shard-id $t --num-shards 3; done
fi

# ---- the stage: prepare OUT's inputs (fresh), and run
OUT="$WORK/out"
prepare() {
  rm -rf "$OUT"
  case $STAGE in
    index) mkdir -p "$OUT" && cp "$D"/pool/shard-*.h5 "$OUT/" ;;
    merge) cp -r "$D/parts" "$OUT" ;;
    label) mkdir -p "$OUT" ;;
  esac
}
run() {
  case $STAGE in
    embed) "$BIN/trawl-embed" -i "$D"/in/chunk-* --label-column label --dim 64 -o "$OUT" "${L[@]}" ;;
    vocab) mkdir -p "$OUT" && "$BIN/trawl-vocab" -i "$D"/in/chunk-* --min-df 2 -o "$OUT/vocab.h5" "${L[@]}" ;;
    # Many passes, so kills land between checkpoints as well as in reading and committing.
    fit) mkdir -p "$OUT" && "$BIN/trawl-fit" -i "$D"/in/chunk-* --vocab "$D/vocab.h5" --dim 24 --power-iterations 12 \
           -o "$OUT/enc.h5" "${L[@]}" ;;
    index) "$BIN/trawl-index" --pool "$OUT" --M 8 --ef-construction 40 "${L[@]}" ;;
    retrieve) "$BIN/trawl-retrieve" "${R[@]}" -o "$OUT" ;;
    merge) "$BIN/trawl-merge" -o "$OUT" "${L[@]}" ;;
    train) mkdir -p "$OUT" && "$BIN/trawl-train" --pool "$D/pool" --labels "$D/labels.tsv" --subpool "$D/r0/subpool.h5" \
             --oof-folds 3 -o "$OUT/model.h5" "${L[@]}" ;;
    score) "$BIN/trawl-score" --model "$D/r0/model.h5" --pool "$D/pool" --top-n 300 -o "$OUT" "${L[@]}" ;;
    select) "$BIN/trawl-select" --scores "$D/r0/subpool.scores.h5" --strategy badge -b 40 --labels "$D/labels.tsv" \
              --pool "$D/pool" -o "$OUT" "${L[@]}" ;;
    label) "$BIN/trawl-label" --mode import --journal "$OUT/journal.tsv" --queue "$D/q/queue.tsv" --classes neg,pos \
             --format tsv -i "$D/ann.tsv" "${L[@]}" &&
           "$BIN/trawl-label" --mode consensus --journal "$OUT/journal.tsv" -o "$OUT/consensus.tsv" "${L[@]}" ;;
    simulate) "$BIN/trawl-simulate" "${R[@]}" -b 20 --rounds 2 -o "$OUT" ;;
    *) fail "unknown stage '$STAGE'" ;;
  esac
}

prepare
t0=$(date +%s.%N)
run || fail "$STAGE: the uninterrupted run failed"
t1=$(date +%s.%N)
rm -rf "$WORK/ref"
mv "$OUT" "$WORK/ref"
T=$(echo "$t1 - $t0" | bc -l)
killed=0
for seed in $(seq 1 "$KILLS"); do
  prepare
  delay=$(awk -v s="$seed" -v t="$T" 'BEGIN { srand(s * 7919); printf "%.3f", rand() * 1.2 * t }')
  rc=0
  ( set +e; run ) > "$WORK/killed.log" 2>&1 &
  pid=$!
  sleep "$delay"
  # SIGKILL the whole process tree (the stage and any helper it started), then wait until the
  # killed processes are gone (or zombies): a rerun happens after the job has died, and under
  # load a SIGKILLed process can still be exiting when `kill` returns.
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  pkill -KILL -P "$pid" 2>/dev/null && killed=$((killed + 1))
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || rc=$?
  for k in $kids; do
    for _ in $(seq 1 200); do
      st=$(awk '{print $3}' "/proc/$k/stat" 2>/dev/null || true)
      [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ] && break
      sleep 0.05
    done
  done
  run > "$WORK/rerun.log" 2>&1 || { cat "$WORK/rerun.log" >&2; fail "$STAGE: the rerun after a kill at ${delay}s failed"; }
  $PY "$HERE/same_outputs.py" "$WORK/ref" "$OUT" > "$WORK/cmp.log" ||
    { cat "$WORK/cmp.log" >&2; fail "$STAGE: killed at ${delay}s of ${T}s (seed $seed), the rerun's outputs differ"; }
done
pass "$STAGE: $KILLS SIGKILLs at random points ($killed during the run, reference ${T}s), each rerun equal to an uninterrupted run"
