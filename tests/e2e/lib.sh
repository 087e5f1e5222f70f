# Shared helpers for e2e scenarios (sourced). Needs TRAWL_BIN (set by ctest).
set -euo pipefail
BIN=${TRAWL_BIN:?TRAWL_BIN not set}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trawl-e2e-XXXXXX")
cleanup() { [ -n "${TRAWL_KEEP_TEST_DIRS:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
mpirun_n() { local n=$1; shift; mpirun -n "$n" --oversubscribe "$@"; }
# h5same A B DATASET: true when the dataset is equal in both files. h5diff exits 0 for datasets
# it cannot compare (other shapes or types) and only says "Not comparable", so check for that too.
h5same() {
  local out rc=0
  out=$(h5diff "$1" "$2" "$3" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] && ! echo "$out" | grep -q "Not comparable"
}
# same_datasets DIR_A DIR_B DATASET...: every shard in A equals its namesake in B, dataset by dataset.
same_datasets() {
  local a=$1 b=$2; shift 2
  local na nb
  na=$(ls "$a"/shard-*.h5 | wc -l); nb=$(ls "$b"/shard-*.h5 | wc -l)
  [ "$na" -eq "$nb" ] || fail "$a has $na shards, $b has $nb"
  for f in "$a"/shard-*.h5; do
    for d in "$@"; do
      h5same "$f" "$b/$(basename "$f")" "/$d" || fail "$(basename "$f") dataset /$d differs between $a and $b"
    done
  done
}
# expect_fail CODE PATTERN CMD...: CMD exits with CODE and its stderr matches PATTERN.
expect_fail() {
  local code=$1 pat=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -eq "$code" ] || { echo "$out" >&2; fail "expected exit $code, got $rc: $*"; }
  echo "$out" | grep -qE -- "$pat" || { echo "$out" >&2; fail "error message does not match '$pat'"; }
}
count_shards() { { find "$1" -maxdepth 1 -name 'shard-*.h5' 2>/dev/null || true; } | wc -l; }
