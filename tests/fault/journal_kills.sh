# The labels journal under concurrent imports and kills loses no acknowledged record: 10 rounds
# (fixed seeds) of two imports of different exports started together into one journal, one of
# them SIGKILLed at a random point; the other must succeed and every one of its records be in
# the journal (acknowledged = its import exited 0); the killed one is then rerun, after which
# the journal holds every record of both exactly once, reads without error, and its consensus
# equals that of a journal written by two plain sequential imports.
source "$(dirname "$0")/../e2e/lib.sh"
PY=/usr/bin/python3
$PY -c 'import sys' || fail "no /usr/bin/python3"
L=(--log-level error)
LB="$BIN/trawl-label"
# Two exports of 3,000 answers each (distinct annotators), neutral long tables with tool times.
for k in 1 2; do
  awk -v k=$k 'BEGIN { OFS = "\t"; print "item_id", "annotator_id", "label", "timestamp";
                       for (u = 1; u <= 1000; ++u) for (a = 1; a <= 3; ++a)
                         print u, "ann" k "-" a, ((u * 7 + a * 3 + k) % 5 == 0 ? "pos" : "neg"), "2026-01-0" k "T00:00:0" a "Z" }' \
    > "$WORK/ann$k.tsv"
done
I=(--mode import --classes neg,pos "${L[@]}")
"$LB" "${I[@]}" --journal "$WORK/seq.tsv" --format tsv -i "$WORK/ann1.tsv"
"$LB" "${I[@]}" --journal "$WORK/seq.tsv" --format tsv -i "$WORK/ann2.tsv"
"$LB" --mode consensus --journal "$WORK/seq.tsv" -o "$WORK/seq-consensus.tsv" "${L[@]}"
t0=$(date +%s.%N)
"$LB" "${I[@]}" --journal "$WORK/t.tsv" --format tsv -i "$WORK/ann1.tsv"
T=$(echo "$(date +%s.%N) - $t0" | bc -l)
# records FILE: the journal's records without their time-independent parts dropped: uid, annotator, label.
records() { grep -v '^#' "$1" | cut -f1,3,4 | sort; }
answers() { tail -n +2 "$1" | cut -f1,2,3 | sort; }
killed_during=0
for seed in $(seq 1 10); do
  J="$WORK/j$seed.tsv"
  victim=$(( seed % 2 + 1 )); other=$(( 3 - victim ))
  delay=$(awk -v s="$seed" -v t="$T" 'BEGIN { srand(s * 104729); printf "%.3f", rand() * 1.5 * t }')
  "$LB" "${I[@]}" --journal "$J" --format tsv -i "$WORK/ann$victim.tsv" 2>/dev/null &
  pv=$!
  "$LB" "${I[@]}" --journal "$J" --format tsv -i "$WORK/ann$other.tsv" 2>/dev/null &
  po=$!
  sleep "$delay"
  kill -KILL $pv 2>/dev/null && killed_during=$((killed_during + 1))
  wait $pv 2>/dev/null || true
  wait $po || fail "seed $seed: the import that was not killed failed"
  # Acknowledged: every answer of the finished import is in the journal.
  missing=$(comm -23 <(answers "$WORK/ann$other.tsv") <(records "$J") | wc -l)
  [ "$missing" -eq 0 ] || fail "seed $seed: $missing acknowledged records missing after a concurrent kill"
  "$LB" --mode show --journal "$J" > /dev/null 2>&1 || fail "seed $seed: the journal does not read after the kill"
  "$LB" "${I[@]}" --journal "$J" --format tsv -i "$WORK/ann$victim.tsv" 2>/dev/null || fail "seed $seed: rerun failed"
  cmp -s <(records "$J") <(sort <(answers "$WORK/ann1.tsv") <(answers "$WORK/ann2.tsv")) ||
    fail "seed $seed: after the rerun the journal does not hold every answer exactly once"
  "$LB" --mode consensus --journal "$J" -o "$WORK/c$seed.tsv" "${L[@]}"
  cmp -s <(grep -v '^#' "$WORK/c$seed.tsv") <(grep -v '^#' "$WORK/seq-consensus.tsv") || fail "seed $seed: consensus differs"
done
pass "journal: 10 concurrent import pairs, one SIGKILLed ($killed_during before it ended): no acknowledged record lost, reruns complete it exactly once"
