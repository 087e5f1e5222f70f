# The label round-trip through the binaries: a real queue (gen-text -> embed -> seed-labels ->
# retrieve -> train -> score -> select), exported in every tool format; fake annotators answer in
# each tool's own export format (python); import into one journal; consensus -> labels TSV that
# trawl-train accepts.
#  * exports: valid JSON, item_id an integer (never a float), uids/ranks as the queue;
#  * consensus (majority and strict plurality) equals an independent python computation;
#  * skipped answers are counted; bad input (uid not queued, label not a class, malformed JSON,
#    a float uid, a uid not in --pool) is exit 3 naming the file and value, and leaves the journal as it was;
#  * a torn journal line is skipped with a warning and removed by the next import; importing
#    the same export again adds nothing;
#  * two concurrent imports lose nothing.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || fail "the reference needs python3 (tools/install-deps.sh installs it)"
L=(--log-level warn)
"$BIN/trawl-gen-text" -o "$WORK/in" --chunks 2 --rows 1000 --seed 5 --positive-rate 0.05 "${L[@]}"
"$BIN/trawl-embed" -i "$WORK"/in/chunk-* --label-column label --dim 32 -o "$WORK/pool" "${L[@]}"
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/labels.tsv" --minority pos --per-class 6 --rest 40 "${L[@]}"
"$BIN/trawl-seed-labels" --pool "$WORK/pool" -o "$WORK/oracle.tsv" --all "${L[@]}"
"$BIN/trawl-retrieve" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --neighbours 20 --anchors-per-class 4 \
  --subpool-size 300 -o "$WORK/r0" "${L[@]}"
"$BIN/trawl-train" --pool "$WORK/pool" --labels "$WORK/labels.tsv" --subpool "$WORK/r0/subpool.h5" -o "$WORK/r0/model.h5" "${L[@]}"
"$BIN/trawl-score" --model "$WORK/r0/model.h5" --subpool "$WORK/r0/subpool.h5" -o "$WORK/r0" "${L[@]}"
"$BIN/trawl-select" --scores "$WORK/r0/subpool.scores.h5" --strategy least-confidence -b 20 --labels "$WORK/labels.tsv" \
  --pool "$WORK/pool" --round 1 -o "$WORK/r0" "${L[@]}"
Q="$WORK/r0/queue.tsv"
[ "$(grep -vc '^#' "$Q")" -eq 21 ] || fail "queue has not 20 items"
LB="$BIN/trawl-label"
J="$WORK/journal.tsv"

# ---- export in every format, checked by python against the queue
for f in tsv jsonl label-studio labelbox prodigy; do
  "$LB" --mode export --format $f --queue "$Q" --classes neg,pos -o "$WORK/export.$f" "${L[@]}"
