#include "embed_torch/wordpiece.h"

#include <utf8proc.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"

namespace trawl::embed {

struct WordPiece::Vocab {
  std::vector<std::string> tokens;  // id -> token; never modified after the maps are built
  std::unordered_map<std::string_view, int64_t> full;     // every token
  std::unordered_map<std::string_view, int64_t> initial;  // pieces that may start a word
  std::unordered_map<std::string_view, int64_t> cont;     // "##x" pieces, keyed by "x"
  size_t max_initial_bytes = 0, max_cont_bytes = 0;
  bool lowercase = true;
  int64_t cls = -1, sep = -1, pad = -1, unk = -1;
};

namespace {

constexpr std::string_view kCont = "##";

bool is_whitespace(int32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  if (c < 0x80) return false;
  return utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

bool is_control(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // whitespace
  if (c < 0x80) return c < 0x20 || c == 0x7f;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

bool is_punctuation(int32_t c) {
  // BERT counts every non-alphanumeric ASCII symbol ($, +, ^, `...) as punctuation.
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  if (c < 0x80) return false;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// The CJK Unified Ideographs blocks as BERT defines them (not Hangul, Hiragana or Katakana).
bool is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void append_utf8(std::string& s, int32_t c) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(c, buf);
  s.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// Decodes UTF-8, skipping bytes that do not form a valid code point (they become U+FFFD in
// BERT's reading, which is dropped anyway).
void decode(std::string_view s, std::vector<int32_t>& out) {
  out.clear();
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    if (p[i] < 0x80) {
      out.push_back(p[i]);
      ++i;
      continue;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(n - i), &c);
    if (k <= 0) {
      ++i;
      continue;
    }
    out.push_back(c);
    i += static_cast<size_t>(k);
  }
}

// NFC-composes code points (the cased path), in place.
void compose(std::vector<int32_t>& cps) {
  bool ascii = true;
  for (int32_t c : cps) ascii = ascii && c < 0x80;
  if (ascii) return;
  std::string s;
  for (int32_t c : cps) append_utf8(s, c);
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return;  // cannot happen for valid code points; keep the text as is
  decode(std::string_view(reinterpret_cast<const char*>(dst), static_cast<size_t>(n)), cps);
  std::free(dst);
}

struct Scratch {
  std::vector<int32_t> cps;
  std::vector<int32_t> mapped;
  std::string word;              // the current word, UTF-8
  std::vector<uint32_t> bounds;  // byte offset where each code point of word starts
  std::vector<int64_t> pieces;
};

}  // namespace

WordPiece WordPiece::from_tokens(const std::vector<std::string>& tokens, bool lowercase,
                                 const std::string& origin) {
  auto v = std::make_shared<Vocab>();
  v->tokens = tokens;
  v->lowercase = lowercase;
  v->full.reserve(tokens.size());
  for (size_t i = 0; i < v->tokens.size(); ++i) {
    std::string_view t = v->tokens[i];
    int64_t id = static_cast<int64_t>(i);
    v->full[t] = id;  // a duplicate keeps its last line, like Hugging Face's load_vocab
    if (t.size() > kCont.size() && t.substr(0, kCont.size()) == kCont) {
      std::string_view rest = t.substr(kCont.size());
      v->cont[rest] = id;
      v->max_cont_bytes = std::max(v->max_cont_bytes, rest.size());
    } else if (!t.empty()) {
      v->initial[t] = id;
      v->max_initial_bytes = std::max(v->max_initial_bytes, t.size());
    }
  }
  if (v->tokens.empty()) throw InputError(cat(origin, ": empty WordPiece vocabulary (expected one token per line)"));
  std::string missing;
  auto special = [&](const char* name) -> int64_t {
    auto it = v->full.find(name);
    if (it == v->full.end()) {
      missing += missing.empty() ? "" : ", ";
      missing += name;
      return -1;
    }
    return it->second;
  };
  v->cls = special("[CLS]");
  v->sep = special("[SEP]");
  v->pad = special("[PAD]");
  v->unk = special("[UNK]");
  if (!missing.empty())
    throw InputError(cat(origin, ": WordPiece vocabulary of ", v->tokens.size(),
                         " tokens lacks the special token(s) ", missing,
                         " (a BERT vocab.txt needs [CLS], [SEP], [PAD] and [UNK], one per line)"));
  if (v->full.size() != v->tokens.size())
    log::debug(origin, ": ", v->tokens.size() - v->full.size(), " duplicated token(s); the last line wins");
  return WordPiece(std::move(v));
}

WordPiece WordPiece::load(const std::string& vocab_path, bool lowercase) {
  std::ifstream in(vocab_path, std::ios::binary);
  if (!in) throw IoError(cat(vocab_path, ": cannot open the WordPiece vocabulary: ", std::strerror(errno)));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw IoError(cat(vocab_path, ": read error"));
  std::string all = buf.str();
  std::vector<std::string> tokens;
  size_t pos = 0;
  if (all.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    size_t end = nl == std::string::npos ? all.size() : nl;
    size_t e = end;
    if (e > pos && all[e - 1] == '\r') --e;
    tokens.emplace_back(all, pos, e - pos);
    pos = end + 1;
  }
  return from_tokens(tokens, lowercase, vocab_path);
}

template <class Emit>
void WordPiece::run(std::string_view utf8, Emit&& emit, std::vector<std::string>* words) const {
  const Vocab& v = *v_;
  thread_local Scratch s;
  decode(utf8, s.cps);
  if (!v.lowercase) compose(s.cps);
  s.word.clear();
  s.bounds.clear();

  // Splits the current word into pieces and emits them; false when emit asks to stop.
  auto flush = [&]() -> bool {
    if (s.word.empty()) return true;
    if (words) {
      words->push_back(s.word);
      s.word.clear();
      s.bounds.clear();
      return true;
    }
    bool more = true;
    size_t n = s.bounds.size();
    if (n > static_cast<size_t>(kMaxWordChars)) {
      more = emit(v.unk);
    } else {
      s.bounds.push_back(static_cast<uint32_t>(s.word.size()));
      s.pieces.clear();
      size_t start = 0;
      bool bad = false;
      while (start < n) {
        const auto& map = start == 0 ? v.initial : v.cont;
        size_t max_bytes = start == 0 ? v.max_initial_bytes : v.max_cont_bytes;
        size_t end = n;
        while (end > start && s.bounds[end] - s.bounds[start] > max_bytes) --end;
        int64_t found = -1;
        for (; end > start; --end) {
          std::string_view piece(s.word.data() + s.bounds[start], s.bounds[end] - s.bounds[start]);
          auto it = map.find(piece);
          if (it != map.end()) {
            found = it->second;
            break;
          }
        }
        if (found < 0) {
          bad = true;
          break;
        }
        s.pieces.push_back(found);
        start = end;
      }
      if (bad) {
        more = emit(v.unk);
      } else {
        for (int64_t id : s.pieces)
          if (!(more = emit(id))) break;
      }
    }
    s.word.clear();
    s.bounds.clear();
    return more;
  };
  auto push_char = [&](int32_t c) -> bool {
    if (is_punctuation(c)) {
      if (!flush()) return false;
      s.bounds.push_back(0);
      append_utf8(s.word, c);
      return flush();
    }
    s.bounds.push_back(static_cast<uint32_t>(s.word.size()));
    append_utf8(s.word, c);
    return true;
  };
  // lowercase: lower, NFD, drop non-spacing marks; then punctuation splitting.
  auto push_mapped = [&](int32_t c) -> bool {
    if (!v.lowercase) return push_char(c);
    if (c < 0x80) return push_char(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    int32_t lc = utf8proc_tolower(c);
    utf8proc_int32_t buf[16];
    int boundclass = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char(lc, buf, 16, UTF8PROC_DECOMPOSE, &boundclass);
    if (k < 0 || k > 16) {
      buf[0] = lc;
      k = 1;
    }
    for (utf8proc_ssize_t i = 0; i < k; ++i) {
      if (utf8proc_category(buf[i]) == UTF8PROC_CATEGORY_MN) continue;
      if (!push_char(buf[i])) return false;
    }
    return true;
  };

  for (int32_t c : s.cps) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      if (!flush()) return;
      continue;
    }
    if (is_cjk(c)) {
      if (!flush() || !push_mapped(c) || !flush()) return;
      continue;
    }
    if (!push_mapped(c)) return;
  }
  flush();
}

std::vector<std::string> WordPiece::tokenize(std::string_view utf8) const {
  std::vector<std::string> out;
  run(utf8, [&](int64_t id) {
    out.push_back(v_->tokens[static_cast<size_t>(id)]);
    return true;
  }, nullptr);
  return out;
}

std::vector<std::string> WordPiece::basic_tokens(std::string_view utf8) const {
  std::vector<std::string> words;
  run(utf8, [](int64_t) { return true; }, &words);
  return words;
}

void WordPiece::encode(std::string_view utf8, int max_length, std::vector<int64_t>& ids) const {
  if (max_length < 2)
    throw UsageError(cat("max_length ", max_length, ": must be at least 2 (room for [CLS] and [SEP])"));
  ids.clear();
  ids.push_back(v_->cls);
  const size_t limit = static_cast<size_t>(max_length) - 1;  // ids before [SEP]
  if (ids.size() < limit) {
    run(utf8, [&](int64_t id) {
      ids.push_back(id);
      return ids.size() < limit;
    }, nullptr);
  }
  ids.push_back(v_->sep);
}

int64_t WordPiece::id(std::string_view token) const {
  auto it = v_->full.find(token);
  return it == v_->full.end() ? -1 : it->second;
}
const std::string& WordPiece::token(int64_t id) const {
  TRAWL_ASSERT_MSG(id >= 0 && id < size(), "token id ", id, " out of range [0, ", size(), ")");
  return v_->tokens[static_cast<size_t>(id)];
}
int64_t WordPiece::size() const { return static_cast<int64_t>(v_->tokens.size()); }
bool WordPiece::lowercase() const { return v_->lowercase; }
int64_t WordPiece::cls_id() const { return v_->cls; }
int64_t WordPiece::sep_id() const { return v_->sep; }
int64_t WordPiece::pad_id() const { return v_->pad; }
int64_t WordPiece::unk_id() const { return v_->unk; }

}  // namespace trawl::embed
