// The hash encoder: hashed unigram/bigram features, optionally idf-weighted, through a
// deterministic random sign projection that is generated on the fly (64 signs per mix64
// call), never stored. See make_hash_encoder in encoder.h for the exact definition.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "embed/encoder.h"
#include "embed/vocab.h"
#include "text/tokenize.h"

namespace trawl::embed {

void TokenIdEncoder::encode(const std::vector<std::string>& texts, const std::vector<uint64_t>& token_offsets,
                            const std::vector<uint32_t>& token_ids, float* out) {
  const size_t n = texts.size();
  if (n == 0) return;
  if (token_offsets.empty()) {  // no token ids given: tokenise here
    std::vector<uint64_t> offs;
    std::vector<uint32_t> ids;
    text::texts_to_ids(texts, offs, ids);
    encode_ids(n, offs, ids, out);
    return;
  }
  encode_ids(n, token_offsets, token_ids, out);
}

namespace {

// Lane k of entry b is -1 when bit k of the byte b is set, else +1: eight projection
// components per table row, so the inner loop is a multiply-add on 8 contiguous floats.
struct SignTable {
  alignas(32) float v[256][8];
  SignTable() {
    for (int b = 0; b < 256; ++b)
      for (int k = 0; k < 8; ++k) v[b][k] = (b >> k) & 1 ? -1.0f : 1.0f;
  }
};
const SignTable kSigns;

// acc[0, 64 * words) += w * r_f, where word b of r_f's sign bits is mix64(base + b).
// Multiplying by ±1 is exact, so vector widths and fused multiply-adds give identical sums;
// the per-lane order of additions is fixed, so the result does not depend on the ISA clone.
__attribute__((target_clones("avx2", "default")))
void add_projection(float* __restrict acc, int words, uint64_t base, float w) {
  for (int b = 0; b < words; ++b) {
    uint64_t bits = mix64(base + static_cast<uint64_t>(b));
    float* a = acc + 64 * b;
    for (int byte = 0; byte < 8; ++byte) {
      const float* s = kSigns.v[(bits >> (8 * byte)) & 0xff];
      float* ab = a + 8 * byte;
      for (int k = 0; k < 8; ++k) ab[k] += w * s[k];
    }
  }
}

// id -> idf weight, open addressing: one probe sequence per lookup instead of a binary search
// over the whole vocabulary.
class IdfTable {
 public:
  IdfTable() = default;
  explicit IdfTable(const Vocab& v) {
    missing_ = static_cast<float>(std::log(1.0 + double(v.n_docs)) + 1.0);  // df = 0
    empty_key_val_ = missing_;
    size_t cap = 16;
    shift_ = 60;
    while (cap < v.size() * 2) cap <<= 1, --shift_;
    mask_ = cap - 1;
    slots_.assign(cap, Slot{kEmptyKey, 0.0f});
    for (size_t i = 0; i < v.size(); ++i) {
      float w = static_cast<float>(std::log((1.0 + double(v.n_docs)) / (1.0 + double(v.df[i]))) + 1.0);
      uint32_t id = v.id[i];
      if (id == kEmptyKey) {
        has_empty_key_ = true;
        empty_key_val_ = w;
        continue;
      }
      size_t h = slot(id);
      while (slots_[h].key != kEmptyKey) h = (h + 1) & mask_;
      slots_[h] = Slot{id, w};
    }
  }
  void prefetch(uint32_t id) const { __builtin_prefetch(&slots_[slot(id)]); }
  float operator()(uint32_t id) const {
    if (id == kEmptyKey) return has_empty_key_ ? empty_key_val_ : missing_;
    size_t h = slot(id);
    for (;;) {
      uint32_t k = slots_[h].key;
      if (k == id) return slots_[h].val;
      if (k == kEmptyKey) return missing_;
      h = (h + 1) & mask_;
    }
  }

 private:
  static constexpr uint32_t kEmptyKey = 0xffffffffu;
  // Fibonacci hashing: the top bits of the product.
  size_t slot(uint32_t id) const { return static_cast<size_t>((uint64_t(id) * 0x9e3779b97f4a7c15ULL) >> shift_); }
  struct Slot {
    uint32_t key;
    float val;
  };
  std::vector<Slot> slots_;  // key and weight side by side: one cache line per probe
  size_t mask_ = 0;
  int shift_ = 60;
  float missing_ = 1.0f;
  bool has_empty_key_ = false;
  float empty_key_val_ = 1.0f;
};

// Shortest decimal that reads back as the same double: the canonical spelling in params().
std::string canonical_double(double x) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

class HashEncoder final : public TokenIdEncoder {
 public:
  HashEncoder(const HashEncoderOptions& o, std::shared_ptr<const Vocab> vocab)
      : o_(o), vocab_(std::move(vocab)) {
    if (o_.dim < 1) throw UsageError(cat("hash encoder: dim ", o_.dim, " must be at least 1"));
    if (!(o_.bigram_weight >= 0) || !std::isfinite(o_.bigram_weight))
      throw UsageError(cat("hash encoder: bigram weight ", o_.bigram_weight,
                           " must be a finite number >= 0"));
    words_ = (o_.dim + 63) / 64;
    if (vocab_) idf_ = IdfTable(*vocab_);
    params_ = cat("dim=", o_.dim, ";seed=", o_.seed, ";bigram_weight=", canonical_double(o_.bigram_weight),
                  ";idf=", vocab_ ? vocab_->checksum() : std::string("none"));
  }

