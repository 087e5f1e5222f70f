// trawl-libs: trawl_io
// The shard store (io/shard.h): round trips, column subsets, row ranges, rejection of bad
// files, completeness, listing, an independent check with h5py, and trawl-inspect.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "io/h5.h"
#include "io/mapped.h"
#include "io/shard.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::io;

namespace {

#define EXPECT_HAS(s, sub) EXPECT_NE(std::string(s).find(sub), std::string::npos) << "in: " << (s)

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// Row i of the test data: simple formulas that the Python check recomputes independently.
//   uid = chunk << 40 | (3i + 1)  (gaps, like rejected input rows)
//   id = "id-<i>", text below, label "pos" when i % 3 == 0 else "neg"
//   u = i % 4 unigrams (i*31 + 7j) then u-1 bigrams 2^31 + i*13 + j
//   embedding[d] = sin(0.1 i + 0.7 d + 0.3), L2-normalised; all zero when i % 17 == 5
std::string text_of(uint64_t i) {
  if (i % 11 == 3) return "";
  if (i % 5 == 0) return "héllo wörld " + std::to_string(i) + " 😀\ttab";
  return "text number " + std::to_string(i);
}

void add_row(ShardBlock& b, uint64_t chunk, uint64_t i, int dim, bool label) {
  b.uid.push_back(make_uid(chunk, 3 * i + 1));
  b.id.push_back("id-" + std::to_string(i));
  b.text.push_back(text_of(i));
  if (label) b.label.push_back(i % 3 == 0 ? "pos" : "neg");
  uint64_t u = i % 4;
  for (uint64_t j = 0; j < u; ++j) b.token_ids.push_back(static_cast<uint32_t>(i * 31 + 7 * j));
  for (uint64_t j = 0; j + 1 < u; ++j) b.token_ids.push_back(static_cast<uint32_t>((1u << 31) + i * 13 + j));
  b.token_offsets.push_back(b.token_ids.size());
  std::vector<double> v(dim);
  double n2 = 0;
  for (int d = 0; d < dim; ++d) {
    v[d] = i % 17 == 5 ? 0.0 : std::sin(0.1 * i + 0.7 * d + 0.3);
    n2 += v[d] * v[d];
  }
  for (int d = 0; d < dim; ++d) b.embedding.push_back(static_cast<float>(n2 > 0 ? v[d] / std::sqrt(n2) : 0.0));
}

// Rows [first, first+n) as one block.
ShardBlock make_block(uint64_t chunk, uint64_t first, uint64_t n, int dim, bool label) {
  ShardBlock b;
  b.clear();
  for (uint64_t i = first; i < first + n; ++i) add_row(b, chunk, i, dim, label);
  return b;
}

ShardMeta make_meta(int dim, Dtype dt, uint64_t chunk, bool label) {
  ShardMeta m;
  m.encoder = "hash";
  m.encoder_params = "dim=" + std::to_string(dim) + ";seed=7";
  m.dim = dim;
  m.dtype = dt;
  m.source_file = "pool/chunk-0002.tsv";
  m.source_checksum = "crc32:0badf00d/size:1234";
  m.chunk_index = chunk;
  m.has_label = label;
  m.config = "# trawl-embed 0.1.0\ndim = " + std::to_string(dim) + "\nencoder = hash\n";
  return m;
}

// Writes rows [0, sum(blocks)) in the given block sizes; returns the row count.
uint64_t write_shard(const std::string& path, int dim, Dtype dt, uint64_t chunk, bool label,
                     const std::vector<uint64_t>& blocks, uint64_t chunk_rows = 64) {
  ShardWriter w(path, make_meta(dim, dt, chunk, label), chunk_rows);
  uint64_t first = 0;
  for (uint64_t n : blocks) {
    w.append(make_block(chunk, first, n, dim, label));
    first += n;
  }
  EXPECT_EQ(w.rows(), first);
  w.close(3);
  return first;
}

// Compares a read block with the reference rows [first, first + n).
void expect_rows(const ShardBlock& got, uint64_t chunk, uint64_t first, uint64_t n, int dim, bool label,
                 bool f16) {
  ShardBlock want = make_block(chunk, first, n, dim, label);
  ASSERT_EQ(got.uid, want.uid);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.text, want.text);
  EXPECT_EQ(got.label, want.label);
  EXPECT_EQ(got.token_offsets, want.token_offsets);
  EXPECT_EQ(got.token_ids, want.token_ids);
  ASSERT_EQ(got.embedding.size(), want.embedding.size());
  for (size_t k = 0; k < want.embedding.size(); ++k) {
    float w = want.embedding[k];
    if (f16) {
      ASSERT_EQ(got.embedding[k], h5::f16_to_f32(h5::f32_to_f16(w))) << k;
      ASSERT_NEAR(got.embedding[k], w, std::fabs(w) / 2048 + 3e-8) << k;  // half: 11 significant bits
    } else {
      ASSERT_EQ(got.embedding[k], w) << k;
    }
  }
}

std::string copy_of(const std::string& from, const std::string& to) {
  test::write_file(to, test::read_file(from));
  return to;
}

bool have_h5py() { return test::run("/usr/bin/python3 -c 'import h5py, numpy'") == 0; }

std::string inspect_bin() { return test::bin_dir() + "/trawl-inspect"; }

}  // namespace

TEST(Shard, Names) {
  EXPECT_EQ(shard_file_name(42), "shard-000042.h5");
  EXPECT_EQ(make_uid(3, 5), (3ull << 40) | 5);
  EXPECT_EQ(parse_dtype("f16"), Dtype::kF16);
  EXPECT_STREQ(dtype_name(Dtype::kF32), "f32");
  EXPECT_THROW(parse_dtype("f64"), UsageError);
  ShardBlock b;
  b.uid = {1};
  b.token_offsets = {0, 4};
  b.clear();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.token_offsets, std::vector<uint64_t>({0}));
}

