// trawl-libs: trawl_stage_vocab
// trawl-vocab's distributed document-frequency count (run at 1..4 ranks) against a brute-force
// count over the same documents on one process; rank-count independence; min-df pruning;
// array-mode parts + merge; bad inputs and foreign files.
#include <gtest/gtest.h>
#include <omp.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "core/error.h"
#include "core/fs.h"
#include "embed/vocab.h"
#include "stages/vocab_stage.h"
#include "io/h5.h"
#include "mpi/comm.h"
#include "support/testutil.h"
#include "text/tokenize.h"

using namespace trawl;

namespace {

struct Doc {
  std::string id, text;
};

/// The pool: chunk files with their good documents (what the reference counts) and how many
/// bad rows each holds. Every rank builds the same pool; rank 0 writes the files.
struct Pool {
  std::vector<std::string> files;
  std::vector<std::vector<Doc>> docs;
  uint64_t bad_rows = 0;
};

const char* kWords[] = {"job", "lost", "my", "work", "hiring", "today", "the", "a", "offer", "new",
                        "weekend", "sunny", "#jobs", "café", "naïve", "🙂", "@someone", "http://x.y/z",
                        "42", "don't", "e-mail", "Résumé", "BEACH", "beach", "and", "i", "am", "we"};

std::string random_text(std::mt19937_64& g, int doc) {
  std::string t;
  int n = 1 + int(g() % 12);
  for (int k = 0; k < n; ++k) {
    if (!t.empty()) t += ' ';
    t += kWords[g() % (sizeof kWords / sizeof *kWords)];
  }
  if (doc % 7 == 3) t += cat(" rare", doc);  // singletons: df 1, pruned at min-df 2
  if (doc % 5 == 1) t += " job job job";  // tf > df
  return t;
}

void gz_write(const std::string& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_TRUE(f != nullptr);
  ASSERT_EQ(gzwrite(f, content.data(), unsigned(content.size())), int(content.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

Pool make_pool(const mpi::Comm& comm, const std::string& dir) {
  Pool p;
  std::mt19937_64 g(2024);
  int doc = 0;
  auto docs_of = [&](int n) {
    std::vector<Doc> v;
    for (int i = 0; i < n; ++i, ++doc) v.push_back({cat("d", doc), random_text(g, doc)});
    return v;
  };
  auto tsv = [](const std::vector<Doc>& v) {
    std::string s = "id\ttext\n";
    for (auto& d : v) s += d.id + "\t" + d.text + "\n";
    return s;
  };
  // c0.tsv: plain, with two bad rows (invalid UTF-8; a row without the text column).
  p.docs.push_back(docs_of(60));
  std::string c0 = tsv(p.docs.back());
  c0 += "bad1\tinvalid \xff\xfe utf-8\n";
  c0 += "bad2\n";
  p.bad_rows += 2;
  // c1.tsv.gz: gzip'd.
  p.docs.push_back(docs_of(80));
  std::string c1 = tsv(p.docs.back());
  // c2.jsonl
  p.docs.push_back(docs_of(50));
  std::string c2;
  for (auto& d : p.docs.back()) c2 += "{\"id\": \"" + d.id + "\", \"text\": \"" + d.text + "\"}\n";
  // c3.tsv: header only, no documents.
  p.docs.push_back({});
  std::string c3 = "id\ttext\n";
  // c4.tsv: one bad row among good ones.
  p.docs.push_back(docs_of(45));
  std::string c4 = tsv(p.docs.back());
  c4 += "bad3\tagain \xc3\x28 broken\n";
  p.bad_rows += 1;
  p.files = {dir + "/c0.tsv", dir + "/c1.tsv.gz", dir + "/c2.jsonl", dir + "/c3.tsv", dir + "/c4.tsv"};
  if (comm.root()) {
    test::write_file(p.files[0], c0);
    gz_write(p.files[1], c1);
    test::write_file(p.files[2], c2);
    test::write_file(p.files[3], c3);
    test::write_file(p.files[4], c4);
  }
  comm.barrier();
  return p;
}

/// Brute force on one process: std::map over text::text_to_ids of every good document.
struct Reference {
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> counts;  // id -> (df, tf)
  uint64_t docs = 0, tokens = 0;
};
Reference brute_force(const Pool& p) {
  Reference r;
  for (auto& chunk : p.docs)
    for (auto& d : chunk) {
      std::vector<uint32_t> ids;
      text::text_to_ids(d.text, ids);
      r.docs++;
      r.tokens += ids.size();
      std::map<uint32_t, uint64_t> tf;
      for (auto id : ids) tf[id]++;
      for (auto& [id, n] : tf) {
        r.counts[id].first += 1;
        r.counts[id].second += n;
      }
    }
  return r;
}

embed::VocabOptions options(const Pool& p, const std::string& out, uint64_t min_df) {
  embed::VocabOptions o;
  o.inputs = p.files;
  o.output = out;
  o.min_df = min_df;
  o.config = "min-df = " + std::to_string(min_df) + "\n";
  o.batch_rows = 16;  // several batches per chunk
  return o;
}

void expect_same_counts(const embed::Vocab& a, const embed::Vocab& b, const std::string& what) {
  EXPECT_EQ(a.id, b.id) << what;
  EXPECT_EQ(a.df, b.df) << what;
  EXPECT_EQ(a.tf, b.tf) << what;
  EXPECT_EQ(a.n_docs, b.n_docs) << what;
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.bad_rows, b.bad_rows) << what;
  EXPECT_EQ(a.min_df, b.min_df) << what;
  EXPECT_EQ(a.pruned_ids, b.pruned_ids) << what;
  EXPECT_EQ(a.input_file, b.input_file) << what;
  EXPECT_EQ(a.input_checksum, b.input_checksum) << what;
  EXPECT_EQ(a.checksum(), b.checksum()) << what;
}

template <class E, class F>
std::string expect_throw(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception";
  return "";
}

}  // namespace

TEST(Vocab, CountsEqualBruteForce) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab");
  Pool p = make_pool(comm, d.path());
  Reference ref = brute_force(p);
  ASSERT_GT(ref.counts.size(), 50u);

  for (uint64_t msg : {uint64_t(512ULL << 20), uint64_t(240)}) {  // one round; many small rounds
    auto o = options(p, d / cat("v", msg, ".h5"), 1);
    o.max_message_bytes = msg;
    auto s = stages::run_vocab(comm, o);
    EXPECT_FALSE(s.skipped);
    EXPECT_EQ(s.docs, ref.docs);
    EXPECT_EQ(s.bad_rows, p.bad_rows);
    EXPECT_EQ(s.kept_ids, ref.counts.size());
    EXPECT_EQ(s.pruned_ids, 0u);
    if (comm.size() > 1 && msg == 240) { EXPECT_GT(s.exchange_rounds, 1u); }

    auto v = embed::read_vocab(o.output);
    ASSERT_EQ(v.size(), ref.counts.size());
    size_t i = 0;
    for (auto& [id, c] : ref.counts) {
      ASSERT_EQ(v.id[i], id) << "row " << i;
      EXPECT_EQ(v.df[i], c.first) << "id " << id;
      EXPECT_EQ(v.tf[i], c.second) << "id " << id;
      ++i;
    }
    EXPECT_EQ(v.n_docs, ref.docs);
    EXPECT_EQ(v.tokens, ref.tokens);
    EXPECT_EQ(v.bad_rows, p.bad_rows);
    EXPECT_EQ(v.min_df, 1u);
    EXPECT_EQ(v.format, "vocab");
    EXPECT_EQ(v.format_version, 1);
    EXPECT_FALSE(v.trawl_version.empty());
    EXPECT_EQ(v.config, o.config);
    EXPECT_EQ(v.input_file, p.files);
    ASSERT_EQ(v.input_checksum.size(), p.files.size());
    for (size_t c = 0; c < p.files.size(); ++c) EXPECT_EQ(v.input_checksum[c], checksum_file(p.files[c]).str());

    // Vocab lookups: df and idf by binary search.
    uint32_t some = ref.counts.rbegin()->first;
    EXPECT_EQ(v.df_of(some), ref.counts.rbegin()->second.first);
    EXPECT_NEAR(v.idf(some), std::log((1.0 + ref.docs) / (1.0 + ref.counts.rbegin()->second.first)) + 1, 1e-12);
    uint32_t absent = 0;
    while (ref.counts.count(absent)) ++absent;
    EXPECT_EQ(v.df_of(absent), 0u);
    EXPECT_NEAR(v.idf(absent), std::log(1.0 + ref.docs) + 1, 1e-12);
  }
}

TEST(Vocab, MinDfPrunesAndRankCountDoesNotMatter) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab");
  Pool p = make_pool(comm, d.path());
  Reference ref = brute_force(p);
  for (uint64_t min_df : {2, 3, 1000}) {
    auto o = options(p, d / cat("world", min_df, ".h5"), min_df);
    o.max_message_bytes = 1000;
    auto s = stages::run_vocab(comm, o);
    auto v = embed::read_vocab(o.output);
    std::vector<uint32_t> ids;
    std::vector<uint64_t> dfs;
    uint64_t pruned = 0;
    for (auto& [id, c] : ref.counts) {
      if (c.first >= min_df) {
        ids.push_back(id);
        dfs.push_back(c.first);
      } else {
        ++pruned;
      }
    }
    EXPECT_EQ(v.id, ids) << "min_df " << min_df;
    EXPECT_EQ(v.df, dfs) << "min_df " << min_df;
    EXPECT_EQ(v.pruned_ids, pruned);
    EXPECT_EQ(s.pruned_ids, pruned);
    EXPECT_EQ(v.min_df, min_df);
    EXPECT_EQ(v.n_docs, ref.docs);  // pruning does not change the document count
    if (min_df == 2) { EXPECT_GT(pruned, 10u); }
    if (min_df == 1000) { EXPECT_TRUE(v.id.empty()); }

    // The same count by rank 0 alone (a 1-rank communicator), with 1 and with 3 threads (one
    // count table per thread), gives the same file contents.
    if (comm.root()) {
      MPI_Comm self;
      MPI_Comm_dup(MPI_COMM_SELF, &self);
      mpi::Comm one(self, true);
      int saved = omp_get_max_threads();
      for (int threads : {1, 3}) {
        omp_set_num_threads(threads);
        auto o1 = o;
        o1.output = d / cat("one", min_df, "-", threads, ".h5");
        stages::run_vocab(one, o1);
        expect_same_counts(embed::read_vocab(o1.output), v,
                           cat("1 rank, ", threads, " threads vs ", comm.size(), " ranks"));
      }
      omp_set_num_threads(saved);
    }
    comm.barrier();
  }
}

