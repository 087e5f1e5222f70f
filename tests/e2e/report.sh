# trawl-report over hand-written simulate metrics (format version 2): 2 groups × 3 seeds, one
# group as a multi-seed directory (seed-*/metrics.tsv), the other as three run directories with
# the columns in another order, an extra text column and one seed with an extra round.
#  * the table's mean ± sd (at the last common round, and at --round 1 with --metrics) equal a
#    recomputation from the files, to the 3 significant digits printed; stdout is report.md's table;
#  * a round with evaluated = 0 has no F1 (its metric columns are not read, even "-");
#  * the PNGs are PNGs, the SVGs parse as XML, and plot.gp redraws them;
#  * refused with the file (and line) named, leaving nothing in --output: a version-1 file, a
#    malformed value, a missing column, a seed twice in a group; gnuplot missing or failing.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
command -v gnuplot >/dev/null || fail "no gnuplot (tools/install-deps.sh installs gnuplot-nox)"
R="$BIN/trawl-report"

V2="round labelled target_labelled found_share subpool subpool_target queued queued_target evaluated precision recall f1 f1_argmax best_f1 average_precision roc_auc prior_target auc_f1 relabelled label_accuracy select_seconds train_seconds"
# Group B: the same columns shuffled, plus a text column.
V2B="f1 note labelled round roc_auc best_f1 target_labelled evaluated select_seconds average_precision train_seconds f1_argmax auc_f1 precision recall prior_target found_share subpool subpool_target queued queued_target relabelled label_accuracy"
# write_run FILE METHOD STRATEGY SEED GROUP ROUNDS COLUMNS: round 2 is not evaluated.
write_run() {
  mkdir -p "$(dirname "$1")"
  awk -v method="$2" -v strategy="$3" -v seed="$4" -v g="$5" -v rounds="$6" -v order="$7" 'BEGIN {
    print "# trawl-format: simulate-metrics"; print "# trawl-format-version: 2"; print "# target: hard_ham"
    print "# method: " method; print "# strategy: " strategy; print "# model: logreg"; print "# seed: " seed
    print "# pool: 6046 items, 250 of class hard_ham"; print "# test: 1209 items, 50 of class hard_ham"
    split("precision recall f1 f1_argmax best_f1 average_precision roc_auc prior_target", e, " ")
    for (k in e) isev[e[k]] = 1
    split("round labelled target_labelled subpool subpool_target queued queued_target evaluated relabelled", e, " ")
    for (k in e) isint[e[k]] = 1
    n = split(order, cols, " ")
    for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "\t" : ""), cols[i]
    print ""
    for (r = 0; r < rounds; r++) {
      ev = r == 2 ? 0 : 1
      for (i = 1; i <= n; i++) {
        c = cols[i]
        if (c == "round") v = r
        else if (c == "labelled") v = 105 + 25 * r
        else if (c == "target_labelled") v = 5 + (3 + g) * r + seed
        else if (c == "evaluated") v = ev
        else if (c == "f1") v = g == 0 ? 0.05 * r + 0.1 * seed + 0.15 : 0.04 * r + 0.02 * seed * seed + 0.1
        else v = ((r * 7 + seed * 13 + g * 5 + length(c) * 3) % 17) / 17.0 + (isint[c] ? 40 * r : 0.1 * r)
        if (c == "note") s = "free text"
        else if (ev == 0 && isev[c]) s = g == 0 ? "-" : "0.000000"
        else s = isint[c] ? sprintf("%d", v) : sprintf("%.6f", v)
        printf "%s%s", (i > 1 ? "\t" : ""), s
      }
      print ""
    }
  }' > "$1"
}
for s in 1 2 3; do
  write_run "$WORK/runs/A/seed-$s/metrics.tsv" anchoral entropy "$s" 0 4 "$V2"
  write_run "$WORK/runs/B$s/metrics.tsv" random random "$s" 1 $((s == 3 ? 5 : 4)) "$V2B"
done
echo "other summary" > "$WORK/runs/A/summary.tsv"
mkdir -p "$WORK/runs/A/seed-9"  # an unfinished seed: skipped with a warning

