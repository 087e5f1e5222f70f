# One flipped byte in each kind of file trawl reads is a clear error from the stage that reads
# it — exit 3, naming the file, the dataset and the rows (or the line) — and the stage leaves
# nothing under a final name: shard embedding, shard text bytes, shard token ids, subpool,
# model, scores, vocabulary, LSA encoder, HNSW index, labels journal. trawl-inspect --check
# finds each HDF5 one. (Before chunk checksums, a changed embedding chunk went through
# trawl-retrieve with exit 0.)
source "$(dirname "$0")/../e2e/lib.sh"
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' || fail "python3-h5py and python3-numpy are needed (tools/install-deps.sh)"
L=(--log-level error)
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 2 --rows 3000 --seed 9 --positive-rate 0.05 "${L[@]}"
IN=("$WORK"/in/chunk-*)
mkdir -p "$WORK/v"
"$BIN/trawl-vocab" -i "${IN[@]}" --min-df 2 -o "$WORK/v/vocab.h5" "${L[@]}"
"$BIN/trawl-fit" -i "${IN[@]}" --vocab "$WORK/v/vocab.h5" --dim 16 -o "$WORK/v/enc.h5" "${L[@]}"
"$BIN/trawl-embed" -i "${IN[@]}" --label-column label --dim 64 -o "$WORK/pool" "${L[@]}"
"$BIN/trawl-index" --pool "$WORK/pool" --M 8 --ef-construction 40 "${L[@]}"
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/labels.tsv" --minority pos --per-class 6 --rest 50 "${L[@]}"
R=(--labels "$WORK/labels.tsv" --neighbours 30 --anchors-per-class 5 --subpool-size 600 "${L[@]}")
"$BIN/trawl-retrieve" --pool "$WORK/pool" "${R[@]}" -o "$WORK/r0"
"$BIN/trawl-train" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --subpool "$WORK/r0/subpool.h5" -o "$WORK/r0/model.h5" "${L[@]}"
"$BIN/trawl-score" --model "$WORK/r0/model.h5" --subpool "$WORK/r0/subpool.h5" -o "$WORK/r0" "${L[@]}"
"$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy least-confidence -b 20 --labels "$WORK/labels.tsv" \
  --pool "$WORK/pool" -o "$WORK/q" "${L[@]}"
awk -F'\t' 'BEGIN { OFS = "\t"; print "item_id", "annotator_id", "label" } /^#/ || !h++ { next }
            { print $1, "a1", "neg"; print $1, "a2", (NR % 3 ? "neg" : "pos") }' "$WORK/q/queue.tsv" > "$WORK/ann.tsv"
"$BIN/trawl-label" --mode import --journal "$WORK/journal.tsv" --queue "$WORK/q/queue.tsv" --classes neg,pos \
  --format tsv -i "$WORK/ann.tsv" "${L[@]}"