done
[ -f "$WORK/export.label-studio.config.xml" ] || fail "no Label Studio config"
$PY - "$WORK" "$Q" <<'PY' || fail "exports do not match the queue"
import sys, json, re
w, q = sys.argv[1:]
rows = [l.split("\t") for l in open(q).read().splitlines() if not l.startswith("#")]
hdr, rows = rows[0], rows[1:]
Q = [dict(zip(hdr, r)) for r in rows]
uids = [int(r["uid"]) for r in Q]
t = [l.split("\t") for l in open(w + "/export.tsv").read().splitlines()]
assert t[0] == ["item_id", "text", "class", "al_score", "rank", "source", "iteration"], t[0]
assert [int(r[0]) for r in t[1:]] == uids and [int(r[4]) for r in t[1:]] == list(range(1, 21))
assert all(r[6] == "1" for r in t[1:])
j = [json.loads(l) for l in open(w + "/export.jsonl")]
assert [r["item_id"] for r in j] == uids and all(type(r["item_id"]) is int for r in j)
assert [r["text"] for r in j] == [r["text"].replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\") for r in Q]
assert all(abs(r["al_score"] - float(x["score"])) < 1e-6 for r, x in zip(j, Q))
ls = json.load(open(w + "/export.label-studio"))
assert [x["data"]["item_id"] for x in ls] == uids and all(type(x["data"]["item_id"]) is int for x in ls)
assert all(x["data"]["text"] == r["text"] for x, r in zip(ls, j)) and all("score" in x["predictions"][0] for x in ls)
assert re.search(r'<Choices name="label" toName="text" choice="single">\s*<Choice value="neg"/>\s*<Choice value="pos"/>',
                 open(w + "/export.label-studio.config.xml").read())
lb = [json.loads(l) for l in open(w + "/export.labelbox")]
assert [x["global_key"] for x in lb] == [str(u) for u in uids] and [x["priority"] for x in lb] == list(range(1, 21))
assert all(x["row_data"] == r["text"] for x, r in zip(lb, j))
pg = [json.loads(l) for l in open(w + "/export.prodigy")]
assert [x["meta"]["id"] for x in pg] == uids and all(type(x["meta"]["id"]) is int for x in pg)
assert all([o["id"] for o in x["options"]] == ["neg", "pos"] for x in pg) and [x["priority"] for x in pg] == list(range(1, 21))
for f, k in (("jsonl", "item_id"), ("label-studio", "item_id"), ("prodigy", "id")):  # ids as integer literals
    got = [int(x) for x in re.findall(r'"%s":(-?[0-9.eE+]+)[,}]' % k, open(w + "/export." + f).read())]
    assert got == uids, (f, got[:3])
print("exports match the queue:", len(uids), "items")
PY
pass "export: tsv, jsonl, label-studio (+config), labelbox, prodigy match the queue"

# ---- fake annotators answer in each tool's export format; python keeps the expected votes
$PY - "$WORK" <<'PY' || fail "fake annotators"
import sys, json
w = sys.argv[1]
oracle = dict(l.split("\t") for l in open(w + "/oracle.tsv").read().splitlines()[1:])
flip = {"neg": "pos", "pos": "neg"}
pg = [json.loads(l) for l in open(w + "/export.prodigy")]
uids = [x["meta"]["id"] for x in pg]
votes = {}   # uid -> {annotator: label}; the python reference of what the journal must hold
def vote(u, a, l): votes.setdefault(u, {})[a] = l
def answer(k, i, u):  # annotator k on the i-th item: k=0 always right, k=1 wrong on i%3==0, k=2 wrong on i%2==0
    t = oracle[str(u)]
    return flip[t] if (k == 1 and i % 3 == 0) or (k == 2 and i % 2 == 0) else t
# neutral TSV long table: items 0-9, annotators t0..t2
with open(w + "/ann.tsv", "w") as f:
    f.write("item_id\tclass\tannotator_id\tlabel\ttimestamp\tlead_time\n")
    for i, u in enumerate(uids[:10]):
        for k in range(3):
            l = answer(k, i, u); vote(u, "t%d" % k, l)
            f.write("%d\t\tt%d\t%s\t2026-01-01T00:00:%02dZ\t1.5\n" % (u, k, l, i))
# neutral JSONL: items 10-19, one annotator j0 (single labels)
with open(w + "/ann.jsonl", "w") as f:
    for i, u in enumerate(uids[10:]):
        l = answer(0, i, u); vote(u, "j0", l)
        f.write(json.dumps({"item_id": u, "class": "", "annotator_id": "j0", "label": l, "timestamp": "2026-01-02T00:00:00Z"}) + "\n")
# Label Studio JSON export: items 0-19, annotators 11 and 12 (id) and one cancelled annotation each task
ls = json.load(open(w + "/export.label-studio"))
for i, t in enumerate(ls):
    u = t["data"]["item_id"]; t["id"] = i + 1; t["annotations"] = []
    for k, who in ((1, 11), (2, {"id": 12, "email": "e@x.org"})):
        l = answer(k, i, u); vote(u, "11" if who == 11 else "e@x.org", l)
        t["annotations"].append({"id": 100 + i, "completed_by": who, "was_cancelled": False, "created_at": "2026-01-03T00:00:00Z",
                                 "result": [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [l]}}]})
    t["annotations"].append({"completed_by": 13, "was_cancelled": True, "result": []})
