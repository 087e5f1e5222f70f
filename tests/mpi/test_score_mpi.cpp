// trawl-libs: trawl_stage_score trawl_formats trawl_pool trawl_io
// The trawl-score stage over real shards (io::ShardWriter) and model files (train::write_model),
// at 1..4 ranks:
//  * probabilities and features against an independent double-precision implementation of the
//    models written here;
//  * scores files and TSVs of the P-rank job identical to those of a 1-process run (rank 0 on
//    MPI_COMM_SELF) and to an array job (3 tasks) followed by --select-only;
//  * top-<class>.tsv and cutoffs-<class>.tsv against a full sort of every score;
//  * reruns skip finished files, another model rescores; subpool mode; bad input.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "formats/subpool.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "stages/score_stage.h"
#include "score/topn.h"
#include "support/testutil.h"
#include "train/model.h"

using namespace trawl;
using namespace trawl::score;
using namespace trawl::stages;
using namespace trawl::formats;

namespace {

constexpr int kDim = 16;
constexpr int kBuckets = 50;  // embbag token buckets
const std::vector<size_t> kShardRows = {2600, 1, 3000, 900, 3504};  // 10005 items
const char* kEncoder = "hash";
const char* kParams = "dim=16;seed=1";

struct Row {
  uint64_t uid;
  std::string id, text;
  std::vector<float> x;
  std::vector<uint32_t> tok;
};

// The whole pool, generated identically on every rank (the writer is rank 0).
std::vector<Row> make_rows(uint64_t chunk, size_t n) {
  Rng r(key(11, chunk));
  Rng proto(5);  // 300 distinct vectors shared by all shards: many tied scores
  std::vector<std::vector<float>> protos(300, std::vector<float>(kDim));
  for (auto& p : protos)
    for (auto& v : p) v = float(proto.normal());
  std::vector<Row> rows(n);
  for (size_t i = 0; i < n; ++i) {
    auto& w = rows[i];
    w.uid = io::make_uid(chunk, i);
    w.id = "id-" + std::to_string(chunk) + "-" + std::to_string(i);
    w.text = "text of " + std::to_string(chunk) + "/" + std::to_string(i);
    if (i % 50 == 7) w.text += "\twith a tab\nand a newline \\ backslash";
    w.x = protos[r.below(protos.size())];
    size_t nt = r.below(5);  // 0..4 token ids (empty bags too)
    for (size_t k = 0; k < nt; ++k) w.tok.push_back(uint32_t(r.below(1000)));
  }
  return rows;
}

void write_shard(const std::string& path, uint64_t chunk, const std::vector<Row>& rows) {
  io::ShardMeta m;
  m.encoder = kEncoder;
  m.encoder_params = kParams;
  m.dim = kDim;
  m.source_file = "chunk-" + std::to_string(chunk) + ".tsv";
  m.source_checksum = "crc32:0000000" + std::to_string(chunk) + "/size:1";
  m.chunk_index = chunk;
  io::ShardWriter w(path, m, 512);
  io::ShardBlock b;
  for (auto& r : rows) {
    b.uid.push_back(r.uid);
    b.id.push_back(r.id);
    b.text.push_back(r.text);
    b.token_ids.insert(b.token_ids.end(), r.tok.begin(), r.tok.end());
    b.token_offsets.push_back(b.token_ids.size());
    b.embedding.insert(b.embedding.end(), r.x.begin(), r.x.end());
  }
  w.append(b);
  w.close(0);
}

train::ModelHeader header(const std::string& kind, std::vector<std::string> classes, int d, int H,
                          const std::string& params = kParams) {
  train::ModelHeader h;
  h.kind = kind;
  h.input = kind == "embbag" ? "tokens" : "embedding";
  h.classes = std::move(classes);
  h.input_dim = d;
  h.hidden = kind == "logreg" ? 0 : H;
  h.encoder = kEncoder;
  h.encoder_params = params;
  h.config = "kind = " + kind + "\n";
  h.training_summary = "test";
  h.fingerprint = kind + params;
  return h;
}

struct TestModel {
  std::string path;
  train::ModelHeader h;
  std::vector<train::Param> p;
};

TestModel make_model(const std::string& path, const train::ModelHeader& h, uint64_t seed) {
  TestModel m{path, h, train::param_layout(h)};
  Rng r(seed);
  for (auto& p : m.p) {
    uint64_t n = 1;
    for (auto s : p.shape) n *= s;
    p.values.resize(n);
    for (auto& v : p.values) v = float(r.normal()) * 0.7f;
  }
  return m;
}

// The reference: the models computed independently in double precision.
void reference(const TestModel& m, const Row& r, std::vector<double>& probs, std::vector<double>& feats) {
  const auto& h = m.h;
  const size_t C = h.classes.size();
  std::vector<double> f;
  const train::Param *wo, *bo;
  if (h.kind == "logreg") {
    f.assign(r.x.begin(), r.x.end());
    wo = &m.p[0];
    bo = &m.p[1];
  } else if (h.kind == "mlp") {
    const size_t H = size_t(h.hidden);
    f.assign(H, 0.0);
    for (size_t j = 0; j < H; ++j) {
      double s = m.p[1].values[j];
      for (int k = 0; k < kDim; ++k) s += double(m.p[0].values[j * kDim + size_t(k)]) * r.x[size_t(k)];
      f[j] = std::max(0.0, s);
    }
    wo = &m.p[2];
    bo = &m.p[3];
  } else {
    const size_t H = size_t(h.hidden);
    f.assign(H, 0.0);
    for (auto t : r.tok)
      for (size_t j = 0; j < H; ++j) f[j] += m.p[0].values[(t % uint32_t(h.input_dim)) * H + j];
    if (!r.tok.empty())
      for (auto& v : f) v /= double(r.tok.size());
    wo = &m.p[1];
    bo = &m.p[2];
  }
  std::vector<double> z(C);
  double mx = -1e300;
  for (size_t c = 0; c < C; ++c) {
    z[c] = bo->values[c];
    for (size_t k = 0; k < f.size(); ++k) z[c] += double(wo->values[c * f.size() + k]) * f[k];
    mx = std::max(mx, z[c]);
  }
  double s = 0;
  for (auto& v : z) s += (v = std::exp(v - mx));
  probs.resize(C);
  for (size_t c = 0; c < C; ++c) probs[c] = z[c] / s;
  feats = f;
}

struct Env {
  test::TempDir dir{"score"};
  std::string pool;
  std::vector<std::vector<Row>> shards;
  std::map<uint64_t, const Row*> by_uid;
  TestModel logreg, mlp, embbag, other_encoder, other_dim;
  Env() {
    pool = dir / "pool";
    for (size_t c = 0; c < kShardRows.size(); ++c) shards.push_back(make_rows(c, kShardRows[c]));
    for (auto& s : shards)
      for (auto& r : s) by_uid[r.uid] = &r;
    logreg = make_model(dir / "logreg.h5", header("logreg", {"pos", "neg/other", "x y"}, kDim, 0), 1);
    mlp = make_model(dir / "mlp.h5", header("mlp", {"a", "b"}, kDim, 8), 2);
    embbag = make_model(dir / "embbag.h5", header("embbag", {"a", "b"}, kBuckets, 6), 3);
    other_encoder = make_model(dir / "other-enc.h5", header("logreg", {"a", "b"}, kDim, 0, "dim=16;seed=2"), 4);
    other_dim = make_model(dir / "other-dim.h5", header("logreg", {"a", "b"}, 12, 0, kParams), 5);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
      make_dirs(pool);
      for (size_t c = 0; c < shards.size(); ++c) write_shard(join_path(pool, io::shard_file_name(c)), c, shards[c]);
      for (auto* m : {&logreg, &mlp, &embbag, &other_encoder, &other_dim}) train::write_model(m->path, m->h, m->p);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
};
Env& env() {
  static Env e;
  return e;
}

mpi::Comm self() { return mpi::Comm(MPI_COMM_SELF, false); }

ScoreOptions opts(const std::string& model, const std::string& out) {
  ScoreOptions o;
  o.model = model;
  o.pool = env().pool;
  o.output = out;
  o.top_n = 500;
  o.block_rows = 700;  // several blocks per shard, a partial last one
  o.threads = 2;
  o.config = "test = 1\n";
  return o;
}

std::string scores_path(const std::string& out, size_t chunk) {
  return join_path(out, scores_file_name(io::shard_file_name(chunk)));
}

struct AllScores {
  std::vector<uint64_t> uid;
  std::vector<float> probs, feats;
  ScoresInfo info;
};
AllScores read_all(const std::string& path, bool features = false) {
  ScoresReader r(path);
  AllScores a;
  a.info = r.info();
  r.read(0, r.info().rows, a.uid, a.probs, features ? &a.feats : nullptr);
  return a;
}

// Probabilities (and features) of every shard's scores file against the reference.
void check_against_reference(const std::string& out, const TestModel& m, bool features) {
  auto& e = env();
  std::vector<double> p, f;
  for (size_t c = 0; c < e.shards.size(); ++c) {
    auto a = read_all(scores_path(out, c), features);
    const size_t C = m.h.classes.size();
    ASSERT_EQ(a.uid.size(), e.shards[c].size());
    EXPECT_EQ(a.info.classes, m.h.classes);
    EXPECT_EQ(a.info.shard, io::shard_file_name(c));
    EXPECT_EQ(a.info.shard_rows, e.shards[c].size());
    EXPECT_EQ(a.info.model_checksum, checksum_file(m.path).str());
    EXPECT_EQ(a.info.source_kind, "shard");
    for (size_t i = 0; i < a.uid.size(); ++i) {
      ASSERT_EQ(a.uid[i], e.shards[c][i].uid);
      reference(m, e.shards[c][i], p, f);
      for (size_t k = 0; k < C; ++k) ASSERT_NEAR(a.probs[i * C + k], p[k], 2e-6) << "uid " << a.uid[i];
      if (features) {
        ASSERT_EQ(a.feats.size(), a.uid.size() * f.size());
        for (size_t k = 0; k < f.size(); ++k) ASSERT_NEAR(a.feats[i * f.size() + k], f[k], 2e-5);
      }
    }
  }
}

// Scores files of two output directories are identical (uids and probability bits).
void expect_identical_scores(const std::string& a, const std::string& b) {
  for (size_t c = 0; c < kShardRows.size(); ++c) {
    auto x = read_all(scores_path(a, c)), y = read_all(scores_path(b, c));
    EXPECT_EQ(x.uid, y.uid) << "shard " << c;
    ASSERT_EQ(x.probs.size(), y.probs.size());
    EXPECT_EQ(0, std::memcmp(x.probs.data(), y.probs.data(), x.probs.size() * sizeof(float))) << "shard " << c;
  }
}

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(test::read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    size_t a = 0;
    for (;;) {
      size_t t = line.find('\t', a);
      f.push_back(line.substr(a, t == std::string::npos ? std::string::npos : t - a));
      if (t == std::string::npos) break;
      a = t + 1;
    }
    rows.push_back(f);
  }
  return rows;
}

std::string escaped(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '\t') o += "\\t";
    else if (ch == '\n') o += "\\n";
    else if (ch == '\\') o += "\\\\";
    else o += ch;
  }
  return o;
}

