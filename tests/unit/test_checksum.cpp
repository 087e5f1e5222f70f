// trawl-libs: trawl_io
// Chunk checksums (io/checksum.h, io/h5.h, io/verify.h): trawl's Fletcher-32 against a
// word-by-word reference written here from the definition and against the checksums HDF5's own
// filter stores; reads through trawl's verified direct path equal to the data written, for any
// row range; a changed byte in a stored chunk refused naming the file, dataset and rows; files
// without checksums still read.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "core/error.h"
#include "io/checksum.h"
#include "io/h5.h"
#include "io/verify.h"
#include "support/testutil.h"

using namespace trawl;
using test::error_of;
namespace h5 = trawl::io::h5;

namespace {

// The definition, one 16-bit big-endian word at a time, folded as it goes (end-around carry).
uint32_t reference_fletcher32(const std::vector<uint8_t>& b) {
  uint64_t s1 = 0, s2 = 0;
  size_t n = b.size();
  for (size_t i = 0; i + 1 < n; i += 2) {
    s1 += (uint64_t(b[i]) << 8) | b[i + 1];
    s2 += s1;
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
  }
  if (n & 1) {
    s1 += uint64_t(b[n - 1]) << 8;
    s2 += s1;
  }
  for (int k = 0; k < 3; ++k) {
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
  }
  return static_cast<uint32_t>((s2 << 16) | s1);
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(g());
  return b;
}

// The file offset of chunk `index` of a dataset (HDF5 1.10.5+).
haddr_t chunk_address(const std::string& path, const std::string& name, hsize_t index, hsize_t* size) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hsize_t off[2];
  unsigned mask = 0;
  haddr_t addr = 0;
  EXPECT_GE(H5Dget_chunk_info(d, s, index, off, &mask, &addr, size), 0);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return addr;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good());
  f.seekg(static_cast<std::streamoff>(offset));
  char c;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

}  // namespace

TEST(Fletcher32, MatchesTheDefinitionOnEverySizeAndPattern) {
  std::vector<size_t> sizes = {0, 1, 2, 3, 4, 5, 31, 32, 33, 63, 64, 65, 720, 721, 8191, 8192, 8193, 65537, 131072, 1000003};
  for (size_t n : sizes) {
    auto b = random_bytes(n, static_cast<uint32_t>(n));
    EXPECT_EQ(io::fletcher32(b.data(), b.size()), reference_fletcher32(b)) << n << " random bytes";
    std::vector<uint8_t> z(n, 0), ff(n, 0xff);
    EXPECT_EQ(io::fletcher32(z.data(), n), reference_fletcher32(z)) << n << " zero bytes";
    EXPECT_EQ(io::fletcher32(ff.data(), n), reference_fletcher32(ff)) << n << " 0xff bytes";
  }
  // Sums landing exactly on multiples of 65535 (the 0 / 0xffff representation).
  std::vector<uint8_t> m = {0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff};
  EXPECT_EQ(io::fletcher32(m.data(), m.size()), reference_fletcher32(m));
  // Every single-bit change of a 4 KiB block changes the checksum.
  auto b = random_bytes(4096, 7);
  uint32_t c0 = io::fletcher32(b.data(), b.size());
  for (size_t i = 0; i < b.size(); i += 97) {
    for (int bit = 0; bit < 8; ++bit) {
      b[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_NE(io::fletcher32(b.data(), b.size()), c0) << "byte " << i << " bit " << bit;
      b[i] ^= static_cast<uint8_t>(1 << bit);
    }
  }
}

TEST(Fletcher32, FedInPiecesEqualsTheDefinition) {
  // Pieces of every even length from 2 bytes up, an odd last piece, zero-length pieces, and
  // splits inside and across the kernel's 32-byte steps and 8 KiB runs.
  std::mt19937 g(11);
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(64), size_t(8193), size_t(65536), size_t(262147), size_t(1000003)}) {
    const auto b = random_bytes(n, static_cast<uint32_t>(n) + 5);
    const uint32_t want = reference_fletcher32(b);
    for (size_t piece : {size_t(2), size_t(30), size_t(32), size_t(8190), size_t(8192), size_t(65536), size_t(0)}) {
      io::Fletcher32 f(n);
      size_t at = 0;
      while (at < n) {
        size_t len = piece ? std::min(piece, n - at) : std::min<size_t>(2 * (g() % 5000), n - at);
        f.update(b.data() + at, len);
        at += len;
      }
      EXPECT_EQ(f.value(), want) << n << " bytes in pieces of " << (piece ? std::to_string(piece) : "random") << " bytes";
      uint8_t le[4] = {uint8_t(want), uint8_t(want >> 8), uint8_t(want >> 16), uint8_t(want >> 24)};
      EXPECT_TRUE(f.matches(le));
      le[1] ^= 1;
      EXPECT_FALSE(f.matches(le));
    }
  }
}

