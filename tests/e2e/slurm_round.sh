# slurm/round.sh on a real Slurm cluster: embed array -> index array -> retrieve array -> merge,
# -> train -> score + select, chained with afterok, and the MPI variant; both give the subpool
# and the queue one process gives.
# Skips (exit 77) when no Slurm cluster answers (tools/start-slurm.sh starts one).
source "$(dirname "$0")/lib.sh"
command -v sbatch >/dev/null && timeout 10 sinfo -h >/dev/null 2>&1 || { echo "no slurm: skipped"; exit 77; }
SRC=${TRAWL_SOURCE:?}
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 4 --rows 600 --seed 13 --positive-rate 0.05 --log-level warn
ls "$WORK"/in/chunk-* > "$WORK/list"
# the same encoder options slurm/embed.sbatch uses (its defaults: hash, d = 256)
"$BIN/trawl-embed" --input-list "$WORK/list" -o "$WORK/ref-pool" --label-column label --log-level warn
"$BIN/trawl-seed-labels" --pool "$WORK/ref-pool" -o "$WORK/labels.tsv" --minority pos --per-class 3 --rest 20 --log-level warn
"$BIN/trawl-retrieve" --pool "$WORK/ref-pool" --labels "$WORK/labels.tsv" -o "$WORK/ref" --round 2 --log-level warn
"$BIN/trawl-train" --pool "$WORK/ref-pool" --labels "$WORK/labels.tsv" --subpool "$WORK/ref/subpool.h5" --round 2 \
  -o "$WORK/ref/model.h5" --log-level warn
"$BIN/trawl-score" --model "$WORK/ref/model.h5" --subpool "$WORK/ref/subpool.h5" --features -o "$WORK/ref" --log-level warn
"$BIN/trawl-select" --scores "$WORK/ref/subpool.scores.h5" --labels "$WORK/labels.tsv" --pool "$WORK/ref-pool" \
  --round 2 --strategy badge -b 10 -o "$WORK/ref" --log-level warn
chmod -R a+rwX "$WORK"
wait_job() {  # wait until a job id has left the queue, then require COMPLETED state via sacct-free check
  local st
  for _ in $(seq 1 600); do
    st=$(squeue -h -o '%i %T %r' 2>/dev/null || true)
    [ -n "$(squeue -h -j "$1" 2>/dev/null || true)" ] || return 0
    if echo "$st" | grep -qE 'DependencyNeverSatisfied|PartitionConfig|BadConstraints'; then
      echo "$st" >&2; cat "$WORK"/trawl-*.log >&2 || true; scancel -u "$(id -un)" || true
      fail "a job of the chain cannot run"
    fi
    sleep 1
  done
  fail "job $1 did not finish"
}
cd "$WORK"
# The pool is built by the chain itself (--inputs), with the exact backend (no index needed)
# and then again with hnsw (the index array runs too).
out=$(TRAWL_BIN=$BIN bash "$SRC/slurm/round.sh" --inputs "$WORK/list" --pool "$WORK/pool" --labels "$WORK/labels.tsv" \
  --round 2 --out "$WORK/r-array" --tasks 2 --backend exact --strategy badge --batch-size 10)
echo "$out"
last=$(echo "$out" | awk '/^last job/ {print $3}')
wait_job "$last"
[ -f "$WORK/r-array/subpool.h5" ] || { cat "$WORK"/trawl-*.log; fail "chain produced no subpool"; }
for d in uid score anchor_count embedding; do
  h5same "$WORK/ref/subpool.h5" "$WORK/r-array/subpool.h5" /$d || fail "array chain: /$d differs"
done
[ -f "$WORK/r-array/queue.tsv" ] || { cat "$WORK"/trawl-*.log; fail "chain produced no queue"; }
cmp -s <(grep -v '^#' "$WORK/ref/queue.tsv") <(grep -v '^#' "$WORK/r-array/queue.tsv") || fail "array chain: queue differs"
pass "embed -> retrieve array -> merge -> train -> score + select chain equals one process"
out=$(TRAWL_BIN=$BIN bash "$SRC/slurm/round.sh" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --round 2 \
  --out "$WORK/r-mpi" --tasks 2 --mpi 2 --backend hnsw)
echo "$out"
wait_job "$(echo "$out" | awk '/^last job/ {print $3}')"
[ -f "$WORK/r-mpi/subpool.h5" ] || { cat "$WORK"/trawl-*.log; fail "MPI chain produced no subpool"; }
[ -f "$WORK/r-mpi/queue.tsv" ] || { cat "$WORK"/trawl-*.log; fail "MPI chain produced no queue"; }
[ "$(ls "$WORK"/pool/index/*.hnsw | wc -l)" -eq 4 ] || fail "index array did not index 4 shards"
pass "index array -> MPI retrieve (hnsw) -> MPI train -> select chain ran"
