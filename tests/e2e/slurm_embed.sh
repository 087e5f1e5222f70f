# slurm/embed.sbatch as a real sbatch array (3 tasks) gives the same shards as one process.
# Skips (exit 77) when no Slurm cluster answers (tools/start-slurm.sh starts one).
source "$(dirname "$0")/lib.sh"
command -v sbatch >/dev/null && timeout 10 sinfo -h >/dev/null 2>&1 || { echo "no slurm: skipped"; exit 77; }
SRC=${TRAWL_SOURCE:?}
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 5 --rows 800 --seed 11 --log-level warn
ls "$WORK"/in/chunk-* > "$WORK/list"
"$BIN/trawl-embed" --input-list "$WORK/list" -o "$WORK/ref" --dim 32 --log-level warn
chmod -R a+rwX "$WORK"
( cd "$WORK" && TRAWL_BIN=$BIN sbatch --wait --array=0-2 --cpus-per-task=1 --output="$WORK/slurm-%A_%a.log" \
    "$SRC/slurm/embed.sbatch" "$WORK/list" "$WORK/slurm" --dim 32 --log-level warn ) > "$WORK/sbatch.out"
cat "$WORK"/slurm-*.log
[ "$(ls "$WORK"/slurm-*.log | wc -l)" -eq 3 ] || fail "expected 3 array task logs"
same_datasets "$WORK/ref" "$WORK/slurm" uid id_offsets id_bytes text_offsets text_bytes token_offsets token_ids embedding
pass "sbatch array of 3 tasks identical to one process"
