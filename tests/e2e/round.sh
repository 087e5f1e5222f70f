# One active-learning round through the binaries: retrieve -> train -> score -> select.
#  * the model's weights are bit-identical whatever the rank count;
#  * pool scores, top lists, cut-offs and queues are identical at 1-4 ranks and as a 3-task
#    array + --select-only;
#  * the least-confidence and entropy queues equal an independent numpy computation over the
#    scores file (labelled items excluded, ties by uid), and the subpool's probabilities equal
#    numpy's softmax of the stored logreg weights times the stored embeddings;
#  * bad input: a model for another dim, a class without examples, a uid not in the pool,
#    an unknown strategy — each a clear error, nothing partial left behind.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || fail "the reference needs h5py/numpy (tools/install-deps.sh installs it)"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 4 --rows 1500 --seed 8 --positive-rate 0.05 --log-level warn
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --label-column label --dim 64 -o "$WORK/pool" --log-level warn
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/labels.tsv" --minority pos --per-class 8 --rest 60 --log-level warn
"$BIN/trawl-retrieve" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --neighbours 30 --anchors-per-class 5 \
  --subpool-size 500 -o "$WORK/r0" --log-level warn
L=(--log-level warn)
# same_rows A B: the TSVs hold the same rows (comment lines record the config, e.g. the output dir)
same_rows() { cmp -s <(grep -v '^#' "$1") <(grep -v '^#' "$2"); }

# ---- train: same weights at 1-4 ranks
# (logreg over the embeddings here, so numpy can recompute the scores from the subpool's vectors;
# the tf-idf logreg's scores are checked against its solver in tests/unit/test_logreg_model.cpp)
T=(--pool "$WORK/pool" --labels "$WORK/labels.tsv" --subpool "$WORK/r0/subpool.h5" --features embedding "${L[@]}")
"$BIN/trawl-train" "${T[@]}" -o "$WORK/r0/model.h5"
for np in 2 3 4; do
  mpirun_n $np "$BIN/trawl-train" "${T[@]}" -o "$WORK/model-np$np.h5"
  for d in classes linear.weight linear.bias; do  # the config attribute records the rank count
    h5same "$WORK/r0/model.h5" "$WORK/model-np$np.h5" /$d || fail "model /$d differs at np=$np"
  done
done
pass "model identical at 1-4 ranks"

# ---- score the subpool; probabilities against numpy's softmax(W x + b)
"$BIN/trawl-score" --model "$WORK/r0/model.h5" --subpool "$WORK/r0/subpool.h5" --features -o "$WORK/r0" "${L[@]}"
$PY - "$WORK/r0" <<'PY' || fail "subpool probabilities differ from numpy"
import sys, h5py, numpy as np
d = sys.argv[1]
m, s, sp = h5py.File(d + "/model.h5"), h5py.File(d + "/subpool.scores.h5"), h5py.File(d + "/subpool.h5")
W, b = m["linear.weight"][:].astype(np.float64), m["linear.bias"][:].astype(np.float64)
X = sp["embedding"][:].astype(np.float64)
z = X @ W.T + b
p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
assert (s["uid"][:] == sp["uid"][:]).all(), "scores not in subpool order"
err = np.abs(p - s["probs"][:]).max()
assert err < 1e-5, err
print("max |p - numpy| =", err)
PY
pass "subpool probabilities equal numpy"

# ---- select from the subpool: least-confidence and entropy against numpy
for st in least-confidence entropy; do
  "$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy $st -b 15 --labels "$WORK/labels.tsv" \
    --pool "$WORK/pool" -o "$WORK/sel-$st" "${L[@]}"
  mpirun_n 3 "$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy $st -b 15 --labels "$WORK/labels.tsv" \
    --pool "$WORK/pool" -o "$WORK/sel-$st-3" "${L[@]}"
  same_rows "$WORK/sel-$st/queue.tsv" "$WORK/sel-$st-3/queue.tsv" || fail "$st queue differs at 3 ranks"
  $PY - "$WORK/r0/subpool.scores.h5" "$WORK/labels.tsv" "$WORK/sel-$st/queue.tsv" $st <<'PY' || fail "$st queue differs from numpy"
import sys, h5py, numpy as np
f, labels, queue, st = sys.argv[1:]
s = h5py.File(f)
uid, p = s["uid"][:], s["probs"][:].astype(np.float64)
lab = set(int(l.split("\t")[0]) for l in open(labels).read().splitlines()[1:])
keep = np.array([int(u) not in lab for u in uid])
uid, p = uid[keep], p[keep]
if st == "least-confidence":
    sc = 1 - p.max(1)
else:
    sc = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(1)
order = sorted(range(len(uid)), key=lambda i: (-sc[i], int(uid[i])))[:15]
rows = [l.split("\t") for l in open(queue).read().splitlines() if not l.startswith("#")][1:]
got = [int(r[0]) for r in rows]
want = [int(uid[i]) for i in order]
# equal scores (within float rounding) may order either way only when tied to 1e-9
if got != want:
    for g, w in zip(got, want):
        if g != w:
            gi, wi = list(uid).index(g), list(uid).index(w)
            assert abs(sc[gi] - sc[wi]) < 1e-9, (st, g, w, sc[gi], sc[wi])
