# trawl-simulate: rounds with the pool's labels as the oracle, measured on a held-out test split.
#  * the test split is stratified (round(0.2 n_c) per class), never queued, never labelled;
#  * every round adds exactly its queue's true labels to the labelled set (checked against the
#    shards' label column with h5py), and never relabels an item;
#  * the last round's test metrics (F1 at argmax, AP, ROC-AUC, best F1) equal scikit-learn's on
#    its scores files; a planted case where the old remainder metric and the test metric disagree;
#  * metrics, labels, queues and the test split are identical at 1, 2, 3 and 4 ranks;
#  * --method random queues a uniform batch (no strategy);
#  * a run killed after round 1 (its later files removed) resumes to the same result;
#  * noisy annotators through the labels journal with ActiveLab: one journal record per queued
#    item, each round's labelled set = every item with a record so far (round 0 = the seeds'
#    consensus as trawl-label computes it), relabel flags and label accuracy consistent,
#    identical at 1 and 2 ranks;
#  * a pool without a label column is a clear error.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || fail "the reference needs h5py/numpy (tools/install-deps.sh installs it)"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 3 --rows 1500 --seed 31 --positive-rate 0.03 --log-level warn
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --label-column label --dim 64 -o "$WORK/pool" --log-level warn
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/seed.tsv" --minority pos --per-class 4 --rest 40 --log-level warn
C=(--pool "$WORK/pool" --labels "$WORK/seed.tsv" -b 20 --subpool-size 400 --neighbours 30 --anchors-per-class 5
   --log-level warn)
S=("${C[@]}" --rounds 3)
"$BIN/trawl-simulate" "${S[@]}" -o "$WORK/s1"
[ -f "$WORK/s1/metrics.tsv" ] && [ -f "$WORK/s1/metrics-classes.tsv" ] && [ -f "$WORK/s1/test-split.tsv" ] || fail "no metrics"
$PY - "$WORK/pool" "$WORK/s1" <<'PY' || fail "simulation bookkeeping"
import sys, glob, h5py, numpy as np
pool, out = sys.argv[1:]
truth = {}
for f in sorted(glob.glob(pool + "/shard-*.h5")):
    h = h5py.File(f)
    off, b = h["label_offsets"][:], h["label_bytes"][:].tobytes()
    for i, u in enumerate(h["uid"][:]):
        truth[int(u)] = b[off[i]:off[i + 1]].decode()
def labels(r):
    rows = open(f"{out}/labels-{r:03d}.tsv").read().splitlines()[1:]
    return {int(l.split("\t")[0]): l.split("\t")[1] for l in rows}
def queue(r):
    rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/round-{r:03d}/queue.tsv") if not l.startswith("#")][1:]
    return [int(x[0]) for x in rows]
test = {int(l) for l in open(out + "/test-split.tsv").read().split()[1:]}
from collections import Counter
per = Counter(truth[u] for u in test)
for c, n in Counter(truth.values()).items():
    assert per[c] == round(0.2 * n), (c, per[c], n)
for r in range(3):
    a, b, q = labels(r), labels(r + 1), queue(r)
    assert len(q) == 20 and len(set(q)) == 20, (r, len(q))
    assert not (set(q) & set(a)), f"round {r} queued a labelled item"
    assert not (set(q) & test), f"round {r} queued a held-out test item"
    assert not (set(a) & test), f"round {r} trained on a held-out test item"
    assert set(b) == set(a) | set(q), f"round {r}: labels {len(b)} != {len(a)} + {len(q)}"
    for u in q:
        assert b[u] == truth[u], f"round {r}: uid {u} labelled {b[u]}, truth {truth[u]}"
# last round's test metrics from its pool scores, against scikit-learn
from sklearn.metrics import average_precision_score, roc_auc_score, precision_recall_curve, f1_score
lab = labels(2)
ys, ps, rem = [], [], []
for f in sorted(glob.glob(out + "/round-002/pool-scores/shard-*.scores.h5")):
    h = h5py.File(f)
    cls = h.attrs["classes"]; cls = cls.decode() if isinstance(cls, bytes) else cls
    k = cls.split("\n").index("pos")
    for u, row in zip(h["uid"][:], h["probs"][:]):
        u = int(u)
        if u in test:
            ys.append(truth[u] == "pos"); ps.append(row)
        elif u not in lab:
            rem.append((truth[u] == "pos", row))
