#!/usr/bin/env bash
# Issue 10's yardstick: one AnchorAL round over a 1M x 64 f32 pool (15 anchors, K = 50,
# M = 10,000) by trawl-retrieve from a fresh process (wall time, start-up, reading the shards
# and writing the subpool included) against numpy doing the same exact search on the same
# vectors already in memory (X @ A.T + argpartition per anchor, float32, OpenBLAS), in the same
# run. Both at 1 thread (trawl: 1 rank; numpy: OPENBLAS_NUM_THREADS=1), then 2 (trawl: 2 ranks).
# Also checks that numpy's neighbour lists give the same subpool candidates as trawl's.
#   bench/anchoral_vs_numpy.sh [ROWS_PER_SHARD]   (default 250000: 4 shards, 1M items)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TRAWL_BIN:-$here/build/bin}
PY=/usr/bin/python3
per=${1:-250000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=${TRAWL_BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/trawl-bench-np-XXXXXX")}
[ -n "${TRAWL_BENCH_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
P=$W/pool
if [ ! -d "$P" ]; then
  "$BIN/trawl-gen-vectors" -o "$P" --shards 4 --rows "$per" --dim 64 --dtype f32 --log-level warn
  "$BIN/trawl-seed-labels" --pool "$P" -o "$W/labels.tsv" --minority pos --per-class 5 --rest 10 --log-level warn
fi
cat "$P"/shard-*.h5 > /dev/null  # page cache warm for both
tw() {  # wall seconds of a command
  local s e; s=$(date +%s.%N); "$@" > "$W/last.log" 2>&1 || { cat "$W/last.log"; exit 1; }; e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
}
R=(--pool "$P" --labels "$W/labels.tsv" --round 1 --neighbours 50 --subpool-size 10000 --log-level warn)
t1=$(tw "$BIN/trawl-retrieve" "${R[@]}" -o "$W/r1")
t1b=$(tw "$BIN/trawl-retrieve" "${R[@]}" -o "$W/r1b")
t1n=$(TRAWL_READ_AHEAD=0 tw "$BIN/trawl-retrieve" "${R[@]}" -o "$W/r1n")
t2=$(tw mpirun -n 2 --oversubscribe "$BIN/trawl-retrieve" "${R[@]}" -o "$W/r2")
# The subpools' datasets (the config attribute names the output directory, so files differ).
same=$($PY -c "
import sys, h5py, numpy as np
a, b = h5py.File('$W/r1/subpool.h5', 'r'), h5py.File('$W/r2/subpool.h5', 'r')
print('identical' if all(np.array_equal(a[k][:], b[k][:]) for k in a) and set(a) == set(b) else 'DIFFERENT')")
for th in 1 2; do
  OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th $PY - "$P" "$W/labels.tsv" "$W/r1" "$th" <<'PY'
import sys, glob, time
import numpy as np, h5py
pool, labels, rdir, th = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
uids, X = [], []
for f in sorted(glob.glob(pool + "/shard-*.h5")):
    with h5py.File(f, "r") as h:
        uids.append(h["uid"][:]); X.append(h["embedding"][:].astype(np.float32))
uid = np.concatenate(uids); X = np.ascontiguousarray(np.concatenate(X))
row = {int(u): i for i, u in enumerate(uid)}
lab = [int(l.split("\t")[0]) for l in open(labels).read().splitlines()[1:] if l]
anc = [int(l.split("\t")[2]) for l in open(rdir + "/anchors.tsv").read().splitlines()[1:] if l]
A = X[[row[u] for u in anc]]
mask = np.zeros(len(uid), bool); mask[[row[u] for u in lab]] = True
K = 50
best = float("inf")
for rep in range(3):
    t = time.perf_counter()
    S = X @ A.T                       # cosine similarity (unit vectors)
    S[mask, :] = -np.inf              # labelled items are not neighbours
    lists = []
    for j in range(S.shape[1]):
        idx = np.argpartition(-S[:, j], K)[:K]
        lists.append(idx[np.argsort(-S[idx, j], kind="stable")])
    best = min(best, time.perf_counter() - t)
cand = np.unique(np.concatenate(lists))
with h5py.File(rdir + "/subpool.h5", "r") as h:
    trawl_c = set(int(u) for u in h["uid"][:])
np_c = set(int(uid[i]) for i in cand)
print(f"numpy {th} thread(s): {best:.3f} s for the search in memory (best of 3); candidates {len(np_c)}, "
      f"in trawl's subpool {len(np_c & trawl_c)} of {len(np_c)}")
PY
done
echo "trawl-retrieve 1 rank: ${t1} s, again ${t1b} s, without read-ahead ${t1n} s (fresh process each: start-up, reads, anchors, search, subpool write)"
echo "trawl-retrieve 2 ranks: ${t2} s; subpool at 1 and 2 ranks: $same"
