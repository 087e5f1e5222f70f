// trawl-libs: trawl_wordpiece
// WordPiece against hand-checked tokenisations (BERT's BasicTokenizer + WordpieceTokenizer).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "embed_torch/wordpiece.h"
#include "support/testutil.h"

using namespace trawl;
using embed::WordPiece;
using V = std::vector<std::string>;

namespace {

WordPiece small(bool lowercase = true) {
  return WordPiece::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "want",
                                 "##want", "##ed", "wa", "runn", "##ing", ",", ".", "!", "?", "'",
                                 "hello", "world", "cafe", "naive", "a", "##a", "ab", "##bc", "##c",
                                 "don", "t", "$", "5", "¿", "—", "^", "Ж", "##ж", "Café", "HeLLo"},
                                lowercase, "small-vocab");
}

std::string repeat(const std::string& s, int n) {
  std::string r;
  for (int i = 0; i < n; ++i) r += s;
  return r;
}

}  // namespace

TEST(WordPiece, ClassicSubwordSplit) {
  auto wp = small();
  EXPECT_EQ(wp.tokenize("unaffable"), (V{"un", "##aff", "##able"}));
  // Lowercased, accent stripped, split at the comma, then split into pieces.
  EXPECT_EQ(wp.tokenize("UNwant\xC3\xA9" "d,running"), (V{"un", "##want", "##ed", ",", "runn", "##ing"}));
}

TEST(WordPiece, GreedyLongestMatchFirst) {
  auto wp = small();
  // "ab" is taken before "a", so "abc" is ab ##c, not a ##bc.
  EXPECT_EQ(wp.tokenize("abc"), (V{"ab", "##c"}));
  EXPECT_EQ(wp.tokenize("aaa"), (V{"a", "##a", "##a"}));
}

TEST(WordPiece, WordThatCannotBeSplitIsOneUnk) {
  auto wp = small();
  // "unaffablex": the prefix splits but "x" has no piece -> the whole word is [UNK].
  EXPECT_EQ(wp.tokenize("unaffablex hello"), (V{"[UNK]", "hello"}));
  EXPECT_EQ(wp.tokenize("zzz"), (V{"[UNK]"}));
  EXPECT_EQ(wp.tokenize("b"), (V{"[UNK]"}));  // "##bc" must not match at a word start
}

TEST(WordPiece, WordsLongerThan100CharsAreUnk) {
  auto wp = small();
  std::vector<std::string> hundred(100, "##a");
  hundred[0] = "a";
  EXPECT_EQ(wp.tokenize(repeat("a", 100)), hundred);
  EXPECT_EQ(wp.tokenize(repeat("a", 101)), (V{"[UNK]"}));
  // Characters, not bytes: 60 two-byte letters are fine.
  auto cased = small(false);
  auto t = cased.tokenize("Ж" + repeat("ж", 59));
  ASSERT_EQ(t.size(), 60u);
  EXPECT_EQ(t[0], "Ж");
  EXPECT_EQ(t[59], "##ж");
}

TEST(WordPiece, BasicTokensLowercase) {
  auto wp = small();
  EXPECT_EQ(wp.basic_tokens(" \tHeLLo!how  \n Are yoU?  "), (V{"hello", "!", "how", "are", "you", "?"}));
  EXPECT_EQ(wp.basic_tokens("H\xC3\xA4LLo"), (V{"hallo"}));                     // HäLLo
  EXPECT_EQ(wp.basic_tokens("Caf\xC3\xA9 na\xC3\xAFve"), (V{"cafe", "naive"}));  // Café naïve
  EXPECT_EQ(wp.basic_tokens("Cafe\xCC\x81"), (V{"cafe"}));                       // e + combining acute
  EXPECT_EQ(wp.tokenize("Caf\xC3\xA9 NA\xC3\x8FVE"), (V{"cafe", "naive"}));
}

TEST(WordPiece, BasicTokensCased) {
  auto wp = small(false);
  EXPECT_EQ(wp.basic_tokens(" \tHeLLo!how  \n Are yoU?  "), (V{"HeLLo", "!", "how", "Are", "yoU", "?"}));
  // NFC: e + combining acute becomes é, which is in the vocabulary.
  EXPECT_EQ(wp.basic_tokens("Cafe\xCC\x81"), (V{"Caf\xC3\xA9"}));
  EXPECT_EQ(wp.tokenize("Cafe\xCC\x81"), (V{"Café"}));
  EXPECT_EQ(wp.tokenize("HeLLo hello"), (V{"HeLLo", "hello"}));
  EXPECT_EQ(wp.tokenize("Жж"), (V{"Ж", "##ж"}));
}

TEST(WordPiece, PunctuationIsSplitOff) {
  auto wp = small();
  EXPECT_EQ(wp.tokenize("don't"), (V{"don", "'", "t"}));
  EXPECT_EQ(wp.tokenize("$5!"), (V{"$", "5", "!"}));
  EXPECT_EQ(wp.tokenize("a^a"), (V{"a", "^", "a"}));  // ASCII symbols count as punctuation
  // Unicode punctuation: inverted question mark (Po) and em dash (Pd).
  EXPECT_EQ(wp.tokenize("\xC2\xBFhello\xE2\x80\x94world"), (V{"¿", "hello", "—", "world"}));
  EXPECT_EQ(wp.basic_tokens("...!"), (V{".", ".", ".", "!"}));
}