TEST(Vocab, ArrayPartsMergeEqualsMpiRun) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab");
  Pool p = make_pool(comm, d.path());
  auto o = options(p, d / "mpi.h5", 2);
  stages::run_vocab(comm, o);
  auto mpi_v = embed::read_vocab(o.output);

  for (int n : {1, 3, 7}) {  // 7 tasks for 5 chunks: some tasks count nothing
    auto oa = options(p, d / cat("array", n, ".h5"), 2);
    oa.parts_dir = d / cat("parts", n);
    oa.num_shards = n;
    oa.max_message_bytes = 500;
    for (int i = 0; i < n; ++i) {
      oa.shard_id = i;
      auto s = stages::run_vocab(comm, oa);
      EXPECT_EQ(s.output, oa.parts_dir + "/" + embed::vocab_part_name(i, n));
      EXPECT_EQ(s.pruned_ids, 0u);  // parts are not pruned
      auto part = embed::read_vocab(s.output, true);
      EXPECT_EQ(part.format, "vocab-part");
      EXPECT_EQ(part.shard_id, i);
      EXPECT_EQ(part.num_shards, n);
    }
    if (comm.root()) {
      auto s = stages::run_vocab_merge(oa.parts_dir, oa.output, 2, "merge = yes\n");
      EXPECT_FALSE(s.skipped);
      expect_same_counts(embed::read_vocab(oa.output), mpi_v, cat("merge of ", n, " parts vs MPI run"));
      // A part file is not a vocab.
      auto w = expect_throw<InputError>([&] { embed::read_vocab(oa.parts_dir + "/" + embed::vocab_part_name(0, n)); });
      EXPECT_NE(w.find("merge-parts"), std::string::npos) << w;
      // Merging again finds the output complete and skips it.
      EXPECT_TRUE(stages::run_vocab_merge(oa.parts_dir, oa.output, 2, "").skipped);
    }
    comm.barrier();
  }

  // A missing part is named; so is a part of another array size.
  if (comm.root()) {
    remove_file(d / "parts3/part-1-of-3.h5");
    auto w = expect_throw<InputError>([&] { stages::run_vocab_merge(d / "parts3", d / "x.h5", 2, ""); });
    EXPECT_NE(w.find("part-1-of-3.h5"), std::string::npos) << w;
    EXPECT_FALSE(path_exists(d / "x.h5"));
    std::string cp = "cp '" + d / "parts7/part-1-of-7.h5" + "' '" + d / "parts3/part-1-of-7.h5" + "'";
    ASSERT_EQ(std::system(cp.c_str()), 0);
    w = expect_throw<InputError>([&] { stages::run_vocab_merge(d / "parts3", d / "x.h5", 2, ""); });
    EXPECT_NE(w.find("7"), std::string::npos) << w;
    expect_throw<IoError>([&] { stages::run_vocab_merge(d / "no-such-dir", d / "x.h5", 2, ""); });
  }
  comm.barrier();
}

