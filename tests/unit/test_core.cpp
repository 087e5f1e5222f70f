// trawl-libs: trawl_cli
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <ctime>

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

// This host's name as temporary names carry it ('.' and '/' replaced).
static std::string temp_host() {
  char host[256] = {0};
  EXPECT_EQ(::gethostname(host, sizeof host - 1), 0);
  std::string h(host);
  for (char& c : h)
    if (c == '.' || c == '/') c = '_';
  return h;
}

// A pid that no longer runs (a child that exited and was reaped).
static pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  EXPECT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  return child;
}

// Stale temporaries: a dead writer's on this host (gone, a zombie, or its pid reused by a later
// process) and any writer's untouched for a day go; a
// live writer's (this process) and a recent one of unknown origin stay. AtomicOutput sweeps its
// directory on first use.
TEST(Fs, StaleTemporariesAreRemovedLiveOnesKept) {
  test::TempDir d("core");
  const std::string h = temp_host();
  const pid_t child = dead_pid();  // a pid that no longer runs
  pid_t zombie = ::fork();        // killed, not yet reaped: a zombie
  if (zombie == 0) ::_exit(0);
  ASSERT_GT(zombie, 0);
  for (int i = 0; i < 200 && test::read_file(cat("/proc/", zombie, "/stat")).find(") Z ") == std::string::npos; ++i)
    ::usleep(10000);
  const std::string dead = d / cat("a.h5.tmp.", h, ".", child, ".1");
  const std::string dead_zombie = d / cat("f.h5.tmp.", h, ".", zombie, ".6");
  // Our pid, but written two days before this process started: the pid was reused.
  const std::string reused = d / cat("g.h5.tmp.", h, ".", ::getpid(), ".7");
  const std::string live = d / cat("b.h5.tmp.", h, ".", ::getpid(), ".2");
  const std::string old_recent = d / "c.h5.tmp.123.4";          // older format, recent
  const std::string old_stale = d / "d.h5.tmp.otherhost.77.5";  // another host, two days old
  for (auto& p : {dead, live, old_recent, old_stale, dead_zombie, reused}) test::write_file(p, "x");
  struct utimbuf t;
  t.actime = t.modtime = ::time(nullptr) - 2 * 86400;
  ASSERT_EQ(::utime(old_stale.c_str(), &t), 0);
  ASSERT_EQ(::utime(reused.c_str(), &t), 0);
  {
    AtomicOutput o(d / "e.h5");  // first output in this directory: sweeps it
    test::write_file(o.temp_path(), "whole");
    o.commit();
  }
  EXPECT_FALSE(path_exists(dead));
  EXPECT_FALSE(path_exists(dead_zombie));
  EXPECT_FALSE(path_exists(reused));
  ::waitpid(zombie, nullptr, 0);
  EXPECT_TRUE(path_exists(live));
  EXPECT_TRUE(path_exists(old_recent));
  EXPECT_FALSE(path_exists(old_stale));
  EXPECT_EQ(test::read_file(d / "e.h5"), "whole");
  EXPECT_EQ(remove_stale_temporaries(d.path()), 0);  // nothing stale left
  EXPECT_EQ(remove_stale_temporaries(d.path(), 0.0), 1);  // age 0: the recent unknown one too
  EXPECT_TRUE(path_exists(live));
}

// A write probe a killed process left (found by fault.kill_rerun.vocab: a SIGKILL between the
// probe's creation and removal) is swept by the next check of that directory; the check leaves
// nothing of its own.
TEST(Fs, WriteProbeOfAKilledProcessIsSweptByTheNextCheck) {
  test::TempDir d("core");
  const std::string h = temp_host();
  const pid_t child = dead_pid();
  const std::string left = d / cat(".trawl-write-probe.tmp.", h, ".", child, ".0");
  test::write_file(left, "");
  check_writable_dir(d.path());
  EXPECT_FALSE(path_exists(left));
  EXPECT_TRUE(list_files(d.path(), ".trawl", "").empty());
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
