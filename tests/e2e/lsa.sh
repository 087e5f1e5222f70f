# The LSA encoder end to end: trawl-vocab -> trawl-fit -> trawl-embed --encoder lsa|lsa+hash;
# the fit at 2 ranks equals 1 rank; reruns skip; bad inputs are clear errors that leave nothing
# behind; later stages refuse pools that mix encoders (another encoder, or another lsa file).
source "$(dirname "$0")/lib.sh"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 3 --rows 400 --seed 5 --log-level warn
IN=("$WORK"/in/chunk-*)
"$BIN/trawl-fit" --help | grep -q -- "--power-iterations" || fail "trawl-fit --help"
"$BIN/trawl-vocab" -i "${IN[@]}" -o "$WORK/vocab.h5" --log-level warn
F0=(-i "${IN[@]}" --vocab "$WORK/vocab.h5")
F=("${F0[@]}" --dim 16)
"$BIN/trawl-fit" "${F[@]}" -o "$WORK/enc.h5" --log-level warn
mpirun_n 2 "$BIN/trawl-fit" "${F[@]}" -o "$WORK/enc2.h5" --log-level warn
for d in basis id idf singular_values; do h5same "$WORK/enc.h5" "$WORK/enc2.h5" "/$d" || fail "fit at 2 ranks: /$d differs"; done
pass "fit at 1 and 2 ranks: the same encoder"
out=$("$BIN/trawl-fit" "${F[@]}" -o "$WORK/enc.h5" --log-level info 2>&1)
echo "$out" | grep -q "skipping" || fail "a rerun should skip the complete output"
pass "rerun skips"

E=(-i "${IN[@]}" --label-column label)
"$BIN/trawl-embed" "${E[@]}" --encoder lsa --lsa "$WORK/enc.h5" -o "$WORK/pool" --log-level warn
"$BIN/trawl-embed" "${E[@]}" --encoder lsa+hash --lsa "$WORK/enc.h5" --dim 16 -o "$WORK/pool-both" --log-level warn
/usr/bin/python3 - "$WORK" <<'PY' || fail "embedding checks"
import sys, h5py, numpy as np
w = sys.argv[1]
f = h5py.File(w + "/pool/shard-000000.h5")
a = dict(f.attrs)
assert a["encoder"] == "lsa", a["encoder"]
assert "lsa=lsa:" in a["encoder-params"], a["encoder-params"]
e = f["embedding"][:]
assert e.shape[1] == 16
n = np.linalg.norm(e, axis=1)
assert np.all((np.abs(n - 1) < 1e-5) | (n == 0)), n
g = h5py.File(w + "/pool-both/shard-000000.h5")
assert g.attrs["encoder"] == "lsa+hash"
b = g["embedding"][:]
assert b.shape[1] == 32
assert np.allclose(b[:, :16] * np.sqrt(2), e, atol=1e-5)
PY
pass "lsa and lsa+hash shards"