ys, ps = np.array(ys), np.array(ps)
m = [l.rstrip("\n").split("\t") for l in open(out + "/metrics.tsv") if not l.startswith("#")]
hdr, last = m[0], dict(zip(m[0], m[-1]))
pred = ps.argmax(1) == k
f1 = f1_score(ys, pred)
p, rc, _ = precision_recall_curve(ys, ps[:, k])
best = max(2 * a * b / (a + b) if a + b else 0 for a, b in zip(p, rc))
for name, want in [("f1_argmax", f1), ("average_precision", average_precision_score(ys, ps[:, k])),
                   ("roc_auc", roc_auc_score(ys, ps[:, k])), ("best_f1", best)]:
    assert abs(float(last[name]) - want) < 2e-6, (name, last[name], want)
assert int(last["labelled"]) == len(lab)
# the decision's counts are consistent with its precision and recall
P, R, F = float(last["precision"]), float(last["recall"]), float(last["f1"])
assert F == 0 or abs(F - 2 * P * R / (P + R)) < 1e-5, (P, R, F)
# area under the F1 curve: trapezoids with unit spacing over the (all evaluated) rounds
f1s = [float(dict(zip(hdr, r))["f1"]) for r in m[1:]]
auc = sum((a + b) / 2 for a, b in zip(f1s, f1s[1:]))
assert abs(float(last["auc_f1"]) - auc) < 1e-5, (last["auc_f1"], auc)
# Planted: a method that labels the 30 easiest positives of the remainder removes exactly them
# from the remainder F1 (the old metric drops), while the test metric cannot move.
thr = np.quantile([r[k] for _, r in rem], 0.95)  # the old metric at a fixed operating point: the top 5%
def rem_f1(rows):
    t = np.array([x for x, _ in rows]); pr = np.array([r[k] >= thr for _, r in rows])
    return f1_score(t, pr)
easy = sorted([i for i, (t, r) in enumerate(rem) if t], key=lambda i: -rem[i][1][k])[:30]
after = [x for i, x in enumerate(rem) if i not in set(easy)]
before_f1, after_f1 = rem_f1(rem), rem_f1(after)
assert after_f1 < before_f1 - 0.01, (before_f1, after_f1)
print(f"bookkeeping ok; test F1 {f1:.4f} (argmax), remainder F1 {before_f1:.4f} -> {after_f1:.4f} after labelling 30 easy positives")
PY
pass "labels grow by the queues' true labels; metrics equal numpy"
# --prior-correction em: trawl-simulate's estimate for round 0's model equals trawl-score's
# prior.tsv for the same model, which equals a numpy EM over the calibrated probabilities (a, b
# as written); the same at 2 ranks.
"$BIN/trawl-simulate" "${C[@]}" --rounds 1 --prior-correction em -o "$WORK/em"
P=(--model "$WORK/em/round-000/model.h5" --pool "$WORK/pool" --top-n 0 --cutoffs 0 --prior-correction em
   --labels "$WORK/em/labels-000.tsv" --oof "$WORK/em/round-000/model.h5.oof.scores.h5" --log-level warn)
"$BIN/trawl-score" "${P[@]}" -o "$WORK/prior1"
mpirun_n 2 "$BIN/trawl-score" "${P[@]}" -o "$WORK/prior2"
cmp -s "$WORK/prior1/prior.tsv" "$WORK/prior2/prior.tsv" || fail "prior.tsv differs at 2 ranks"
$PY - "$WORK/prior1" "$WORK/em" <<'PY' || fail "EM prior"
import sys, glob, h5py, numpy as np
d, out = sys.argv[1:]
lines = open(d + "/prior.tsv").read().splitlines()
a = float([l for l in lines if l.startswith("# calibration")][0].split("a = ")[1])
rows = [l.split("\t") for l in lines if not l.startswith("#")]
hdr, rows = rows[0], rows[1:]
cls = [r[0] for r in rows]; tp = np.array([float(r[1]) for r in rows]); got = np.array([float(r[2]) for r in rows])
b = np.array([float(r[4]) for r in rows])
lab = {int(l.split("\t")[0]) for l in open(out + "/labels-000.tsv").read().splitlines()[1:]}
P = []
for f in sorted(glob.glob(d + "/shard-*.scores.h5")):
    h = h5py.File(f)
    for u, p in zip(h["uid"][:], h["probs"][:]):
        if int(u) not in lab: P.append(p)
