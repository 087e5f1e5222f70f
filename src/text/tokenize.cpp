// Normalisation (utf8proc NFKC + case folding, with an ASCII fast path) and a single-pass
// tokenizer for social-media text. Tokens are emitted as views (of the normalised text, or
// of a small scratch string when a token is rewritten), so text_to_ids hashes them without
// building strings.
#include "text/tokenize.h"

#include <utf8proc.h>

#include <cstdlib>
#include <exception>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"
#include "text/utf8.h"

namespace trawl::text {

namespace {

constexpr utf8proc_option_t kNfkcCasefold = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);

// ---- normalisation -------------------------------------------------------------------------

bool keep_ignorable(uint32_t cp) {
  return cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0020 && cp <= 0xE007F);
}

void normalize_unicode_into(std::string_view s, std::string& out) {
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &dst, kNfkcCasefold);
  if (n < 0) {
    std::free(dst);
    dst = nullptr;
    std::string clean = utf8::sanitize(s);
    n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(clean.data()),
                     static_cast<utf8proc_ssize_t>(clean.size()), &dst, kNfkcCasefold);
    if (n < 0) {
      std::free(dst);
      throw InputError(cat("cannot normalise text: ", utf8proc_errmsg(n)));
    }
  }
  const char* d = reinterpret_cast<const char*>(dst);
  size_t len = static_cast<size_t>(n);
  out.clear();
  out.reserve(len);
  // Drop default-ignorable code points (what UTF8PROC_IGNORE does) but keep the joiners and
  // selectors of emoji sequences.
  size_t i = 0, copied = 0;
  while (i < len) {
    if (static_cast<unsigned char>(d[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t at = i;
    uint32_t cp = utf8::decode(d, i);
    if (utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->ignorable && !keep_ignorable(cp)) {
      out.append(d + copied, at - copied);
      copied = i;
    }
  }
  out.append(d + copied, len - copied);
  std::free(dst);
}

// ---- character classes -----------------------------------------------------------------------

enum Cls : uint8_t { kOther, kSpace, kLetter, kDigit, kMark, kUnderscore, kHan, kEmoji, kZwj };

struct AsciiTable {
  Cls c[128];
  constexpr AsciiTable() : c() {
    for (int i = 0; i < 128; ++i) c[i] = kOther;
    for (int i = 'a'; i <= 'z'; ++i) c[i] = kLetter;
    for (int i = 'A'; i <= 'Z'; ++i) c[i] = kLetter;
    for (int i = '0'; i <= '9'; ++i) c[i] = kDigit;
    c[static_cast<int>(' ')] = kSpace;
    for (int i = '\t'; i <= '\r'; ++i) c[i] = kSpace;
    c[static_cast<int>('_')] = kUnderscore;
  }
};
constexpr AsciiTable kAscii;

/// Extended_Pictographic, approximated by blocks and the common singletons.
inline bool is_emoji(uint32_t c) {
  if (c >= 0x1F000 && c <= 0x1FAFF) return true;  // mahjong..symbols & pictographs ext-A
  if (c >= 0x2600 && c <= 0x27BF) return true;    // misc symbols, dingbats
  if (c < 0x2000) return c == 0xA9 || c == 0xAE;
  switch (c) {
    case 0x203C: case 0x2049: case 0x2122: case 0x2139: case 0x231A: case 0x231B: case 0x2328:
    case 0x23CF: case 0x24C2: case 0x25B6: case 0x25C0: case 0x2934: case 0x2935: case 0x2B50:
    case 0x2B55: case 0x3030: case 0x303D: case 0x3297: case 0x3299:
      return true;
    default: break;
  }
  return (c >= 0x2194 && c <= 0x2199) || (c >= 0x21A9 && c <= 0x21AA) || (c >= 0x23E9 && c <= 0x23F3) ||
         (c >= 0x23F8 && c <= 0x23FA) || (c >= 0x25AA && c <= 0x25AB) || (c >= 0x25FB && c <= 0x25FE) ||
         (c >= 0x2B05 && c <= 0x2B07) || (c >= 0x2B1B && c <= 0x2B1C);
}

inline bool is_han(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x20000 && c <= 0x3134F);
}

inline bool is_regional_indicator(uint32_t c) { return c >= 0x1F1E6 && c <= 0x1F1FF; }
inline bool is_skin_tone(uint32_t c) { return c >= 0x1F3FB && c <= 0x1F3FF; }

Cls classify(uint32_t cp) {
  if (cp < 128) return kAscii.c[cp];
  if (is_emoji(cp)) return kEmoji;
  if (cp == 0x200D) return kZwj;
  if (is_han(cp)) return kHan;
  if (cp >= 0xFE00 && cp <= 0xFE0F) return kOther;  // variation selectors: never part of a word
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return kLetter;
    case UTF8PROC_CATEGORY_ND:
      return kDigit;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return kMark;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return kSpace;
    case UTF8PROC_CATEGORY_PC:
      return kUnderscore;  // connector punctuation (e.g. full-width low line after NFKC is '_')
    default:
      return cp == 0x85 ? kSpace : kOther;
  }
}

