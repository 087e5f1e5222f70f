#!/usr/bin/env bash
# One AnchorAL round end to end over a synthetic pool of N items (default 10^8) on this machine,
# at 1 and 2 ranks: wall time and peak memory per rank of every stage (issue "10^8 items on one
# machine"). The pool: trawl-gen-vectors, shards of 10^6 rows, dim $DIM (default 32) f16,
# 10,000 clusters of which one is "pos" (a 1-in-10,000 class).
#
#   bench/run_pool_scale.sh [N] [DIR]      e.g. bench/run_pool_scale.sh 100000000 /work/scale
#
# Stages: gen (2 ranks) -> seed labels -> retrieve (exact, 20 anchors x 500 neighbours,
# subpool 10,000) -> train (logreg on the subpool's embeddings) -> score the subpool -> select 100
# (least-confidence) -> score the whole pool with top-10,000 + the 17 cut-offs -> evaluate's
# expansion numerator over all scores files. Prints one row per stage and rank count:
# stage, ranks, wall seconds, items/s, CPU seconds (user + system, all ranks), max RSS per rank
# (MiB). CPU seconds do not grow when other work shares the cores; wall seconds do. Keeps the
# pool in DIR (reused).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TRAWL_BIN:-$here/build/bin}
N=${1:-100000000}
W=${2:-/tmp/trawl-scale}
DIM=${DIM:-32}
PER=1000000
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$W"
P="$W/pool-$N"
L=(--log-level warn)
# run NAME NP ITEMS CMD...: one row: stage, ranks, wall s, items/s, max RSS per rank. NP 1 runs
# the binary without a launcher (the embedded default: no MPI start-up), NP > 1 under mpirun.
run() {
  local name=$1 np=$2 items=$3; shift 3
  local log="$W/$name-np$np.log" s e
  s=$(date +%s.%N)
  if [ "$np" -le 1 ]; then
    /usr/bin/time -f "maxrss_kb %M cpu_s %U %S" "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
    np=1
  else
    mpirun -n "$np" --oversubscribe /usr/bin/time -f "maxrss_kb %M cpu_s %U %S" "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
  fi
  e=$(date +%s.%N)
  awk -v n="$name" -v p="$np" -v s="$s" -v e="$e" -v it="$items" '
    /maxrss_kb/ { if ($2 > m) m = $2; c += $4 + $5 }
    END { w = e - s; printf "%-22s %3d %10.2f %14.0f %10.2f %10.0f\n", n, p, w, (it > 0 ? it / w : 0), c, m / 1024 }' "$log"
}
printf '%-22s %3s %10s %14s %10s %10s\n' stage np "wall s" "items/s" "CPU s" "RSS MiB"
shards=$(( (N + PER - 1) / PER ))
if [ ! -f "$P/.complete" ]; then
  run gen-vectors 2 "$N" "$BIN/trawl-gen-vectors" -o "$P" --shards $shards --rows $PER --dim "$DIM" --dtype f16 \
    --clusters 10000 --positive-clusters 1 "${L[@]}"
  touch "$P/.complete"
fi
[ -f "$W/labels-$N.tsv" ] ||
  run seed-labels 1 "$N" "$BIN/trawl-seed-labels" --pool "$P" -o "$W/labels-$N.tsv" --minority pos --per-class 10 --rest 990 "${L[@]}"
du -sh "$P" | awk '{print "pool on disk: " $1}'
for np in 1 2; do
  O="$W/round-$N-np$np"
  rm -rf "$O"
  R=(--pool "$P" --labels "$W/labels-$N.tsv" --anchors-per-class 10 --neighbours 500 --subpool-size 10000 --round 1 "${L[@]}")
  run retrieve-exact $np "$N" "$BIN/trawl-retrieve" "${R[@]}" -o "$O"
  run train-logreg $np 10000 "$BIN/trawl-train" --pool "$P" --labels "$W/labels-$N.tsv" --subpool "$O/subpool.h5" \
    --features embedding -o "$O/model.h5" "${L[@]}"
  run score-subpool $np 10000 "$BIN/trawl-score" --model "$O/model.h5" --subpool "$O/subpool.h5" -o "$O" "${L[@]}"
  run select-lc $np 10000 "$BIN/trawl-select" --scores "$O/subpool.scores.h5" --strategy least-confidence -b 100 \
    --labels "$W/labels-$N.tsv" --pool "$P" -o "$O/q" "${L[@]}"
  run score-pool+topn $np "$N" "$BIN/trawl-score" --model "$O/model.h5" --pool "$P" --top-n 10000 -o "$O/scores" "${L[@]}"
  # The cut-off sample's labels from the pool's label column (the oracle), for evaluate.
  /usr/bin/python3 - "$P" "$O/scores/cutoffs-pos.tsv" "$O/cutoff-labels.tsv" <<'PY'
import sys, glob, h5py, numpy as np
pool, cut, out = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(cut) if not l.startswith("#")]
ui = rows[0].index("uid")
want = {int(r[ui]) for r in rows[1:]}
lab = {}
for f in sorted(glob.glob(pool + "/shard-*.h5")):
    with h5py.File(f) as h:
        u = h["uid"][:]
        hit = np.nonzero(np.isin(u, np.fromiter(want, np.uint64)))[0]
        if len(hit) == 0:
            continue
        o = h["label_offsets"]
        for i in hit:
            a, b = o[i], o[i + 1]
            lab[int(u[i])] = h["label_bytes"][a:b].tobytes().decode()
with open(out, "w") as g:
    g.write("uid\tlabel\n" + "".join("%d\t%s\n" % (u, lab[u]) for u in sorted(lab)))
PY
  run evaluate-expansion $np "$N" "$BIN/trawl-evaluate" --cutoffs "$O/scores/cutoffs-pos.tsv" --labels "$O/cutoff-labels.tsv" \
    --class pos --scores "$O/scores" --bootstrap 1000 -o "$O/eval" "${L[@]}"
done
