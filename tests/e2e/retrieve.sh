# trawl-retrieve: the sharded exact subpool equals an independent brute-force reference
# (numpy), and is identical at 1-4 ranks and as a 3-task array + trawl-merge; HNSW recall
# against exact; baselines (randsub, random, seals over two rounds, full) rank-independent.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || fail "the reference needs h5py/numpy (tools/install-deps.sh installs it)"
HERE=$(cd "$(dirname "$0")" && pwd)
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 5 --rows 2000 --seed 21 --positive-rate 0.03 --log-level warn
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --label-column label --dim 64 -o "$WORK/pool" --log-level warn
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/labels.tsv" --minority pos --per-class 5 --rest 40 --log-level warn
DS="uid score anchor_count embedding"
same_files() {  # a b datasets...
  local a=$1 b=$2; shift 2
  for d in "$@"; do h5same "$a" "$b" "/$d" || fail "$d differs: $a vs $b"; done
}
R=(--pool "$WORK/pool" --labels "$WORK/labels.tsv" --neighbours 20 --anchors-per-class 4 --log-level warn)
# M larger than the candidates (the reference's default regime) and M that cuts.
for M in 1000 60; do
  "$BIN/trawl-retrieve" "${R[@]}" --subpool-size $M -o "$WORK/ref$M" --round 3
  $PY "$HERE/ref_retrieve.py" "$WORK/pool" "$WORK/labels.tsv" "$WORK/ref$M" 20 $M || fail "brute-force reference (M=$M)"
done
pass "exact retrieval equals brute force"
for np in 2 3 4; do
  mpirun_n $np "$BIN/trawl-retrieve" "${R[@]}" --subpool-size 60 -o "$WORK/np$np" --round 3
  same_files "$WORK/ref60/subpool.h5" "$WORK/np$np/subpool.h5" $DS
  cmp -s "$WORK/ref60/anchors.tsv" "$WORK/np$np/anchors.tsv" || fail "anchors differ at np=$np"
done
pass "identical at 1-4 ranks"
for t in 0 1 2; do "$BIN/trawl-retrieve" "${R[@]}" --subpool-size 60 -o "$WORK/arr" --round 3 --shard-id $t --num-shards 3; done
"$BIN/trawl-merge" -o "$WORK/arr" --log-level warn
same_files "$WORK/ref60/subpool.h5" "$WORK/arr/subpool.h5" $DS
pass "3-task array + trawl-merge identical"
"$BIN/trawl-retrieve" "${R[@]}" --subpool-size 60 -o "$WORK/r4" --round 4
cmp -s "$WORK/ref60/anchors.tsv" "$WORK/r4/anchors.tsv" && fail "anchors did not change between rounds"
pass "anchors change with the round"

# HNSW backend: recall of the subpool against exact.
"$BIN/trawl-index" --pool "$WORK/pool" --M 16 --ef-construction 100 --log-level warn
"$BIN/trawl-retrieve" "${R[@]}" --subpool-size 1000 -o "$WORK/hnsw" --round 3 --backend hnsw
rec=$($PY -c "
import h5py
a = set(h5py.File('$WORK/ref1000/subpool.h5')['uid'][:].tolist()); b = set(h5py.File('$WORK/hnsw/subpool.h5')['uid'][:].tolist())
print(len(a & b) / len(a))")
echo "hnsw subpool recall vs exact: $rec"
awk -v r="$rec" 'BEGIN { exit !(r >= 0.95) }' || fail "hnsw recall $rec < 0.95"
pass "hnsw recall $rec"

# Baselines: rank- and task-count independent.
for m in randsub random; do
  "$BIN/trawl-retrieve" "${R[@]}" --method $m --subpool-size 300 -o "$WORK/$m-1"
  mpirun_n 3 "$BIN/trawl-retrieve" "${R[@]}" --method $m --subpool-size 300 -o "$WORK/$m-3"
  for t in 0 1; do "$BIN/trawl-retrieve" "${R[@]}" --method $m --subpool-size 300 -o "$WORK/$m-a" --shard-id $t --num-shards 2; done
  "$BIN/trawl-merge" -o "$WORK/$m-a" --log-level warn
  same_files "$WORK/$m-1/subpool.h5" "$WORK/$m-3/subpool.h5" uid embedding
  same_files "$WORK/$m-1/subpool.h5" "$WORK/$m-a/subpool.h5" uid embedding
  n=$($PY -c "import h5py; print(len(h5py.File('$WORK/$m-1/subpool.h5')['uid']))")
  [ "$n" = 300 ] || fail "$m subpool has $n items"
done
pass "randsub and random identical at 1 and 3 ranks and as an array"
# SEALS over two rounds: round 1 searches only the newly labelled items; the pool is cumulative.
"$BIN/trawl-retrieve" "${R[@]}" --method seals -o "$WORK/seals0"
head -1 "$WORK/labels.tsv" > "$WORK/labels1.tsv"
{ tail -n +2 "$WORK/labels.tsv"; $PY -c "
import h5py; u = h5py.File('$WORK/seals0/subpool.h5')['uid'][:5]
print('\n'.join(f'{x}\tneg' for x in u))"; } | sort -n >> "$WORK/labels1.tsv"
mpirun_n 2 "$BIN/trawl-retrieve" "${R[@]/$WORK\/labels.tsv/$WORK/labels1.tsv}" --method seals --round 1 \
  --state "$WORK/seals0/seals-state.h5" -o "$WORK/seals1"
$PY - "$WORK" <<'PY' || fail "seals state"
import sys, h5py
w = sys.argv[1]
s0, s1 = h5py.File(w + "/seals0/seals-state.h5"), h5py.File(w + "/seals1/seals-state.h5")
p0, p1 = set(s0["union"][:].tolist()), set(s1["union"][:].tolist())
lab1 = set(int(l.split()[0]) for l in open(w + "/labels1.tsv").readlines()[1:])
assert len(s1["searched"]) == len(lab1), (len(s1["searched"]), len(lab1))
assert (p0 - lab1) <= p1, "the SEALS pool must be cumulative"
assert not (p1 & lab1), "labelled items in the SEALS pool"
sub = set(h5py.File(w + "/seals1/subpool.h5")["uid"][:].tolist())
assert sub == p1, "subpool = union minus labelled"
print("seals: pool", len(p0), "->", len(p1))
PY
pass "seals over two rounds"
"$BIN/trawl-retrieve" "${R[@]}" --method full -o "$WORK/full"
[ "$($PY -c "import h5py; f = h5py.File('$WORK/full/subpool.h5'); print(f.attrs['all-unlabelled'], len(f['uid']))")" = "1 0" ] || fail "full"
pass "full marks the whole pool"