// The TSVs against a full sort of every score in the scores files.
void check_tsvs(const std::string& out, const std::vector<std::string>& classes, uint64_t top_n, bool text) {
  auto& e = env();
  std::vector<std::pair<float, uint64_t>> all[8];
  for (size_t s = 0; s < kShardRows.size(); ++s) {
    auto a = read_all(scores_path(out, s));
    for (size_t i = 0; i < a.uid.size(); ++i)
      for (size_t c = 0; c < classes.size(); ++c) all[c].push_back({a.probs[i * classes.size() + c], a.uid[i]});
  }
  const std::vector<uint64_t> points = {1, 10, 100, 316, 1000, 2154, 4641, 10000};  // 10000: ranks 10001..10005
  for (size_t c = 0; c < classes.size(); ++c) {
    auto& v = all[c];
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    auto tag = class_file_tag(classes[c]);
    auto check_row = [&](const std::vector<std::string>& f, size_t at, uint64_t rank) {
      ASSERT_EQ(f.size(), text ? 4u + at : 3u + at);
      EXPECT_EQ(f[at - 1], std::to_string(rank));
      const auto& ref = v[rank - 1];
      EXPECT_EQ(f[at], std::to_string(ref.second)) << tag << " rank " << rank;
      EXPECT_EQ(f[at + 1], e.by_uid.at(ref.second)->id);
      EXPECT_EQ(std::strtof(f[at + 2].c_str(), nullptr), ref.first);
      if (text) {
        EXPECT_EQ(f[at + 3], escaped(e.by_uid.at(ref.second)->text));
      }
    };
    auto top = read_tsv(join_path(out, "top-" + tag + ".tsv"));
    ASSERT_EQ(top.size(), top_n + 1) << tag;
    EXPECT_EQ(top[0][0], "rank");
    for (size_t r = 1; r < top.size(); ++r) check_row(top[r], 1, r);
    auto cut = read_tsv(join_path(out, "cutoffs-" + tag + ".tsv"));
    ASSERT_EQ(cut.size(), 1u + 7 * 10 + 5) << tag;
    EXPECT_EQ(cut[0][0], "bucket");
    size_t line = 1;
    for (auto p : points) {
      uint64_t first = p == 1 ? 1 : p + 1;
      for (uint64_t r = first; r < first + 10 && r <= v.size(); ++r, ++line) {
        EXPECT_EQ(cut[line][0], std::to_string(p));
        check_row(cut[line], 2, r);
      }
    }
  }
}

