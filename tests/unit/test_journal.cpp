// trawl-libs: trawl_labels
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/error.h"
#include "labels/journal.h"
#include "labels/labels.h"
#include "support/testutil.h"

using namespace trawl;
using labels::Record;
using labels::Vote;

static Record rec(uint64_t uid, std::string cls, std::string ann, std::string label, uint64_t round = 1) {
  Record r;
  r.uid = uid;
  r.cls = std::move(cls);
  r.annotator = std::move(ann);
  r.label = std::move(label);
  r.time = "2026-01-02T03:04:05Z";
  r.round = round;
  r.source = "unit";
  return r;
}

static std::string crc_hex(const std::string& s) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, reinterpret_cast<const Bytef*>(s.data()), uInt(s.size()));
  char b[16];
  std::snprintf(b, sizeof b, "%08lx", c);
  return b;
}

TEST(Journal, WritesTheDocumentedLinesAndReadsThemBack) {
  test::TempDir d("journal");
  Record a = rec(7, "pos", "ann one", "pos", 3);
  a.source = "q.json";
  Record b = rec(18446744073709551615ULL, "", "tab\there", "multi\nline\\x", 0);
  labels::append_journal(d / "j.tsv", {a, b});
  const std::string body1 = "7\tpos\tann one\tpos\t2026-01-02T03:04:05Z\t3\tq.json";
  const std::string body2 = "18446744073709551615\t\ttab\\there\tmulti\\nline\\\\x\t2026-01-02T03:04:05Z\t0\tunit";
  EXPECT_EQ(test::read_file(d / "j.tsv"), "# trawl-format: labels-journal\ttrawl-format-version: 1\n" + body1 + "\t" +
                                              crc_hex(body1) + "\n" + body2 + "\t" + crc_hex(body2) + "\n");
  auto j = labels::read_journal(d / "j.tsv");
  ASSERT_EQ(j.records.size(), 2u);
  EXPECT_FALSE(j.torn_tail);
  EXPECT_EQ(j.records[1].uid, 18446744073709551615ULL);
  EXPECT_EQ(j.records[1].annotator, "tab\there");
  EXPECT_EQ(j.records[1].label, "multi\nline\\x");
  EXPECT_EQ(j.records[0].round, 3u);
  EXPECT_EQ(j.records[0].line, 2u);
  EXPECT_EQ(j.records[1].line, 3u);
  // a second append adds lines, never rewrites the first ones
  labels::append_journal(d / "j.tsv", {rec(9, "neg", "x", "neg")});
  auto j2 = labels::read_journal(d / "j.tsv");
  ASSERT_EQ(j2.records.size(), 3u);
  EXPECT_EQ(j2.records[2].uid, 9u);
}

TEST(Journal, TornLastLineIsSkippedThenTruncatedByTheNextAppend) {
  test::TempDir d("journal");
  labels::append_journal(d / "j.tsv", {rec(1, "", "a", "x"), rec(2, "", "a", "y")});
  const std::string good = test::read_file(d / "j.tsv");
  {
    FILE* f = std::fopen((d / "j.tsv").c_str(), "ab");
    std::fputs("3\t\ta\tz\t2026-01-02T0", f);  // a crash mid-append
    std::fclose(f);
  }
  auto j = labels::read_journal(d / "j.tsv");
  EXPECT_TRUE(j.torn_tail);
  EXPECT_EQ(j.torn_bytes, 19u);
  ASSERT_EQ(j.records.size(), 2u);
  EXPECT_EQ(j.records[1].label, "y");
  EXPECT_EQ(labels::append_journal(d / "j.tsv", {rec(4, "", "b", "w")}), 19u);
  const std::string after = test::read_file(d / "j.tsv");
  EXPECT_EQ(after.substr(0, good.size()), good);
  EXPECT_EQ(after.find("2026-01-02T0\n"), std::string::npos);
  auto j2 = labels::read_journal(d / "j.tsv");
  EXPECT_FALSE(j2.torn_tail);
  ASSERT_EQ(j2.records.size(), 3u);
  EXPECT_EQ(j2.records[2].uid, 4u);
}

