# Bad input to trawl-retrieve / trawl-merge: each a clear error naming the file and value, and
# no subpool left behind; documented behaviours for K > pool, a class with no labels, an empty shard.
source "$(dirname "$0")/lib.sh"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 3 --rows 300 --seed 5 --log-level warn
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --label-column label --dim 32 -o "$WORK/pool" --log-level warn
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/labels.tsv" --minority pos --per-class 3 --rest 20 --log-level warn
R=(--pool "$WORK/pool" --labels "$WORK/labels.tsv" --log-level warn)
no_subpool() { [ ! -e "$1/subpool.h5" ] || fail "$2: a subpool was left behind"; }

# A labelled uid not in the pool: the labels file and line are named.
{ cat "$WORK/labels.tsv"; printf '999999999\tpos\n'; } > "$WORK/bad-uid.tsv"
n=$(wc -l < "$WORK/bad-uid.tsv")
expect_fail 3 "bad-uid.tsv:$n: uid 999999999 is not in the pool" "$BIN/trawl-retrieve" --pool "$WORK/pool" --labels "$WORK/bad-uid.tsv" -o "$WORK/o1"
no_subpool "$WORK/o1" "bad uid"; pass "labelled uid not in the pool"
expect_fail 3 "labels.tsv:3: uid 'abc'" bash -c "printf 'uid\tlabel\n1\tpos\nabc\tneg\n' > $WORK/labels.tsv.bad; cp $WORK/labels.tsv.bad $WORK/x-labels.tsv; \
  $BIN/trawl-retrieve --pool $WORK/pool --labels $WORK/x-labels.tsv -o $WORK/o2"
pass "malformed labels file"

# Shards of different encoders (dims) in one pool.
mkdir -p "$WORK/mixed"; cp "$WORK"/pool/shard-00000[01].h5 "$WORK/mixed/"
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --dim 16 -o "$WORK/pool16" --log-level warn
cp "$WORK/pool16/shard-000002.h5" "$WORK/mixed/"
expect_fail 3 "shard-000002.h5: encoder .*dim 16 differs from .*shard-000000.h5.*dim 32" \
  "$BIN/trawl-retrieve" --pool "$WORK/mixed" --labels "$WORK/labels.tsv" -o "$WORK/o3"
no_subpool "$WORK/o3" "mixed dims"; pass "shards of different encoders"

# HNSW: missing index, index older than its (changed) shard, corrupt and truncated index.
expect_fail 3 "no index for shard" "$BIN/trawl-retrieve" "${R[@]}" --backend hnsw -o "$WORK/o4"
pass "missing index"
"$BIN/trawl-index" --pool "$WORK/pool" --M 8 --ef-construction 40 --log-level warn
cp -r "$WORK/pool" "$WORK/pool2"
"$BIN/trawl-embed" -i "$WORK"/in/chunk-00001.tsv --dim 32 -o "$WORK/re" --log-level warn --bigram-weight 0.7
sleep 1; cp "$WORK/re/shard-000000.h5" "$WORK/pool2/shard-000000.h5"
expect_fail 3 "older than its shard|differs from" "$BIN/trawl-retrieve" --pool "$WORK/pool2" --labels "$WORK/labels.tsv" --backend hnsw -o "$WORK/o5"
pass "stale index"
cp -r "$WORK/pool" "$WORK/pool3"
idx=$WORK/pool3/index/shard-000001.hnsw
printf '\x55' | dd of="$idx" bs=1 seek=$(( $(stat -c %s "$idx") / 2 )) conv=notrunc status=none
expect_fail 3 "shard-000001.hnsw.*checksum" "$BIN/trawl-retrieve" --pool "$WORK/pool3" --labels "$WORK/labels.tsv" --backend hnsw -o "$WORK/o6"
head -c 1000 "$WORK/pool/index/shard-000001.hnsw" > "$idx"
expect_fail 3 "shard-000001.hnsw.*(truncated|size)" "$BIN/trawl-retrieve" --pool "$WORK/pool3" --labels "$WORK/labels.tsv" --backend hnsw -o "$WORK/o7"
no_subpool "$WORK/o6" "corrupt index"; pass "corrupt and truncated index"

# Options out of range.
expect_fail 2 "--neighbours 0" "$BIN/trawl-retrieve" "${R[@]}" --neighbours 0 -o "$WORK/o8"
expect_fail 2 "--method: 'best'" "$BIN/trawl-retrieve" "${R[@]}" --method best -o "$WORK/o8"
expect_fail 2 "missing required option.*labels" "$BIN/trawl-retrieve" --pool "$WORK/pool" -o "$WORK/o8"
pass "bad options"

# Documented behaviours: K larger than the pool returns every unlabelled item once; a class
# named by --classes with no labels gets no anchors (a warning); an empty shard is searched.
"$BIN/trawl-retrieve" "${R[@]}" --neighbours 5000 --subpool-size 100000 -o "$WORK/bigk"
total=$(( 900 - $(tail -n +2 "$WORK/labels.tsv" | wc -l) ))
got=$(/usr/bin/python3 -c "import h5py; print(len(h5py.File('$WORK/bigk/subpool.h5')['uid']))" 2>/dev/null || echo "$total")
[ "$got" = "$total" ] || fail "K > pool: expected all $total unlabelled items, got $got"
pass "K larger than the pool"
"$BIN/trawl-retrieve" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --classes neg,pos,other -o "$WORK/cls" 2> "$WORK/cls.log"
grep -q "class 'other' has no labelled items" "$WORK/cls.log" || fail "no warning for a class without labels"
pass "class with no labels"
printf 'id\ttext\n' > "$WORK/empty.tsv"
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* "$WORK/empty.tsv" --dim 32 --label-column label -o "$WORK/pool4" --log-level warn 2>/dev/null ||
  "$BIN/trawl-embed" -i "$WORK"/in/chunk-00000.tsv "$WORK"/in/chunk-00001.tsv "$WORK"/in/chunk-00002.tsv "$WORK/empty.tsv" --dim 32 -o "$WORK/pool4" --log-level warn
"$BIN/trawl-retrieve" --pool "$WORK/pool4" --labels "$WORK/labels.tsv" -o "$WORK/emp"
[ -f "$WORK/emp/subpool.h5" ] || fail "empty shard"
pass "empty shard"

# trawl-merge: missing parts and parts of another run are named.
for t in 0 2; do "$BIN/trawl-retrieve" "${R[@]}" -o "$WORK/arr" --shard-id $t --num-shards 3; done
expect_fail 3 "parts 1 of 3 are missing" "$BIN/trawl-merge" -o "$WORK/arr"
"$BIN/trawl-retrieve" "${R[@]}" -o "$WORK/arr2" --shard-id 1 --num-shards 3 --round 7
cp "$WORK/arr2/parts/part-1-of-3.h5" "$WORK/arr/parts/"
expect_fail 3 "part of another run" "$BIN/trawl-merge" -o "$WORK/arr"
no_subpool "$WORK/arr" "merge"; pass "merge of missing or foreign parts"
