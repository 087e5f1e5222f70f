// trawl-libs: trawl_text
// Normalisation and tokenisation: hand-checked tweet-like strings, the ASCII fast path
// against utf8proc, and the layout of the hashed ids.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "text/tokenize.h"

using namespace trawl;
using namespace trawl::text;

namespace {

std::vector<std::string> toks(const std::string& raw) {
  std::vector<std::string> t;
  tokenize(normalize(raw), t);
  return t;
}

using V = std::vector<std::string>;

}  // namespace

TEST(Normalize, AsciiIsLowercased) {
  EXPECT_EQ(normalize("Hello WORLD 123 !?"), "hello world 123 !?");
  EXPECT_EQ(normalize(""), "");
}

TEST(Normalize, NfkcAndCaseFolding) {
  EXPECT_EQ(normalize("Straße"), "strasse");
  EXPECT_EQ(normalize("STRASSE"), "strasse");
  EXPECT_EQ(normalize("\u1E9E"), "ss");  // capital sharp s
  // Full-width letters and digits, ideographic space.
  EXPECT_EQ(normalize("\uFF28\uFF25\uFF2C\uFF2C\uFF2F\u3000\uFF11\uFF12\uFF13"), "hello 123");
  EXPECT_EQ(normalize("\uFB01ne"), "fine");  // fi ligature
  // Turkish: dotted capital I folds to i + COMBINING DOT ABOVE; dotless i is kept.
  EXPECT_EQ(normalize("\u0130stanbul"), "i\u0307stanbul");
  EXPECT_EQ(normalize("\u0131I"), "\u0131i");
  // Greek final sigma folds to sigma.
  EXPECT_EQ(normalize("\u03A3\u038A\u03A3\u03A5\u03A6\u039F\u03A3"), "\u03C3\u03AF\u03C3\u03C5\u03C6\u03BF\u03C3");
  // Composition: e + COMBINING ACUTE becomes U+00E9.
  EXPECT_EQ(normalize("Cafe\u0301"), "caf\u00E9");
}

TEST(Normalize, IgnorablesRemovedButEmojiJoinersKept) {
  EXPECT_EQ(normalize("in\u00ADcredible"), "incredible");    // soft hyphen
  EXPECT_EQ(normalize("\uFEFFzero\u200Bwidth"), "zerowidth");  // BOM, ZWSP
  std::string family = "\U0001F468\u200D\U0001F469\u200D\U0001F467";
  EXPECT_EQ(normalize(family), family);
  EXPECT_EQ(normalize("\u2764\uFE0F"), "\u2764\uFE0F");
}

TEST(Normalize, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(normalize(std::string("a\xFF\u00E9", 4)), "a\uFFFD\u00E9");
}

TEST(Normalize, AsciiFastPathEqualsUtf8procOnRandomStrings) {
  Rng rng(12345);
  for (int trial = 0; trial < 3000; ++trial) {
    size_t len = rng.below(80);
    std::string s(len, ' ');
    for (auto& c : s) {
      // Mostly printable, sometimes any ASCII byte including controls and NUL.
      c = static_cast<char>(rng.below(4) == 0 ? rng.below(128) : 32 + rng.below(95));
    }
    ASSERT_EQ(normalize(s), normalize_unicode(s)) << "trial " << trial;
  }
}

TEST(Tokenize, TweetWithMentionUrlHashtagEmoji) {
  EXPECT_EQ(toks("RT @Jane_Doe: I don't want to LOSE my job!!! https://t.co/AbC123 #JobSearch \U0001F62D\U0001F62D"),
            (V{"rt", "<user>", "i", "don't", "want", "to", "lose", "my", "job", "<url>", "#jobsearch",
               "\U0001F62D", "\U0001F62D"}));
}

TEST(Tokenize, Urls) {
  EXPECT_EQ(toks("see www.example.com/x?y=1, and HTTP://A.B/c) ok"), (V{"see", "<url>", "and", "<url>", "ok"}));
  EXPECT_EQ(toks("link:https://t.co/x\U0001F525"), (V{"link", "<url>", "\U0001F525"}));
  // "www" alone is a word; a scheme inside a word is not a URL start.
  EXPECT_EQ(toks("www is xhttp://y"), (V{"www", "is", "xhttp", "y"}));
}

TEST(Tokenize, MentionsAndEmails) {
  EXPECT_EQ(toks("@bob_99 hi @ alice"), (V{"<user>", "hi", "alice"}));
  EXPECT_EQ(toks("mail john@example.com"), (V{"mail", "john", "example", "com"}));
}

TEST(Tokenize, Hashtags) {
  EXPECT_EQ(toks("#Covid19 #black_lives_matter ##x # y c#"), (V{"#covid19", "#black_lives_matter", "#x", "y", "c"}));
  EXPECT_EQ(toks("\uFF03\u00C7ok"), (V{"#\u00E7ok"}));  // full-width '#' and a non-ASCII tag
}

TEST(Tokenize, Numbers) {
  EXPECT_EQ(toks("got 1,000 offers at 3.14% in 2024..."), (V{"got", "<number>", "offers", "at", "<number>", "in", "<number>"}));
  EXPECT_EQ(toks("covid19 mp3 2nd v1.2 2020-2021 -5 .5"),
            (V{"covid19", "mp3", "2nd", "v1.2", "<number>", "<number>", "<number>"}));
  EXPECT_EQ(toks("1,a 1.b"), (V{"<number>", "a", "<number>", "b"}));
  EXPECT_EQ(toks("\uFF11\uFF10\uFF10"), (V{"<number>"}));  // full-width digits
}