uint64_t sum(const mpi::Comm& c, uint64_t v) { return c.sum<unsigned long long>(v); }

}  // namespace

TEST(ScoreMpi, PoolModeMatchesReferenceAtAnyRankCount) {
  auto& e = env();
  auto comm = mpi::Comm::world();
  const std::string outP = e.dir / ("out-np" + std::to_string(comm.size())), out1 = e.dir / "out-single";
  auto s = run_score(comm, opts(e.logreg.path, outP));
  EXPECT_EQ(sum(comm, s.shards_scored), kShardRows.size());
  EXPECT_EQ(s.items_total, 10005u);
  if (comm.root()) {
    run_score(self(), opts(e.logreg.path, out1));  // the same job as one process
    check_against_reference(outP, e.logreg, false);
    expect_identical_scores(outP, out1);
    for (auto& c : e.logreg.h.classes)
      for (auto kind : {"top-", "cutoffs-"}) {
        const auto name = kind + class_file_tag(c) + ".tsv";
        EXPECT_EQ(test::read_file(join_path(outP, name)), test::read_file(join_path(out1, name))) << name;
      }
    check_tsvs(outP, e.logreg.h.classes, 500, true);
    EXPECT_TRUE(path_exists(join_path(outP, "top-neg_other.tsv")));
    EXPECT_TRUE(path_exists(join_path(outP, "cutoffs-x_y.tsv")));
  }
  comm.barrier();
}

