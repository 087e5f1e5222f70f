// trawl-libs: trawl_cli
#include <gtest/gtest.h>

#include "cli/options.h"
#include "core/error.h"
#include "support/testutil.h"

using namespace trawl;

namespace {
struct Args {
  std::vector<std::string> s;
  std::vector<char*> p;
  Args(std::initializer_list<std::string> a) : s(a) {
    for (auto& x : s) p.push_back(x.data());
  }
  int argc() { return int(p.size()); }
  char** argv() { return p.data(); }
};
}  // namespace

TEST(Cli, CommandLineWinsOverConfigAndSectionsAreScoped) {
  test::TempDir d("cli");
  test::write_file(d / "c.ini",
                   "# comment\nthreads = 2\ndim = 64\nother-stage-key = 1\n[embed]\ndim = 128  # inline\n"
                   "[index]\nM = 16\n");
  std::string cfg = d / "c.ini";
  int dim = 0;
  cli::Cli c("trawl-embed", "embed", "test");
  c.optional().add_options()("dim", cli::po::value<int>(&dim)->default_value(256), "d");
  Args a{"prog", "--config", cfg, "--threads", "1"};
  ASSERT_TRUE(c.parse(a.argc(), a.argv()));
  int dim2 = 0;
  cli::Cli c2("trawl-embed", "embed", "test");
  c2.optional().add_options()("dim", cli::po::value<int>(&dim2)->default_value(256), "d");
  Args a2{"prog", "--config", cfg, "--dim", "32"};
  ASSERT_TRUE(c2.parse(a2.argc(), a2.argv()));
  EXPECT_EQ(dim2, 32);  // the command line wins
  EXPECT_EQ(dim, 128);  // the stage's section overrides the top level
  EXPECT_EQ(c.common().threads, 1);
  EXPECT_NE(c.resolved_config().find("dim = 128"), std::string::npos);
}

TEST(Cli, UnknownKeyInOwnSectionNamesFileAndLine) {
  test::TempDir d("cli");
  test::write_file(d / "c.ini", "[embed]\ndimm = 3\n");
  cli::Cli c("trawl-embed", "embed", "test");
  Args a{"prog", "--config", d / "c.ini"};
  try {
    c.parse(a.argc(), a.argv());
    FAIL();
  } catch (const UsageError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("c.ini:2"), std::string::npos) << w;
    EXPECT_NE(w.find("dimm"), std::string::npos) << w;
  }
}

TEST(Cli, BadValueIsAUsageError) {
  int dim = 0;
  cli::Cli c("trawl-embed", "embed", "test");
  c.optional().add_options()("dim", cli::po::value<int>(&dim), "d");
  Args a{"prog", "--dim", "many"};
  EXPECT_THROW(c.parse(a.argc(), a.argv()), UsageError);
  cli::Cli c2("trawl-embed", "embed", "test");
  Args b{"prog", "--threads", "0"};
  EXPECT_THROW(c2.parse(b.argc(), b.argv()), UsageError);
}
