#!/usr/bin/env bash
# Chains one active-learning round's jobs with --dependency=afterok, so each starts only when
# the one before it succeeded:
#   [embed array] -> [index array] -> retrieve (array + merge, or MPI) -> train -> score+select
#   slurm/round.sh --pool DIR --labels FILE --round N --out ROUND_DIR [--inputs LIST] [--tasks T]
#                  [--mpi RANKS] [--backend hnsw|exact] [--strategy S] [--batch-size B] [--retrieve-only]
# The round ends with ROUND_DIR/queue.tsv (trawl-select, default strategy entropy, b = 25).
# With --inputs the pool is (re)built first (finished shards and indexes are skipped).
# Prints the job ids; `squeue` shows them waiting on each other.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pool= labels= round= out= inputs= tasks=4 mpi=0 backend=hnsw strategy=entropy batch=25 retrieve_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --pool) pool=$2; shift 2 ;; --labels) labels=$2; shift 2 ;; --round) round=$2; shift 2 ;;
    --out) out=$2; shift 2 ;; --inputs) inputs=$2; shift 2 ;; --tasks) tasks=$2; shift 2 ;;
    --mpi) mpi=$2; shift 2 ;; --backend) backend=$2; shift 2 ;;
    --strategy) strategy=$2; shift 2 ;; --batch-size) batch=$2; shift 2 ;; --retrieve-only) retrieve_only=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "round.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$pool" ] && [ -n "$labels" ] && [ -n "$round" ] && [ -n "$out" ] || { echo "round.sh: --pool, --labels, --round and --out are required" >&2; exit 2; }
dep=()
jid() { awk '{print $NF}'; }
if [ -n "$inputs" ]; then
  j=$(sbatch --parsable --array=0-$((tasks - 1)) "$here/embed.sbatch" "$inputs" "$pool"); echo "embed: $j"; dep=(--dependency=afterok:$j)
fi
if [ "$backend" = hnsw ]; then
  j=$(sbatch --parsable "${dep[@]}" --array=0-$((tasks - 1)) "$here/index.sbatch" "$pool"); echo "index: $j"; dep=(--dependency=afterok:$j)
fi
if [ "$mpi" -gt 0 ]; then
  j=$(sbatch --parsable "${dep[@]}" --ntasks="$mpi" "$here/retrieve.sbatch" "$pool" "$labels" "$out" "$round" --backend "$backend")
  echo "retrieve (MPI, $mpi ranks): $j"
else
  j=$(sbatch --parsable "${dep[@]}" --array=0-$((tasks - 1)) "$here/retrieve-array.sbatch" "$pool" "$labels" "$out" "$round" --backend "$backend")
  echo "retrieve (array): $j"
  j=$(sbatch --parsable --dependency=afterok:$j "$here/merge.sbatch" "$out"); echo "merge: $j"
fi
if [ "$retrieve_only" = 0 ]; then
  ranks=$(( mpi > 0 ? mpi : 1 ))
  j=$(sbatch --parsable --dependency=afterok:$j --ntasks="$ranks" "$here/train.sbatch" "$pool" "$labels" "$out" "$round")
  echo "train: $j"
  j=$(sbatch --parsable --dependency=afterok:$j "$here/select.sbatch" "$pool" "$labels" "$out" "$round" \
    "$strategy" "$batch")
  echo "score + select: $j"
fi
echo "last job: $j (sbatch --dependency=afterok:$j ... for the next stage)"