P = np.array(P, dtype=np.float64)
z = a * np.log(np.maximum(P, 1e-12)) + b; z -= z.max(1, keepdims=True); q = np.exp(z); q /= q.sum(1, keepdims=True)
pi = tp.copy()
for it in range(1000):
    r = q * np.where(tp > 0, pi / np.where(tp > 0, tp, 1), 0); r /= r.sum(1, keepdims=True)
    new = r.mean(0)
    if np.abs(new - pi).max() < 1e-8: pi = new; break
    pi = new
assert np.abs(pi - got).max() < 1e-6, (pi, got)
sim = {r.split("\t")[2]: float(r.split("\t")[10]) for r in open(out + "/metrics-classes.tsv").read().splitlines()
       if not r.startswith("#") and r.split("\t")[0] == "0"}
for c, v in zip(cls, got):
    assert abs(sim[c] - v) < 1e-6, (c, sim[c], v)
print("EM prior", dict(zip(cls, got.round(5))), "a =", a)
PY
pass "trawl-score --prior-correction em: numpy EM, the simulation's estimate, 2 ranks"
mpirun_n 3 "$BIN/trawl-simulate" "${S[@]}" -o "$WORK/s3"
# every column but the two timings (select_seconds, train_seconds)
untimed() { cut -f1-20 "$1"; }
cmp -s <(untimed "$WORK/s1/metrics.tsv") <(untimed "$WORK/s3/metrics.tsv") || { diff "$WORK/s1/metrics.tsv" "$WORK/s3/metrics.tsv" >&2; fail "metrics differ at 3 ranks"; }
cmp -s "$WORK/s1/metrics-classes.tsv" "$WORK/s3/metrics-classes.tsv" || fail "per-class metrics differ at 3 ranks"
for r in 000 001 002 003; do cmp -s "$WORK/s1/labels-$r.tsv" "$WORK/s3/labels-$r.tsv" || fail "labels-$r differ at 3 ranks"; done
for np in 2 4; do
  mpirun_n $np "$BIN/trawl-simulate" "${C[@]}" --rounds 1 -o "$WORK/r$np"
  cmp -s "$WORK/s1/test-split.tsv" "$WORK/r$np/test-split.tsv" || fail "test split differs at $np ranks"
  cmp -s <(untimed "$WORK/s1/metrics.tsv" | head -n 12) <(untimed "$WORK/r$np/metrics.tsv") || fail "round 0 differs at $np ranks"
  cmp -s "$WORK/s1/labels-001.tsv" "$WORK/r$np/labels-001.tsv" || fail "labels-001 differ at $np ranks"
done
pass "identical at 1, 2, 3 and 4 ranks"
# --method random: a uniform batch of b, no strategy; the same test split for every method and seed
"$BIN/trawl-simulate" "${S[@]}" --method random --seeds 1,2 -o "$WORK/rnd"
for s in 1 2; do
  [ "$(grep -v '^#' "$WORK/rnd/seed-$s/round-000/queue.tsv" 2>/dev/null | wc -l)" -eq 0 ] || fail "random wrote a strategy queue"
  [ "$(wc -l < "$WORK/rnd/seed-$s/labels-001.tsv")" -eq "$(( $(wc -l < "$WORK/rnd/seed-$s/labels-000.tsv") + 20 ))" ] || fail "random batch size"
  grep -q '^# strategy: random' "$WORK/rnd/seed-$s/metrics.tsv" || fail "random run's strategy"