/// Decodes the code point at s[i] and advances i; an invalid or truncated sequence yields
/// U+FFFD and advances one byte (tokenize() may be given unnormalised input).
inline uint32_t next_cp(const char* s, size_t n, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || i + len > n || utf8::find_invalid(s + i, len) != utf8::kValid) {
    ++i;
    return 0xFFFD;
  }
  return utf8::decode(s, i);
}

inline uint32_t peek_cp(const char* s, size_t n, size_t i) { return i < n ? next_cp(s, n, i) : 0; }

inline bool word_char(Cls c) { return c == kLetter || c == kDigit; }
inline bool tag_char(Cls c) { return c == kLetter || c == kDigit || c == kUnderscore || c == kHan || c == kMark; }

// ---- the scanner ----------------------------------------------------------------------------

class Scanner {
 public:
  Scanner(std::string_view s, std::string& tmp) : d_(s.data()), n_(s.size()), tmp_(tmp) {}

  template <class Emit>
  void run(Emit&& emit) {
    size_t i = 0;
    bool prev_word = false;  // the previous code point is a word character (for @ # URL)
    while (i < n_) {
      size_t start = i;
      uint32_t cp = next_cp(d_, n_, i);
      Cls c = classify(cp);
      if (cp < 0x80) {
        char ch = static_cast<char>(cp);
        if ((c == kDigit || ch == '#' || ch == '*')) {
          size_t k = keycap_end(i);
          if (k) {
            tmp_.assign(1, ch);
            tmp_.append("\xE2\x83\xA3");  // U+20E3 (the variation selector is dropped)
            emit(std::string_view(tmp_));
            i = k;
            prev_word = false;
            continue;
          }
        }
        if (c == kLetter && !prev_word && (ch == 'h' || ch == 'w')) {
          size_t k = url_end(start);
          if (k) {
            emit(std::string_view("<url>"));
            i = k;
            prev_word = false;
            continue;
          }
        }
        if (ch == '@' && !prev_word && i < n_ && starts_tag(i)) {
          i = tag_end(i);
          emit(std::string_view("<user>"));
          prev_word = true;
          continue;
        }
        if (ch == '#' && !prev_word && i < n_ && starts_tag(i)) {
          i = tag_end(i);
          emit(std::string_view(d_ + start, i - start));
          prev_word = true;
          continue;
        }
      }
      switch (c) {
        case kLetter:
        case kDigit:
          i = word(start, emit);
          prev_word = true;
          break;
        case kHan:
          emit(std::string_view(d_ + start, i - start));
          prev_word = true;
          break;
        case kEmoji:
          i = emoji(start, cp, i);
          emit(std::string_view(tmp_));
          prev_word = false;
          break;
        case kUnderscore:
          prev_word = true;
          break;
        default:
          prev_word = false;
      }
    }
  }

