# trawl-evaluate on a scored pool: the rank-bucket sample (cutoffs-pos.tsv) labelled from the
# shards' label column, then
#  * with --bootstrap 0 the fit equals scikit-learn's unpenalised logistic regression on the same
#    rows, and the expansion numerator equals numpy's count of pool scores above -c/a;
#  * precision_top20 equals a direct count;
#  * with --bootstrap 300 the outputs are identical at 1 and 3 ranks;
#  * bad input (a class the scores do not have) is a clear error.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy, sklearn' 2>/dev/null || fail "the reference needs h5py/numpy/sklearn (tools/install-deps.sh installs it)"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 3 --rows 2000 --seed 4 --positive-rate 0.08 --log-level warn
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --label-column label --dim 64 -o "$WORK/pool" --log-level warn
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/seed.tsv" --minority pos --per-class 30 --rest 120 --log-level warn
"$BIN/trawl-train" --pool "$WORK/pool" --labels "$WORK/seed.tsv" --lr 0.01 -o "$WORK/model.h5" --log-level warn
"$BIN/trawl-score" --model "$WORK/model.h5" --pool "$WORK/pool" --top-n 100 -o "$WORK/scores" --log-level warn
# The oracle labels the sample (what annotators would do through trawl-label).
$PY - "$WORK/pool" "$WORK/scores/cutoffs-pos.tsv" "$WORK/sample-labels.tsv" <<'PY'
import sys, glob, h5py
pool, cut, out = sys.argv[1:]
truth = {}
for f in sorted(glob.glob(pool + "/shard-*.h5")):
    h = h5py.File(f); off, b = h["label_offsets"][:], h["label_bytes"][:].tobytes()
    for i, u in enumerate(h["uid"][:]): truth[int(u)] = b[off[i]:off[i + 1]].decode()
rows = [l.rstrip("\n").split("\t") for l in open(cut) if not l.startswith("#")]
ci = rows[0].index("uid")
with open(out, "w") as f:
    f.write("uid\tlabel\n")
    for r in sorted(rows[1:], key=lambda r: int(r[ci])): f.write(f"{r[ci]}\t{truth[int(r[ci])]}\n")
PY
E=(--cutoffs "$WORK/scores/cutoffs-pos.tsv" --labels "$WORK/sample-labels.tsv" --class pos --scores "$WORK/scores"
   --log-level warn)
"$BIN/trawl-evaluate" "${E[@]}" --bootstrap 0 -o "$WORK/ev0"
$PY - "$WORK" <<'PY' || fail "evaluation differs from sklearn/numpy"
import sys, glob, h5py, numpy as np, sklearn
from sklearn.linear_model import LogisticRegression
w = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in open(w + "/scores/cutoffs-pos.tsv") if not l.startswith("#")]
h = rows[0]; rows = [dict(zip(h, r)) for r in rows[1:]]
lab = dict(l.rstrip("\n").split("\t") for l in open(w + "/sample-labels.tsv").readlines()[1:])
rows.sort(key=lambda r: int(r["rank"]))
s = np.array([float(r["score"]) for r in rows]); y = np.array([lab[r["uid"]] == "pos" for r in rows], int)
kw = {"penalty": None} if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 2) else {"penalty": "none"}
m = LogisticRegression(solver="lbfgs", tol=1e-12, max_iter=10000, **kw).fit(s[:, None], y)
a, c = m.coef_[0][0], m.intercept_[0]
cal = [l.split("\t") for l in open(w + "/ev0/calibration-pos.tsv").read().splitlines()[1:]]
ga, gc = float(cal[0][1]), float(cal[0][2])
assert abs(ga - a) < 1e-3 * (1 + abs(a)) and abs(gc - c) < 1e-3 * (1 + abs(c)), (ga, gc, a, c)
ev = dict(l.split("\t") for l in open(w + "/ev0/evaluate-pos.tsv").read().splitlines() if not l.startswith("#"))
root = float(ev["root_0.5"])
assert abs(root - (-c / a)) < 1e-4, (root, -c / a)
p = []
for f in sorted(glob.glob(w + "/scores/shard-*.scores.h5")):
    hh = h5py.File(f); cls = hh.attrs["classes"]; cls = cls.decode() if isinstance(cls, bytes) else cls
    p.append(hh["probs"][:, cls.split("\n").index("pos")])
p = np.concatenate(p).astype(np.float64)
E = int((p > root).sum())
assert int(ev["expansion_numerator"]) == E, (ev["expansion_numerator"], E)
assert int(ev["pool_items"]) == len(p)
assert abs(float(ev["precision_top20"]) - y[:20].mean()) < 1e-9, (ev["precision_top20"], y[:20].mean())
print(f"fit a={ga:.4f} c={gc:.4f} (sklearn {a:.4f} {c:.4f}); root {root:.4f}; E = {E} of {len(p)}; "
      f"precision_top20 {y[:20].mean():.2f}")
PY
pass "fit, root, expansion and precision equal sklearn/numpy"
"$BIN/trawl-evaluate" "${E[@]}" --bootstrap 300 -o "$WORK/ev1"
mpirun_n 3 "$BIN/trawl-evaluate" "${E[@]}" --bootstrap 300 -o "$WORK/ev3"
cmp -s <(grep -v '^#' "$WORK/ev1/evaluate-pos.tsv") <(grep -v '^#' "$WORK/ev3/evaluate-pos.tsv") || fail "evaluation differs at 3 ranks"
cmp -s "$WORK/ev1/calibration-pos.tsv" "$WORK/ev3/calibration-pos.tsv" || fail "calibration differs at 3 ranks"
grep -q "^expansion_se" "$WORK/ev1/evaluate-pos.tsv" || fail "no standard error"
grep -q "<polyline" "$WORK/ev1/calibration-pos.svg" || fail "no calibration plot"
pass "bootstrap evaluation identical at 1 and 3 ranks"
expect_fail 3 "no class 'nope' among the scores' classes" "$BIN/trawl-evaluate" --cutoffs "$WORK/scores/cutoffs-pos.tsv" \
  --labels "$WORK/sample-labels.tsv" --class nope --positive pos --scores "$WORK/scores" --bootstrap 0 -o "$WORK/bad"
[ ! -e "$WORK/bad/evaluate-nope.tsv" ] || fail "output left behind"
pass "unknown class"