done
cmp -s "$WORK/s1/test-split.tsv" "$WORK/rnd/test-split.tsv" || fail "test split differs between methods"
cmp -s "$WORK/rnd/seed-1/labels-001.tsv" "$WORK/rnd/seed-2/labels-001.tsv" && fail "two seeds drew the same random batch"
pass "random baseline: uniform batches; one test split for every method and seed"
cp -r "$WORK/s1" "$WORK/killed"
rm -rf "$WORK/killed/labels-002.tsv" "$WORK/killed/labels-003.tsv" "$WORK/killed/round-001" "$WORK/killed/round-002" \
  "$WORK/killed/metrics.tsv"
"$BIN/trawl-simulate" "${S[@]}" -o "$WORK/killed"
cmp -s <(untimed "$WORK/s1/metrics.tsv") <(untimed "$WORK/killed/metrics.tsv") || fail "resumed run differs"
pass "a killed run resumes to the same result"
# Noisy annotators through the labels journal, ActiveLab choosing between relabelling and new items.
N=("${S[@]}" --annotators 3 --accuracy 0.7 --strategy activelab)
"$BIN/trawl-simulate" "${N[@]}" -o "$WORK/n1"
mpirun_n 2 "$BIN/trawl-simulate" "${N[@]}" -o "$WORK/n2"
cmp -s <(untimed "$WORK/n1/metrics.tsv") <(untimed "$WORK/n2/metrics.tsv") || fail "noisy metrics differ at 2 ranks"
for r in 000 001 002 003; do cmp -s "$WORK/n1/labels-$r.tsv" "$WORK/n2/labels-$r.tsv" || fail "noisy labels-$r differ at 2 ranks"; done
# Round 0 (seed labels only, one vote each) is the journal's plain majority, as trawl-label computes it.
head -1 "$WORK/n1/journal.tsv" > "$WORK/n1/seed-journal.tsv"
grep -v '^#' "$WORK/n1/journal.tsv" | awk -F'\t' '$3 == "seed"' >> "$WORK/n1/seed-journal.tsv"
"$BIN/trawl-label" --mode consensus --journal "$WORK/n1/seed-journal.tsv" -o "$WORK/n1/seed-consensus.tsv" --log-level warn
cmp -s "$WORK/n1/seed-consensus.tsv" "$WORK/n1/labels-000.tsv" || fail "labels-000 is not the seeds' consensus"
$PY - "$WORK/pool" "$WORK/n1" <<'PY' || fail "noisy-annotator bookkeeping"
import sys, glob, h5py
pool, out = sys.argv[1:]
truth = {}
for f in sorted(glob.glob(pool + "/shard-*.h5")):
    h = h5py.File(f); off, b = h["label_offsets"][:], h["label_bytes"][:].tobytes()
    for i, u in enumerate(h["uid"][:]): truth[int(u)] = b[off[i]:off[i + 1]].decode()
recs = [l.rstrip("\n").split("\t") for l in open(out + "/journal.tsv") if not l.startswith("#")]
seeds = [r for r in recs if r[2] == "seed"]
m = [l.rstrip("\n").split("\t") for l in open(out + "/metrics.tsv") if not l.startswith("#")]
rows = [dict(zip(m[0], x)) for x in m[1:]]
relabels = queued = 0
for r in range(3):
    q = [l.rstrip("\n").split("\t") for l in open(f"{out}/round-{r:03d}/queue.tsv") if not l.startswith("#")][1:]
    quids = sorted(int(x[0]) for x in q)
    got = sorted(int(x[0]) for x in recs if x[5] == str(r + 1))
    assert got == quids, f"round {r}: journal records {len(got)} != queue {len(quids)}"
    assert all(x[6].startswith("activelab:") for x in q)
    lab = dict(l.rstrip("\n").split("\t") for l in open(f"{out}/labels-{r:03d}.tsv").readlines()[1:])
    acc = sum(truth[int(u)] == v for u, v in lab.items()) / len(lab)
    assert abs(float(rows[r]["label_accuracy"]) - acc) < 1e-6, (r, rows[r]["label_accuracy"], acc)
    rl = sum(1 for x in q if x[6] == "activelab:relabel")
    assert rl == int(rows[r]["relabelled"]), (r, rl, rows[r]["relabelled"])
    assert all((x[6] == "activelab:relabel") == (x[0] in lab) for x in q), "relabel flags disagree with the labelled set"
    # the next labelled set holds exactly the items with a journal record up to this round
    nxt = dict(l.rstrip("\n").split("\t") for l in open(f"{out}/labels-{r + 1:03d}.tsv").readlines()[1:])
    assert set(map(int, nxt)) == {int(x[0]) for x in recs if int(x[5]) <= r + 1}, f"labels-{r + 1} items"
    assert set(nxt.values()) <= {"pos", "neg"}
    relabels += rl
    queued += len(q)