TEST(Vocab, ExistingOutputIsSkippedUnlessForced) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab");
  Pool p = make_pool(comm, d.path());
  auto o = options(p, d / "v.h5", 2);
  auto s1 = stages::run_vocab(comm, o);
  EXPECT_FALSE(s1.skipped);
  auto s2 = stages::run_vocab(comm, o);
  EXPECT_TRUE(s2.skipped);
  EXPECT_EQ(s2.docs, s1.docs);
  EXPECT_EQ(s2.kept_ids, s1.kept_ids);
  o.force = true;
  EXPECT_FALSE(stages::run_vocab(comm, o).skipped);
  o.force = false;
  o.min_df = 3;  // another min-df: not the same output
  EXPECT_FALSE(stages::run_vocab(comm, o).skipped);
  EXPECT_EQ(embed::read_vocab(o.output).min_df, 3u);
  // No temporaries are left next to the output.
  if (comm.root()) { EXPECT_TRUE(list_files(d.path(), "v.h5.tmp", "").empty()); }
  comm.barrier();
}

TEST(Vocab, MissingInputIsAnIoErrorNamingItOnEveryRank) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab");
  Pool p = make_pool(comm, d.path());
  auto o = options(p, d / "v.h5", 2);
  o.inputs.insert(o.inputs.begin() + 2, d / "missing-chunk.tsv");
  auto w = expect_throw<IoError>([&] { stages::run_vocab(comm, o); });
  EXPECT_NE(w.find("missing-chunk.tsv"), std::string::npos) << w;
  if (comm.root()) { EXPECT_FALSE(path_exists(o.output)); }
  comm.barrier();
  // A chunk without the text column: an InputError on every rank, nothing written.
  if (comm.root()) test::write_file(d / "notext.tsv", "id\tbody\nx\thello\n");
  comm.barrier();
  o.inputs = p.files;
  o.inputs.push_back(d / "notext.tsv");
  w = expect_throw<InputError>([&] { stages::run_vocab(comm, o); });
  EXPECT_NE(w.find("text"), std::string::npos) << w;
  if (comm.root()) { EXPECT_FALSE(path_exists(o.output)); }
  // Bad options.
  o.inputs = p.files;
  o.min_df = 0;
  expect_throw<UsageError>([&] { stages::run_vocab(comm, o); });
  o.min_df = 2;
  o.inputs.clear();
  expect_throw<UsageError>([&] { stages::run_vocab(comm, o); });
  comm.barrier();
}