out=$("$R" --help) || fail "--help"
echo "$out" | grep -q -- "--output" && echo "$out" | grep -q -- "--metrics" || fail "--help lacks options"
pass "--help"

"$R" "$WORK/runs/A" "$WORK/runs/B1" --input "$WORK/runs/B2" "$WORK/runs/B3" --output "$WORK/rep" --title "Fixture report" \
  > "$WORK/stdout.md" 2> "$WORK/stderr.txt" || { cat "$WORK/stderr.txt" >&2; fail "trawl-report"; }
grep -q "random/random: its seeds have 4 to 5 rounds" "$WORK/stderr.txt" || fail "no warning about the rounds' common prefix"
grep -q "seed-9: no metrics.tsv" "$WORK/stderr.txt" || fail "no warning about a seed directory without metrics"
for f in report.md plot.gp data-1.tsv data-2.tsv eval-1.tsv eval-2.tsv f1.png f1.svg ap.png ap.svg found.png found.svg \
         select-time.png select-time.svg; do
  [ -s "$WORK/rep/$f" ] || fail "no $f in the report directory"
done
[ -z "$(ls -A "$WORK" | grep '\.tmp\.')" ] || fail "staging directory left behind"
# check_table REPORT STDOUT ROUND METRICS...: every cell against the metrics files.
check_table() {
$PY - "$WORK/runs" "$@" <<'PY'
import sys, glob, math, statistics
runs, report, stdout, rnd, metrics = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
def read(path):
    lines = [l.rstrip("\n") for l in open(path)]
    meta = dict(l[2:].split(": ", 1) for l in lines if l.startswith("# "))
    rows = [l.split("\t") for l in lines if l and not l.startswith("#")]
    return meta, [dict(zip(rows[0], r)) for r in rows[1:]]
groups = {}
for f in sorted(glob.glob(runs + "/A/seed-*/metrics.tsv") + glob.glob(runs + "/B*/metrics.tsv")):
    meta, rows = read(f)
    groups.setdefault(meta["method"] + "/" + meta["strategy"], []).append(rows)
text = open(report).read()
table = [l for l in text.split("## Round %d\n\n" % rnd)[1].split("\n\n")[0].splitlines()]
assert open(stdout).read().strip() == "\n".join(table).strip(), "stdout is not report.md's table"
header = [c.strip() for c in table[0].strip("|").split("|")]
assert header == ["method/strategy", "model", "target", "seeds"] + metrics, header
checked = 0
for line in table[2:]:
    cells = [c.strip() for c in line.strip("|").split("|")]
    seeds = groups[cells[0]]
    assert cells[1:4] == ["logreg", "hard_ham", "3"], cells
    for m, cell in zip(metrics, cells[4:]):
        x = [float(s[rnd][m]) for s in seeds]
        mean, sd = statistics.mean(x), statistics.stdev(x)
        got_mean, got_sd = (float(v) for v in cell.split(" ± "))
        for want, got in ((mean, got_mean), (sd, got_sd)):
            dec = max(0, 2 - math.floor(math.log10(abs(want)))) if want else 0
            tol = 0.5 * 10 ** -dec + 1e-9 if want else 1e-12
            assert abs(got - want) <= tol, f"{cells[0]} {m}: table {cell}, files mean {mean} sd {sd}"
        checked += 1
assert checked == 2 * len(metrics), checked
print(f"{checked} cells equal the metrics files at round {rnd}")
PY
}
DEF="labelled target_labelled f1 f1_argmax best_f1 average_precision roc_auc auc_f1 select_seconds train_seconds"
check_table "$WORK/rep/report.md" "$WORK/stdout.md" 3 $DEF || fail "table at the last common round"
grep -qF "| anchoral/entropy | logreg | hard_ham | 3 | 180 ± 0 | 16.0 ± 1.00 | 0.500 ± 0.100 |" "$WORK/rep/report.md" \
  || fail "group A's row does not read 180 ± 0, 15.0 ± 1.00, 0.500 ± 0.100"
grep -q "seeds 1, 2, 3; pool: 6046 items, 250 of class hard_ham; test: 1209 items, 50 of class hard_ham" "$WORK/rep/report.md" \
  || fail "group line with seeds and pool/test counts"