TEST(Shard, RoundTripF32OddBlocksAndRangesAcrossChunks) {
  test::TempDir d("shard");
  std::string p = d / "shard-000002.h5";
  const int dim = 24;
  uint64_t n = write_shard(p, dim, Dtype::kF32, 2, true, {1, 0, 63, 64, 65, 200, 7, 399}, 64);
  ASSERT_EQ(n, 799u);
  ShardReader r(p);
  EXPECT_EQ(r.rows(), n);
  EXPECT_EQ(r.path(), p);
  const ShardMeta& m = r.meta();
  EXPECT_EQ(m.rows, n);
  EXPECT_EQ(m.format_version, 1);
  EXPECT_FALSE(m.trawl_version.empty());
  EXPECT_EQ(m.encoder, "hash");
  EXPECT_EQ(m.encoder_params, "dim=24;seed=7");
  EXPECT_EQ(m.dim, dim);
  EXPECT_EQ(m.dtype, Dtype::kF32);
  EXPECT_EQ(m.normalisation, "l2");
  EXPECT_EQ(m.source_file, "pool/chunk-0002.tsv");
  EXPECT_EQ(m.source_checksum, "crc32:0badf00d/size:1234");
  EXPECT_EQ(m.chunk_index, 2u);
  EXPECT_TRUE(m.has_label);
  EXPECT_EQ(m.rejected_rows, 3u);
  EXPECT_EQ(m.config, make_meta(dim, Dtype::kF32, 2, true).config);

  ShardBlock b;
  r.read(0, n, b);
  expect_rows(b, 2, 0, n, dim, true, false);
  // Ranges inside one chunk, across one and several chunk boundaries, at the ends, empty.
  for (auto [lo, hi] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 1}, {10, 20}, {63, 65}, {60, 200}, {127, 128}, {128, 129}, {700, 799}, {798, 799}, {5, 5}, {799, 799}}) {
    r.read(lo, hi, b);
    expect_rows(b, 2, lo, hi - lo, dim, true, false);
    std::vector<float> e((hi - lo) * dim);
    r.read_embeddings(lo, hi, e.data());
    EXPECT_EQ(e, b.embedding);
  }
  std::vector<uint64_t> uids = r.read_uids();
  ASSERT_EQ(uids.size(), n);
  EXPECT_EQ(uids[0], make_uid(2, 1));
  EXPECT_EQ(uids[798], make_uid(2, 3 * 798 + 1));
  EXPECT_NO_THROW(r.validate_deep());

  std::string e = error_of([&] { r.read(790, 800, b); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "out of range");
  EXPECT_THROW(r.read(800, 801, b), UsageError);
  EXPECT_THROW(r.read(5, 4, b), UsageError);
  EXPECT_TRUE(shard_is_complete(p));
}

TEST(Shard, RoundTripF16WithinHalfPrecision) {
  test::TempDir d("shard");
  std::string p = d / "h.h5";
  const int dim = 7;
  uint64_t n = write_shard(p, dim, Dtype::kF16, 0, false, {5, 128, 3, 33}, 16);
  ShardReader r(p);
  EXPECT_EQ(r.meta().dtype, Dtype::kF16);
  EXPECT_FALSE(r.meta().has_label);
  ShardBlock b;
  r.read(0, n, b);
  expect_rows(b, 0, 0, n, dim, false, true);
  r.read(15, 49, b);
  expect_rows(b, 0, 15, 34, dim, false, true);
  EXPECT_NO_THROW(r.validate_deep());
  auto f = h5::File::open(p);
  EXPECT_EQ(h5::Dataset::open(f, "embedding").type(), h5::Type::kF16);
}

TEST(Shard, ColumnSubsetsFillOnlyWhatWasAsked) {
  test::TempDir d("shard");
  std::string p = d / "c.h5";
  const int dim = 4;
  write_shard(p, dim, Dtype::kF32, 1, true, {100}, 32);
  ShardReader r(p);
  ShardBlock b, all;
  r.read(30, 70, all);
  r.read(30, 70, b, ShardReader::kUid | ShardReader::kEmbedding);
  EXPECT_EQ(b.uid, all.uid);
  EXPECT_EQ(b.embedding, all.embedding);
  EXPECT_TRUE(b.id.empty() && b.text.empty() && b.label.empty() && b.token_ids.empty());
  EXPECT_EQ(b.token_offsets, std::vector<uint64_t>({0}));
  r.read(30, 70, b, ShardReader::kTokens);
  EXPECT_TRUE(b.uid.empty() && b.embedding.empty() && b.text.empty());
  EXPECT_EQ(b.token_offsets, all.token_offsets);  // rebased to start at 0
  EXPECT_EQ(b.token_offsets[0], 0u);
  EXPECT_EQ(b.token_ids, all.token_ids);
  r.read(30, 70, b, ShardReader::kText | ShardReader::kLabel);
  EXPECT_EQ(b.text, all.text);
  EXPECT_EQ(b.label, all.label);
  EXPECT_TRUE(b.uid.empty() && b.id.empty() && b.embedding.empty());
  r.read(30, 70, b, ShardReader::kId);
  EXPECT_EQ(b.id, all.id);
  EXPECT_TRUE(b.text.empty());
  // The block is cleared first: a previous read's columns do not linger.
  r.read(0, 3, b, ShardReader::kLabel);
  EXPECT_TRUE(b.id.empty());
  EXPECT_EQ(b.label.size(), 3u);
}

TEST(Shard, RowRangeReadsTouchOnlyTheirChunks) {
  // Overwrite the bytes of the last embedding chunk on disk: reads of other rows still return
  // the right values (they never read that chunk), reads of its rows see the damage.
  test::TempDir d("shard");
  std::string p = d / "r.h5";
  const int dim = 4;
  write_shard(p, dim, Dtype::kF32, 0, false, {100}, 16);
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    auto f = h5::File::open(p);
    auto e = h5::Dataset::open(f, "embedding");
    hsize_t coord[2] = {96, 0};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(e.id(), coord, &mask, &addr, &size), 0);
    ASSERT_EQ(size, 16u * dim * 4 + 4);  // the rows and their Fletcher-32
  }
  {
    std::fstream io(p, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(addr));
    std::string ff(size - 4, '\xff');  // NaN floats
    io.write(ff.data(), static_cast<std::streamsize>(ff.size()));
  }
  // Rows before the overwritten chunk read (they never touch it); its rows are refused.
  ShardReader r(p);
  ShardBlock b;
  r.read(0, 96, b);
  expect_rows(b, 0, 0, 96, dim, false, false);
  std::string e = error_of([&] { r.read(96, 100, b, ShardReader::kEmbedding); });
  EXPECT_HAS(e, "dataset 'embedding': checksum mismatch in rows [96, 100)");
  e = error_of([&] { r.validate_deep(); });
  EXPECT_HAS(e, "checksum mismatch in rows [96, 100)");
}

TEST(Shard, EmptyShard) {
  test::TempDir d("shard");
  std::string p = d / "e.h5";
  write_shard(p, 3, Dtype::kF16, 9, true, {0});
  ShardReader r(p);
  EXPECT_EQ(r.rows(), 0u);
  ShardBlock b;
  r.read(0, 0, b);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_NO_THROW(r.validate_deep());
  EXPECT_TRUE(r.read_uids().empty());
  EXPECT_TRUE(shard_is_complete(p));
}