json.dump(ls, open(w + "/ann.label-studio.json", "w"), indent=1)
# Labelbox export v2: items 0-4, annotator lb@x.org, radio answers
with open(w + "/ann.labelbox.ndjson", "w") as f:
    for i, x in enumerate(json.loads(l) for l in open(w + "/export.labelbox")):
        if i >= 5: break
        u = int(x["global_key"]); l = answer(0, i, u); vote(u, "lb@x.org", l)
        f.write(json.dumps({"data_row": {"id": "dr%d" % i, "global_key": x["global_key"], "row_data": x["row_data"]},
                            "projects": {"p1": {"labels": [{"label_details": {"created_by": "lb@x.org", "created_at": "2026-01-04T00:00:00Z"},
                                                            "annotations": {"classifications": [{"name": "label", "radio_answer": {"name": l, "value": l}}]}}]}}}) + "\n")
# Prodigy db-out: choice tasks, annotator pg0; items 0-14, item 15 ignored
with open(w + "/ann.prodigy.jsonl", "w") as f:
    for i, x in enumerate(pg[:16]):
        u = x["meta"]["id"]
        if i == 15:
            x.update(answer="ignore", _annotator_id="pg0", _session_id="s")
        else:
            l = answer(2, i, u); vote(u, "pg0", l)
            x.update(answer="accept", accept=[l], _annotator_id="pg0", _session_id="s", _timestamp=1767225600)
        f.write(json.dumps(x) + "\n")
# the references: majority (ties settled by tie-break 2; the unit tests cover 3 and 4) and strict plurality
def counts(u):
    c = {}
    for l in votes[u].values(): c[l] = c.get(l, 0) + 1
    return sorted(c.items(), key=lambda kv: -kv[1])
glob = {}
for u in votes:
    for l in votes[u].values(): glob[l] = glob.get(l, 0) + 1
maj, plu = {}, {}
for u in votes:
    c = counts(u)
    if len(c) == 1 or c[0][1] > c[1][1]:
        maj[u] = c[0][0]
    else:  # tie-break 2: the label with fewer votes over the whole journal
        a, b = c[0][0], c[1][0]
        assert glob[a] != glob[b], "tie-break 3 needed: change the answers"
        maj[u] = a if glob[a] < glob[b] else b
    n = len(votes[u])
    if n > 1 and (len(c) == 1 or c[0][1] > c[1][1]): plu[u] = c[0][0]
for name, m in (("majority", maj), ("plurality", plu)):
    with open(w + "/want-%s.tsv" % name, "w") as f:
        f.write("uid\tlabel\n" + "".join("%d\t%s\n" % (u, m[u]) for u in sorted(m)))
with open(w + "/want-long.tsv", "w") as f:
    f.write("uid\tannotator\tlabel\tclass\n")
    for u in sorted(votes):
        for a in sorted(votes[u]): f.write("%d\t%s\t%s\t\n" % (u, a, votes[u][a]))  # class: a least-confidence queue has none
print("votes:", sum(len(v) for v in votes.values()), "majority:", len(maj), "plurality:", len(plu),
      "ties:", sum(1 for u in votes if len(counts(u)) > 1 and counts(u)[0][1] == counts(u)[1][1]))
PY

