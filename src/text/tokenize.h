// Normalisation and tokenisation for social-media text, and hashed token ids.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trawl::text {

/// Unicode NFKC normalisation with case folding (utf8proc). Input must be valid UTF-8.
std::string normalize(std::string_view utf8);

// --- additions (text module) ---
/// normalize() into a caller-owned buffer (no allocation once it has grown). Pure-ASCII
/// text takes a fast path (ASCII lowercasing), which gives exactly what utf8proc gives.
/// Default-ignorable code points (soft hyphen, ZWSP, BOM...) are removed, except ZWJ,
/// variation selectors and tag characters, which emoji sequences need. Invalid UTF-8 is not
/// an error here: invalid bytes become U+FFFD.
void normalize_into(std::string_view utf8, std::string& out);
/// The utf8proc path of normalize() without the ASCII fast path (tests, benchmarks).
std::string normalize_unicode(std::string_view utf8);

/// Splits normalised text into tokens: words (letters/digits, inner apostrophes and hyphens),
/// "<url>" for URLs (http://, https://, www.), "<user>" for @mentions, "<number>" for numbers,
/// "#tag" hashtags kept whole, each emoji (pictographic code point or sequence) as its own
/// token; other punctuation and spaces are dropped.
/// Details: tokens replaces the vector's contents. Words also keep combining marks; U+2019
/// and U+2010 inside a word become ' and -; '.' and ',' continue a word only between digits
/// ("3.14", "1,000", "v1.2"); a word without letters is "<number>" ("2020-2021" too). Han
/// ideographs are one token each (as in BERT's basic tokenizer). @, # and URL starts count
/// only after a non-word character (so "a@b.com" is not a mention). Emoji tokens keep skin
/// tones, ZWJ-joined emoji, keycaps and tag sequences, pair regional indicators into flags,
/// and drop variation selectors (so "\u2764\uFE0F" and "\u2764" are the same token).
void tokenize(std::string_view normalized, std::vector<std::string>& tokens);

/// Hashed ids: unigrams in [0, 2^31), bigrams in [2^31, 2^32).
/// unigram_id(t) = hash_str(t) & 0x7fffffff (core/rng.h, over the token's UTF-8 bytes);
/// bigram_id(a, b) = 0x80000000 | (mix64((uint64_t(a) << 32) | b) & 0x7fffffff).
/// Changing either, or the tokenizer, changes stored token ids: a format change.
uint32_t unigram_id(std::string_view token);
uint32_t bigram_id(uint32_t left_unigram, uint32_t right_unigram);
inline bool is_bigram(uint32_t id) { return id >> 31; }

/// normalize + tokenize + ids: appends the unigram ids in order, then the bigram ids of
/// consecutive unigrams (n unigrams give n-1 bigrams; see docs/FORMATS.md).
/// When scratch is given it is cleared and receives the tokens (in unigram order).
void text_to_ids(std::string_view raw_utf8, std::vector<uint32_t>& out,
                 std::vector<std::string>* scratch = nullptr);

/// text_to_ids over many texts in parallel (OpenMP), as CSR: row i's ids are
/// ids[offsets[i], offsets[i+1]) (offsets has texts.size() + 1 entries, from 0). The first error
/// of any row is rethrown after the parallel region.
void texts_to_ids(const std::vector<std::string>& texts, std::vector<uint64_t>& offsets, std::vector<uint32_t>& ids);

/// Number of unigrams in a row's id list of length n (n = 2u-1, or 0).
inline uint64_t unigram_count(uint64_t n) { return n == 0 ? 0 : (n + 1) / 2; }

}  // namespace trawl::text