assert len(recs) == len(seeds) + queued, (len(recs), len(seeds), queued)
from collections import Counter
per_item = Counter(int(x[0]) for x in recs if x[2] != "seed")
pairs = Counter((int(x[0]), x[2]) for x in recs)
for (u, a), n in pairs.items():  # an annotator answers an item again only once all 3 have
    assert n == 1 or per_item[u] > 3, f"uid {u}: {a} answered {n} times, {per_item[u]} simulated answers"
print(f"noisy: {len(recs)} journal records, {relabels} relabels over 3 rounds")
PY
pass "noisy annotators + ActiveLab: journal, consensus and metrics consistent, same at 2 ranks"
# A journal append cut short (the last round's answers partly on disk): the rerun asks only the
# queued items without an answer, so every one ends with exactly one.
cp -r "$WORK/n1" "$WORK/cut"
rm -f "$WORK/cut/labels-003.tsv" "$WORK/cut/metrics.tsv"
head -n -7 "$WORK/n1/journal.tsv" > "$WORK/cut/journal.tsv"
"$BIN/trawl-simulate" "${N[@]}" -o "$WORK/cut"
$PY - "$WORK/cut" <<'PY' || fail "resume after a cut append"
import sys
from collections import Counter
out = sys.argv[1]
recs = [l.rstrip("\n").split("\t") for l in open(out + "/journal.tsv") if not l.startswith("#")]
q = [l.split("\t")[0] for l in open(out + "/round-002/queue.tsv") if not l.startswith("#")][1:]
c = Counter(x[0] for x in recs if x[5] == "3")
assert all(c[u] == 1 for u in q) and sum(c.values()) == len(q), (len(q), dict(c))
print("cut append resumed:", len(q), "answers for round 2's queue")
PY
pass "a cut journal append resumes without losing or doubling answers"
# exploit-explore works on the pool's top list; --method full with noisy annotators uses CROWDLAB
"$BIN/trawl-simulate" "${S[@]}" --strategy exploit-explore -o "$WORK/ee"
[ "$(grep -v '^#' "$WORK/ee/metrics.tsv" | wc -l)" -eq 4 ] || fail "exploit-explore simulation"
grep -q $'\texplore:' "$WORK/ee/round-000/queue.tsv" || grep -q $'\texploit\t' "$WORK/ee/round-000/queue.tsv" || fail "no exploit-explore queue"
out=$("$BIN/trawl-simulate" --pool "$WORK/pool" --labels "$WORK/seed.tsv" --rounds 2 -b 20 --method full \
  --annotators 3 --accuracy 0.7 --strategy activelab --eval-every 0 -o "$WORK/full" --log-level info 2>&1)
echo "$out" | grep -q "no out-of-sample probabilities" && fail "--method full: items without probabilities"
echo "$out" | grep -q "next labels: CROWDLAB" || { echo "$out" | tail -5 >&2; fail "--method full did not use CROWDLAB"; }
pass "exploit-explore and noisy --method full simulations"
expect_fail 2 "activelab needs noisy annotators" "$BIN/trawl-simulate" "${S[@]}" --strategy activelab -o "$WORK/bad-al"
"$BIN/trawl-embed" -i "$WORK"/in/chunk-00000.tsv --dim 64 -o "$WORK/nolabels" --log-level warn
expect_fail 3 "shard-000000.h5: no label column" "$BIN/trawl-simulate" --pool "$WORK/nolabels" --labels "$WORK/seed.tsv" -o "$WORK/bad"
pass "pool without labels"