# ---- import each; skipped answers are reported
I=(--mode import --journal "$J" --queue "$Q" --classes neg,pos "${L[@]}")
"$LB" "${I[@]}" --format tsv -i "$WORK/ann.tsv"
"$LB" "${I[@]}" --format jsonl -i "$WORK/ann.jsonl"
out=$("$LB" "${I[@]}" --format label-studio -i "$WORK/ann.label-studio.json" 2>&1)
echo "$out" | grep -q "skipped 20 cancelled" || fail "Label Studio cancelled annotations not reported: $out"
echo "$out" | grep -q "imported 40 annotations from 20 records" || fail "Label Studio import count: $out"
"$LB" "${I[@]}" --format labelbox -i "$WORK/ann.labelbox.ndjson"
out=$("$LB" "${I[@]}" --format prodigy -i "$WORK/ann.prodigy.jsonl" 2>&1)
echo "$out" | grep -q "skipped 1 ignored" || fail "Prodigy ignore not reported: $out"
n=$(grep -vc '^#' "$J")
[ "$n" -eq $((30 + 10 + 40 + 5 + 15)) ] || fail "journal holds $n records, want 100"
grep -q "^records	100$" <("$LB" --mode show --journal "$J") || fail "show: records"
pass "import: 5 formats, 100 records, 20 cancelled and 1 ignored reported"

# ---- consensus equals the python reference; the labels TSV trains
"$LB" --mode consensus --journal "$J" --rule majority -o "$WORK/maj.tsv" --long-output "$WORK/long.tsv" "${L[@]}"
cmp "$WORK/maj.tsv" "$WORK/want-majority.tsv" || fail "majority differs from python: $(diff "$WORK/maj.tsv" "$WORK/want-majority.tsv" | head)"
cmp "$WORK/long.tsv" "$WORK/want-long.tsv" || fail "long table differs: $(diff "$WORK/long.tsv" "$WORK/want-long.tsv" | head)"
"$LB" --mode consensus --journal "$J" --rule plurality -o "$WORK/plu.tsv" "${L[@]}"
cmp "$WORK/plu.tsv" "$WORK/want-plurality.tsv" || fail "plurality differs from python: $(diff "$WORK/plu.tsv" "$WORK/want-plurality.tsv" | head)"
[ "$(wc -l < "$WORK/plu.tsv")" -lt "$(wc -l < "$WORK/maj.tsv")" ] || fail "plurality kept as many as majority"
pass "majority and strict plurality equal the python reference"
{ cat "$WORK/labels.tsv"; tail -n +2 "$WORK/maj.tsv"; } > "$WORK/next-labels.tsv"
"$BIN/trawl-train" --pool "$WORK/pool" --labels "$WORK/next-labels.tsv" -o "$WORK/model-next.h5" "${L[@]}"
[ -f "$WORK/model-next.h5" ] || fail "no model from the consensus labels"
pass "trawl-train accepts the consensus labels"

# ---- bad input: exit 3 naming file and value; the journal is unchanged
cp "$J" "$WORK/journal.before"
printf 'item_id\tannotator_id\tlabel\n%s\ta\tpos\n99999999999\ta\tpos\n' "$(sed -n 2p "$WORK/maj.tsv" | cut -f1)" > "$WORK/bad1.tsv"
expect_fail 3 "bad1.tsv:3: uid 99999999999 is not in the queue" "$LB" "${I[@]}" --format tsv -i "$WORK/bad1.tsv"
printf 'item_id\tannotator_id\tlabel\n%s\ta\tmaybe\n' "$(sed -n 2p "$WORK/maj.tsv" | cut -f1)" > "$WORK/bad2.tsv"
expect_fail 3 "bad2.tsv:2: label 'maybe' of uid [0-9]+ is not one of --classes" "$LB" "${I[@]}" --format tsv -i "$WORK/bad2.tsv"
printf '{"item_id": 1.5e3, "annotator_id": "a", "label": "pos"}\n' > "$WORK/bad3.jsonl"
expect_fail 3 "bad3.jsonl:1: item_id 1.5e3 is not an unsigned 64-bit integer" "$LB" "${I[@]}" --format jsonl -i "$WORK/bad3.jsonl"
head -c 300 "$WORK/ann.label-studio.json" > "$WORK/bad4.json"
expect_fail 3 "bad4.json:[0-9]+:[0-9]+: invalid JSON" "$LB" "${I[@]}" --format label-studio -i "$WORK/bad4.json"
expect_fail 2 "--format 'csv'" "$LB" "${I[@]}" --format csv -i "$WORK/bad1.tsv"
expect_fail 2 "--mode import needs --input" "$LB" --mode import --journal "$J"
expect_fail 4 "nope.tsv" "$LB" "${I[@]}" --format tsv -i "$WORK/nope.tsv"
u0=$(sed -n 2p "$WORK/oracle.tsv" | cut -f1)
printf 'item_id\tannotator_id\tlabel\n%s\ta\tpos\n99999999999\ta\tpos\n' "$u0" > "$WORK/bad5.tsv"
expect_fail 3 "bad5.tsv:3: uid 99999999999 is not in the pool .*pool \(1 of the file's 2 uids" \
  "$LB" --mode import --journal "$J" --pool "$WORK/pool" --format tsv -i "$WORK/bad5.tsv" "${L[@]}"
