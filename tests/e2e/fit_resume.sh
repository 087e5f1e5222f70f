# trawl-fit is resumable: stopped after a power-iteration pass (TRAWL_FIT_STOP_AFTER_PASS, exit
# 75, the checkpoint written and no output), a rerun resumes from the checkpoint and writes the
# encoder an uninterrupted fit writes, at 1 and 2 ranks, and removes the checkpoint; a
# checkpoint that does not belong to the fit (other parameters, a changed byte) is not resumed.
source "$(dirname "$0")/lib.sh"
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 3 --rows 500 --seed 7 --log-level warn
IN=("$WORK"/in/chunk-*)
"$BIN/trawl-fit" --help | grep -q -- "--no-checkpoint" || fail "trawl-fit --help does not document --no-checkpoint"
"$BIN/trawl-vocab" -i "${IN[@]}" -o "$WORK/vocab.h5" --log-level warn
F=(-i "${IN[@]}" --vocab "$WORK/vocab.h5" --dim 12 --power-iterations 4)
"$BIN/trawl-fit" "${F[@]}" -o "$WORK/whole.h5" --log-level warn
[ ! -e "$WORK/whole.h5.checkpoint" ] || fail "a complete fit left its checkpoint"
same_encoder() {
  for d in basis singular_values id idf; do h5same "$1" "$2" "/$d" || fail "$3: /$d differs from the uninterrupted fit"; done
  [ "$(h5dump -a /checksum "$1" | grep -o 'lsa:[0-9a-f]*')" = "$(h5dump -a /checksum "$2" | grep -o 'lsa:[0-9a-f]*')" ] ||
    fail "$3: checksum differs from the uninterrupted fit"
}
for np in 1 2; do
  for stop in 1 3; do
    o="$WORK/enc-$np-$stop.h5"
    rc=0
    TRAWL_FIT_STOP_AFTER_PASS=$stop mpirun_n "$np" "$BIN/trawl-fit" "${F[@]}" -o "$o" --log-level warn 2> "$WORK/stop.log" || rc=$?
    [ "$rc" -eq 75 ] || { cat "$WORK/stop.log" >&2; fail "stopped fit: exit $rc, expected 75"; }
    [ -e "$o.checkpoint" ] || fail "no checkpoint after pass $stop"
    [ ! -e "$o" ] || fail "a stopped fit wrote its output"
    out=$(mpirun_n "$np" "$BIN/trawl-fit" "${F[@]}" -o "$o" --log-level info 2>&1)
    echo "$out" | grep -q "resuming from .*checkpoint: $stop of 5 passes done" || { echo "$out" >&2; fail "the rerun did not resume"; }
    [ ! -e "$o.checkpoint" ] || fail "the checkpoint was left after the resumed fit"
    same_encoder "$o" "$WORK/whole.h5" "$np rank(s), stopped after pass $stop"
  done
done
pass "stopped after pass 1 or 3 of 5, resumed at 1 and 2 ranks: the uninterrupted fit's encoder"

# A checkpoint of other parameters, or with a changed byte: not resumed, fitted from the start.
o="$WORK/enc-x.h5"
TRAWL_FIT_STOP_AFTER_PASS=2 "$BIN/trawl-fit" "${F[@]}" --seed 99 -o "$o" --log-level warn 2> /dev/null && fail "exit 0 when stopped"
out=$("$BIN/trawl-fit" "${F[@]}" -o "$o" --log-level info 2>&1)
echo "$out" | grep -q "is not resumed (it was written for other inputs or parameters)" || { echo "$out" >&2; fail "foreign checkpoint"; }
same_encoder "$o" "$WORK/whole.h5" "after a foreign checkpoint"
rm -f "$o"
TRAWL_FIT_STOP_AFTER_PASS=2 "$BIN/trawl-fit" "${F[@]}" -o "$o" --log-level warn 2> /dev/null && fail "exit 0 when stopped"
/usr/bin/python3 -c "import h5py,sys; f=h5py.File(sys.argv[1],'r+'); f['z'][1,2] += 0.5" "$o.checkpoint"
out=$("$BIN/trawl-fit" "${F[@]}" -o "$o" --log-level info 2>&1)
echo "$out" | grep -q "is not resumed" || { echo "$out" >&2; fail "a corrupt checkpoint was resumed"; }
same_encoder "$o" "$WORK/whole.h5" "after a corrupt checkpoint"
[ ! -e "$o.checkpoint" ] || fail "checkpoint left"
# --no-checkpoint writes none; --force ignores one.
rm -f "$o"
TRAWL_FIT_STOP_AFTER_PASS=2 "$BIN/trawl-fit" "${F[@]}" --no-checkpoint -o "$o" --log-level warn 2> /dev/null && fail "exit 0 when stopped"
[ ! -e "$o.checkpoint" ] || fail "--no-checkpoint wrote a checkpoint"
TRAWL_FIT_STOP_AFTER_PASS=2 "$BIN/trawl-fit" "${F[@]}" -o "$o" --log-level warn 2> /dev/null && fail "exit 0 when stopped"
out=$("$BIN/trawl-fit" "${F[@]}" --force -o "$o" --log-level info 2>&1)
echo "$out" | grep -q -- "--force: not resuming" || { echo "$out" >&2; fail "--force resumed"; }
same_encoder "$o" "$WORK/whole.h5" "--force"
ls "$WORK" | grep -q '\.tmp\.' && fail "temporary left behind"
pass "foreign and corrupt checkpoints are not resumed; --no-checkpoint, --force"