TEST(WordPiece, CjkIdeographsAreWordsOfTheirOwn) {
  auto wp = small();
  EXPECT_EQ(wp.basic_tokens("ah\xE5\x8D\x9A\xE6\x8E\xA8zz"), (V{"ah", "\xE5\x8D\x9A", "\xE6\x8E\xA8", "zz"}));
  // Hangul is not CJK in BERT's sense; lowercase mode NFD-decomposes it into jamo.
  EXPECT_EQ(wp.basic_tokens("\xED\x95\x9C"), (V{"\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"}));
}

TEST(WordPiece, ControlCharactersAreDroppedWhitespaceSeparates) {
  auto wp = small();
  EXPECT_EQ(wp.basic_tokens("hel\x01lo"), (V{"hello"}));
  EXPECT_EQ(wp.basic_tokens(std::string("hel\0lo", 6)), (V{"hello"}));
  EXPECT_EQ(wp.basic_tokens("hel\xE2\x80\x8Blo"), (V{"hello"}));  // zero-width space (Cf)
  EXPECT_EQ(wp.basic_tokens("hel\xEF\xBF\xBDlo"), (V{"hello"}));  // U+FFFD
  EXPECT_EQ(wp.basic_tokens("ab\xFF" "cd"), (V{"abcd"}));        // invalid UTF-8 byte
  EXPECT_EQ(wp.basic_tokens("hello\xC2\xA0world\r\nx"), (V{"hello", "world", "x"}));  // NBSP (Zs)
  EXPECT_TRUE(wp.basic_tokens(" \t\n ").empty());
}

TEST(WordPiece, EncodeAddsClsSepAndTruncates) {
  auto wp = small();
  const int64_t cls = wp.id("[CLS]"), sep = wp.id("[SEP]");
  EXPECT_EQ(cls, 2);
  EXPECT_EQ(sep, 3);
  EXPECT_EQ(wp.pad_id(), 0);
  EXPECT_EQ(wp.unk_id(), 1);
  const int64_t un = wp.id("un"), aff = wp.id("##aff"), able = wp.id("##able"), hello = wp.id("hello");
  EXPECT_EQ(wp.encode("unaffable hello", 128), (std::vector<int64_t>{cls, un, aff, able, hello, sep}));
  EXPECT_EQ(wp.encode("unaffable hello", 6), (std::vector<int64_t>{cls, un, aff, able, hello, sep}));
  EXPECT_EQ(wp.encode("unaffable hello", 5), (std::vector<int64_t>{cls, un, aff, able, sep}));
  EXPECT_EQ(wp.encode("unaffable hello", 3), (std::vector<int64_t>{cls, un, sep}));
  EXPECT_EQ(wp.encode("unaffable hello", 2), (std::vector<int64_t>{cls, sep}));
  EXPECT_EQ(wp.encode("", 16), (std::vector<int64_t>{cls, sep}));
  EXPECT_EQ(wp.encode("zzz", 16), (std::vector<int64_t>{cls, wp.unk_id(), sep}));
  EXPECT_THROW(wp.encode("hello", 1), UsageError);
  // Reusing the output vector replaces its contents.
  std::vector<int64_t> ids = {7, 7, 7, 7, 7, 7, 7, 7};
  wp.encode("hello", 8, ids);
  EXPECT_EQ(ids, (std::vector<int64_t>{cls, hello, sep}));
}

TEST(WordPiece, LoadsVocabFileWithLineNumbersAsIds) {
  test::TempDir dir("wp");
  // BOM, CRLF line ends, no final newline.
  test::write_file(dir / "vocab.txt", "\xEF\xBB\xBF[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s\r\nworld");
  auto wp = WordPiece::load(dir / "vocab.txt");
  EXPECT_EQ(wp.size(), 7);
  EXPECT_EQ(wp.id("[PAD]"), 0);
  EXPECT_EQ(wp.id("hello"), 4);
  EXPECT_EQ(wp.id("##s"), 5);
  EXPECT_EQ(wp.id("world"), 6);
  EXPECT_EQ(wp.id("nope"), -1);
  EXPECT_EQ(wp.token(6), "world");
  EXPECT_EQ(wp.tokenize("Hellos WORLD"), (V{"hello", "##s", "world"}));
  EXPECT_EQ(wp.encode("hellos", 10), (std::vector<int64_t>{2, 4, 5, 3}));
}

TEST(WordPiece, MissingSpecialTokenNamesFileAndToken) {
  test::TempDir dir("wp");
  test::write_file(dir / "vocab.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n");
  try {
    WordPiece::load(dir / "vocab.txt");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(dir / "vocab.txt"), std::string::npos) << m;
    EXPECT_NE(m.find("special token(s) [CLS] ("), std::string::npos) << m;  // only what is missing
  }
  test::write_file(dir / "empty.txt", "");
  EXPECT_THROW(WordPiece::load(dir / "empty.txt"), InputError);
  EXPECT_THROW(WordPiece::load(dir / "missing.txt"), IoError);
}

TEST(WordPiece, ConcurrentUseGivesTheSameTokens) {
  auto wp = small();
  const std::string text = "UNwant\xC3\xA9" "d,running unaffable Caf\xC3\xA9 don't abc zzz";
  const auto expect = wp.tokenize(text);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      WordPiece copy = wp;  // copies share the immutable vocabulary
      bool same = true;
      for (int i = 0; i < 500; ++i) same = same && copy.tokenize(text) == expect;
      ok[t] = same;
    });
  for (auto& t : ts) t.join();
  for (int v : ok) EXPECT_TRUE(v);
}
