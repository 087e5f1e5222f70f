// trawl-libs: trawl_labels
#include <gtest/gtest.h>

#include "core/error.h"
#include "labels/labels.h"
#include "support/testutil.h"

using namespace trawl;

TEST(Labels, ReadsSortsAndIndexesClasses) {
  test::TempDir d("labels");
  test::write_file(d / "l.tsv", "note\tlabel\tuid\nx\tspam\t7\ny\tham\t3\nz\tspam\t7\n\n");
  auto ls = labels::read_labels_tsv(d / "l.tsv");
  ASSERT_EQ(ls.classes, (std::vector<std::string>{"ham", "spam"}));
  ASSERT_EQ(ls.items.size(), 2u);  // the exact repeat of uid 7 collapses
  EXPECT_EQ(ls.items[0].uid, 3u);
  EXPECT_EQ(ls.items[0].cls, 0);
  EXPECT_EQ(ls.items[1].uid, 7u);
  EXPECT_EQ(ls.items[1].cls, 1);
}

static std::string error_of(const std::string& content, std::vector<std::string> classes = {}) {
  test::TempDir d("labels");
  test::write_file(d / "l.tsv", content);
  try {
    labels::read_labels_tsv(d / "l.tsv", classes);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Labels, BadInputNamesFileLineAndValue) {
  EXPECT_NE(error_of("uid\tlabel\n1\ta\n1\tb\n").find("l.tsv:3: uid 1 is labelled 'b' here and 'a' at line 2"), std::string::npos);
  EXPECT_NE(error_of("uid\tlabel\n-4\ta\n").find("l.tsv:2: uid '-4'"), std::string::npos);
  EXPECT_NE(error_of("uid\tlabel\n12x\ta\n").find("'12x'"), std::string::npos);
  EXPECT_NE(error_of("id\tlabel\n1\ta\n").find("l.tsv:1: the header"), std::string::npos);
  EXPECT_NE(error_of("uid\tlabel\n1\t\n").find("empty label"), std::string::npos);
  EXPECT_NE(error_of("uid\tlabel\n1\ta\textra\n").find("l.tsv:2: expected 2"), std::string::npos);
  EXPECT_NE(error_of("uid\tlabel\n1\tc\n", {"a", "b"}).find("'c' is not one of the classes"), std::string::npos);
  EXPECT_NE(error_of("").find("empty labels file"), std::string::npos);
}
