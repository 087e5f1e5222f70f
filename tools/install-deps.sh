#!/usr/bin/env bash
# Installs trawl's build and runtime dependencies from Debian's package archive.
# Safe to run repeatedly; does nothing when everything is already installed.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libhnswlib-dev libeigen3-dev libboost-program-options-dev
  libtorch-dev libopenblas0-pthread
  libutf8proc-dev zlib1g-dev
  libgtest-dev googletest
  python3-numpy python3-h5py python3-hnswlib python3-sklearn python3-scipy python3-torch
  gnuplot-nox
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the real corpus; the machine's own Node.js may not be Debian's, so only
# install Debian's when no npm is on PATH at all.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
