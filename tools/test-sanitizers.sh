#!/usr/bin/env bash
# The unit and MPI tiers built with AddressSanitizer + UndefinedBehaviorSanitizer (any report
# fails the test: -fno-sanitize-recover=all) in build-asan/, without the LibTorch parts (their
# tests run in the normal build) and without benchmarks; -O1 keeps the build time down.
# Usage: tools/test-sanitizers.sh [ctest args...]
# Leak detection is off: Open MPI and HDF5 keep process-lifetime allocations LeakSanitizer reports.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${TRAWL_ASAN_BUILD:-$here/build-asan}
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DTRAWL_WITH_TORCH=OFF -DTRAWL_BUILD_BENCH=OFF -DTRAWL_SANITIZE=address,undefined
fi
cmake --build "$build" -j "${TRAWL_BUILD_JOBS:-$(nproc)}"
cd "$build"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --output-on-failure -j "${TRAWL_TEST_JOBS:-2}" -L "unit|mpi" "$@"