print(st, "queue matches numpy:", len(got), "items")
PY
done
pass "least-confidence and entropy queues equal numpy, same at 3 ranks"
for st in margin badge kmeans random; do
  "$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy $st -b 10 --labels "$WORK/labels.tsv" \
    --pool "$WORK/pool" -o "$WORK/sel-$st" "${L[@]}"
  mpirun_n 2 "$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy $st -b 10 --labels "$WORK/labels.tsv" \
    --pool "$WORK/pool" -o "$WORK/sel-$st-2" "${L[@]}"
  same_rows "$WORK/sel-$st/queue.tsv" "$WORK/sel-$st-2/queue.tsv" || fail "$st queue differs at 2 ranks"
  n=$(grep -vc '^#' "$WORK/sel-$st/queue.tsv"); [ "$n" -eq 11 ] || fail "$st queue has $((n - 1)) items, want 10"
done
pass "margin, badge, kmeans, random: 10 items, same at 2 ranks"

# ---- score the whole pool at 1-4 ranks and as an array + --select-only
S=(--model "$WORK/r0/model.h5" --pool "$WORK/pool" --top-n 200 "${L[@]}")
"$BIN/trawl-score" "${S[@]}" -o "$WORK/ps1"
for np in 2 3 4; do
  mpirun_n $np "$BIN/trawl-score" "${S[@]}" -o "$WORK/ps$np"
  for f in "$WORK"/ps1/*.tsv; do same_rows "$f" "$WORK/ps$np/$(basename "$f")" || fail "$(basename "$f") differs at np=$np"; done
  for f in "$WORK"/ps1/*.scores.h5; do
    { h5same "$f" "$WORK/ps$np/$(basename "$f")" /uid && h5same "$f" "$WORK/ps$np/$(basename "$f")" /probs; } || fail "$(basename "$f") differs at np=$np"
  done
done
for t in 0 1 2; do "$BIN/trawl-score" "${S[@]}" -o "$WORK/psa" --shard-id $t --num-shards 3; done
"$BIN/trawl-score" --pool "$WORK/pool" --select-only --top-n 200 -o "$WORK/psa" "${L[@]}"
for f in "$WORK"/ps1/*.tsv; do same_rows "$f" "$WORK/psa/$(basename "$f")" || fail "$(basename "$f") differs (array)"; done
# top-pos.tsv is the full sort's top 200 (score desc, uid asc) of all pool probabilities
$PY - "$WORK/ps1" <<'PY' || fail "top-pos.tsv differs from a full sort"
import sys, glob, h5py, numpy as np
d = sys.argv[1]
u, p = [], []
for f in sorted(glob.glob(d + "/shard-*.scores.h5")):
    h = h5py.File(f); cls = h.attrs["classes"]; cls = cls.decode() if isinstance(cls, bytes) else cls
    k = cls.split("\n").index("pos"); u.append(h["uid"][:]); p.append(h["probs"][:, k])
u, p = np.concatenate(u), np.concatenate(p)
order = sorted(range(len(u)), key=lambda i: (-float(p[i]), int(u[i])))[:200]
rows = [l.split("\t") for l in open(d + "/top-pos.tsv").read().splitlines() if not l.startswith("#")]
hdr = rows[0]; ci = hdr.index("uid")
got = [int(r[ci]) for r in rows[1:]]
assert got == [int(u[i]) for i in order], "top-pos order"
print("top-pos.tsv = full sort, 200 rows of", len(u))
PY
pass "pool scores identical at 1-4 ranks and as an array; top-N equals a full sort"

# ---- exploit-explore from the pool scores, rank-independent
X=(--scores "$WORK/ps1" --strategy exploit-explore --class pos --top-size 200 -b 20 --labels "$WORK/labels.tsv" \
   --pool "$WORK/pool" "${L[@]}")
"$BIN/trawl-select" "${X[@]}" -o "$WORK/ee1"
mpirun_n 4 "$BIN/trawl-select" "${X[@]}" -o "$WORK/ee4"
same_rows "$WORK/ee1/queue.tsv" "$WORK/ee4/queue.tsv" || fail "exploit-explore queue differs at 4 ranks"
same_rows "$WORK/ee1/motifs.tsv" "$WORK/ee4/motifs.tsv" || fail "motifs differ at 4 ranks"
grep -q $'\texploit\t' "$WORK/ee1/queue.tsv" || fail "no exploitation rows"
pass "exploit-explore identical at 1 and 4 ranks"

# ---- bad input
"$BIN/trawl-embed" -i "$WORK"/in/chunk-00000.tsv --label-column label --dim 32 -o "$WORK/pool32" "${L[@]}"
expect_fail 3 "pool32/shard-000000.h5: embedded with .*dim=32.*model was trained on .*dim=64" "$BIN/trawl-score" --model "$WORK/r0/model.h5" --pool "$WORK/pool32" -o "$WORK/bad1" "${L[@]}"
[ -z "$(ls "$WORK/bad1" 2>/dev/null | grep -v '^\.' || true)" ] || fail "scores left behind for another dim: $(ls "$WORK/bad1")"
pass "model for another dim"
expect_fail 3 "class 'other' has no training examples" "$BIN/trawl-train" "${T[@]}" --classes neg,pos,other -o "$WORK/bad2.h5"
[ ! -e "$WORK/bad2.h5" ] || fail "model left behind"
pass "class without examples"
{ cat "$WORK/labels.tsv"; printf '77777777777\tpos\n'; } > "$WORK/bad-uid.tsv"
expect_fail 3 "bad-uid.tsv:.*77777777777" "$BIN/trawl-train" --pool "$WORK/pool" --labels "$WORK/bad-uid.tsv" -o "$WORK/bad3.h5" "${L[@]}"
[ ! -e "$WORK/bad3.h5" ] || fail "model left behind"
pass "labelled uid not in the pool"
expect_fail 2 "strategy" "$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy nope -o "$WORK/bad4" "${L[@]}"
[ ! -e "$WORK/bad4/queue.tsv" ] || fail "queue left behind"
pass "unknown strategy"