TEST(Checksums, AgreeWithHdf5sFilterAndReadBackAnyRange) {
  test::TempDir dir("checksum");
  const std::string path = dir / "c.h5";
  const uint64_t rows = 1003, cols = 5;
  std::vector<float> x(rows * cols);
  std::mt19937 g(3);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(g);
  auto bytes = random_bytes(100001, 11);  // odd length, odd chunk
  {
    auto f = h5::File::create(path);
    h5::Dataset::create(f, "x", h5::Type::kF32, 64, cols).write(0, rows, x.data());
    h5::Dataset::create(f, "h", h5::Type::kF16, 100, cols).write(0, rows, x.data());
    h5::Dataset::create(f, "b", h5::Type::kU8, 4099).write(0, bytes.size(), bytes.data());
    h5::Dataset::create(f, "plain", h5::Type::kF32, 64, cols, 0, false).write(0, rows, x.data());
    f.close();
  }
  auto f = h5::File::open(path);
  auto dx = h5::Dataset::open(f, "x"), dh = h5::Dataset::open(f, "h"), db = h5::Dataset::open(f, "b"),
       dp = h5::Dataset::open(f, "plain");
  EXPECT_TRUE(dx.has_checksum());
  EXPECT_TRUE(dh.has_checksum());
  EXPECT_TRUE(db.has_checksum());
  EXPECT_FALSE(dp.has_checksum());
  // Each stored chunk: HDF5's checksum is the one trawl computes.
  hsize_t nchunks = 0;
  {
    hid_t s = H5Dget_space(db.id());
    H5Dget_num_chunks(db.id(), s, &nchunks);
    H5Sclose(s);
  }
  ASSERT_EQ(nchunks, (bytes.size() + 4098) / 4099);
  for (hsize_t c = 0; c < nchunks; ++c) {
    hsize_t off[1] = {c * 4099}, size = 0;
    ASSERT_GE(H5Dget_chunk_storage_size(db.id(), off, &size), 0);
    ASSERT_EQ(size, 4099u + 4);
    std::vector<uint8_t> raw(size);
    uint32_t mask = 0;
    ASSERT_GE(H5Dread_chunk(db.id(), H5P_DEFAULT, off, &mask, raw.data()), 0);
    EXPECT_EQ(mask, 0u);
    EXPECT_TRUE(io::fletcher32_matches(raw.data(), 4099, raw.data() + 4099)) << "chunk " << c;
  }
  // Random row ranges through the verified path equal what was written.
  std::mt19937 r(5);
  for (int t = 0; t < 300; ++t) {
    uint64_t a = r() % rows, n = 1 + r() % (rows - a);
    std::vector<float> got(n * cols), plain(n * cols), half(n * cols);
    dx.read(a, n, got.data());
    dp.read(a, n, plain.data());
    dh.read(a, n, half.data());
    for (uint64_t i = 0; i < n * cols; ++i) {
      ASSERT_EQ(got[i], x[a * cols + i]) << "rows [" << a << ", " << a + n << ")";
      ASSERT_EQ(plain[i], x[a * cols + i]);
      ASSERT_EQ(half[i], h5::f16_to_f32(h5::f32_to_f16(x[a * cols + i])));
    }
    uint64_t ba = r() % bytes.size(), bn = 1 + r() % std::min<uint64_t>(bytes.size() - ba, 20000);
    std::vector<uint8_t> gb(bn);
    db.read(ba, bn, gb.data());
    ASSERT_TRUE(std::equal(gb.begin(), gb.end(), bytes.begin() + static_cast<long>(ba)));
  }
  auto checks = io::verify_datasets(f);
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_EQ(checks[0].name, "/b");
  EXPECT_EQ(checks[0].bytes, bytes.size());
  EXPECT_FALSE(checks[2].checksummed);  // /plain
}

TEST(Checksums, AChangedByteIsAnErrorNamingFileDatasetAndRows) {
  test::TempDir dir("checksum-bad");
  const std::string path = dir / "c.h5";
  const uint64_t rows = 1000, cols = 8;
  std::vector<float> x(rows * cols);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 977) * 0.5f;
  {
    auto f = h5::File::create(path);
    h5::Dataset::create(f, "x", h5::Type::kF32, 100, cols).write(0, rows, x.data());
    f.close();
  }
  hsize_t size = 0;
  haddr_t addr = chunk_address(path, "/x", 3, &size);  // rows [300, 400)
  ASSERT_EQ(size, 100u * cols * 4 + 4);
  flip_byte(path, addr + 1234);
  std::vector<float> buf(rows * cols);
  {
  auto f = h5::File::open(path);
  auto d = h5::Dataset::open(f, "x");
  // Rows away from the changed chunk still read; any range touching it is refused.
  d.read(0, 300, buf.data());
  d.read(400, 600, buf.data());
  for (auto [a, n] : {std::pair<uint64_t, uint64_t>{0, 1000}, {350, 1}, {250, 100}, {399, 2}}) {
    std::string e = error_of([&, a = a, n = n] { d.read(a, n, buf.data()); });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    EXPECT_NE(e.find("dataset 'x'"), std::string::npos) << e;
    EXPECT_NE(e.find("checksum mismatch in rows [300, 400)"), std::string::npos) << e;
  }
  std::string v = error_of([&] { io::verify_datasets(f); });
  EXPECT_NE(v.find("checksum mismatch in rows [300, 400)"), std::string::npos) << v;
  }
  // The same through HDF5's own filter (a file opened for writing takes HDF5's read path).
  auto w = h5::File::open(path, h5::File::kReadWrite);
  auto dw = h5::Dataset::open(w, "x");
  std::string e = error_of([&] { dw.read(300, 100, buf.data()); });
  EXPECT_NE(e.find("dataset 'x'"), std::string::npos) << e;
  EXPECT_NE(e.find("checksum mismatch in rows [300, 400)"), std::string::npos) << e;
}