# flip FILE DATASET: changes one byte in the middle of the dataset's first stored chunk (a copy).
flip() {
  $PY - "$1" "$2" <<'PY'
import sys, h5py
path, name = sys.argv[1:]
with h5py.File(path, "r") as f:
    info = f[name].id.get_chunk_info(0)
with open(path, "r+b") as g:
    g.seek(info.byte_offset + (info.size - 4) // 2)
    b = g.read(1)
    g.seek(info.byte_offset + (info.size - 4) // 2)
    g.write(bytes([b[0] ^ 0x20]))
PY
}
# broken KIND FILE DATASET: a copy of FILE's directory with one byte of DATASET flipped, in $B.
broken() {
  rm -rf "$WORK/b" && mkdir -p "$WORK/b"
  cp -r "$(dirname "$2")"/. "$WORK/b/"
  B="$WORK/b/$(basename "$2")"
  flip "$B" "$3"
  expect_fail 3 "checksum" "$BIN/trawl-inspect" --check "$B"
}
# no_output DIR: the failed stage left no file under a final name there (nor anywhere new).
no_output() { [ ! -e "$1" ] || [ -z "$(ls -A "$1")" ] || { ls -la "$1" >&2; fail "$2: left output in $1"; }; }
shard0=$(ls "$WORK"/pool/shard-*.h5 | head -1)
s0=$(basename "$shard0")

broken shard "$shard0" embedding
expect_fail 3 "$s0, dataset 'embedding': checksum mismatch in rows \[0, " \
  "$BIN/trawl-retrieve" --pool "$WORK/b" "${R[@]}" -o "$WORK/o1"
no_output "$WORK/o1" retrieve
# trawl-score with a model over the embedding reads f32 rows in place (mapped): the same check.
"$BIN/trawl-train" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --features embedding -o "$WORK/emb_model.h5" "${L[@]}"
expect_fail 3 "$s0, dataset 'embedding': checksum mismatch in rows \[0, " \
  "$BIN/trawl-score" --model "$WORK/emb_model.h5" --pool "$WORK/b" -o "$WORK/o1s" "${L[@]}"
no_output "$WORK/o1s" score
pass "shard embedding: trawl-retrieve refuses it"

# The chunk holding a labelled item's row: trawl-retrieve takes the anchors' rows before their
# chunks are verified (the search verifies them, or a last check does): still an error naming
# the rows, from the exact search and from the hnsw backend, which reads no other row of the
# shard (the shard's time stamp is kept, so its index still looks current).
rm -rf "$WORK/b" && mkdir -p "$WORK/b" && cp -r "$WORK/pool"/. "$WORK/b/"
rows=$($PY - "$WORK/b" "$WORK/labels.tsv" <<'PY'
import sys, os, h5py
pool, labels = sys.argv[1:]
uid = int(open(labels).read().splitlines()[1].split("\t")[0])
path = os.path.join(pool, "shard-%06d.h5" % (uid >> 40))
with h5py.File(path, "r") as f:
    cr = f["embedding"].chunks[0]
    uids = f["uid"][:]
    row = int((uids == uid).nonzero()[0][0])
    lo = row // cr * cr
    info = f["embedding"].id.get_chunk_info_by_coord((lo, 0))
    n = min(lo + cr, len(uids))
st = os.stat(path)
with open(path, "r+b") as g:
    g.seek(info.byte_offset + 5)
    b = g.read(1)
    g.seek(info.byte_offset + 5)
    g.write(bytes([b[0] ^ 0x20]))
os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
print("%s, dataset 'embedding': checksum mismatch in rows \\[%d, %d\\)" % (os.path.basename(path), lo, n))
PY
)
expect_fail 3 "$rows" "$BIN/trawl-retrieve" --pool "$WORK/b" "${R[@]}" -o "$WORK/o1a"
no_output "$WORK/o1a" retrieve
expect_fail 3 "$rows" "$BIN/trawl-retrieve" --pool "$WORK/b" "${R[@]}" --backend hnsw -o "$WORK/o1b"
no_output "$WORK/o1b" retrieve
pass "a labelled row's chunk: trawl-retrieve refuses it (exact and hnsw)"

broken shard "$shard0" text_bytes
expect_fail 3 "$s0, dataset 'text_bytes': checksum mismatch in rows \[0, " \
  "$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy least-confidence -b 20 \
  --labels "$WORK/labels.tsv" --pool "$WORK/b" -o "$WORK/o2" "${L[@]}"
no_output "$WORK/o2" select
pass "shard text: trawl-select (fetching the queue's text) refuses it"

broken shard "$shard0" token_ids
expect_fail 3 "$s0, dataset 'token_ids': checksum mismatch" \
  "$BIN/trawl-train" --pool "$WORK/b" --labels "$WORK/labels.tsv" --subpool "$WORK/r0/subpool.h5" -o "$WORK/o3/model.h5" "${L[@]}"
no_output "$WORK/o3" train
pass "shard token ids: trawl-train refuses it"

broken subpool "$WORK/r0/subpool.h5" uid
expect_fail 3 "subpool.h5, dataset 'uid': checksum mismatch" \
  "$BIN/trawl-score" --model "$WORK/r0/model.h5" --subpool "$B" -o "$WORK/o4" "${L[@]}"
no_output "$WORK/o4" score
pass "subpool: trawl-score refuses it"

broken model "$WORK/r0/model.h5" linear.weight
expect_fail 3 "model.h5, dataset 'linear.weight': checksum mismatch" \
  "$BIN/trawl-score" --model "$B" --pool "$WORK/pool" -o "$WORK/o5" "${L[@]}"
no_output "$WORK/o5" score
pass "model: trawl-score refuses it"

broken scores "$WORK/r0/subpool.scores.h5" probs
expect_fail 3 "subpool.scores.h5, dataset 'probs': checksum mismatch" \
  "$BIN/trawl-select" --scores "$B" --strategy entropy -b 20 --labels "$WORK/labels.tsv" --pool "$WORK/pool" \
  -o "$WORK/o6" "${L[@]}"
no_output "$WORK/o6" select
pass "scores: trawl-select refuses it"

broken vocab "$WORK/v/vocab.h5" df
expect_fail 3 "vocab.h5, dataset 'df': checksum mismatch" \
  "$BIN/trawl-fit" -i "${IN[@]}" --vocab "$B" --dim 16 -o "$WORK/o7/enc.h5" "${L[@]}"
no_output "$WORK/o7" fit
pass "vocabulary: trawl-fit refuses it"

broken encoder "$WORK/v/enc.h5" basis
expect_fail 3 "enc.h5, dataset 'basis': checksum mismatch" \
  "$BIN/trawl-embed" -i "${IN[@]}" --encoder lsa --lsa "$B" -o "$WORK/o8" "${L[@]}"
no_output "$WORK/o8" embed
pass "LSA encoder: trawl-embed refuses it"

# The HNSW index is not HDF5: its own CRC-32 over the file.
idx=$(ls "$WORK"/pool/index/* | head -1)
rm -rf "$WORK/b" && cp -r "$WORK/pool" "$WORK/b"
B="$WORK/b/index/$(basename "$idx")"
$PY -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x20; open(p, 'wb').write(b)" "$B"
expect_fail 3 "$(basename "$idx").*(CRC|checksum)" \
  "$BIN/trawl-retrieve" --pool "$WORK/b" "${R[@]}" --backend hnsw -o "$WORK/o9"
no_output "$WORK/o9" retrieve
pass "HNSW index: trawl-retrieve --backend hnsw refuses it"

# The journal: every line carries its CRC-32; a changed byte in a line before the last (not a
# torn tail) is an error naming the line.
cp "$WORK/journal.tsv" "$WORK/j2.tsv"
$PY - "$WORK/j2.tsv" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
i = len(lines) // 2
lines[i] = lines[i].replace(b"neg", b"nfg", 1) if b"neg" in lines[i] else lines[i].replace(b"pos", b"pps", 1)
open(p, "wb").write(b"\n".join(lines))
PY
expect_fail 3 "j2.tsv:[0-9]+" "$BIN/trawl-label" --mode consensus --journal "$WORK/j2.tsv" -o "$WORK/o10/consensus.tsv" "${L[@]}"
no_output "$WORK/o10" consensus
pass "journal: trawl-label refuses a changed line"