 private:
  Cls cls_at(size_t i) const { return i < n_ ? classify(peek_cp(d_, n_, i)) : kSpace; }
  bool starts_tag(size_t i) const {
    Cls c = cls_at(i);
    return c == kLetter || c == kDigit || c == kUnderscore || c == kHan;
  }
  size_t tag_end(size_t i) const {
    while (i < n_) {
      size_t j = i;
      if (!tag_char(classify(next_cp(d_, n_, j)))) break;
      i = j;
    }
    return i;
  }

  /// After a keycap base at i-1: optional U+FE0F then U+20E3; returns the end or 0.
  size_t keycap_end(size_t i) const {
    if (i + 3 <= n_ && std::memcmp(d_ + i, "\xEF\xB8\x8F", 3) == 0) i += 3;
    if (i + 3 <= n_ && std::memcmp(d_ + i, "\xE2\x83\xA3", 3) == 0) return i + 3;
    return 0;
  }

  bool has_prefix(size_t i, const char* p, size_t len) const {
    return i + len <= n_ && std::memcmp(d_ + i, p, len) == 0;
  }

  /// A URL starting at i ("http://", "https://", "www." + a word character): its end (the
  /// next whitespace or emoji), or 0.
  size_t url_end(size_t i) const {
    size_t j;
    if (has_prefix(i, "http://", 7)) j = i + 7;
    else if (has_prefix(i, "https://", 8)) j = i + 8;
    else if (has_prefix(i, "www.", 4) && word_char(cls_at(i + 4))) j = i + 4;
    else return 0;
    while (j < n_) {
      size_t k = j;
      Cls c = classify(next_cp(d_, n_, k));
      if (c == kSpace || c == kEmoji) break;
      j = k;
    }
    return j;
  }

  /// A word from start: letters, digits and marks, with inner apostrophes and hyphens (between
  /// word characters) and inner '.' ',' between digits. Emits the word, or "<number>" when it
  /// has no letter. Returns its end.
  template <class Emit>
  size_t word(size_t start, Emit&& emit) {
    size_t j = start;
    bool has_letter = false, last_digit = false, rewrite = false;
    while (j < n_) {
      size_t at = j;
      uint32_t cp = next_cp(d_, n_, j);
      Cls c = classify(cp);
      if (c == kLetter) {
        has_letter = true;
        last_digit = false;
        continue;
      }
      if (c == kDigit) {
        last_digit = true;
        continue;
      }
      if (c == kMark || c == kZwj) {
        if (c == kZwj && !word_char(cls_at(j))) {
          j = at;
          break;
        }
        continue;
      }
      bool apostrophe = cp == '\'' || cp == 0x2019;
      bool hyphen = cp == '-' || cp == 0x2010;
      if (apostrophe || hyphen) {
        if (word_char(cls_at(j))) {
          if (cp > 0x7F) rewrite = true;
          continue;
        }
      } else if ((cp == '.' || cp == ',') && last_digit && cls_at(j) == kDigit) {
        continue;
      }
      j = at;
      break;
    }
    if (!has_letter) {
      emit(std::string_view("<number>"));
    } else if (!rewrite) {
      emit(std::string_view(d_ + start, j - start));
    } else {
      // Typographic apostrophe and hyphen become their ASCII forms.
      tmp_.clear();
      size_t k = start;
      while (k < j) {
        size_t at = k;
        uint32_t cp = next_cp(d_, n_, k);
        if (cp == 0x2019) tmp_.push_back('\'');
        else if (cp == 0x2010) tmp_.push_back('-');
        else tmp_.append(d_ + at, k - at);
      }
      emit(std::string_view(tmp_));
    }
    return j;
  }

