#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test tier (unit, mpi at 1-4 ranks, e2e).
# Usage: tools/test.sh [ctest args...]   e.g. tools/test.sh -L unit
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/tools/install-deps.sh"
bash "$here/tools/build.sh" "$here/build"
# A single-node Slurm cluster for the sbatch e2e test (skipped when it cannot start).
if [ "$(id -u)" -eq 0 ]; then bash "$here/tools/start-slurm.sh" || echo "test.sh: no Slurm; its e2e test will be skipped" >&2; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$here/build"
ctest --output-on-failure -j "${TRAWL_TEST_JOBS:-2}" "$@"
