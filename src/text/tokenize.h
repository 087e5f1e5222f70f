// Normalisation and tokenisation for social-media text, and hashed token ids.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trawl::text {

/// Unicode NFKC normalisation with case folding (utf8proc). Input must be valid UTF-8.
std::string normalize(std::string_view utf8);

/// Splits normalised text into tokens: words (letters/digits, inner apostrophes and hyphens),
/// "<url>" for URLs (http://, https://, www.), "<user>" for @mentions, "<number>" for numbers,
/// "#tag" hashtags kept whole, each emoji (pictographic code point or sequence) as its own
/// token; other punctuation and spaces are dropped.
void tokenize(std::string_view normalized, std::vector<std::string>& tokens);

/// Hashed ids: unigrams in [0, 2^31), bigrams in [2^31, 2^32).
uint32_t unigram_id(std::string_view token);
uint32_t bigram_id(uint32_t left_unigram, uint32_t right_unigram);
inline bool is_bigram(uint32_t id) { return id >> 31; }

/// normalize + tokenize + ids: appends the unigram ids in order, then the bigram ids of
/// consecutive unigrams (n unigrams give n-1 bigrams; see docs/FORMATS.md).
void text_to_ids(std::string_view raw_utf8, std::vector<uint32_t>& out,
                 std::vector<std::string>* scratch = nullptr);

/// Number of unigrams in a row's id list of length n (n = 2u-1, or 0).
inline uint64_t unigram_count(uint64_t n) { return n == 0 ? 0 : (n + 1) / 2; }

}  // namespace trawl::text