TEST(Shard, RejectsForeignAndOtherTrawlHdf5Files) {
  test::TempDir d("shard");
  std::string foreign = d / "foreign.h5", index = d / "index.h5";
  {
    auto f = h5::File::create(foreign);
    auto ds = h5::Dataset::create(f, "data", h5::Type::kF32, 8);
    f.close();
  }
  {
    auto f = h5::File::create(index);
    h5::set_format(f, "index", 1);
    f.close();
  }
  std::string e = error_of([&] { ShardReader r(foreign); });
  EXPECT_HAS(e, foreign);
  EXPECT_HAS(e, "not a trawl file");
  EXPECT_THROW(ShardReader r(foreign), InputError);
  e = error_of([&] { ShardReader r(index); });
  EXPECT_HAS(e, index);
  EXPECT_HAS(e, "not a trawl shard (trawl-format = 'index'");
  EXPECT_FALSE(shard_is_complete(foreign));
  EXPECT_FALSE(shard_is_complete(index));
}

TEST(Shard, RejectsNewerVersion) {
  test::TempDir d("shard");
  std::string p = d / "v.h5";
  write_shard(p, 4, Dtype::kF32, 0, false, {10});
  {
    auto f = h5::File::open(p, h5::File::kReadWrite);
    f.set_attr("trawl-format-version", static_cast<int64_t>(2));
    f.close();
  }
  std::string e = error_of([&] { ShardReader r(p); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "newer version 2 (this trawl reads up to 1)");
  EXPECT_THROW(ShardReader r(p), InputError);
  EXPECT_FALSE(shard_is_complete(p));
}

TEST(Shard, RejectsNonHdf5AndMissingFiles) {
  test::TempDir d("shard");
  std::string p = d / "shard-000000.h5";
  test::write_file(p, "id\ttext\n1\thello\n");
  std::string e = error_of([&] { ShardReader r(p); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "not an HDF5 file");
  EXPECT_THROW(ShardReader r(p), InputError);
  EXPECT_FALSE(shard_is_complete(p));
  std::string missing = d / "nope.h5";
  EXPECT_THROW(ShardReader r(missing), IoError);
  EXPECT_HAS(error_of([&] { ShardReader r(missing); }), missing);
  EXPECT_FALSE(shard_is_complete(missing));
}

TEST(Shard, RejectsTruncatedFilesWithoutCrashing) {
  test::TempDir d("shard");
  std::string p = d / "t.h5";
  write_shard(p, 16, Dtype::kF32, 0, true, {300, 200});
  std::string full = test::read_file(p);
  ASSERT_GT(full.size(), 4000u);
  for (size_t keep : {size_t(0), size_t(8), size_t(100), size_t(1000), full.size() / 2, full.size() - 1}) {
    std::string t = d / ("trunc-" + std::to_string(keep) + ".h5");
    test::write_file(t, full.substr(0, keep));
    SCOPED_TRACE(t);
    EXPECT_FALSE(shard_is_complete(t));
    std::string e = error_of([&] { ShardReader r(t); });
    EXPECT_HAS(e, t);
    if (keep >= 1000) {
      EXPECT_HAS(e, "truncated");
    }
    EXPECT_THROW(ShardReader r(t), InputError);
  }
}

TEST(Shard, RejectsMissingDataset) {
  test::TempDir d("shard");
  std::string p = d / "m.h5";
  write_shard(p, 4, Dtype::kF32, 0, false, {10});
  {
    auto f = h5::File::open(p, h5::File::kReadWrite);
    ASSERT_GE(H5Ldelete(f.id(), "text_bytes", H5P_DEFAULT), 0);
    f.close();
  }
  std::string e = error_of([&] { ShardReader r(p); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "missing dataset 'text_bytes'");
  EXPECT_THROW(ShardReader r(p), InputError);
  EXPECT_FALSE(shard_is_complete(p));
  // Half of the optional label column: the other half is missing.
  std::string q = d / "l.h5";
  write_shard(q, 4, Dtype::kF32, 0, true, {10});
  {
    auto f = h5::File::open(q, h5::File::kReadWrite);
    ASSERT_GE(H5Ldelete(f.id(), "label_offsets", H5P_DEFAULT), 0);
    f.close();
  }
  e = error_of([&] { ShardReader r(q); });
  EXPECT_HAS(e, q);
  EXPECT_HAS(e, "missing dataset 'label_offsets'");
  EXPECT_FALSE(shard_is_complete(q));
}

TEST(Shard, RejectsInconsistentLengths) {
  test::TempDir d("shard");
  std::string good = d / "good.h5";
  const uint64_t n = write_shard(good, 4, Dtype::kF32, 0, true, {40});
  struct Case {
    const char* name;
    std::function<void(h5::File&)> damage;
    std::vector<std::string> expect;
  };
  std::vector<Case> cases = {
      // String columns: offsets of the wrong length (wrong n), first not 0, last not at the end
      // of the bytes, bytes of the wrong type.
      {"extra-id", [&](h5::File& f) {
         std::vector<uint64_t> o = h5::Dataset::open(f, "id_offsets").read_all<uint64_t>();
         h5::Dataset::open(f, "id_offsets").append(&o.back(), 1);
       }, {"dataset 'id_offsets'", "has 42 rows, expected 41"}},
      {"long-label", [&](h5::File& f) {
         uint64_t o[2] = {1000, 1000};
         h5::Dataset::open(f, "label_offsets").append(o, 2);
       }, {"dataset 'label_offsets'", "has 43 rows, expected 41"}},
      {"short-text", [&](h5::File& f) {
         hsize_t dims[1] = {n};  // drops the last offset
         ASSERT_GE(H5Dset_extent(h5::Dataset::open(f, "text_offsets").id(), dims), 0);
       }, {"dataset 'text_offsets'", "has 40 rows, expected 41"}},
      {"text-first-offset", [&](h5::File& f) {
         uint64_t o = 2;
         h5::Dataset::open(f, "text_offsets").write(0, 1, &o);
       }, {"dataset 'text_offsets'", "first offset is 2, expected 0"}},
      {"extra-text-byte", [&](h5::File& f) {
         uint8_t c = 'x';
         h5::Dataset::open(f, "text_bytes").append(&c, 1);
       }, {"dataset 'text_offsets'", "last offset is", "but dataset 'text_bytes' has"}},
      {"id-offsets-past-bytes", [&](h5::File& f) {
         uint64_t o = 1u << 20;  // the last offset, past the end of the bytes
         h5::Dataset::open(f, "id_offsets").write(n, 1, &o);
       }, {"dataset 'id_offsets'", "last offset is 1048576 but dataset 'id_bytes' has"}},
      {"label-bytes-u32", [&](h5::File& f) {
         auto old = h5::Dataset::open(f, "label_bytes");
         uint64_t total = old.rows();
         old = h5::Dataset();
         ASSERT_GE(H5Ldelete(f.id(), "label_bytes", H5P_DEFAULT), 0);
         std::vector<uint32_t> z(total, 'a');
         h5::Dataset::create(f, "label_bytes", h5::Type::kU32, 64).append(z);
       }, {"dataset 'label_bytes'", "type is u32, expected u8"}},
      {"rows-attr", [&](h5::File& f) { f.set_attr_u64("rows", n + 5); },
       {"attribute 'rows' = 45 but dataset 'uid' has 40 rows"}},
      {"extra-embedding", [&](h5::File& f) {
         std::vector<float> z(4, 0.0f);
         h5::Dataset::open(f, "embedding").append(z.data(), 1);
       }, {"dataset 'embedding'", "has 41 rows, expected 40"}},
      {"extra-token", [&](h5::File& f) {
         uint32_t t = 5;
         h5::Dataset::open(f, "token_ids").append(&t, 1);
       }, {"dataset 'token_offsets'", "last offset", "'token_ids'"}},
      {"offsets", [&](h5::File& f) {
         uint64_t o = 0;
         h5::Dataset::open(f, "token_offsets").append(&o, 1);
       }, {"dataset 'token_offsets'", "has 42 rows, expected 41"}},
      {"wrong-dim", [&](h5::File& f) { f.set_attr("dim", static_cast<int64_t>(5)); },
       {"dataset 'embedding'", "has 4 columns, expected 5"}},
      {"wrong-dtype", [&](h5::File& f) { f.set_attr("dtype", std::string("f16")); },
       {"dataset 'embedding'", "type is f32, expected f16"}},
      {"bad-dtype", [&](h5::File& f) { f.set_attr("dtype", std::string("bf16")); },
       {"attribute 'dtype' = 'bf16'"}},
      {"no-rows", [&](h5::File& f) { H5Adelete(f.id(), "rows"); }, {"incomplete shard", "'rows'"}},
      {"no-encoder", [&](h5::File& f) { H5Adelete(f.id(), "encoder"); }, {"missing attribute 'encoder'"}},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string p = copy_of(good, d / (std::string(c.name) + ".h5"));
    {
      auto f = h5::File::open(p, h5::File::kReadWrite);
      c.damage(f);
      f.close();
    }
    std::string e = error_of([&] { ShardReader r(p); });
    EXPECT_HAS(e, p);
    for (auto& s : c.expect) EXPECT_HAS(e, s);
    EXPECT_THROW(ShardReader r(p), InputError);
    EXPECT_FALSE(shard_is_complete(p));
  }
}

TEST(Shard, ValidateDeepFindsBadContent) {
  test::TempDir d("shard");
  std::string good = d / "good.h5";
  write_shard(good, 4, Dtype::kF16, 5, false, {100});
  struct Case {
    const char* name;
    std::function<void(h5::File&)> damage;
    std::vector<std::string> expect;
  };
  std::vector<Case> cases = {
      {"dup-uid", [](h5::File& f) {
         uint64_t u = make_uid(5, 3 * 41 + 1);  // row 42 gets row 41's uid
         h5::Dataset::open(f, "uid").write(42, 1, &u);
       }, {"dataset 'uid'", "row 42", "not greater than the previous uid"}},
      {"foreign-uid", [](h5::File& f) {
         uint64_t u = make_uid(6, 1);  // a uid of another chunk at the end
         h5::Dataset::open(f, "uid").write(99, 1, &u);
       }, {"row 99", "belongs to chunk 6", "chunk-index is 5"}},
      {"nan", [](h5::File& f) {
         float v[4] = {0.5f, NAN, 0.5f, 0.5f};
         h5::Dataset::open(f, "embedding").write(7, 1, v);
       }, {"dataset 'embedding'", "row 7, column 1", "not finite"}},
      {"not-normalised", [](h5::File& f) {
         float v[4] = {1, 1, 1, 1};
         h5::Dataset::open(f, "embedding").write(8, 1, v);
       }, {"row 8", "L2 norm 2"}},
      {"offsets-decrease", [](h5::File& f) {
         uint64_t o = 0;
         h5::Dataset::open(f, "token_offsets").write(50, 1, &o);
       }, {"dataset 'token_offsets'", "entry 50 = 0", "less than the previous entry"}},
      {"bigram-first", [](h5::File& f) {
         // Row 3 has 3 unigrams then 2 bigrams; make its first id a bigram id.
         auto off = h5::Dataset::open(f, "token_offsets").read_all<uint64_t>();
         uint32_t big = 1u << 31;
         h5::Dataset::open(f, "token_ids").write(off[3], 1, &big);
       }, {"dataset 'token_ids'", "row 3, token 0", "should be a unigram id"}},
      {"bad-utf8", [](h5::File& f) {
         // Row 12 is "text number 12": bytes 3 and 4 become an invalid sequence.
         auto off = h5::Dataset::open(f, "text_offsets").read_all<uint64_t>();
         uint8_t bad[2] = {0xff, 0xfe};
         h5::Dataset::open(f, "text_bytes").write(off[12] + 3, 2, bad);
       }, {"dataset 'text_bytes'", "row 12", "invalid UTF-8 at byte 3 of the row"}},
      {"bad-utf8-id", [](h5::File& f) {
         // A truncated 2-byte sequence at the end of row 99's id ("id-99").
         auto off = h5::Dataset::open(f, "id_offsets").read_all<uint64_t>();
         uint8_t bad = 0xc3;
         h5::Dataset::open(f, "id_bytes").write(off[100] - 1, 1, &bad);
       }, {"dataset 'id_bytes'", "row 99", "invalid UTF-8 at byte 4 of the row", "id_bytes["}},
      {"text-offsets-decrease", [](h5::File& f) {
         uint64_t o = 0;
         h5::Dataset::open(f, "text_offsets").write(50, 1, &o);
       }, {"dataset 'text_offsets'", "entry 50 = 0", "less than the previous entry"}},
      {"id-offsets-past-bytes", [](h5::File& f) {
         uint64_t o = 1u << 20;  // past the end, and then the next entry decreases
         h5::Dataset::open(f, "id_offsets").write(30, 1, &o);
       }, {"dataset 'id_offsets'", "entry 30 = 1048576", "past the end of 'id_bytes'", "bytes)"}},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string p = copy_of(good, d / (std::string(c.name) + ".h5"));
    {
      auto f = h5::File::open(p, h5::File::kReadWrite);
      c.damage(f);
      f.close();
    }
    ShardReader r(p);  // the cheap checks pass
    std::string e = error_of([&] { r.validate_deep(); });
    EXPECT_HAS(e, p);
    for (auto& s : c.expect) EXPECT_HAS(e, s);
    EXPECT_THROW(r.validate_deep(), InputError);
  }
  // Row range reads check the offsets they use: bad ones are InputErrors, not huge reads;
  // ranges before the damage read fine.
  ShardBlock b;
  {
    ShardReader r(d / "text-offsets-decrease.h5");
    std::string e = error_of([&] { r.read(40, 60, b, ShardReader::kText); });
    EXPECT_HAS(e, "dataset 'text_offsets'");
    EXPECT_HAS(e, "offsets decrease at row 50");
    EXPECT_THROW(r.read(40, 60, b, ShardReader::kText), InputError);
    r.read(0, 49, b, ShardReader::kText);
    EXPECT_EQ(b.text[48], make_block(5, 48, 1, 4, false).text[0]);
    r.read(40, 60, b, ShardReader::kId | ShardReader::kEmbedding);  // other columns are intact
    EXPECT_EQ(b.id[10], "id-50");
  }
  {
    ShardReader r(d / "id-offsets-past-bytes.h5");
    std::string e = error_of([&] { r.read(25, 30, b, ShardReader::kId); });
    EXPECT_HAS(e, "dataset 'id_offsets'");
    EXPECT_HAS(e, "offset 1048576 at row 30 is past the end of 'id_bytes'");
    EXPECT_THROW(r.read(25, 30, b, ShardReader::kId), InputError);
    e = error_of([&] { r.read(25, 35, b, ShardReader::kAll); });
    EXPECT_HAS(e, "dataset 'id_offsets'");
    EXPECT_HAS(e, "offsets decrease at row 31");
  }
}

TEST(Shard, StringColumnsKeepEveryByte) {
  // CSR bytes store any string exactly: empty ones, NUL bytes, every UTF-8 length, and a
  // string longer than a byte chunk; in blocks where every string is empty too.
  test::TempDir d("shard");
  std::string p = d / "s.h5";
  const int dim = 2;
  std::vector<std::string> texts = {"", std::string("a\0b", 3), "\x7f \xc2\x80 \xe0\xa0\x80 \xf4\x8f\xbf\xbf",
                                    std::string(3u << 20, 'z'), "", "ok"};
  ShardBlock b1 = make_block(0, 0, 6, dim, true), b2 = make_block(0, 6, 3, dim, true),
             b3 = make_block(0, 9, 3, dim, true);
  b1.text = texts;
  b1.id[2] = std::string(1, '\0');
  b2.text = b2.id = b2.label = {"", "", ""};  // a block without any string bytes
  ShardBlock all;  // the expected columns
  for (const ShardBlock* x : {&b1, &b2, &b3}) {
    all.id.insert(all.id.end(), x->id.begin(), x->id.end());
    all.text.insert(all.text.end(), x->text.begin(), x->text.end());
    all.label.insert(all.label.end(), x->label.begin(), x->label.end());
  }
  {
    ShardWriter w(p, make_meta(dim, Dtype::kF32, 0, true), 4);
    w.append(b1);
    w.append(b2);
    w.append(b3);
    w.close(0);
  }
  ShardReader r(p);
  ShardBlock b;
  r.read(0, 12, b);
  EXPECT_EQ(b.text, all.text);
  EXPECT_EQ(b.id, all.id);
  EXPECT_EQ(b.label, all.label);
  for (uint64_t lo = 0; lo <= 12; ++lo) {
    for (uint64_t hi = lo; hi <= 12; ++hi) {
      r.read(lo, hi, b, ShardReader::kText | ShardReader::kId);
      ASSERT_EQ(b.text, std::vector<std::string>(all.text.begin() + lo, all.text.begin() + hi)) << lo << ".." << hi;
      ASSERT_EQ(b.id, std::vector<std::string>(all.id.begin() + lo, all.id.begin() + hi)) << lo << ".." << hi;
    }
  }
  EXPECT_NO_THROW(r.validate_deep());
  auto f = h5::File::open(p);
  auto tb = h5::Dataset::open(f, "text_bytes");
  uint64_t total = 0;
  for (auto& t : all.text) total += t.size();
  EXPECT_EQ(tb.rows(), total);
  EXPECT_EQ(tb.type(), h5::Type::kU8);
  EXPECT_EQ(tb.chunk_dims(), std::vector<uint64_t>({1u << 17}));
  EXPECT_EQ(h5::Dataset::open(f, "id_bytes").chunk_dims(), std::vector<uint64_t>({1u << 15}));
  EXPECT_EQ(h5::Dataset::open(f, "label_offsets").chunk_dims(), std::vector<uint64_t>({4}));
  std::vector<uint64_t> o = h5::Dataset::open(f, "text_offsets").read_all<uint64_t>();
  ASSERT_EQ(o.size(), 13u);
  EXPECT_EQ(o[0], 0u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(o[i + 1] - o[i], all.text[i].size()) << i;
}

// The string columns' offsets are chunked by at most 2,048 rows whatever the row chunk (a few
// selected rows read, and verify, 16 KiB of offsets each, not the row chunk's 64 KiB); uid and
// the embedding keep the row chunk. Rows across the offsets' chunk boundaries read back whole.
TEST(Shard, StringOffsetsHaveSmallChunks) {
  test::TempDir d("shard");
  std::string p = d / "t.h5";
  ShardBlock all = make_block(0, 0, 5000, 2, true);
  {
    ShardWriter w(p, make_meta(2, Dtype::kF32, 0, true), 8192);
    w.append(all);
    w.close(0);
  }
  {
    auto f = h5::File::open(p);
    for (const char* c : {"id_offsets", "text_offsets", "label_offsets"})
      EXPECT_EQ(h5::Dataset::open(f, c).chunk_dims(), std::vector<uint64_t>({2048})) << c;
    EXPECT_EQ(h5::Dataset::open(f, "uid").chunk_dims(), std::vector<uint64_t>({8192}));
    EXPECT_EQ(h5::Dataset::open(f, "token_offsets").chunk_dims(), std::vector<uint64_t>({8192}));
  }
  ShardReader r(p);
  ShardBlock b;
  for (uint64_t lo : {0u, 2040u, 2047u, 4095u, 4999u}) {
    const uint64_t hi = std::min<uint64_t>(5000, lo + 10);
    r.read(lo, hi, b);
    EXPECT_EQ(b.id, std::vector<std::string>(all.id.begin() + lo, all.id.begin() + hi)) << lo;
    EXPECT_EQ(b.text, std::vector<std::string>(all.text.begin() + lo, all.text.begin() + hi)) << lo;
    EXPECT_EQ(b.label, std::vector<std::string>(all.label.begin() + lo, all.label.begin() + hi)) << lo;
  }
  EXPECT_NO_THROW(r.validate_deep());
}

TEST(Shard, TextRowRangesReadOnlyTheirBytes) {
  // Texts of 40 KB: 100 rows take 31 byte chunks of 128 KiB. Overwrite the last chunk on disk:
  // rows whose bytes lie before it still read right (their reads never touch it), rows in it
  // see the damage, and validate_deep reports it.
  test::TempDir d("shard");
  std::string p = d / "t.h5";
  const int dim = 2;
  ShardBlock all = make_block(0, 0, 100, dim, false);
  for (uint64_t i = 0; i < 100; ++i) all.text[i] = std::to_string(i) + ":" + std::string(40000, 'a' + i % 26);
  {
    ShardWriter w(p, make_meta(dim, Dtype::kF32, 0, false), 16);
    w.append(all);
    w.close(0);
  }
  haddr_t addr = 0;
  hsize_t size = 0;
  std::vector<uint64_t> o;
  const uint64_t C = 1u << 17, last = 30 * C;  // text_bytes chunk; the last chunk's first byte
  {
    auto f = h5::File::open(p);
    auto tb = h5::Dataset::open(f, "text_bytes");
    o = h5::Dataset::open(f, "text_offsets").read_all<uint64_t>();
    ASSERT_EQ(tb.rows(), o[100]);
    ASSERT_GT(tb.rows(), last);
    ASSERT_LE(tb.rows(), last + C);
    hsize_t coord[1] = {last};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(tb.id(), coord, &mask, &addr, &size), 0);
    ASSERT_EQ(size, C + 4);
  }
  {
    std::fstream io(p, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(addr));
    std::string ff(size - 4, '\xff');
    io.write(ff.data(), static_cast<std::streamsize>(ff.size()));
  }
  uint64_t first_bad = 0;  // the first row with a byte in the last chunk
  while (o[first_bad + 1] <= last) ++first_bad;
  ASSERT_GT(first_bad, 50u);
  ShardReader r(p);
  ShardBlock b;
  r.read(0, first_bad, b);
  EXPECT_EQ(b.text, std::vector<std::string>(all.text.begin(), all.text.begin() + first_bad));
  r.read(first_bad - 5, first_bad, b, ShardReader::kText);
  EXPECT_EQ(b.text, std::vector<std::string>(all.text.begin() + first_bad - 5, all.text.begin() + first_bad));
  // The overwritten chunk's bytes are refused by its checksum, naming the byte range.
  std::string e = error_of([&] { r.read(99, 100, b, ShardReader::kText); });
  EXPECT_HAS(e, "dataset 'text_bytes': checksum mismatch in rows [" + std::to_string(last) + ", ");
  r.read(0, 100, b, ShardReader::kId);  // other string columns are intact
  EXPECT_EQ(b.id, all.id);
  e = error_of([&] { r.validate_deep(); });
  EXPECT_HAS(e, "dataset 'text_bytes': checksum mismatch");
}

TEST(Shard, CompletenessOfUnfinishedAndKilledWrites) {
  test::TempDir d("shard");
  std::string final_path = d / shard_file_name(4);
  {
    // A writer destroyed without close() (an exception in the stage): no 'rows' attribute.
    AtomicOutput out(final_path);
    {
      ShardWriter w(out.temp_path(), make_meta(4, Dtype::kF32, 4, false), 16);
      w.append(make_block(4, 0, 50, 4, false));
      // A snapshot of the file while it is being written, as a killed task leaves it.
      copy_of(out.temp_path(), d / "killed.h5.tmp.1.1");
    }
    EXPECT_FALSE(shard_is_complete(out.temp_path()));
    std::string e = error_of([&] { ShardReader r(out.temp_path()); });
    EXPECT_HAS(e, "incomplete shard");
    EXPECT_HAS(e, out.temp_path());
    EXPECT_FALSE(path_exists(final_path));
  }
  EXPECT_FALSE(shard_is_complete(d / "killed.h5.tmp.1.1"));
  EXPECT_FALSE(shard_is_complete(final_path));
  {
    AtomicOutput out(final_path);
    ShardWriter w(out.temp_path(), make_meta(4, Dtype::kF32, 4, false), 16);
    w.append(make_block(4, 0, 50, 4, false));
    w.close(0);
    EXPECT_FALSE(shard_is_complete(final_path));  // not renamed yet
    out.commit();
  }
  EXPECT_TRUE(shard_is_complete(final_path));
}

// commit_shard puts the shard in place byte for byte; having the page cache hold it in 2 MiB
// pages (io::recache_in_large_pages) is a hint that depends on the kernel and file system, so
// the test checks what must hold everywhere: the same bytes, a shard that reads and verifies,
// and no error for files it cannot or need not handle.
TEST(Shard, CommitShardKeepsEveryByteAndLargePagesAreOnlyAHint) {
  test::TempDir d("shard");
  const std::string final_path = d / shard_file_name(2);
  FileChecksum before;
  {
    AtomicOutput out(final_path);
    ShardWriter w(out.temp_path(), make_meta(256, Dtype::kF32, 2, false), 4096);
    w.append(make_block(2, 0, 9000, 256, false));  // 9 MiB of embeddings: several 2 MiB pages
    w.close(0);
    before = checksum_file(out.temp_path());
    commit_shard(out);
    EXPECT_FALSE(path_exists(out.temp_path()));
  }
  EXPECT_EQ(checksum_file(final_path).str(), before.str());
  ShardReader r(final_path);
  r.validate_deep();
  ShardBlock b, v;
  r.read(0, 9000, b);
  expect_rows(b, 2, 0, 9000, 256, false, false);
  r.read(0, 9000, v, ShardReader::kUid | ShardReader::kEmbeddingView);
  ASSERT_FALSE(v.emb_segments.empty());  // through the mapping, each chunk verified
  std::vector<float> seen;
  v.for_each_embedding_run(256, [&](const float* x, uint64_t, uint64_t n, float) { seen.insert(seen.end(), x, x + n * 256); });
  EXPECT_EQ(seen, b.embedding);
  for (const auto& f : list_files(d.path(), "", "")) EXPECT_EQ(f, final_path);  // nothing else left
  // Again on the committed file (a second call is harmless), and files it leaves alone.
  recache_in_large_pages(final_path);
  EXPECT_EQ(checksum_file(final_path).str(), before.str());
  EXPECT_FALSE(recache_in_large_pages(d / "missing.h5"));
  write_text_atomic(d / "small.txt", "a few bytes");
  EXPECT_FALSE(recache_in_large_pages(d / "small.txt"));
}

TEST(Shard, ListShards) {
  test::TempDir d("shard");
  std::string dir = d / "pool";
  std::string e = error_of([&] { list_shards(dir); });
  EXPECT_HAS(e, dir);
  EXPECT_HAS(e, "does not exist");
  EXPECT_THROW(list_shards(dir), IoError);
  make_dirs(dir);
  e = error_of([&] { list_shards(dir); });
  EXPECT_HAS(e, "no shard files (shard-*.h5)");
  EXPECT_THROW(list_shards(dir), InputError);
  for (const char* n : {"shard-000002.h5", "shard-000001.h5", "shard-000003.h5.tmp.77.1", "other.h5", "shard-000010.h5"})
    test::write_file(join_path(dir, n), "");
  EXPECT_EQ(list_shards(dir), std::vector<std::string>({join_path(dir, "shard-000001.h5"),
                                                         join_path(dir, "shard-000002.h5"),
                                                         join_path(dir, "shard-000010.h5")}));
  EXPECT_THROW(list_shards(dir + "/other.h5"), IoError);
}

// ---- an independent reader: h5py ----------------------------------------------------------

TEST(Shard, PythonH5pyReadsTheShard) {
  if (!have_h5py()) FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "/usr/bin/python3 with h5py and numpy is not available";
  test::TempDir d("shard");
  std::string p = d / "shard-000002.h5";
  const int dim = 6;
  uint64_t n = write_shard(p, dim, Dtype::kF16, 2, true, {1, 70, 29}, 32);
  std::string script = d / "check.py";
  test::write_file(script, R"PY(
import sys, math
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = f.attrs
assert a["trawl-format"] == "shard", a["trawl-format"]
assert int(a["trawl-format-version"]) == 1
assert int(a["rows"]) == 100 and int(a["rejected-rows"]) == 3
assert int(a["dim"]) == 6 and a["dtype"] == "f16" and a["encoder"] == "hash"
assert int(a["chunk-index"]) == 2 and a["normalisation"] == "l2"
assert a["source-file"] == "pool/chunk-0002.tsv"
assert "dim = 6" in a["config"]
n = 100
uid = f["uid"][:]
assert uid.dtype == np.uint64 and uid.shape == (n,)
assert all(int(uid[i]) == (2 << 40) | (3 * i + 1) for i in range(n))
# string columns: CSR UTF-8, NAME_offsets uint64[n + 1] into NAME_bytes uint8[total]
def strings(name, byte_chunk):
    o, b = f[name + "_offsets"], f[name + "_bytes"]
    assert o.dtype == np.uint64 and o.shape == (n + 1,) and o.chunks == (32,), (name, o.dtype, o.shape, o.chunks)
    assert b.dtype == np.uint8 and b.ndim == 1 and b.chunks == (byte_chunk,), (name, b.dtype, b.shape, b.chunks)
    assert b.compression is None
    o, raw = o[:], b[:].tobytes()
    assert o[0] == 0 and o[-1] == len(raw) and all(o[i] <= o[i + 1] for i in range(n)), name
    return [raw[o[i]:o[i + 1]].decode("utf-8") for i in range(n)]
assert set(f.keys()) == {"uid", "id_offsets", "id_bytes", "text_offsets", "text_bytes", "label_offsets",
                         "label_bytes", "token_offsets", "token_ids", "embedding"}, list(f.keys())
assert strings("id", 32768) == ["id-%d" % i for i in range(n)]
def text(i):
    if i % 11 == 3: return ""
    if i % 5 == 0: return "héllo wörld %d 😀\ttab" % i
    return "text number %d" % i
assert strings("text", 131072) == [text(i) for i in range(n)]
assert strings("label", 32768) == ["pos" if i % 3 == 0 else "neg" for i in range(n)]
# one row, as the docs show: only that row's offsets and bytes are read
o = f["text_offsets"]
for i in (0, 3, 5, 99):
    assert f["text_bytes"][o[i]:o[i + 1]].tobytes().decode() == text(i), i
off = f["token_offsets"][:]
tok = f["token_ids"][:]
assert off.dtype == np.uint64 and off.shape == (n + 1,) and tok.dtype == np.uint32
assert off[0] == 0 and off[-1] == len(tok)
for i in range(n):
    u = i % 4
    want = [i * 31 + 7 * j for j in range(u)] + [2**31 + i * 13 + j for j in range(u - 1)]
    assert list(tok[off[i]:off[i + 1]]) == want, (i, tok[off[i]:off[i + 1]], want)
e = f["embedding"]
assert e.dtype == np.float16, e.dtype
assert e.shape == (n, 6) and e.chunks == (32, 6), (e.shape, e.chunks)
assert f["uid"].chunks == (32,) and f["token_ids"].chunks == (65536,)
assert f["uid"].compression is None
emb = e[:].astype(np.float64)
for i in range(n):
    v = np.array([0.0 if i % 17 == 5 else math.sin(0.1 * i + 0.7 * d + 0.3) for d in range(6)])
    nv = np.linalg.norm(v)
    if nv > 0: v = v / nv
    assert np.allclose(emb[i], v, atol=1e-3), (i, emb[i], v)
# a row range read, as the docs show
assert np.array_equal(e[40:45], e[:][40:45])
print("PYOK")
)PY");
  std::string out;
  int rc = test::run("/usr/bin/python3 " + script + " " + p, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_HAS(out, "PYOK");
  EXPECT_EQ(n, 100u);
}

TEST(Shard, PythonSnippetInFormatsDocRuns) {
  if (!have_h5py()) FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "/usr/bin/python3 with h5py and numpy is not available";
  // The snippet between the markers in docs/FORMATS.md is run as is on a real shard.
  std::string doc = test::read_file(test::source_dir() + "/docs/FORMATS.md");
  const std::string open = "<!-- snippet: read-shard -->\n```python\n";
  size_t a = doc.find(open);
  ASSERT_NE(a, std::string::npos) << "docs/FORMATS.md lacks the read-shard snippet";
  a += open.size();
  size_t b = doc.find("```", a);
  ASSERT_NE(b, std::string::npos);
  test::TempDir d("shard");
  std::string p = d / "shard-000002.h5";
  write_shard(p, 6, Dtype::kF16, 2, true, {30}, 8);
  test::write_file(d / "snippet.py", doc.substr(a, b - a));
  std::string out;
  int rc = test::run("/usr/bin/python3 " + (d / "snippet.py") + " " + p, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_HAS(out, "30 rows, dim 6");
  EXPECT_HAS(out, "id-0");
}

// ---- trawl-inspect -------------------------------------------------------------------------

TEST(Inspect, PrintsShardDetailsAndChecks) {
  ASSERT_TRUE(path_exists(inspect_bin())) << inspect_bin() << " is not built (ninja trawl-inspect)";
  test::TempDir d("shard");
  std::string p = d / "shard-000002.h5";
  write_shard(p, 12, Dtype::kF16, 2, true, {40}, 16);
  std::string out;
  int rc = test::run(inspect_bin() + " " + p + " --rows 2 --check", &out);
  EXPECT_EQ(rc, 0) << out;
  for (const char* s : {"format: shard, version 1", "chunk-index", "= 2", "encoder-params", "dim=12;seed=7",
                        "      dim = 12", "      encoder = hash", "source-checksum", "/embedding", "f16",
                        "[40, 12]", "chunks [16, 12]", "/text_bytes", "/text_offsets", "/id_bytes", "/id_offsets",
                        "/label_bytes", "/label_offsets", "u8", "chunks [131072]", "chunks [32768]", "[41]",
                        "/token_ids",
                        "chunks [65536]", "rows: 40", "string bytes: id 190 (4.8/row), text ", ", label 120 (3.0/row)",
                        "first 2 rows", "uid 2199023255553 (chunk 2, row 1)",
                        "'id-1'", "'text number 1'", "label  'pos'", "tokens 1 [31]", "(8 of 12)",
                        "check: OK"})
    EXPECT_HAS(out, s);
  EXPECT_EQ(out.find("[2] uid"), std::string::npos) << "printed more than --rows";
  EXPECT_EQ(out.find("vlen"), std::string::npos) << "shards hold no variable-length strings";

  // Long text is cut at 80 code points; control characters are escaped.
  std::string q = d / "long.h5";
  {
    ShardWriter w(q, make_meta(2, Dtype::kF32, 0, false));
    ShardBlock b = make_block(0, 0, 1, 2, false);
    std::string t;
    for (int i = 0; i < 100; ++i) t += "é";
    b.text[0] = "a\nb" + t;
    w.append(b);
    w.close(0);
  }
  test::run(inspect_bin() + " --rows 1 " + q, &out);
  std::string want = "'a\\nb";
  for (int i = 0; i < 77; ++i) want += "é";
  EXPECT_HAS(out, want + "…'");

  // A shard that fails the deep check: exit 3 and the error.
  std::string bad = copy_of(p, d / "bad.h5");
  {
    auto f = h5::File::open(bad, h5::File::kReadWrite);
    float v[12] = {INFINITY};
    h5::Dataset::open(f, "embedding").write(3, 1, v);
    f.close();
  }
  rc = test::run(inspect_bin() + " --check " + bad, &out);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_HAS(out, "check: FAILED");
  EXPECT_HAS(out, "row 3, column 0");
  rc = test::run(inspect_bin() + " " + bad, &out);  // without --check it prints fine
  EXPECT_EQ(rc, 0) << out;
}

TEST(Inspect, OtherFormatsAndErrors) {
  ASSERT_TRUE(path_exists(inspect_bin())) << inspect_bin() << " is not built (ninja trawl-inspect)";
  test::TempDir d("shard");
  std::string idx = d / "index.h5";
  {
    auto f = h5::File::create(idx);
    h5::set_format(f, "index", 1);
    f.set_attr("metric", std::string("cosine"));
    auto ds = h5::Dataset::create(f, "labels", h5::Type::kU64, 128);
    std::vector<uint64_t> v(300, 7);
    ds.append(v);
    f.close();
  }
  std::string text = d / "notes.txt";
  test::write_file(text, "hello\n");
  std::string out;
  int rc = test::run(inspect_bin() + " " + idx + " --check", &out);
  EXPECT_EQ(rc, 0) << out;
  for (const char* s : {"format: index, version 1", "metric", "cosine", "/labels", "u64", "[300]", "chunks [128]",
                        "checksums: 1 dataset verified, 2400 bytes read", "check: OK"})
    EXPECT_HAS(out, s);
  rc = test::run(inspect_bin() + " " + text + " " + idx, &out);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_HAS(out, text);
  EXPECT_HAS(out, "not an HDF5 file");
  EXPECT_HAS(out, "format: index");  // the other file is still inspected
  rc = test::run(inspect_bin() + " " + (d / "missing.h5"), &out);
  EXPECT_EQ(rc, 4) << out;
  rc = test::run(inspect_bin(), &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_HAS(out, "no files given");
}

// ---- throughput (run by hand: --gtest_also_run_disabled_tests) -----------------------------

TEST(Shard, DISABLED_Throughput) {
  test::TempDir d("shard");
  std::string p = d / "big.h5";
  const uint64_t n = 1000000, block = 10000;
  const int dim = 64;
  std::vector<ShardBlock> blocks;
  for (uint64_t first = 0; first < 10 * block; first += block) blocks.push_back(make_block(0, first, block, dim, true));
  for (Dtype dt : {Dtype::kF16, Dtype::kF32}) {
    auto t0 = std::chrono::steady_clock::now();
    {
      ShardWriter w(p, make_meta(dim, dt, 0, true), 4096);
      for (uint64_t first = 0; first < n; first += block) {
        ShardBlock& b = blocks[(first / block) % blocks.size()];
        for (uint64_t i = 0; i < block; ++i) b.uid[i] = make_uid(0, first + i);
        w.append(b);
      }
      w.close(0);
    }
    double tw = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ShardReader r(p);
    ShardBlock b;
    auto rate = [&](unsigned cols) {
      auto t = std::chrono::steady_clock::now();
      for (uint64_t first = 0; first < n; first += block) r.read(first, first + block, b, cols);
      return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    double r_all = rate(ShardReader::kAll), r_text = rate(ShardReader::kText | ShardReader::kId),
           r_emb = rate(ShardReader::kUid | ShardReader::kEmbedding);
    auto t1 = std::chrono::steady_clock::now();
    r.validate_deep();
    double tv = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::printf("%s dim %d: write %.0f rows/s (%.1f MB file); read all %.0f rows/s, id+text %.0f rows/s, "
                "uid+embedding %.0f rows/s; validate_deep %.0f rows/s\n",
                dtype_name(dt), dim, n / tw, file_size(p) / 1e6, r_all, r_text, r_emb, n / tv);
  }
}