TEST(Vocab, ForeignAndBrokenFilesAreRejected) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab-bad");  // collective
  if (!comm.root()) return;
  // Missing: IoError naming the file.
  auto w = expect_throw<IoError>([&] { embed::read_vocab(d / "nope.h5"); });
  EXPECT_NE(w.find("nope.h5"), std::string::npos) << w;
  EXPECT_FALSE(embed::vocab_is_complete(d / "nope.h5"));
  // Not HDF5.
  test::write_file(d / "text.h5", "id\tdf\n1\t2\n");
  w = expect_throw<InputError>([&] { embed::read_vocab(d / "text.h5"); });
  EXPECT_NE(w.find("text.h5"), std::string::npos) << w;
  // Another trawl format.
  {
    auto f = io::h5::File::create(d / "shard.h5");
    io::h5::set_format(f, "shard", 1);
    f.close();
  }
  w = expect_throw<InputError>([&] { embed::read_vocab(d / "shard.h5"); });
  EXPECT_NE(w.find("shard"), std::string::npos) << w;
  // A newer version.
  embed::Vocab v;
  v.n_docs = 10;
  v.id = {1, 5, 9};
  v.df = {1, 2, 3};
  v.tf = {1, 2, 7};
  embed::write_vocab(d / "good.h5", v);
  EXPECT_TRUE(embed::vocab_is_complete(d / "good.h5"));
  {
    auto f = io::h5::File::open(d / "good.h5", io::h5::File::kReadWrite);
    f.set_attr("trawl-format-version", int64_t(2));
    f.close();
  }
  w = expect_throw<InputError>([&] { embed::read_vocab(d / "good.h5"); });
  EXPECT_NE(w.find("2"), std::string::npos) << w;
  // Truncated.
  embed::write_vocab(d / "good.h5", v);
  std::string bytes = test::read_file(d / "good.h5");
  test::write_file(d / "cut.h5", bytes.substr(0, bytes.size() / 2));
  expect_throw<InputError>([&] { embed::read_vocab(d / "cut.h5"); });
  EXPECT_FALSE(embed::vocab_is_complete(d / "cut.h5"));
  // Inconsistent contents: ids out of order, tf < df.
  v.id = {5, 1, 9};
  embed::write_vocab(d / "order.h5", v);
  w = expect_throw<InputError>([&] { embed::read_vocab(d / "order.h5"); });
  EXPECT_NE(w.find("'id'"), std::string::npos) << w;
  v.id = {1, 5, 9};
  v.tf = {1, 1, 7};
  embed::write_vocab(d / "tf.h5", v);
  w = expect_throw<InputError>([&] { embed::read_vocab(d / "tf.h5"); });
  EXPECT_NE(w.find("'tf'"), std::string::npos) << w;
  // The hash encoder refuses the same files.
  embed::HashEncoderOptions eo;
  eo.idf_path = d / "shard.h5";
  expect_throw<InputError>([&] { embed::make_hash_encoder(eo); });
}