TEST(Journal, LongTornTailInALargeJournal) {
  // the append scans the tail backwards in 64 KiB steps: a torn segment longer than one step
  test::TempDir d("journal");
  std::vector<Record> many;
  for (uint64_t u = 0; u < 3000; ++u) many.push_back(rec(u, "pos", "annotator-" + std::to_string(u % 7), "label"));
  labels::append_journal(d / "j.tsv", many);
  const std::string good = test::read_file(d / "j.tsv");
  ASSERT_GT(good.size(), 65536u * 2);
  {
    FILE* f = std::fopen((d / "j.tsv").c_str(), "ab");
    std::fputs(("9\t\ta\t" + std::string(70000, 'z')).c_str(), f);
    std::fclose(f);
  }
  EXPECT_EQ(labels::append_journal(d / "j.tsv", {rec(5000, "", "b", "w")}), 70005u);  // "9\t\ta\t" + 70000
  auto j = labels::read_journal(d / "j.tsv");
  EXPECT_FALSE(j.torn_tail);
  ASSERT_EQ(j.records.size(), 3001u);
  EXPECT_EQ(j.records.back().uid, 5000u);
  EXPECT_EQ(test::read_file(d / "j.tsv").substr(0, good.size()), good);
}

TEST(Journal, TornHeaderOnlyIsAnEmptyJournal) {
  test::TempDir d("journal");
  test::write_file(d / "j.tsv", "# trawl-format: lab");
  auto j = labels::read_journal(d / "j.tsv");
  EXPECT_TRUE(j.torn_tail);
  EXPECT_TRUE(j.records.empty());
  labels::append_journal(d / "j.tsv", {rec(5, "", "a", "x")});
  auto j2 = labels::read_journal(d / "j.tsv");
  ASSERT_EQ(j2.records.size(), 1u);
  EXPECT_EQ(test::read_file(d / "j.tsv").rfind("# trawl-format: labels-journal\t", 0), 0u);
}

