// BERT-style WordPiece tokenisation for the bring-your-own TorchScript encoder. No LibTorch:
// the tokenizer is its own target (trawl_wordpiece) so it compiles and tests quickly.
//
// Basic tokenisation follows BERT's BasicTokenizer:
//   1. drop NUL, U+FFFD, invalid UTF-8 and control characters (Unicode category C*, except
//      tab/CR/LF which count as whitespace); whitespace (those, space and Zs) separates words;
//   2. CJK ideographs become words of their own;
//   3. lowercase=true: each character is lowercased, NFD-decomposed, and non-spacing marks
//      (Mn) are dropped, so "Café" -> "cafe"; lowercase=false: the text is NFC-composed and
//      otherwise kept as is;
//   4. punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode P*) splits words and
//      becomes a token of its own.
// Each word is then split greedily, longest match first, into vocabulary pieces; pieces after
// the first carry the "##" prefix. A word that cannot be split, or is longer than
// kMaxWordChars code points, becomes [UNK] as a whole.
// Known differences from Python's str.lower(): one-to-one code point lowercasing (no
// final-sigma rule); they only matter for Greek word-final capital sigma.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trawl::embed {

class WordPiece {
 public:
  static constexpr int kMaxWordChars = 100;

  /// Loads vocab.txt: one token per line, id = 0-based line number (a trailing CR and a
  /// leading UTF-8 BOM are removed; a duplicated token maps to its last line, as in
  /// Hugging Face's loader). Throws IoError when the file cannot be read and InputError
  /// (naming the file and token) when [CLS], [SEP], [PAD] or [UNK] is missing.
  static WordPiece load(const std::string& vocab_path, bool lowercase = true);
  /// The same from tokens in id order; `origin` names the source in error messages.
  static WordPiece from_tokens(const std::vector<std::string>& tokens, bool lowercase = true,
                               const std::string& origin = "<vocabulary>");

  /// The word pieces of a text (strings, for inspection and tests), without [CLS]/[SEP].
  std::vector<std::string> tokenize(std::string_view utf8) const;
  /// The basic-tokenised words before the subword split (for inspection and tests).
  std::vector<std::string> basic_tokens(std::string_view utf8) const;

  /// Model input ids: [CLS] pieces... [SEP], at most max_length ids (>= 2): the pieces are
  /// truncated, [SEP] is kept. Replaces the contents of ids.
  void encode(std::string_view utf8, int max_length, std::vector<int64_t>& ids) const;
  std::vector<int64_t> encode(std::string_view utf8, int max_length) const {
    std::vector<int64_t> ids;
    encode(utf8, max_length, ids);
    return ids;
  }

  /// Id of a token, or -1 when it is not in the vocabulary.
  int64_t id(std::string_view token) const;
  const std::string& token(int64_t id) const;
  int64_t size() const;
  bool lowercase() const;
  int64_t cls_id() const;
  int64_t sep_id() const;
  int64_t pad_id() const;
  int64_t unk_id() const;

 private:
  struct Vocab;
  explicit WordPiece(std::shared_ptr<const Vocab> v) : v_(std::move(v)) {}
  // Calls emit(piece_id) for the pieces of the text, stopping once emit returns false.
  template <class Emit>
  void run(std::string_view utf8, Emit&& emit, std::vector<std::string>* words) const;
  std::shared_ptr<const Vocab> v_;  // immutable and shared: copies are cheap and thread-safe
};

}  // namespace trawl::embed