# the second table: mean select_seconds per round (group B over its common 4 rounds)
$PY - "$WORK/runs" "$WORK/rep/report.md" <<'PY' || fail "selection-time table"
import sys, glob, statistics
runs, report = sys.argv[1:]
sec = open(report).read().split("## Selection time per round")[1].split("## Plots")[0]
rows = [[c.strip() for c in l.strip("|").split("|")] for l in sec.splitlines() if l.startswith("| ") and not l.startswith("| round")]
assert [r[0] for r in rows] == ["0", "1", "2", "3"], rows
for col, pat in ((1, "/A/seed-*/metrics.tsv"), (2, "/B*/metrics.tsv")):
    files = sorted(glob.glob(runs + pat))
    for r in range(4):
        vals = []
        for f in files:
            lines = [l.rstrip("\n").split("\t") for l in open(f) if not l.startswith("#")]
            vals.append(float(dict(zip(lines[0], lines[1 + r]))["select_seconds"]))
        assert abs(float(rows[r][col]) - statistics.mean(vals)) < 0.0051, (r, col, rows[r][col], vals)
print("selection time per round ok")
PY
# round 2 is not evaluated: no F1 in data-N.tsv, absent from eval-N.tsv
$PY - "$WORK/rep" <<'PY' || fail "unevaluated round"
import sys
d = sys.argv[1]
for g in (1, 2):
    rows = [l.rstrip("\n").split("\t") for l in open(f"{d}/data-{g}.tsv") if not l.startswith("#")]
    data = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [r["round"] for r in data] == ["0", "1", "2", "3"], [r["round"] for r in data]
    assert data[2]["f1"] == "?" and data[2]["labelled"] == "155", data[2]
    rows = [l.rstrip("\n").split("\t") for l in open(f"{d}/eval-{g}.tsv") if not l.startswith("#")]
    assert [r[rows[0].index("round")] for r in rows[1:]] == ["0", "1", "3"], rows