TEST(ScoreMpi, ArrayTasksThenSelectOnly) {
  auto& e = env();
  auto comm = mpi::Comm::world();
  const std::string arr = e.dir / ("array-np" + std::to_string(comm.size()));
  const int tasks = 3;
  for (int t = comm.rank(); t < tasks; t += comm.size()) {
    auto o = opts(e.logreg.path, arr);
    o.shard_id = t;
    o.num_shards = tasks;
    run_score(self(), o);
  }
  comm.barrier();
  for (size_t c = 0; c < kShardRows.size(); ++c) EXPECT_TRUE(path_exists(scores_path(arr, c)));
  EXPECT_FALSE(path_exists(join_path(arr, "top-pos.tsv")));  // array tasks do not select

  auto o = opts(e.logreg.path, arr);
  o.select_only = true;
  auto s = run_score(comm, o);
  EXPECT_EQ(s.items_total, 10005u);
  EXPECT_EQ(sum(comm, s.shards_scored), 0u);
  if (comm.root()) {
    const std::string ref = e.dir / "out-single-array-ref";
    run_score(self(), opts(e.logreg.path, ref));
    expect_identical_scores(arr, ref);
    for (auto& c : e.logreg.h.classes)
      for (auto kind : {"top-", "cutoffs-"}) {
        const auto name = kind + class_file_tag(c) + ".tsv";
        EXPECT_EQ(test::read_file(join_path(arr, name)), test::read_file(join_path(ref, name))) << name;
      }
  }
  // --select-only with another model's file: refused on every rank.
  o.model = e.mlp.path;
  EXPECT_THROW(run_score(comm, o), InputError);
  // Without text, and without --model.
  o.model.clear();
  o.text = false;
  o.top_n = 20;
  run_score(comm, o);
  if (comm.root()) check_tsvs(arr, e.logreg.h.classes, 20, false);
  comm.barrier();
}