cmp "$J" "$WORK/journal.before" || fail "a failed import changed the journal"
head -2 "$WORK/bad5.tsv" > "$WORK/good5.tsv"
"$LB" --mode import --journal "$WORK/j5.tsv" --pool "$WORK/pool" --format tsv -i "$WORK/good5.tsv" "${L[@]}" 2>/dev/null \
  || fail "a pool uid was refused"
[ "$(grep -vc '^#' "$WORK/j5.tsv")" -eq 1 ] || fail "pool-checked import"
pass "bad input: clear errors, journal unchanged"

# ---- a torn last line: skipped with a warning, removed by the next import
printf '123\t\tx\tpos\t2026' >> "$J"
out=$("$LB" --mode show --journal "$J" 2>&1)
echo "$out" | grep -q "skipping a torn final line" || fail "no torn-line warning: $out"
echo "$out" | grep -q "^records	100$" || fail "torn line counted: $out"
# (the Labelbox export again: its records are all in the journal already, none is added twice)
out=$("$LB" "${I[@]}" --format labelbox -i "$WORK/ann.labelbox.ndjson" 2>&1)
echo "$out" | grep -qE "imported 0 annotations .* [0-9]+ already in the journal" || fail "re-import not recognised: $out"
[ "$(grep -vc '^#' "$J")" -eq 100 ] || fail "journal after the torn line has $(grep -vc '^#' "$J") records"
cmp <(head -c "$(stat -c %s "$WORK/journal.before")" "$J") "$WORK/journal.before" || fail "earlier records rewritten"
"$LB" --mode show --journal "$J" 2>&1 | grep -q "torn" && ! "$LB" --mode show --journal "$J" 2>&1 | grep -q "skipping" || fail "torn line not removed"
pass "torn last line skipped, then truncated by the next import"

# ---- two concurrent imports lose nothing
I2=(--mode import --journal "$WORK/j2.tsv" --queue "$Q" --classes neg,pos "${L[@]}")
"$LB" "${I2[@]}" --format label-studio -i "$WORK/ann.label-studio.json" 2>/dev/null &
p1=$!
"$LB" "${I2[@]}" --format tsv -i "$WORK/ann.tsv" 2>/dev/null &
p2=$!
wait $p1 || fail "import 1"
wait $p2 || fail "import 2"
[ "$(grep -vc '^#' "$WORK/j2.tsv")" -eq 70 ] || fail "concurrent imports: $(grep -vc '^#' "$WORK/j2.tsv") records, want 70"
[ "$(grep -c '^#' "$WORK/j2.tsv")" -eq 1 ] || fail "two headers"
"$LB" --mode show --journal "$WORK/j2.tsv" >/dev/null || fail "journal of concurrent imports unreadable"
pass "concurrent imports: 70 records, one header"