TEST(Vocab, BinaryHelpExitsZero) {
  auto comm = mpi::Comm::world();
  if (!comm.root()) return;
  std::string bin = test::bin_dir() + "/trawl-vocab";
  ASSERT_TRUE(path_exists(bin)) << bin << " is not built";
  // The child is a fresh singleton MPI process: none of the launcher's environment.
  std::string clean =
      "env -i PATH=\"$PATH\" HOME=\"$HOME\" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ";
  std::string out;
  EXPECT_EQ(test::run(clean + bin + " --help", &out), 0) << out;
  EXPECT_NE(out.find("--min-df"), std::string::npos) << out;
  EXPECT_NE(out.find("--merge-parts"), std::string::npos) << out;
  EXPECT_EQ(test::run(clean + bin + " --min-df 2", &out), 2) << out;  // no --input/--output: usage
}

TEST(Vocab, ChunkListSkipsBlanksAndComments) {
  auto comm = mpi::Comm::world();
  test::TempDir d("vocab-list");  // collective
  if (!comm.root()) return;
  test::write_file(d / "list.txt", "# chunks\n  a.tsv \n\n/x/b.tsv.gz\r\n\t# off\nc d.jsonl\n");
  EXPECT_EQ(embed::read_chunk_list(d / "list.txt"), (std::vector<std::string>{"a.tsv", "/x/b.tsv.gz", "c d.jsonl"}));
  test::write_file(d / "empty.txt", "# nothing\n\n");
  expect_throw<InputError>([&] { embed::read_chunk_list(d / "empty.txt"); });
  auto w = expect_throw<IoError>([&] { embed::read_chunk_list(d / "missing.txt"); });
  EXPECT_NE(w.find("missing.txt"), std::string::npos) << w;
}
