// trawl-libs: trawl_formats trawl_io
// The formats layer (src/formats): scores, subpool, round parts, SEALS state and queue files
// through their one writer and one reader — round trips, and bad files refused naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/fs.h"
#include "formats/queue.h"
#include "formats/round.h"
#include "formats/scores.h"
#include "formats/subpool.h"
#include "io/h5.h"
#include "support/testutil.h"

using namespace trawl;
using test::error_of;
namespace h5 = trawl::io::h5;

namespace {

formats::ScoresInfo header(int F = 0) {
  formats::ScoresInfo h;
  h.classes = {"neg", "pos"};
  h.model = "m.h5";
  h.model_checksum = "crc32:1/size:2";
  h.source_kind = "shard";
  h.shard = "shard-000000.h5";
  h.dim = 4;
  h.feature_dim = F;
  return h;
}

}  // namespace

TEST(ScoresFile, RoundTripThroughTheOneWriterAndReader) {
  test::TempDir d("formats");
  const std::string p = d / "s.scores.h5";
  std::vector<uint64_t> uid = {5, 3, 9};
  std::vector<float> pr = {0.25f, 0.75f, 1.0f, 0.0f, 0.5f, 0.5f}, ft = {1, 2, 3, 4, 5, 6};
  {
    formats::ScoresWriter w(p, header(2), 3, 2);
    w.set_attr("fingerprint", "fp");
    w.write(2, 1, uid.data() + 2, pr.data() + 4, ft.data() + 4);  // any order
    w.write(0, 2, uid.data(), pr.data(), ft.data());
    EXPECT_FALSE(path_exists(p));  // nothing under the final name before commit
    w.commit();
  }
  formats::ScoresReader r(p);
  EXPECT_EQ(r.info().classes, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(r.info().rows, 3u);
  EXPECT_EQ(r.info().feature_dim, 2);
  EXPECT_EQ(r.info().fingerprint, "fp");
  std::vector<uint64_t> u;
  std::vector<float> q, f;
  r.read(1, 3, u, q, &f);
  EXPECT_EQ(u, (std::vector<uint64_t>{3, 9}));
  EXPECT_EQ(q, (std::vector<float>{1.0f, 0.0f, 0.5f, 0.5f}));
  EXPECT_EQ(f, (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ(formats::scores_file_name("dir/shard-000042.h5"), "shard-000042.scores.h5");
  EXPECT_EQ(formats::class_file_tag("a/b c"), "a_b_c");
  EXPECT_EQ(formats::class_file_tag(".x"), "_.x");
}

TEST(ScoresFile, UncommittedWriterLeavesNothing) {
  test::TempDir d("formats");
  const std::string p = d / "s.scores.h5";
  {
    formats::ScoresWriter w(p, header(), 2);
    std::vector<uint64_t> u = {1};
    std::vector<float> q = {0.5f, 0.5f};
    w.write(0, 1, u.data(), q.data());
  }  // destroyed without commit (a failed stage)
  EXPECT_FALSE(path_exists(p));
  EXPECT_TRUE(list_files(d.path(), "s.scores.h5", "").empty());
}

TEST(ScoresFile, BadFilesAreRefusedNamingFileDatasetRowAndValue) {
  test::TempDir d("formats");
  // A probability outside [0, 1] (written by hand: the writer is not the only producer).
  const std::string p = d / "bad.scores.h5";
  {
    auto f = h5::File::create(p);
    h5::set_format(f, "scores", 1);
    f.set_attr("classes", "neg\npos");
    auto u = h5::Dataset::create(f, "uid", h5::Type::kU64, 4);
    u.append(std::vector<uint64_t>{7, 8});
    auto q = h5::Dataset::create(f, "probs", h5::Type::kF32, 4, 2);
    q.append(std::vector<float>{0.5f, 0.5f, 1.7f, std::numeric_limits<float>::quiet_NaN()});
    f.close();
  }
  formats::ScoresReader r(p);  // the header is fine
  std::vector<uint64_t> u;
  std::vector<float> q;
  std::string e = error_of([&] { r.read(0, 2, u, q); });
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("'probs', row 1 (uid 8)"), std::string::npos) << e;
  EXPECT_NE(e.find("1.7"), std::string::npos) << e;
  // Features asked of a file without them.
  e = error_of([&] { std::vector<float> f; r.read(0, 1, u, q, &f); });
  EXPECT_NE(e.find("--features"), std::string::npos) << e;

  // An unfinished file (shard-rows without rows), a class count that does not match probs,
  // another format.
  const std::string unfinished = d / "unfinished.scores.h5";
  {
    auto f = h5::File::create(unfinished);
    h5::set_format(f, "scores", 1);
    f.set_attr("classes", "neg\npos\nmid");
    f.set_attr_u64("shard-rows", 2);
    auto uu = h5::Dataset::create(f, "uid", h5::Type::kU64, 4);
    uu.append(std::vector<uint64_t>{7, 8});
    auto qq = h5::Dataset::create(f, "probs", h5::Type::kF32, 4, 2);
    qq.append(std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f});
    f.close();
  }
  e = error_of([&] { formats::ScoresReader x(unfinished); });
  EXPECT_NE(e.find("'rows'"), std::string::npos) << e;
  {
    auto f = h5::File::open(unfinished, h5::File::kReadWrite);
    f.set_attr_u64("rows", 2);
    f.close();
  }
  e = error_of([&] { formats::ScoresReader x(unfinished); });
  EXPECT_NE(e.find("3 classes but 'probs' has 2 columns"), std::string::npos) << e;
  e = error_of([&] { formats::ScoresReader x(d / "nope.h5"); });
  EXPECT_NE(e.find(d / "nope.h5"), std::string::npos) << e;
}

TEST(SubpoolFile, RoundTripAndShapeChecks) {
  test::TempDir d("formats");
  const std::string p = d / "subpool.h5";
  formats::SubpoolInfo info;
  info.meta.method = "anchoral";
  info.meta.pool = "pool";
  info.meta.round = 3;
  info.meta.dim = 2;
  info.meta.encoder = "hash";
  info.meta.params = "dim=2";
  info.candidates = 10;
  info.anchors = 4;
  info.labelled = 6;
  info.rows = 2;
  formats::write_subpool(p, info, {11, 4}, {0.9, 0.8}, {3, 1}, {1, 0, 0, 1});
  formats::SubpoolReader r(p);
  EXPECT_EQ(r.uids(), (std::vector<uint64_t>{11, 4}));
  EXPECT_EQ(r.scores(), (std::vector<double>{0.9, 0.8}));
  EXPECT_EQ(r.anchor_counts(), (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(r.info().meta.round, 3u);
  EXPECT_EQ(r.info().candidates, 10u);
  std::vector<float> e(2);
  r.read_embedding(1, 1, e.data());
  EXPECT_EQ(e, (std::vector<float>{0, 1}));
  // One score too few: refused naming the file and the dataset.
  const std::string bad = d / "bad.h5";
  {
    auto f = h5::File::create(bad);
    h5::set_format(f, "subpool", 1);
    formats::put_round_meta(f, info.meta);
    f.set_attr_u64("candidates", 1);
    f.set_attr_u64("anchors", 1);
    f.set_attr_u64("labelled", 1);
    auto du = h5::Dataset::create(f, "uid", h5::Type::kU64, 4);
    du.append(std::vector<uint64_t>{1, 2});
    auto ds = h5::Dataset::create(f, "score", h5::Type::kF64, 4);
    ds.append(std::vector<double>{0.5});
    f.close();
  }
  std::string msg = error_of([&] { formats::SubpoolReader x(bad); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_NE(msg.find("score"), std::string::npos) << msg;
  // Not a subpool.
  msg = error_of([&] { formats::SubpoolReader x(d / "none.h5"); });
  EXPECT_NE(msg.find("none.h5"), std::string::npos) << msg;
}

TEST(RoundFiles, RetrievePartAndSealsStateRoundTripAndRefusals) {
  test::TempDir d("formats");
  formats::RetrievePart p;
  p.meta.method = "anchoral";
  p.meta.backend = "exact";
  p.meta.pool = "pool";
  p.meta.labels = "labels.tsv";
  p.meta.round = 3;
  p.meta.seed = 7;
  p.meta.M = 100;
  p.meta.K = 2;
  p.meta.A = 1;
  p.meta.dim = 4;
  p.part = 1;
  p.parts = 3;
  p.state = "prev/seals-state.h5";
  p.anchors = 2;
  p.query_uid = {10, 11};
  p.labelled_uid = {10, 11, 12};
  p.uid = {5, 6, 7};
  p.anchor = {0, 0, 1};
  p.dist = {0.1f, 0.2f, 0.05f};
  p.sample_priority = {99, 100};
  p.sample_uid = {8, 9};
  const std::string path = d / "part-1-of-3.h5";
  formats::write_retrieve_part(path, p);
  auto q = formats::read_retrieve_part(path);
  EXPECT_EQ(q.meta.method, "anchoral");
  EXPECT_EQ(q.meta.round, 3u);
  EXPECT_EQ(q.meta.K, 2);
  EXPECT_EQ(q.part, 1);
  EXPECT_EQ(q.parts, 3);
  EXPECT_EQ(q.state, p.state);
  EXPECT_EQ(q.anchors, 2u);
  EXPECT_EQ(q.query_uid, p.query_uid);
  EXPECT_EQ(q.labelled_uid, p.labelled_uid);
  EXPECT_EQ(q.uid, p.uid);
  EXPECT_EQ(q.anchor, p.anchor);
  EXPECT_EQ(q.dist, p.dist);
  EXPECT_EQ(q.sample_priority, p.sample_priority);
  EXPECT_EQ(q.sample_uid, p.sample_uid);

  // Columns of different lengths (a hand-made file), another format, a newer version.
  {
    auto f = h5::File::open(path, h5::File::kReadWrite);
    auto dd = h5::Dataset::open(f, "dist");
    dd.append(std::vector<float>{0.3f});
    f.close();
  }
  std::string e = error_of([&] { formats::read_retrieve_part(path); });
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("dist 4"), std::string::npos) << e;
  formats::SealsState s{{1, 2}, {3, 4, 5}};
  const std::string sp = d / "seals-state.h5";
  formats::write_seals_state(sp, s, p.meta);
  auto t = formats::read_seals_state(sp);
  EXPECT_EQ(t.searched, s.searched);
  EXPECT_EQ(t.pool, s.pool);
  EXPECT_TRUE(formats::read_seals_state("").pool.empty());  // the first round
  e = error_of([&] { formats::read_retrieve_part(sp); });
  EXPECT_NE(e.find("seals-state"), std::string::npos) << e;
  {
    auto f = h5::File::open(sp, h5::File::kReadWrite);
    f.set_attr("trawl-format-version", int64_t(formats::kSealsVersion + 1));
    f.close();
  }
  e = error_of([&] { formats::read_seals_state(sp); });
  EXPECT_NE(e.find(sp), std::string::npos) << e;
}

TEST(QueueFile, RoundTripAndRefusals) {
  test::TempDir d("formats");
  std::vector<formats::QueueRow> rows = {{42, "id\tone", "text with\nnewline", "pos", 0.125, "explore:a b"},
                                         {7, "id2", "", "", -0.5, "least-confidence"}};
  const std::string p = d / "queue.tsv";
  formats::write_queue(p, rows, 4, "seed = 1\nstrategy = x\n");
  auto q = formats::read_queue(p);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].uid, 42u);
  EXPECT_EQ(q[0].id, "id\tone");
  EXPECT_EQ(q[0].text, "text with\nnewline");
  EXPECT_EQ(q[0].cls, "pos");
  EXPECT_EQ(q[0].score, 0.125);
  EXPECT_EQ(q[0].rank, 1u);
  EXPECT_EQ(q[0].source, "explore:a b");
  EXPECT_EQ(q[1].rank, 2u);
  EXPECT_EQ(q[1].round, 4u);
  EXPECT_NE(test::read_file(p).find("# config: seed = 1\n# config: strategy = x\n"), std::string::npos);
  // A newer version, a uid queued twice.
  std::string text = test::read_file(p);
  const std::string v1 = cat("# trawl-format-version: ", formats::kQueueFormatVersion, "\n");
  test::write_file(d / "v2.tsv", text.replace(text.find(v1), v1.size(), "# trawl-format-version: 2\n"));
  std::string e = error_of([&] { formats::read_queue(d / "v2.tsv"); });
  EXPECT_NE(e.find(d / "v2.tsv"), std::string::npos) << e;
  EXPECT_NE(e.find("version '2'"), std::string::npos) << e;
  test::write_file(d / "twice.tsv", test::read_file(p) + "42\tx\ty\tpos\t0.1\t3\tsrc\t4\n");
  e = error_of([&] { formats::read_queue(d / "twice.tsv"); });
  EXPECT_NE(e.find("uid 42 is queued twice"), std::string::npos) << e;
}
