// Fletcher-32 as HDF5's built-in "fletcher32" filter defines it, at memory speed.
//
// trawl stores every numeric dataset with HDF5's Fletcher-32 filter (docs/FORMATS.md,
// "Integrity"). HDF5 verifies it on read, but its byte-at-a-time loop runs at ~1 GB/s, a third of
// a page-cached read here; trawl's reader instead fetches each stored chunk with a direct chunk
// read and verifies it with fletcher32() below (vectorised, ~10x faster), so verification costs a
// few percent of the read (bench/bench_checksum.cpp).
//
// The value: the data are n 16-bit big-endian words w_0..w_{n-1} (an odd trailing byte b is the
// word b << 8). s1 = sum w_i, s2 = sum (n - i) w_i, each reduced modulo 65535 into [1, 65535]
// when the words are not all zero (end-around-carry folding never reaches 0 from a positive sum)
// and 0 when they are; the checksum is (s2 << 16) | s1. Stored after the chunk's bytes as a
// little-endian u32 (files of HDF5 1.6.0-1.6.2 hold it byte-reversed; both are accepted).
#pragma once

#include <cstddef>
#include <cstdint>

namespace trawl::io {

uint32_t fletcher32(const void* data, size_t bytes);

/// The same value over data fed in pieces, in order (every piece but the last of even length),
/// so a pass that uses the bytes can verify them tile by tile while each tile is in cache.
class Fletcher32 {
 public:
  explicit Fletcher32(size_t total_bytes);  // the length of all the pieces together
  void update(const void* data, size_t bytes);
  uint32_t value() const;  // once all total_bytes are in
  /// True when the 4 bytes at stored (as HDF5 appends them) are value().
  bool matches(const void* stored) const;

 private:
  size_t total_, done_ = 0;  // in words (an odd trailing byte is one)
  uint64_t s1_ = 0, s2_ = 0;  // modulo 65535
  bool nonzero_ = false;
};

/// True when the 4 bytes at stored (as HDF5 appends them) are the Fletcher-32 of data.
bool fletcher32_matches(const void* data, size_t bytes, const void* stored);

}  // namespace trawl::io
