# trawl-embed gives identical shards (uids, ids, texts, labels, tokens, embeddings) at 1, 2, 3
# and 4 ranks, as a 3-task array job, and after a kill -9 mid-run followed by a rerun.
source "$(dirname "$0")/lib.sh"
DS="uid id_offsets id_bytes text_offsets text_bytes label_offsets label_bytes token_offsets token_ids embedding"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 7 --rows 1500 --format tsv --seed 3 --log-level warn
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 2 --rows 700 --format jsonl --gzip --seed 4 --log-level warn
ls "$WORK"/in/chunk-* > "$WORK/list"
common=(--input-list "$WORK/list" --label-column label --dim 64 --block-rows 500 --log-level warn)
"$BIN/trawl-embed" "${common[@]}" -o "$WORK/ref"
[ "$(ls "$WORK"/ref/shard-*.h5 | wc -l)" -eq 9 ] || fail "expected 9 shards"
"$BIN/trawl-inspect" --check "$WORK"/ref/shard-*.h5 >/dev/null || fail "inspect --check"
for np in 1 2 3 4; do
  mpirun_n $np "$BIN/trawl-embed" "${common[@]}" -o "$WORK/np$np" --threads 1
  same_datasets "$WORK/ref" "$WORK/np$np" $DS
  pass "np=$np identical"
done
for t in 0 1 2; do "$BIN/trawl-embed" "${common[@]}" -o "$WORK/arr" --shard-id $t --num-shards 3; done
same_datasets "$WORK/ref" "$WORK/arr" $DS
pass "3-task array identical"
"$BIN/trawl-embed" "${common[@]}" -o "$WORK/thr" --threads 2
same_datasets "$WORK/ref" "$WORK/thr" $DS
pass "threads=2 identical"

# Kill mid-run, rerun: same shards, no temporaries left.
"$BIN/trawl-gen-text" -o "$WORK/big" --chunks 12 --rows 4000 --format csv --seed 5 --log-level warn
ls "$WORK"/big/chunk-* > "$WORK/biglist"
big=(--input-list "$WORK/biglist" --label-column label --dim 64)
"$BIN/trawl-embed" "${big[@]}" -o "$WORK/bigref" --log-level warn
"$BIN/trawl-embed" "${big[@]}" -o "$WORK/killed" --log-level warn & pid=$!
for _ in $(seq 1 400); do
  n=$(count_shards "$WORK/killed")
  [ "$n" -ge 3 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
n=$(count_shards "$WORK/killed")
[ "$n" -lt 12 ] || fail "the run finished before it could be killed ($n shards)"
for f in "$WORK"/killed/shard-*.h5; do "$BIN/trawl-inspect" --check "$f" >/dev/null || fail "complete-named shard $f is not valid after kill"; done
"$BIN/trawl-embed" "${big[@]}" -o "$WORK/killed" 2> "$WORK/rerun.log"
grep -q "$n already complete" "$WORK/rerun.log" || { cat "$WORK/rerun.log"; fail "rerun did not skip the $n finished shards"; }
same_datasets "$WORK/bigref" "$WORK/killed" $DS
ls "$WORK"/killed | grep -q '\.tmp\.' && fail "temporaries left after the rerun"
pass "kill after $n of 12 shards + rerun identical"