# Bad inputs: each exit code and message; no encoder file left behind.
expect_fail 2 "needs --lsa FILE" "$BIN/trawl-embed" "${E[@]}" --encoder lsa -o "$WORK/x1"
expect_fail 4 "nope.h5.*does not exist" "$BIN/trawl-embed" "${E[@]}" --encoder lsa --lsa "$WORK/nope.h5" -o "$WORK/x2"
cp "$WORK/enc.h5" "$WORK/bad.h5"
/usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f['basis'][3,5] += 0.25" "$WORK/bad.h5"
expect_fail 3 "bad.h5: content checksum .* does not match" "$BIN/trawl-embed" "${E[@]}" --encoder lsa --lsa "$WORK/bad.h5" -o "$WORK/x3"
[ "$(count_shards "$WORK/x3")" -eq 0 ] || fail "shards written with a corrupt encoder"
printf 'not hdf5\n' > "$WORK/junk.h5"
expect_fail 3 "junk.h5" "$BIN/trawl-embed" "${E[@]}" --encoder lsa --lsa "$WORK/junk.h5" -o "$WORK/x4"
pass "missing, corrupt and foreign encoder files"
expect_fail 2 "--dim 100000 exceeds the [0-9]+ features" "$BIN/trawl-fit" "${F0[@]}" --dim 100000 -o "$WORK/e1.h5"
expect_fail 2 "--sample 0: must be a fraction" "$BIN/trawl-fit" "${F[@]}" --sample 0 -o "$WORK/e2.h5"
expect_fail 4 "novocab.h5: vocab file does not exist" "$BIN/trawl-fit" -i "${IN[@]}" --vocab "$WORK/novocab.h5" -o "$WORK/e3.h5"
expect_fail 4 "missing.tsv: input chunk 3 of 4 does not exist" "$BIN/trawl-fit" -i "${IN[@]}" "$WORK/missing.tsv" --vocab "$WORK/vocab.h5" -o "$WORK/e4.h5"
expect_fail 2 "needs about .* but the limit is" "$BIN/trawl-fit" "${F[@]}" --memory-limit 0.000001 -o "$WORK/e5.h5"
# dim above the rank: 9 documents of 3 distinct texts (6 features) have rank 3.
{ printf 'id\ttext\n'; for i in 1 2 3; do printf 'a%s\talpha alpha\nb%s\tbeta beta\nc%s\tgamma gamma\n' $i $i $i; done; } > "$WORK/tiny.tsv"
"$BIN/trawl-vocab" -i "$WORK/tiny.tsv" --min-df 1 -o "$WORK/tiny-vocab.h5" --log-level warn
expect_fail 3 "--dim 5 exceeds the numerical rank" "$BIN/trawl-fit" -i "$WORK/tiny.tsv" --vocab "$WORK/tiny-vocab.h5" --dim 5 --oversample 0 -o "$WORK/e6.h5"
for e in e1 e2 e3 e4 e5 e6; do [ ! -e "$WORK/$e.h5" ] || fail "$e.h5 left behind"; done
ls "$WORK" | grep -q '\.tmp\.' && fail "temporary left behind"
pass "bad fit inputs"

# Mixed encoders: a hash shard, or a shard of another lsa fit, in an lsa pool.
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/labels.tsv" --minority pos --per-class 3 --rest 20 --log-level warn
"$BIN/trawl-retrieve" --pool "$WORK/pool" --labels "$WORK/labels.tsv" -o "$WORK/r0" --log-level warn
"$BIN/trawl-embed" "${E[@]}" --dim 16 -o "$WORK/pool-hash" --log-level warn
mkdir -p "$WORK/mixed"; cp "$WORK"/pool/shard-00000[01].h5 "$WORK/mixed/"; cp "$WORK/pool-hash/shard-000002.h5" "$WORK/mixed/"
expect_fail 3 "shard-000002.h5: encoder 'hash'" "$BIN/trawl-retrieve" --pool "$WORK/mixed" --labels "$WORK/labels.tsv" -o "$WORK/r1"
"$BIN/trawl-fit" "${F[@]}" --seed 99 -o "$WORK/enc-other.h5" --log-level warn
"$BIN/trawl-embed" "${E[@]}" --encoder lsa --lsa "$WORK/enc-other.h5" -o "$WORK/pool-other" --log-level warn
cp "$WORK/pool-other/shard-000002.h5" "$WORK/mixed/"
expect_fail 3 "shard-000002.h5: encoder 'lsa' \(dim=16;lsa=lsa:" "$BIN/trawl-retrieve" --pool "$WORK/mixed" --labels "$WORK/labels.tsv" -o "$WORK/r2"
pass "pools mixing encoders are refused"
# Embedding into the pool with another encoder file rebuilds its shards.
out=$("$BIN/trawl-embed" "${E[@]}" --encoder lsa --lsa "$WORK/enc-other.h5" -o "$WORK/pool" --log-level info 2>&1)
echo "$out" | grep -q "exists but was made from other input or options" || { echo "$out"; fail "shards of another encoder must be rebuilt"; }
pass "re-embedding with another encoder rebuilds"