static std::string read_error(const std::string& path) {
  try {
    labels::read_journal(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Journal, CorruptLinesAreErrorsNamingFileAndLine) {
  test::TempDir d("journal");
  labels::append_journal(d / "j.tsv", {rec(1, "", "a", "x"), rec(2, "", "a", "y"), rec(3, "", "a", "z")});
  std::string s = test::read_file(d / "j.tsv");
  size_t p = s.find("\ty\t");
  s[p + 1] = 'Y';  // a flipped byte in the middle record (line 3)
  test::write_file(d / "bad.tsv", s);
  EXPECT_NE(read_error(d / "bad.tsv").find("bad.tsv:3: corrupt journal record: checksum"), std::string::npos)
      << read_error(d / "bad.tsv");
  // a missing checksum
  std::string s2 = test::read_file(d / "j.tsv");
  s2.insert(s2.find('\n') + 1, "5\t\ta\tb\tt\t0\tsrc\n");
  test::write_file(d / "bad2.tsv", s2);
  EXPECT_NE(read_error(d / "bad2.tsv").find("bad2.tsv:2: corrupt journal record (no checksum field)"), std::string::npos)
      << read_error(d / "bad2.tsv");
  // an empty line in the middle
  std::string s3 = test::read_file(d / "j.tsv");
  s3.insert(s3.find('\n') + 1, "\n");
  test::write_file(d / "bad3.tsv", s3);
  EXPECT_NE(read_error(d / "bad3.tsv").find("bad3.tsv:2: corrupt journal: an empty line"), std::string::npos);
  // another format, a newer version, no file
  test::write_file(d / "other.tsv", "uid\tlabel\n1\tx\n");
  EXPECT_NE(read_error(d / "other.tsv").find("other.tsv:1: not a labels journal"), std::string::npos);
  test::write_file(d / "v2.tsv", "# trawl-format: labels-journal\ttrawl-format-version: 2\n");
  EXPECT_NE(read_error(d / "v2.tsv").find("v2.tsv:1: labels journal version 2 is not supported"), std::string::npos);
  EXPECT_NE(read_error(d / "none.tsv").find("none.tsv: no such labels journal"), std::string::npos);
  // appending to a foreign file is refused and leaves it as it was
  EXPECT_THROW(labels::append_journal(d / "other.tsv", {rec(1, "", "a", "x")}), InputError);
  EXPECT_EQ(test::read_file(d / "other.tsv"), "uid\tlabel\n1\tx\n");
}

TEST(Journal, InvalidRecordsWriteNothing) {
  test::TempDir d("journal");
  labels::append_journal(d / "j.tsv", {rec(1, "", "a", "x")});
  const std::string before = test::read_file(d / "j.tsv");
  EXPECT_THROW(labels::append_journal(d / "j.tsv", {rec(2, "", "a", "y"), rec(3, "", "", "z")}), UsageError);
  EXPECT_THROW(labels::append_journal(d / "j.tsv", {rec(2, "", "a", "")}), UsageError);
  EXPECT_EQ(test::read_file(d / "j.tsv"), before);
}

TEST(Journal, ConcurrentAppendsFromTwoProcessesLoseNothing) {
  test::TempDir d("journal");
  const std::string path = d / "j.tsv";
  const int kAppends = 150, kPer = 4;
  pid_t kids[2];
  for (int k = 0; k < 2; ++k) {
    kids[k] = fork();
    ASSERT_GE(kids[k], 0);
    if (kids[k] == 0) {
      int rc = 0;
      try {
        for (int i = 0; i < kAppends; ++i) {
          std::vector<Record> batch;
          for (int r = 0; r < kPer; ++r)
            batch.push_back(rec(uint64_t(k) * 1000000 + uint64_t(i * kPer + r), "", cat("proc", k), std::string(40 + r, 'a' + k)));
          labels::append_journal(path, batch);
        }
      } catch (...) {
        rc = 1;
      }
      _exit(rc);
    }
  }
  for (pid_t p : kids) {
    int st = 0;
    waitpid(p, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  auto j = labels::read_journal(path);
  EXPECT_FALSE(j.torn_tail);
  ASSERT_EQ(j.records.size(), size_t(2 * kAppends * kPer));
  std::map<std::string, uint64_t> next;
  for (auto& r : j.records) {  // each process's records arrive whole and in its order
    uint64_t k = r.annotator == "proc0" ? 0 : 1;
    EXPECT_EQ(r.uid, k * 1000000 + next[r.annotator]++);
  }
  EXPECT_EQ(next["proc0"], uint64_t(kAppends * kPer));
  EXPECT_EQ(next["proc1"], uint64_t(kAppends * kPer));
  const std::string all = test::read_file(path);
  EXPECT_EQ(std::count(all.begin(), all.end(), '#'), 1);  // one header
}

TEST(Journal, TimesAreIsoUtc) {
  EXPECT_EQ(labels::unix_to_iso8601(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(labels::unix_to_iso8601(1700000000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(labels::now_iso8601().size(), 20u);
}

// ---- consensus

static std::vector<Vote> votes_of(const std::vector<Record>& rs) { return labels::effective_votes(rs); }

static std::map<uint64_t, labels::Decision> decide(const std::vector<Record>& rs, const std::string& rule = "majority",
                                                   bool keep_single = false, uint64_t seed = 42) {
  labels::ConsensusOptions o;
  o.rule = rule;
  o.keep_single = keep_single;
  o.seed = seed;
  std::map<uint64_t, labels::Decision> m;
  for (auto& d : labels::consensus(votes_of(rs), o).decisions) m[d.uid] = d;
  return m;
}

TEST(Consensus, LatestAnswerPerAnnotatorCounts) {
  auto v = labels::effective_votes({rec(1, "", "a", "x"), rec(1, "", "b", "y"), rec(1, "", "a", "y")});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].annotator, "a");
  EXPECT_EQ(v[0].label, "y");  // a's correction replaces its first answer
  auto m = decide({rec(1, "", "a", "x"), rec(1, "", "b", "y"), rec(1, "", "a", "y")});
  EXPECT_EQ(m[1].label, "y");
  EXPECT_EQ(m[1].how, "votes");
  EXPECT_EQ(labels::effective_votes({rec(1, "pos", "a", "x"), rec(2, "neg", "a", "y")}, "neg").size(), 1u);
}

TEST(Consensus, MajorityTopCountThenMinorityClass) {
  // uid 2 ties a/b; globally a has 4 votes, b 1: the minority class b wins (tie-break 2)
  auto m = decide({rec(1, "", "A1", "a"), rec(1, "", "A2", "a"), rec(1, "", "A3", "a"), rec(2, "", "A1", "a"),
                   rec(2, "", "A2", "b"), rec(3, "", "A1", "a")});
  EXPECT_EQ(m[1].label, "a");
  EXPECT_EQ(m[1].how, "votes");
  EXPECT_EQ(m[1].votes, 3);
  EXPECT_EQ(m[2].label, "b");
  EXPECT_EQ(m[2].how, "minority");
  EXPECT_EQ(m[3].label, "a");  // one label: kept by majority
}

TEST(Consensus, MajorityAnnotatorAgreement) {
  // 10: x x y -> x;  11: y y x -> y (A1, A2 agree twice: 1.0; A3 never: 0.0).
  // Global x = 4, y = 4 after uid 12 (x by A1, y by A3): equal, so agreement decides: x (1.0 > 0.0).
  std::vector<Record> base = {rec(10, "", "A1", "x"), rec(10, "", "A2", "x"), rec(10, "", "A3", "y"),
                              rec(11, "", "A1", "y"), rec(11, "", "A2", "y"), rec(11, "", "A3", "x")};
  auto r1 = base;
  r1.push_back(rec(12, "", "A1", "x"));
  r1.push_back(rec(12, "", "A3", "y"));
  auto m = decide(r1);
  EXPECT_EQ(m[10].label, "x");
  EXPECT_EQ(m[11].label, "y");
  EXPECT_EQ(m[12].label, "x");
  EXPECT_EQ(m[12].how, "agreement");
  // A4 has no untied item: it gets the mean agreement (1 + 1 + 0) / 3 = 0.67 > A3's 0.0 -> y
  auto r2 = base;
  r2.push_back(rec(12, "", "A3", "x"));
  r2.push_back(rec(12, "", "A4", "y"));
  auto m2 = decide(r2);
  EXPECT_EQ(m2[12].label, "y");
  EXPECT_EQ(m2[12].how, "agreement");
}

TEST(Consensus, MajoritySeededDrawIsDeterministicAndUniform) {
  // p/q ties everywhere: same global counts, no untied item, so every item goes to the draw
  std::vector<Record> rs, reversed;
  for (uint64_t u = 0; u < 400; ++u) {
    rs.push_back(rec(u, "", "B1", "p"));
    rs.push_back(rec(u, "", "B2", "q"));
  }
  reversed.assign(rs.rbegin(), rs.rend());
  labels::ConsensusOptions o;
  auto r = labels::consensus(votes_of(rs), o);
  EXPECT_EQ(r.random_ties, 400u);
  auto m1 = decide(rs), m2 = decide(reversed), m3 = decide(rs, "majority", false, 7);
  int p = 0, differ = 0;
  for (uint64_t u = 0; u < 400; ++u) {
    EXPECT_EQ(m1[u].how, "random");
    EXPECT_TRUE(m1[u].label == "p" || m1[u].label == "q");
    EXPECT_EQ(m1[u].label, m2[u].label);  // independent of the journal's order
    p += m1[u].label == "p";
    differ += m1[u].label != m3[u].label;
  }
  EXPECT_GT(p, 150);  // binomial(400, 1/2): 200 +- 25 at 2.5 sigma
  EXPECT_LT(p, 250);
  EXPECT_GT(differ, 100);  // another seed redraws about half
}

TEST(Consensus, StrictPlurality) {
  std::vector<Record> rs = {rec(1, "", "a", "x"), rec(1, "", "b", "x"), rec(1, "", "c", "y"),  // kept: 2 > 1
                            rec(2, "", "a", "x"), rec(2, "", "b", "y"),                        // tie: dropped
                            rec(3, "", "a", "x"),                                              // single: dropped
                            rec(4, "", "a", "x"), rec(4, "", "b", "x"), rec(4, "", "c", "y"), rec(4, "", "d", "y"),
                            rec(4, "", "e", "z"),                                              // 2 = 2: dropped
                            rec(5, "", "a", "z"), rec(5, "", "b", "z")};                       // kept
  labels::ConsensusOptions o;
  o.rule = "plurality";
  auto r = labels::consensus(votes_of(rs), o);
  ASSERT_EQ(r.decisions.size(), 2u);
  EXPECT_EQ(r.decisions[0].uid, 1u);
  EXPECT_EQ(r.decisions[0].label, "x");
  EXPECT_EQ(r.decisions[1].uid, 5u);
  EXPECT_EQ(r.decisions[1].label, "z");
  EXPECT_EQ(r.dropped_single, 1u);
  EXPECT_EQ(r.dropped_tied, 2u);
  EXPECT_EQ(r.items, 5u);
  auto m = decide(rs, "plurality", true);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[3].label, "x");
  o.rule = "vote";
  EXPECT_THROW(labels::consensus({}, o), UsageError);
}

TEST(Consensus, LabelsTsvAndLongTable) {
  test::TempDir d("consensus");
  auto r = labels::consensus(votes_of({rec(4, "pos", "a", "pos"), rec(2, "neg", "a", "neg"), rec(2, "neg", "b", "neg")}), {});
  auto rows = labels::label_rows(r, "j");
  labels::write_labels_tsv(d / "l.tsv", rows);
  EXPECT_EQ(test::read_file(d / "l.tsv"), "uid\tlabel\n2\tneg\n4\tpos\n");
  auto ls = labels::read_labels_tsv(d / "l.tsv");
  EXPECT_EQ(ls.items.size(), 2u);
  labels::write_long_table(d / "long.tsv", votes_of({rec(4, "pos", "a", "pos"), rec(2, "", "b\tc", "neg")}));
  EXPECT_EQ(test::read_file(d / "long.tsv"), "uid\tannotator\tlabel\tclass\n2\tb\\tc\tneg\t\n4\ta\tpos\tpos\n");
  // the same uid decided differently for two queued classes
  auto bad = labels::consensus(votes_of({rec(1, "pos", "a", "pos"), rec(1, "neg", "a", "neg")}), {});
  try {
    labels::label_rows(bad, "j.tsv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("j.tsv: uid 1 is 'neg' by the votes for queued class 'neg' and 'pos'"), std::string::npos)
        << e.what();
  }
}
