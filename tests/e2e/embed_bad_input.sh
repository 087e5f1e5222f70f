# Bad input to trawl-embed: each case is a clear error naming the file and line (exit 3), or
# with --on-bad-row reject a reject file with reasons; a failed chunk leaves no shard behind.
source "$(dirname "$0")/lib.sh"
D=$WORK/in; mkdir -p "$D"
good=$D/good.tsv
printf 'id\ttext\tlabel\na1\thello world\tpos\na2\tsecond row\tneg\n' > "$good"
printf 'id\ttext\tlabel\nb1\tfine row\tneg\nb2\tmissing a field\nb3\talso fine\tneg\n' > "$D/fields.tsv"
printf 'id\ttext\tlabel\nc1\tfine\tneg\nc2\tbad \xff\xfe bytes\tneg\n' > "$D/utf8.tsv"
printf 'id\ttext\tlabel\nd1\tfine\tneg\nd2\t   \tneg\n' > "$D/empty.tsv"
printf 'id\ttext\tlabel\ne1\tfine\tneg\ne2\tagain\tneg\ne1\tdup\tneg\n' > "$D/dup.tsv"
printf 'id,text,label\nf1,"fine",neg\nf2,"unterminated,neg\n' > "$D/quote.csv"
printf '{"id":"g1","text":"fine","label":"neg"}\n{"id":"g2","text":"broken\n' > "$D/json.jsonl"
{ printf 'id\ttext\tlabel\nh1\tshort\tneg\nh2\t'; head -c 5000 /dev/zero | tr '\0' 'x'; printf '\tneg\nh3\tafter\tneg\n'; } > "$D/long.tsv"
"$BIN/trawl-gen-text" -o "$D/gz" --chunks 1 --rows 20000 --gzip --seed 9 --log-level warn
gz=$D/gz/chunk-00000.tsv.gz
head -c $(( $(stat -c %s "$gz") / 2 )) "$gz" > "$D/trunc.tsv.gz"

E=(--label-column label --dim 16 --log-level warn)
check_case() {  # name file line pattern
  local name=$1 f=$2 line=$3 pat=$4 out=$WORK/out-$1
  expect_fail 3 "$(basename "$f"):$line: .*$pat" "$BIN/trawl-embed" "${E[@]}" -i "$good" "$f" -o "$out"
  [ -f "$out/shard-000000.h5" ] || fail "$name: the good chunk before the bad one should be complete"
  [ ! -e "$out/shard-000001.h5" ] || fail "$name: a shard was left for the failed chunk"
  ls "$out" | grep -q '\.tmp\.' && fail "$name: temporary left behind"
  pass "$name"
}
check_case fields "$D/fields.tsv" 3 "field"
check_case utf8 "$D/utf8.tsv" 3 "UTF-8"
check_case empty "$D/empty.tsv" 3 "empty"
check_case dup "$D/dup.tsv" 4 "duplicate"
check_case quote "$D/quote.csv" 3 "quot"
check_case json "$D/json.jsonl" 2 "JSON|json"
expect_fail 3 "long.tsv:3: .*(long|bytes)" "$BIN/trawl-embed" "${E[@]}" -i "$D/long.tsv" -o "$WORK/out-long" --max-line-bytes 1000
pass long
expect_fail 3 "trunc.tsv.gz.*(truncated|unexpected end)" "$BIN/trawl-embed" "${E[@]}" -i "$D/trunc.tsv.gz" -o "$WORK/out-trunc"
[ -z "$(ls "$WORK/out-trunc")" ] || fail "truncated gzip left files: $(ls "$WORK/out-trunc")"
pass "truncated gzip"
expect_fail 3 "good.tsv.*body" "$BIN/trawl-embed" "${E[@]}" -i "$good" --text-column body -o "$WORK/out-col"
pass "missing column"
expect_fail 4 "nope.tsv" "$BIN/trawl-embed" "${E[@]}" -i "$D/nope.tsv" -o "$WORK/out-missing"
pass "missing input"
expect_fail 2 "dtype|f64" "$BIN/trawl-embed" "${E[@]}" -i "$good" -o "$WORK/out-opt" --dtype f64
expect_fail 2 "output" "$BIN/trawl-embed" -i "$good"
pass "bad options"
expect_fail 4 "not writable|cannot create" "$BIN/trawl-embed" "${E[@]}" -i "$good" -o /proc/trawl-no
pass "unwritable output"

# Reject mode: the good rows are embedded, each bad row is in the reject file with its reason.
"$BIN/trawl-embed" "${E[@]}" --on-bad-row reject -i "$D/fields.tsv" "$D/utf8.tsv" "$D/dup.tsv" "$D/long.tsv" \
  --max-line-bytes 1000 -o "$WORK/rej"
rows() { "$BIN/trawl-inspect" "$1" | awk '/^rows:/ {print $2; exit}'; }
[ "$(rows "$WORK/rej/shard-000000.h5")" = 2 ] || fail "fields: expected 2 good rows, got $(rows "$WORK/rej/shard-000000.h5")"
[ "$(rows "$WORK/rej/shard-000002.h5")" = 2 ] || fail "dup: expected 2 good rows"
[ "$(rows "$WORK/rej/shard-000003.h5")" = 2 ] || fail "long: expected 2 good rows"
grep -q "fields.tsv	3	1	" "$WORK/rej/rejects/shard-000000.h5.rejects.tsv" || fail "reject file lacks fields.tsv line 3"
grep -qi "utf-8" "$WORK/rej/rejects/shard-000001.h5.rejects.tsv" || fail "reject file lacks the UTF-8 reason"
grep -qi "duplicate" "$WORK/rej/rejects/shard-000002.h5.rejects.tsv" || fail "reject file lacks the duplicate reason"
# uids keep their row positions: b3 is row 2 of chunk 0.
"$BIN/trawl-inspect" --rows 5 "$WORK/rej/shard-000000.h5" | grep -q "b3" || fail "b3 missing"
pass "reject mode"

# Under MPI a failing rank takes the job down with "rank r:" instead of hanging.
expect_fail 3 "rank [0-9]+: error: .*utf8.tsv:3" timeout 120 mpirun -n 2 --oversubscribe "$BIN/trawl-embed" "${E[@]}" \
  -i "$good" "$D/utf8.tsv" -o "$WORK/out-mpi"
pass "mpi failure aborts the job"