print("round 2: no F1")
PY
$PY - "$WORK/rep" <<'PY' || fail "plot files"
import sys, xml.etree.ElementTree as ET
d = sys.argv[1]
for name in ("f1", "ap", "found", "select-time"):
    png = open(f"{d}/{name}.png", "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{name}.png is not a PNG"
    assert int.from_bytes(png[16:20], "big") >= 400, f"{name}.png is too small"
    root = ET.parse(f"{d}/{name}.svg").getroot()
    assert root.tag.endswith("svg"), root.tag
    text = " ".join(t for e in root.iter() for t in [e.text or ""])
    assert "anchoral/entropy" in text and "random/random" in text, f"{name}.svg has no legend"
print("4 PNGs and 4 SVGs valid")
PY
rm "$WORK/rep/f1.png"
(cd "$WORK/rep" && gnuplot plot.gp) || fail "plot.gp does not redraw"
[ -s "$WORK/rep/f1.png" ] || fail "plot.gp did not redraw f1.png"
pass "table equals the files; plots valid; plot.gp redraws"

"$R" "$WORK/runs/A" "$WORK"/runs/B? -o "$WORK/rep1" --round 1 --metrics f1,roc_auc --format svg > "$WORK/stdout1.md" \
  2>/dev/null || fail "--round 1"
check_table "$WORK/rep1/report.md" "$WORK/stdout1.md" 1 f1 roc_auc || fail "table at --round 1"
[ -s "$WORK/rep1/f1.svg" ] && [ ! -e "$WORK/rep1/f1.png" ] || fail "--format svg"
printf '[report]\ninput = %s %s %s %s\nmetrics = f1\n' "$WORK/runs/A" "$WORK/runs/B1" "$WORK/runs/B2" "$WORK/runs/B3" > "$WORK/rep.ini"
"$R" --config "$WORK/rep.ini" -o "$WORK/rep2" | grep -q "0.500 ± 0.100" || fail "--config with inputs"
"$R" "$WORK/runs/B1" -o "$WORK/rep3" --metrics f1,labelled 2>/dev/null | grep -qF "| 0.240 ± – | 180 ± – |" || fail "one seed: sd –"
pass "--round, --metrics, --format, --config, one seed"

# no_output DIR: a refused run left nothing behind
no_output() { [ ! -e "$1" ] || fail "$1 exists after a failure"; [ -z "$(ls -A "$WORK" | grep '\.tmp\.')" ] || fail "staging left behind"; }
mkdir -p "$WORK/v1"
printf '# trawl-format: simulate-metrics\n# trawl-format-version: 1\n# target: pos\n# pool: 100 items, 5 of class pos\n' > "$WORK/v1/metrics.tsv"
printf 'round\tlabelled\ttarget_labelled\tfound_share\tsubpool\tsubpool_target\tqueued\tqueued_target\tevaluated\tprecision\trecall\tf1\ttop_n\tprecision_at_top\tauc_f1\trelabelled\tlabel_accuracy\tselect_seconds\ttrain_seconds\n' >> "$WORK/v1/metrics.tsv"
printf '0\t10\t1\t0.2\t50\t3\t5\t1\t1\t0.5\t0.5\t0.5\t10\t0.3\t0\t0\t1\t0.1\t0.1\n' >> "$WORK/v1/metrics.tsv"
expect_fail 3 "v1/metrics.tsv: trawl-format-version 1: .*test split" "$R" "$WORK/runs/A" "$WORK/v1" -o "$WORK/bad1"
no_output "$WORK/bad1"
cp -r "$WORK/runs/B1" "$WORK/B1bad"
sed -i '12s/^\([0-9.]*\)/\1x/' "$WORK/B1bad/metrics.tsv"
expect_fail 3 "B1bad/metrics.tsv:12: column 'f1': '0\.160000x' is not a number" "$R" "$WORK/runs/A" "$WORK/B1bad" -o "$WORK/bad2"
no_output "$WORK/bad2"
mkdir -p "$WORK/existing" && echo keep > "$WORK/existing/keep.txt"
expect_fail 3 "B1bad/metrics.tsv:12: " "$R" "$WORK/runs/A" "$WORK/B1bad" -o "$WORK/existing"
[ "$(ls -A "$WORK/existing")" = "keep.txt" ] || fail "an existing --output changed after a failure"
expect_fail 3 "metrics.tsv:11: column 'note': 'free text' is not a number" "$R" "$WORK/runs/B1" --metrics note -o "$WORK/bad3"
no_output "$WORK/bad3"
cp -r "$WORK/runs/B1" "$WORK/B1nocol" && sed -i 's/\taverage_precision\t/\tap\t/' "$WORK/B1nocol/metrics.tsv"
expect_fail 3 "B1nocol/metrics.tsv:10: no column 'average_precision'" "$R" "$WORK/B1nocol" -o "$WORK/bad4"
cp -r "$WORK/runs/B1" "$WORK/B1short" && sed -i '12s/\t[^\t]*$//' "$WORK/B1short/metrics.tsv"
expect_fail 3 "B1short/metrics.tsv:12: 22 fields, the header has 23" "$R" "$WORK/B1short" -o "$WORK/bad5"
cp -r "$WORK/runs/B1" "$WORK/B1again"
expect_fail 3 "seed 1 appears twice in group random/random.*runs/B1/metrics.tsv and .*B1again/metrics.tsv" \
  "$R" "$WORK/runs/B1" "$WORK/B1again" -o "$WORK/bad6"
no_output "$WORK/bad6"
pass "version 1, malformed value, missing column, short row, seed twice: refused naming the file, nothing written"

expect_fail 4 "install it .*gnuplot-nox" "$R" "$WORK/runs/A" -o "$WORK/bad7" --gnuplot no-such-gnuplot-here
no_output "$WORK/bad7"
expect_fail 4 "gnuplot failed \(exit status 1\)" "$R" "$WORK/runs/A" -o "$WORK/bad8" --gnuplot /bin/false
no_output "$WORK/bad8"
expect_fail 2 "--round 4: not every group has it" "$R" "$WORK/runs/A" -o "$WORK/bad9" --round 4
pass "gnuplot missing or failing: clear errors, nothing written"