  std::string name() const override { return "hash"; }
  std::string params() const override { return params_; }
  int dim() const override { return o_.dim; }

 private:
  void encode_ids(size_t n, const std::vector<uint64_t>& offs, const std::vector<uint32_t>& ids,
                  float* out) const override {
    TRAWL_ASSERT_MSG(offs.size() == n + 1, "hash encoder: ", offs.size(), " token offsets for ", n,
                     " rows (expected n + 1)");
    TRAWL_ASSERT_MSG(offs.back() <= ids.size(), "hash encoder: last token offset ", offs.back(),
                     " past the ", ids.size(), " token ids");
    const int dim = o_.dim;
    const int padded = 64 * words_;
    const float bigram_w = static_cast<float>(o_.bigram_weight);
#pragma omp parallel
    {
      std::vector<float> acc_buf(padded + 16);
      // 64-byte aligned accumulator inside the buffer.
      float* acc = acc_buf.data();
      while (reinterpret_cast<uintptr_t>(acc) % 64) ++acc;
      std::vector<uint32_t> feats, uniq;
      std::vector<float> weights;
      // Rows are independent and each is computed by one thread in a fixed order, so the
      // output does not depend on the number of threads or the schedule.
#pragma omp for schedule(dynamic, 256)
      for (long long r = 0; r < static_cast<long long>(n); ++r) {
        uint64_t b = offs[r], e = offs[r + 1];
        TRAWL_ASSERT_MSG(b <= e, "hash encoder: token offsets decrease at row ", r);
        float* o = out + static_cast<size_t>(r) * dim;
        if (b == e) {
          std::fill(o, o + dim, 0.0f);
          continue;
        }
        feats.assign(ids.begin() + b, ids.begin() + e);
        std::sort(feats.begin(), feats.end());
        // Distinct ids with their weights; the idf lookups are prefetched first so their cache
        // misses overlap.
        uniq.clear();
        weights.clear();
        for (size_t i = 0; i < feats.size();) {
          uint32_t f = feats[i];
          size_t j = i + 1;
          while (j < feats.size() && feats[j] == f) ++j;
          float w = static_cast<float>(j - i);
          if (text::is_bigram(f)) w *= bigram_w;
          uniq.push_back(f);
          weights.push_back(w);
          i = j;
        }
        if (vocab_) {
          for (uint32_t f : uniq) idf_.prefetch(f);
          for (size_t i = 0; i < uniq.size(); ++i) weights[i] *= idf_(uniq[i]);
        }
        std::fill(acc, acc + padded, 0.0f);
        bool any = false;
        for (size_t i = 0; i < uniq.size(); ++i) {
          if (weights[i] == 0.0f) continue;
          any = true;
          add_projection(acc, words_, key(o_.seed, uniq[i]), weights[i]);
        }
        double ss = 0;
        if (any)
          for (int k = 0; k < dim; ++k) ss += double(acc[k]) * double(acc[k]);
        if (ss > 0) {
          double inv = 1.0 / std::sqrt(ss);
          for (int k = 0; k < dim; ++k) o[k] = static_cast<float>(double(acc[k]) * inv);
        } else {
          std::fill(o, o + dim, 0.0f);
        }
      }
    }
  }

  HashEncoderOptions o_;
  std::shared_ptr<const Vocab> vocab_;
  IdfTable idf_;
  int words_ = 4;
  std::string params_;
};

}  // namespace

std::unique_ptr<Encoder> make_hash_encoder(const HashEncoderOptions& o, std::shared_ptr<const Vocab> idf) {
  return std::make_unique<HashEncoder>(o, std::move(idf));
}

std::unique_ptr<Encoder> make_hash_encoder(const HashEncoderOptions& o) {
  std::shared_ptr<const Vocab> v;
  if (!o.idf_path.empty()) v = std::make_shared<const Vocab>(read_vocab(o.idf_path));
  return make_hash_encoder(o, std::move(v));
}

}  // namespace trawl::embed