  /// An emoji and what belongs to it (a regional-indicator pair, skin tones, keycap, tags,
  /// ZWJ-joined emoji) into tmp_; variation selectors are dropped. Returns its end.
  size_t emoji(size_t start, uint32_t first, size_t i) {
    tmp_.assign(d_ + start, i - start);
    if (is_regional_indicator(first)) {
      size_t k = i;
      if (i < n_ && is_regional_indicator(next_cp(d_, n_, k))) {
        tmp_.append(d_ + i, k - i);
        i = k;
      }
      return i;
    }
    while (i < n_) {
      size_t at = i;
      uint32_t cp = next_cp(d_, n_, i);
      if (cp == 0xFE0F || cp == 0xFE0E) continue;
      if (is_skin_tone(cp) || (cp >= 0xE0020 && cp <= 0xE007F) || cp == 0x20E3) {
        tmp_.append(d_ + at, i - at);
        continue;
      }
      if (cp == 0x200D && i < n_) {
        size_t k = i;
        uint32_t nx = next_cp(d_, n_, k);
        if (is_emoji(nx) && !is_regional_indicator(nx)) {
          tmp_.append(d_ + at, k - at);
          i = k;
          continue;
        }
      }
      i = at;
      break;
    }
    return i;
  }

  const char* d_;
  size_t n_;
  std::string& tmp_;
};

}  // namespace

void normalize_into(std::string_view s, std::string& out) {
  if (utf8::is_ascii(s.data(), s.size())) {
    out.resize(s.size());
    char* o = &out[0];
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      o[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    return;
  }
  normalize_unicode_into(s, out);
}

std::string normalize(std::string_view s) {
  std::string out;
  normalize_into(s, out);
  return out;
}

std::string normalize_unicode(std::string_view s) {
  std::string out;
  normalize_unicode_into(s, out);
  return out;
}

void tokenize(std::string_view normalized, std::vector<std::string>& tokens) {
  tokens.clear();
  std::string tmp;
  Scanner(normalized, tmp).run([&](std::string_view t) { tokens.emplace_back(t); });
}

uint32_t unigram_id(std::string_view token) {
  return static_cast<uint32_t>(hash_str(token)) & 0x7FFFFFFFu;
}

uint32_t bigram_id(uint32_t left, uint32_t right) {
  uint64_t h = mix64((static_cast<uint64_t>(left) << 32) | right);
  return 0x80000000u | (static_cast<uint32_t>(h) & 0x7FFFFFFFu);
}

void text_to_ids(std::string_view raw, std::vector<uint32_t>& out, std::vector<std::string>* scratch) {
  thread_local std::string norm, tmp;
  normalize_into(raw, norm);
  const size_t first = out.size();
  if (scratch) {
    scratch->clear();
    Scanner(norm, tmp).run([&](std::string_view t) {
      out.push_back(unigram_id(t));
      scratch->emplace_back(t);
    });
  } else {
    Scanner(norm, tmp).run([&](std::string_view t) { out.push_back(unigram_id(t)); });
  }
  const size_t last = out.size();
  if (last - first < 2) return;
  out.reserve(last + (last - first - 1));
  for (size_t k = first; k + 1 < last; ++k) out.push_back(bigram_id(out[k], out[k + 1]));
}

void texts_to_ids(const std::vector<std::string>& texts, std::vector<uint64_t>& offsets, std::vector<uint32_t>& ids) {
  const size_t n = texts.size();
  std::vector<std::vector<uint32_t>> per_row(n);
  std::exception_ptr err;
#pragma omp parallel
  {
    std::vector<std::string> scratch;
#pragma omp for schedule(dynamic, 64)
    for (long long i = 0; i < static_cast<long long>(n); ++i) {
      try {
        text_to_ids(texts[size_t(i)], per_row[size_t(i)], &scratch);
      } catch (...) {
#pragma omp critical(trawl_texts_to_ids_error)
        if (!err) err = std::current_exception();
      }
    }
  }
  if (err) std::rethrow_exception(err);
  offsets.assign(n + 1, 0);
  ids.clear();
  for (size_t i = 0; i < n; ++i) {
    ids.insert(ids.end(), per_row[i].begin(), per_row[i].end());
    offsets[i + 1] = ids.size();
  }
}

}  // namespace trawl::text
