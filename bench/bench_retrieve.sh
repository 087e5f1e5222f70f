#!/usr/bin/env bash
# Selection time per AnchorAL round (anchors + search + reduction + subpool write) over
# synthetic clustered pools (d=256, or $TRAWL_BENCH_DIM), exact and HNSW backends, 1 and 2 ranks; peak memory per
# rank; HNSW build time; and the crossover (rounds after which building HNSW pays off).
#   bench/bench_retrieve.sh [SIZES...]      default: 100000 1000000
# HNSW is built only for pools up to TRAWL_BENCH_HNSW_MAX items (default 1000000): its build
# runs at ~2.5k items/s per core here, so 10M items would take over an hour on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TRAWL_BIN:-$here/build/bin}
sizes=("${@:-100000 1000000}")
[ $# -gt 0 ] || sizes=(100000 1000000)
hmax=${TRAWL_BENCH_HNSW_MAX:-1000000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=${TRAWL_BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/trawl-bench-retrieve-XXXXXX")}
keep=${TRAWL_BENCH_KEEP:-}
[ -n "$keep" ] || trap 'rm -rf "$W"' EXIT
secs() { awk '/time retrieve total/ {print $(NF-0)}' "$1" | sed 's/s$//' | sort -n | tail -1; }
# run LOG NP CMD...: runs under mpirun with /usr/bin/time per rank; prints wall seconds and max RSS MiB.
run() {
  local log=$1 np=$2; shift 2
  local s e
  s=$(date +%s.%N)
  mpirun -n "$np" --oversubscribe /usr/bin/time -f "maxrss_kb %M" "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
  printf ' %s\n' "$(awk '/maxrss_kb/ {if ($2 > m) m = $2} END {printf "%.0f", m / 1024}' "$log")"
}
printf '%-9s %-6s %3s %10s %10s %10s\n' "items" "backend" "np" "round s" "wall s" "RSS MiB"
for n in "${sizes[@]}"; do
  per=250000; [ "$n" -lt 1000000 ] && per=$((n / 4))
  shards=$(( (n + per - 1) / per ))
  P=$W/pool-$n
  if [ ! -d "$P" ]; then
    mpirun -n 2 --oversubscribe "$BIN/trawl-gen-vectors" -o "$P" --shards $shards --rows $per --dim "${TRAWL_BENCH_DIM:-256}" --log-level warn
    "$BIN/trawl-seed-labels" --pool "$P" -o "$P.labels.tsv" --minority pos --per-class 5 --rest 95 --log-level warn
  fi
  R=(--pool "$P" --labels "$P.labels.tsv" --round 1 --subpool-size 10000)
  declare -A T
  for np in 1 2; do
    read -r wall rss < <(run "$W/exact-$n-$np.log" $np "$BIN/trawl-retrieve" "${R[@]}" -o "$W/r-$n-$np" --backend exact)
    T[exact$np]=$(secs "$W/exact-$n-$np.log")
    printf '%-9s %-6s %3s %10s %10s %10s\n' "$n" exact $np "${T[exact$np]}" "$wall" "$rss"
  done
  if [ "$n" -le "$hmax" ]; then
    s=$(date +%s.%N)
    "$BIN/trawl-index" --pool "$P" --threads 2 --log-level warn
    build=$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    for np in 1 2; do
      read -r wall rss < <(run "$W/hnsw-$n-$np.log" $np "$BIN/trawl-retrieve" "${R[@]}" -o "$W/h-$n-$np" --backend hnsw)
      T[hnsw$np]=$(secs "$W/hnsw-$n-$np.log")
      printf '%-9s %-6s %3s %10s %10s %10s\n' "$n" hnsw $np "${T[hnsw$np]}" "$wall" "$rss"
    done
    rec=$(/usr/bin/python3 -c "
import h5py
a = set(h5py.File('$W/r-$n-1/subpool.h5')['uid'][:].tolist()); b = set(h5py.File('$W/h-$n-1/subpool.h5')['uid'][:].tolist())
print(f'{len(a & b) / max(1, len(a)):.4f}')" 2>/dev/null || echo "?")
    gain=$(awk -v a="${T[exact1]}" -v b="${T[hnsw1]}" 'BEGIN { printf "%.3f", a - b }')
    cross=$(awk -v g="$gain" -v b="$build" 'BEGIN { if (g <= 0) print "never"; else printf "%.0f", b / g }')
    echo "  hnsw build (M=64, efC=200, 2 threads): ${build}s; subpool recall vs exact: $rec; exact - hnsw per round: ${gain}s; build pays off after $cross rounds"
  fi
done