TEST(ScoreMpi, RerunSkipsAndAnotherModelRescores) {
  auto& e = env();
  auto comm = mpi::Comm::world();
  const std::string out = e.dir / ("rerun-np" + std::to_string(comm.size()));
  auto s1 = run_score(comm, opts(e.logreg.path, out));
  EXPECT_EQ(sum(comm, s1.shards_scored), kShardRows.size());
  struct stat st0;
  ASSERT_EQ(0, ::stat(scores_path(out, 2).c_str(), &st0));
  std::string top1 = comm.root() ? test::read_file(join_path(out, "top-pos.tsv")) : "";
  auto s2 = run_score(comm, opts(e.logreg.path, out));
  EXPECT_EQ(sum(comm, s2.shards_scored), 0u);
  EXPECT_EQ(sum(comm, s2.shards_skipped), kShardRows.size());
  EXPECT_EQ(sum(comm, s2.rows_read), 10005u);
  struct stat st1;
  ASSERT_EQ(0, ::stat(scores_path(out, 2).c_str(), &st1));
  EXPECT_EQ(st0.st_ino, st1.st_ino);  // not rewritten
  if (comm.root()) {
    EXPECT_EQ(top1, test::read_file(join_path(out, "top-pos.tsv")));
  }
  // Asking for features rescores (the files have none).
  auto o = opts(e.logreg.path, out);
  o.features = true;
  auto s3 = run_score(comm, o);
  EXPECT_EQ(sum(comm, s3.shards_scored), kShardRows.size());
  if (comm.root()) check_against_reference(out, e.logreg, true);  // logreg features = the embedding
  comm.barrier();
  // Another model: everything is scored again.
  auto s4 = run_score(comm, opts(e.mlp.path, out));
  EXPECT_EQ(sum(comm, s4.shards_scored), kShardRows.size());
  if (comm.root()) {
    check_against_reference(out, e.mlp, false);
    check_tsvs(out, e.mlp.h.classes, 500, true);
  }
  comm.barrier();
}

TEST(ScoreMpi, TokenAndMlpModelsWithFeatures) {
  auto& e = env();
  auto comm = mpi::Comm::world();
  for (auto* m : {&e.embbag, &e.mlp}) {
    const std::string out = e.dir / ("feat-" + m->h.kind + "-np" + std::to_string(comm.size()));
    auto o = opts(m->path, out);
    o.features = true;
    o.top_n = 0;
    o.cutoffs = false;
    run_score(comm, o);
    if (comm.root()) {
      check_against_reference(out, *m, true);
      EXPECT_EQ(read_all(scores_path(out, 0)).info.feature_dim, m->h.hidden);
      EXPECT_FALSE(path_exists(join_path(out, "top-a.tsv")));
    }
    comm.barrier();
  }
}