TEST(Tokenize, ApostrophesAndHyphens) {
  EXPECT_EQ(toks("don\u2019t rock'n'roll students' 'tis e-mail --dash-- a--b well-known"),
            (V{"don't", "rock'n'roll", "students", "tis", "e-mail", "dash", "a", "b", "well-known"}));
}

TEST(Tokenize, Emoji) {
  // Skin tone kept with its base; VS16 dropped; ZWJ sequences whole; flags as pairs.
  EXPECT_EQ(toks("\U0001F44D\U0001F3FD great"), (V{"\U0001F44D\U0001F3FD", "great"}));
  EXPECT_EQ(toks("\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family"),
            (V{"\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466", "family"}));
  EXPECT_EQ(toks("\U0001F3F3\uFE0F\u200D\U0001F308"), (V{"\U0001F3F3\u200D\U0001F308"}));
  EXPECT_EQ(toks("\U0001F469\U0001F3FD\u200D\U0001F4BB!"), (V{"\U0001F469\U0001F3FD\u200D\U0001F4BB"}));
  EXPECT_EQ(toks("\U0001F1FA\U0001F1F8\U0001F1E9\U0001F1EA"), (V{"\U0001F1FA\U0001F1F8", "\U0001F1E9\U0001F1EA"}));
  EXPECT_EQ(toks("\u2764\uFE0F \u2764 \u2764\uFE0F\u200D\U0001F525"), (V{"\u2764", "\u2764", "\u2764\u200D\U0001F525"}));
  EXPECT_EQ(toks("1\uFE0F\u20E3 #\uFE0F\u20E3"), (V{"1\u20E3", "#\u20E3"}));
  EXPECT_EQ(toks("wow\U0001F602\U0001F602lol"), (V{"wow", "\U0001F602", "\U0001F602", "lol"}));
  // A ZWJ not followed by an emoji is not part of the token.
  EXPECT_EQ(toks("\U0001F600\u200D x"), (V{"\U0001F600", "x"}));
}

TEST(Tokenize, PunctuationSymbolsAndOtherScripts) {
  EXPECT_EQ(toks("a.b,c;d (e) [f] \"g\" $h %i ^j"), (V{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}));
  EXPECT_EQ(toks("snake_case"), (V{"snake", "case"}));
  // Han ideographs one per token; kana and Devanagari (with marks) as runs.
  EXPECT_EQ(toks("\u6771\u4EAC\u30BF\u30EF\u30FC"), (V{"\u6771", "\u4EAC", "\u30BF\u30EF\u30FC"}));
  EXPECT_EQ(toks("\u0928\u092E\u0938\u094D\u0924\u0947 \u0926\u0941\u0928\u093F\u092F\u093E"),
            (V{"\u0928\u092E\u0938\u094D\u0924\u0947", "\u0926\u0941\u0928\u093F\u092F\u093E"}));
  EXPECT_EQ(toks("\u0130stanbul"), (V{"i\u0307stanbul"}));
  EXPECT_EQ(toks("   \t\n "), V{});
  EXPECT_EQ(toks(""), V{});
}

TEST(Tokenize, ToleratesInvalidUtf8) {
  std::vector<std::string> t;
  tokenize(std::string("ab\xC3", 3), t);  // truncated sequence at the end
  EXPECT_EQ(t, V{"ab"});
}

TEST(Ids, Layout) {
  // Unigrams: low 31 bits of trawl's stable hash of the token bytes.
  EXPECT_EQ(unigram_id("hello"), static_cast<uint32_t>(hash_str("hello") & 0x7FFFFFFFu));
  EXPECT_EQ(unigram_id("<url>"), static_cast<uint32_t>(hash_str("<url>") & 0x7FFFFFFFu));
  EXPECT_FALSE(is_bigram(unigram_id("hello")));
  uint32_t a = unigram_id("new"), b = unigram_id("york");
  EXPECT_TRUE(is_bigram(bigram_id(a, b)));
  EXPECT_NE(bigram_id(a, b), bigram_id(b, a));
  EXPECT_EQ(bigram_id(a, b), 0x80000000u | static_cast<uint32_t>(mix64((uint64_t(a) << 32) | b) & 0x7FFFFFFFu));

  std::vector<uint32_t> ids = {7};  // appended to, not replaced
  std::vector<std::string> scratch;
  text_to_ids("New York, NEW york!", ids, &scratch);
  EXPECT_EQ(scratch, (V{"new", "york", "new", "york"}));
  uint32_t n = unigram_id("new"), y = unigram_id("york");
  std::vector<uint32_t> want = {7, n, y, n, y, bigram_id(n, y), bigram_id(y, n), bigram_id(n, y)};
  EXPECT_EQ(ids, want);
  EXPECT_EQ(unigram_count(ids.size() - 1), 4u);

  std::vector<uint32_t> one, none;
  text_to_ids("Hello", one);
  EXPECT_EQ(one, std::vector<uint32_t>{unigram_id("hello")});
  text_to_ids("", none);
  text_to_ids(" !!! ", none);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(unigram_count(0), 0u);
  EXPECT_EQ(unigram_count(1), 1u);
}

TEST(Ids, SameInEveryThread) {
  const std::string text = "Caf\u00E9 \U0001F44D\U0001F3FD @x #y https://z 12 ok";
  std::vector<uint32_t> ref;
  text_to_ids(text, ref);
  std::vector<std::vector<uint32_t>> got(4);
  std::vector<std::thread> th;
  for (int t = 0; t < 4; ++t)
    th.emplace_back([&, t] {
      for (int k = 0; k < 200; ++k) {
        got[t].clear();
        text_to_ids(text, got[t]);
      }
    });
  for (auto& t : th) t.join();
  for (auto& g : got) EXPECT_EQ(g, ref);
}
