// trawl-libs: trawl_cli
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/tsv.h"
#include "support/testutil.h"

using namespace trawl;

TEST(Rng, KeyedStreamsAreDeterministicAndDistinct) {
  Rng a(key(1, 2, 3)), b(key(1, 2, 3)), c(key(1, 2, 4));
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a();
    EXPECT_EQ(x, b());
    EXPECT_NE(x, c());
  }
}

TEST(Rng, BelowIsUniformEnough) {
  Rng r(7);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100000; ++i) counts[r.below(10)]++;
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(Hash, DependsOnEveryByteAndLength) {
  std::string s = "the quick brown fox jumps over the lazy dog";
  std::set<uint64_t> seen;
  for (size_t n = 0; n <= s.size(); ++n) seen.insert(hash_str(std::string_view(s).substr(0, n)));
  EXPECT_EQ(seen.size(), s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    std::string t = s;
    t[i] ^= 1;
    EXPECT_NE(hash_str(t), hash_str(s)) << i;
  }
  EXPECT_NE(hash_str(s, 1), hash_str(s, 2));
}

TEST(Fs, AtomicOutputRemovesTemporaryUnlessCommitted) {
  test::TempDir d("core");
  std::string fin = d / "out.txt";
  std::string tmp;
  {
    AtomicOutput o(fin);
    tmp = o.temp_path();
    test::write_file(tmp, "partial");
    EXPECT_TRUE(path_exists(tmp));
  }
  EXPECT_FALSE(path_exists(tmp));
  EXPECT_FALSE(path_exists(fin));
  {
    AtomicOutput o(fin);
    test::write_file(o.temp_path(), "whole");
    o.commit();
  }
  EXPECT_EQ(test::read_file(fin), "whole");
}

TEST(Fs, ChecksumMatchesZlibCrcOfKnownString) {
  test::TempDir d("core");
  test::write_file(d / "a", "123456789");
  auto c = checksum_file(d / "a");
  EXPECT_EQ(c.crc32, 0xCBF43926u);  // the CRC-32 check value of "123456789"
  EXPECT_EQ(c.size, 9u);
}

TEST(Fs, UnwritableDirectoryIsAClearError) {
  try {
    check_writable_dir("/proc/trawl-cannot-write-here");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/trawl-cannot-write-here"), std::string::npos);
  }
}

TEST(Progress, HumanUnits) {
  EXPECT_EQ(Progress::human(1234567), "1.23M");
  EXPECT_EQ(Progress::human(999), "999");
  EXPECT_EQ(Progress::human_time(3725), "1h02m");
  EXPECT_EQ(Progress::human_time(75), "1m15s");
  EXPECT_EQ(Progress::human_time(1.5), "1.50s");
}

TEST(Tsv, EscapeUnescapeSplit) {
  const std::string raw = "a\\b\tc\nd\re";
  EXPECT_EQ(trawl::tsv::escape(raw), "a\\\\b\\tc\\nd\\re");
  EXPECT_EQ(trawl::tsv::unescape(trawl::tsv::escape(raw)), raw);
  EXPECT_EQ(trawl::tsv::unescape("x\\qy\\"), "xqy\\");  // unknown escape -> the char; lone trailing backslash kept
  EXPECT_EQ(trawl::tsv::split("a\tb\t"), (std::vector<std::string>{"a", "b", ""}));
  EXPECT_EQ(trawl::tsv::split(""), (std::vector<std::string>{""}));
  EXPECT_EQ(trawl::tsv::split(trawl::tsv::escape("x\ty")).size(), 1u);  // an escaped field never splits
}