TEST(ScoreMpi, Subpool) {
  auto& e = env();
  auto comm = mpi::Comm::world();
  const std::string sp = e.dir / "subpool.h5";
  // A subpool in its own order (not by uid), with the layout trawl-retrieve writes.
  std::vector<const Row*> items;
  for (size_t c = 0; c < e.shards.size(); ++c)
    for (size_t i = 0; i < e.shards[c].size(); i += 7) items.push_back(&e.shards[c][i]);
  std::reverse(items.begin(), items.end());
  if (comm.root() && !path_exists(sp)) {
    formats::SubpoolInfo info;
    info.meta.method = "anchoral";
    info.meta.encoder = kEncoder;
    info.meta.params = kParams;
    info.meta.dim = kDim;
    info.meta.pool = e.pool;
    info.rows = items.size();
    std::vector<uint64_t> u;
    std::vector<float> x;
    for (auto* r : items) {
      u.push_back(r->uid);
      x.insert(x.end(), r->x.begin(), r->x.end());
    }
    formats::write_subpool(sp, info, u, std::vector<double>(u.size(), 0.5), std::vector<int32_t>(u.size(), 1), x);
  }
  comm.barrier();
  for (auto* m : {&e.logreg, &e.embbag}) {
    const std::string out = e.dir / ("subpool-" + m->h.kind + "-np" + std::to_string(comm.size()));
    ScoreOptions o;
    o.model = m->path;
    o.subpool = sp;
    o.output = out;
    o.block_rows = 100;
    auto s = run_score(comm, o);
    ASSERT_EQ(s.outputs.size(), 1u);
    if (comm.root()) {
      auto a = read_all(join_path(out, "subpool.scores.h5"));
      EXPECT_EQ(a.info.source_kind, "subpool");
      EXPECT_EQ(a.info.shard, "subpool.h5");
      ASSERT_EQ(a.uid.size(), items.size());
      std::vector<double> p, f;
      const size_t C = m->h.classes.size();
      for (size_t i = 0; i < items.size(); ++i) {
        ASSERT_EQ(a.uid[i], items[i]->uid);
        reference(*m, *items[i], p, f);
        for (size_t k = 0; k < C; ++k) ASSERT_NEAR(a.probs[i * C + k], p[k], 2e-6);
      }
    }
    auto again = run_score(comm, o);  // up to date
    EXPECT_EQ(again.shards_scored, 0u);
    comm.barrier();
  }
}

TEST(ScoreMpi, BadInput) {
  auto& e = env();
  auto comm = mpi::Comm::world();
  if (!comm.root()) return;  // one process: an error on one rank of a job aborts the job (run_main)
  auto c1 = self();
  auto expect_error = [&](const ScoreOptions& o, const std::vector<std::string>& parts, int code) {
    try {
      run_score(c1, o);
      ADD_FAILURE() << "no error for " << parts[0];
    } catch (const Error& err) {
      EXPECT_EQ(err.exit_code(), code) << err.what();
      for (auto& p : parts) EXPECT_NE(std::string(err.what()).find(p), std::string::npos) << err.what();
    }
  };
  const std::string out = e.dir / "bad-out";
  const std::string shard0 = join_path(e.pool, io::shard_file_name(0));
  expect_error(opts(e.other_encoder.path, out), {shard0, "encoder", "dim=16;seed=2"}, kExitInput);
  expect_error(opts(e.other_dim.path, out), {shard0, "dim 16", "dim 12"}, kExitInput);
  expect_error(opts(e.dir / "no-such-model.h5", out), {"no-such-model.h5", "does not exist"}, kExitIo);
  auto o = opts(e.logreg.path, e.pool);
  expect_error(o, {"pool directory"}, kExitUsage);
  o = opts(e.logreg.path, e.dir / "bad-missing");
  o.select_only = true;
  expect_error(o, {"no scores for shard"}, kExitInput);
  o = opts("", out);
  expect_error(o, {"--model"}, kExitUsage);

  // A shard with a NaN embedding: an InputError naming the shard and the item; nothing partial left.
  const std::string nanpool = e.dir / "nanpool", nanout = e.dir / "nan-out";
  make_dirs(nanpool);
  auto rows = make_rows(0, 3000);
  rows[2345].x[3] = std::nanf("");
  write_shard(join_path(nanpool, io::shard_file_name(0)), 0, rows);
  o = opts(e.logreg.path, nanout);
  o.pool = nanpool;
  expect_error(o, {join_path(nanpool, io::shard_file_name(0)), "uid " + std::to_string(io::make_uid(0, 2345)), "NaN"},
               kExitInput);
  EXPECT_TRUE(list_files(nanout, "shard-", "").empty());
  EXPECT_TRUE(list_files(nanout, "", ".tsv").empty());
}
