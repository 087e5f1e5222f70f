// Faults put into a shard on purpose, for the tests of what reading it must then report.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "io/h5.h"

namespace trawl::test {

/// Flips one bit of byte `at` of the stored embedding chunk `chunk` of a shard (its checksum
/// then fails).
inline void flip_embedding_byte(const std::string& path, uint64_t chunk, uint64_t at) {
  uint64_t off = 0, bytes = 0;
  {
    auto f = io::h5::File::open(path);
    ASSERT_TRUE(io::h5::Dataset::open(f, "embedding").chunk_extent(chunk, &off, &bytes));
  }
  FILE* fp = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(fp, nullptr);
  std::fseek(fp, long(off + at), SEEK_SET);
  const int c = std::fgetc(fp);
  std::fseek(fp, long(off + at), SEEK_SET);
  std::fputc(c ^ 0x20, fp);
  std::fclose(fp);
}

}  // namespace trawl::test
