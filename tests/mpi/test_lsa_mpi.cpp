// trawl-libs: trawl_stage_vocab trawl_stage_fit
// The LSA fit at 1..4 ranks: the distributed randomized SVD and the whole trawl-fit stage give
// bitwise the same result as one process holding every block (MPI_COMM_SELF), including ranks
// that hold no chunk; the encoder file is then the same, so is every embedding.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "embed/lsa.h"
#include "embed/vocab.h"
#include "stages/fit_stage.h"
#include "stages/vocab_stage.h"
#include "mpi/comm.h"
#include "support/testutil.h"

using namespace trawl;
using train::linear::Csr;

namespace {

std::vector<embed::SvdBlock> make_blocks(int nblocks, int V) {
  std::mt19937_64 g(11);
  std::vector<embed::SvdBlock> out;
  for (int b = 0; b < nblocks; ++b) {
    embed::SvdBlock blk;
    blk.chunk = uint64_t(b / 3);
    blk.block = uint64_t(b % 3);
    blk.rows.cols = V;
    int n = 20 + int(g() % 50);
    for (int r = 0; r < n; ++r) {
      std::vector<uint32_t> cols;
      int topic = int(g() % 5);
      for (int t = 0; t < 8; ++t) cols.push_back(uint32_t((topic * 13 + g() % 20) % uint64_t(V)));
      std::sort(cols.begin(), cols.end());
      cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
      for (auto c : cols) {
        blk.rows.index.push_back(c);
        blk.rows.value.push_back(float(g() % 997 + 1) / 997.0f);
      }
      blk.rows.offsets.push_back(blk.rows.index.size());
    }
    out.push_back(std::move(blk));
  }
  return out;
}

// The blocks this rank holds when block b goes to rank (b * mul + add) % size (uneven placements),
// and the keys of V columns (column i: i * mul + add).
std::vector<embed::SvdBlock> blocks_of_rank(const mpi::Comm& comm, const std::vector<embed::SvdBlock>& all, size_t mul,
                                            size_t add) {
  std::vector<embed::SvdBlock> mine;
  for (size_t b = 0; b < all.size(); ++b)
    if (int((b * mul + add) % size_t(comm.size())) == comm.rank()) mine.push_back(all[b]);
  return mine;
}

std::vector<uint32_t> column_keys(int V, uint32_t mul, uint32_t add) {
  std::vector<uint32_t> keys(size_t(V), 0);
  for (int i = 0; i < V; ++i) keys[size_t(i)] = uint32_t(i) * mul + add;
  return keys;
}

TEST(LsaMpi, SvdIsBitwiseTheSameAtAnyRankCount) {
  auto comm = mpi::Comm::world();
  const int V = 90;
  auto all = make_blocks(13, V);
  const auto keys = column_keys(V, 31, 7);
  embed::SvdOptions o;
  o.dim = 12;
  o.oversample = 6;
  o.power_iterations = 3;
  const auto mine = blocks_of_rank(comm, all, 7, 3);
  // Dense-step tiles: one (rank 0 does them all), 12 of 8 rows (every rank has some), 3 of 30
  // (at 4 ranks one rank has none).
  for (uint64_t tile_rows : {4096, 8, 30}) {
    o.dense_tile_rows = tile_rows;
    auto dist = embed::randomized_svd(comm, mine, keys, o);
    // One process with every block.
    mpi::Comm self(MPI_COMM_SELF, false);
    auto serial = embed::randomized_svd(self, all, keys, o);
    EXPECT_EQ(dist.rows, serial.rows);
    ASSERT_EQ(dist.basis.size(), serial.basis.size());
    EXPECT_TRUE(dist.basis == serial.basis) << "the basis differs at " << comm.size() << " ranks, tiles of " << tile_rows;
    EXPECT_TRUE(dist.singular_values == serial.singular_values);
    EXPECT_EQ(dist.householder_steps, 0);
  }
}

TEST(LsaMpi, RankDeficientSketchFallsBackAlikeOnEveryRank) {
  // A matrix of rank 14 (every row a multiple of one of 14 sparse patterns) sketched with
  // k = 10 + 8 columns: the sketch's Gram matrix is singular, Cholesky QR fails between the
  // passes and every rank takes the Householder path on the gathered rows. Bitwise the serial
  // result at any rank count, and the top 10 singular values of the dense matrix (Eigen's SVD).
  auto comm = mpi::Comm::world();
  const int V = 90, R = 14;
  std::mt19937_64 g(5);
  std::vector<std::vector<std::pair<uint32_t, float>>> pattern(R);
  for (auto& p : pattern) {
    std::vector<uint32_t> cols;
    for (int t = 0; t < 12; ++t) cols.push_back(uint32_t(g() % uint64_t(V)));
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    for (auto c : cols) p.push_back({c, float(g() % 997 + 1) / 997.0f});
  }
  std::vector<embed::SvdBlock> all;
  Eigen::MatrixXd dense(0, V);
  for (int b = 0; b < 9; ++b) {
    embed::SvdBlock blk;
    blk.chunk = uint64_t(b);
    blk.rows.cols = V;
    for (int r = 0; r < 25; ++r) {
      const int which = int(g() % R);
      const float scale = float(1 + g() % 4);
      dense.conservativeResize(dense.rows() + 1, V);
      dense.row(dense.rows() - 1).setZero();
      for (auto [c, v] : pattern[size_t(which)]) {
        blk.rows.index.push_back(c);
        blk.rows.value.push_back(v * scale);
        dense(dense.rows() - 1, c) = double(v * scale);
      }
      blk.rows.offsets.push_back(blk.rows.index.size());
    }
    all.push_back(std::move(blk));
  }
  const auto keys = column_keys(V, 17, 3);
  embed::SvdOptions o;
  o.dim = 10;
  o.oversample = 8;
  o.power_iterations = 2;
  o.dense_tile_rows = 8;
  const auto mine = blocks_of_rank(comm, all, 5, 1);
  auto dist = embed::randomized_svd(comm, mine, keys, o);
  mpi::Comm self(MPI_COMM_SELF, false);
  auto serial = embed::randomized_svd(self, all, keys, o);
  EXPECT_GT(serial.householder_steps, 0) << "the test matrix no longer makes Cholesky QR fail";
  EXPECT_EQ(dist.householder_steps, serial.householder_steps);
  EXPECT_TRUE(dist.basis == serial.basis) << "the basis differs at " << comm.size() << " ranks";
  EXPECT_TRUE(dist.singular_values == serial.singular_values);
  Eigen::JacobiSVD<Eigen::MatrixXd> ref(dense);
  for (int i = 0; i < o.dim; ++i)
    EXPECT_NEAR(serial.singular_values[size_t(i)], ref.singularValues()(i), 1e-6 * ref.singularValues()(0)) << i;  // float sums
}

void write_chunks(bool root, const std::string& dir, int chunks, std::vector<std::string>* files) {
  std::mt19937_64 g(3);
  const char* topics[4][6] = {{"job", "hiring", "offer", "salary", "interview", "career"},
                              {"beach", "sunny", "weekend", "surf", "sand", "holiday"},
                              {"code", "compile", "bug", "release", "merge", "branch"},
                              {"soup", "bread", "recipe", "oven", "salt", "butter"}};
  for (int c = 0; c < chunks; ++c) {
    std::string path = cat(dir, "/chunk-", c, ".tsv"), text = "id\ttext\n";
    for (int r = 0; r < 300; ++r) {
      int t = int(g() % 4);
      std::string s;
      for (int w = 0; w < 6 + int(g() % 8); ++w) s += cat(topics[t][g() % 6], " ");
      s += cat("word", g() % 40);
      text += cat("c", c, "r", r, "\t", s, "\n");
    }
    if (root) test::write_file(path, text);
    files->push_back(path);
  }
}

// Counts the vocab of `files` into <dir>/vocab.h5 and returns the fit options of both tests
// (dim 8, 128-row blocks, output <dir>/enc.h5).
stages::FitOptions vocab_and_fit_options(const mpi::Comm& comm, const test::TempDir& dir,
                                         const std::vector<std::string>& files) {
  embed::VocabOptions vo;
  vo.inputs = files;
  vo.output = dir / "vocab.h5";
  vo.min_df = 2;
  stages::run_vocab(comm, vo);
  stages::FitOptions fo;
  fo.inputs = files;
  fo.vocab_path = dir / "vocab.h5";
  fo.output = dir / "enc.h5";
  fo.svd.dim = 8;
  fo.svd.dense_tile_rows = 8;  // the dense steps spread over every rank
  fo.block_rows = 128;
  return fo;
}

TEST(LsaMpi, FitStageIsBitwiseTheSameAtAnyRankCount) {
  auto comm = mpi::Comm::world();
  for (int chunks : {5, 2}) {  // with 2 chunks, ranks 2 and 3 read nothing
    test::TempDir dir("lsa-mpi");
    std::vector<std::string> files;
    write_chunks(comm.root(), dir.path(), chunks, &files);
    comm.barrier();
    stages::FitOptions fo = vocab_and_fit_options(comm, dir, files);
    fo.sample = 0.8;
    auto st = stages::run_fit(comm, fo);
    EXPECT_FALSE(st.skipped);
    EXPECT_GT(st.sampled_out, 0u);
    // Rerun: skipped (the output exists and matches).
    auto again = stages::run_fit(comm, fo);
    EXPECT_TRUE(again.skipped);
    EXPECT_EQ(again.checksum, st.checksum);
    if (comm.root()) {
      mpi::Comm self(MPI_COMM_SELF, false);
      fo.output = dir / "enc-serial.h5";
      auto serial = stages::run_fit(self, fo);
      EXPECT_EQ(serial.checksum, st.checksum) << "at " << comm.size() << " ranks, " << chunks << " chunks";
      auto a = embed::read_lsa(dir / "enc.h5"), b = embed::read_lsa(dir / "enc-serial.h5");
      EXPECT_TRUE(a.basis == b.basis);
      EXPECT_EQ(a.rows, b.rows);
      // The encoders give the same vectors.
      std::vector<std::string> texts = {"job offer salary beach", "soup bread", "nothing known here"};
      std::vector<float> ea(texts.size() * 8), eb(texts.size() * 8);
      embed::make_lsa_encoder(dir / "enc.h5")->encode(texts, {}, {}, ea.data());
      embed::make_lsa_encoder(dir / "enc-serial.h5")->encode(texts, {}, {}, eb.data());
      EXPECT_TRUE(ea == eb);
    }
    comm.barrier();
  }
}

TEST(LsaMpi, FitResumesFromItsCheckpointBitwise) {
  // Stopped after pass 2 of 5 (checkpoint written, no output), then rerun: it resumes there and
  // writes the encoder an uninterrupted fit writes, and removes the checkpoint. A checkpoint of
  // another fit (another seed) is not resumed.
  auto comm = mpi::Comm::world();
  test::TempDir dir("lsa-resume");
  std::vector<std::string> files;
  write_chunks(comm.root(), dir.path(), 5, &files);
  comm.barrier();
  stages::FitOptions fo = vocab_and_fit_options(comm, dir, files);
  const std::string ckpt = stages::checkpoint_path(fo.output);
  EXPECT_EQ(ckpt, fo.output + ".checkpoint");
  fo.stop_after_pass = 2;
  auto stopped = stages::run_fit(comm, fo);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_TRUE(path_exists(ckpt));
  EXPECT_FALSE(path_exists(fo.output));
  fo.stop_after_pass = 0;
  auto resumed = stages::run_fit(comm, fo);
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.resumed_from_pass, 2);
  EXPECT_FALSE(path_exists(ckpt)) << "the checkpoint must be removed once the output is written";
  // Uninterrupted, on one process.
  if (comm.root()) {
    mpi::Comm self(MPI_COMM_SELF, false);
    auto fs = fo;
    fs.output = dir / "enc-whole.h5";
    auto whole = stages::run_fit(self, fs);
    EXPECT_EQ(whole.resumed_from_pass, 0);
    EXPECT_EQ(whole.checksum, resumed.checksum) << "at " << comm.size() << " ranks";
    auto a = embed::read_lsa(fo.output), b = embed::read_lsa(fs.output);
    EXPECT_TRUE(a.basis == b.basis);
    EXPECT_TRUE(a.singular_values == b.singular_values);
  }
  comm.barrier();
  // Another fit's checkpoint: fitted from the start, the same result as without one.
  fo.output = dir / "enc-seed.h5";
  fo.stop_after_pass = 3;
  EXPECT_TRUE(stages::run_fit(comm, fo).stopped);
  fo.stop_after_pass = 0;
  fo.svd.seed = 12345;
  auto other = stages::run_fit(comm, fo);
  EXPECT_EQ(other.resumed_from_pass, 0);
  EXPECT_FALSE(path_exists(stages::checkpoint_path(fo.output)));
  if (comm.root()) {
    mpi::Comm self(MPI_COMM_SELF, false);
    auto fs = fo;
    fs.output = dir / "enc-seed-whole.h5";
    EXPECT_EQ(stages::run_fit(self, fs).checksum, other.checksum);
  }
  comm.barrier();
}

}  // namespace
