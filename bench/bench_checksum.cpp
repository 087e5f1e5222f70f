// trawl-libs: trawl_io
// What verifying chunk checksums costs a read (issue "Reliability at cluster scale"): a
// --rows x --dim f16 embedding dataset (shard-like chunks of --chunk-rows rows) written with and
// without Fletcher-32, then read whole in blocks of --block-rows from the page cache:
//   * plain:           no checksum, HDF5's read (the floor);
//   * trawl verified:  Fletcher-32, trawl's direct chunk reads + its vectorised check (the path
//                      every trawl stage takes);
//   * HDF5 filter:     the same file through HDF5's filter pipeline (its own Fletcher-32 check);
// and the rates of the checksum kernels alone over one in-cache 1 MiB buffer: trawl's
// Fletcher-32 and CRC-32C with the SSE4.2 crc32 instruction (one stream), the alternative the
// issue asks to weigh.
//
//   bench_checksum [--rows 2000000] [--dim 64] [--chunk-rows 8192] [--block-rows 65536]
//                  [--reps 5] [--dir DIR]
#include <nmmintrin.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/fs.h"
#include "io/checksum.h"
#include "io/h5.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::arg;
using trawl::bench::best_of;
namespace h5 = trawl::io::h5;

namespace {

__attribute__((target("sse4.2"))) uint32_t crc32c(const uint8_t* p, size_t n) {
  uint64_t c = 0xffffffffu;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    c = _mm_crc32_u64(c, w);
  }
  for (; i < n; ++i) c = _mm_crc32_u8(static_cast<uint32_t>(c), p[i]);
  return static_cast<uint32_t>(c) ^ 0xffffffffu;
}

double read_all(const std::string& path, bool writable, uint64_t block) {
  auto f = h5::File::open(path, writable ? h5::File::kReadWrite : h5::File::kRead);
  auto d = h5::Dataset::open(f, "embedding");
  std::vector<uint16_t> buf(block * d.cols());
  uint64_t sink = 0;
  for (uint64_t r = 0; r < d.rows(); r += block) {
    uint64_t n = std::min(block, d.rows() - r);
    d.read_f16_bits(r, n, buf.data());
    sink += buf[0];
  }
  return static_cast<double>(sink);
}

}  // namespace

int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
      "usage: bench_checksum [--rows 2000000] [--dim 64] [--chunk-rows 8192] [--block-rows 65536]\n"
      "                      [--reps 5] [--dir DIR]\n"
      "What verifying chunk checksums costs a read: an f16 dataset written with and without Fletcher-32,\n"
      "read whole from the page cache (plain, trawl's verified direct reads, HDF5's filter), and the\n"
      "checksum kernels alone over an in-cache 1 MiB buffer.\n"))
    return 0;
  const uint64_t rows = std::stoull(arg(argc, argv, "--rows", "2000000"));
  const uint64_t dim = std::stoull(arg(argc, argv, "--dim", "64"));
  const uint64_t chunk = std::stoull(arg(argc, argv, "--chunk-rows", "8192"));
  const uint64_t block = std::stoull(arg(argc, argv, "--block-rows", "65536"));
  const int reps = std::atoi(arg(argc, argv, "--reps", "5").c_str());
  const std::string dir = arg(argc, argv, "--dir", "/tmp");
  const std::string plain = dir + "/bench_checksum_plain.h5", checked = dir + "/bench_checksum_fletcher.h5";
  {
    std::vector<uint16_t> x(rows * dim);
    uint32_t s = 12345;
    for (auto& v : x) {
      s = s * 1664525u + 1013904223u;
      v = h5::f32_to_f16(static_cast<float>(static_cast<int32_t>(s)) * 1e-9f);
    }
    for (bool ck : {false, true}) {
      auto f = h5::File::create(ck ? checked : plain);
      h5::Dataset::create(f, "embedding", h5::Type::kF16, chunk, dim, 0, ck).write_f16_bits(0, rows, x.data());
      f.close();
    }
  }
  const double gb = static_cast<double>(rows * dim * 2) / 1e9;
  read_all(plain, false, block);  // warm the page cache
  read_all(checked, false, block);
  double t_plain = best_of(reps, [&] { read_all(plain, false, block); });
  double t_trawl = best_of(reps, [&] { read_all(checked, false, block); });
  double t_hdf5 = best_of(reps, [&] { read_all(checked, true, block); });
  std::printf("read %llu x %llu f16 (%.3f GB), chunks of %llu rows, blocks of %llu rows, best of %d\n",
              static_cast<unsigned long long>(rows), static_cast<unsigned long long>(dim), gb,
              static_cast<unsigned long long>(chunk), static_cast<unsigned long long>(block), reps);
  std::printf("  plain (no checksum)        %7.2f GB/s\n", gb / t_plain);
  std::printf("  trawl verified Fletcher-32 %7.2f GB/s  verification costs %+.1f%% of the plain read\n",
              gb / t_trawl, 100.0 * (t_trawl - t_plain) / t_plain);
  std::printf("  HDF5 filter Fletcher-32    %7.2f GB/s  %+.1f%%\n", gb / t_hdf5, 100.0 * (t_hdf5 - t_plain) / t_plain);
  std::vector<uint8_t> buf(1 << 20);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 131 + 7);
  uint32_t sink = 0;
  const int loops = 2000;
  double tf = best_of(3, [&] { for (int i = 0; i < loops; ++i) sink ^= io::fletcher32(buf.data(), buf.size()); });
  double tc = best_of(3, [&] { for (int i = 0; i < loops; ++i) sink ^= crc32c(buf.data(), buf.size()); });
  const double kb = static_cast<double>(buf.size()) * loops / 1e9;
  std::printf("kernels over an in-cache 1 MiB buffer: Fletcher-32 (trawl) %.2f GB/s, CRC-32C (sse4.2, 1 stream) "
              "%.2f GB/s  [%u]\n", kb / tf, kb / tc, sink & 1);
  remove_file(plain);
  remove_file(checked);
  return 0;
}
