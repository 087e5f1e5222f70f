#include "strategy/streamable.h"

#include "core/error.h"

namespace trawl::strategy {
namespace {

class Random : public Streamable {
 public:
  explicit Random(const StreamableOptions& o) : b_(o.batch), ctx_(o.ctx) {}
  std::vector<size_t> pick(const ProbRef&, const std::vector<uint64_t>& u) const override { return random(u, b_, ctx_); }
  double score(const float*, int, uint64_t uid) const override { return random_score(uid, ctx_); }

 private:
  size_t b_;
  Context ctx_;
};

class Uncertain : public Streamable {
 public:
  Uncertain(const StreamableOptions& o, Uncertainty kind) : b_(o.batch), kind_(kind) {}
  std::vector<size_t> pick(const ProbRef& P, const std::vector<uint64_t>& u) const override {
    return top_uncertain(P, u, kind_, b_);
  }
  double score(const float* p, int C, uint64_t) const override { return uncertainty(p, C, kind_); }

 private:
  size_t b_;
  Uncertainty kind_;
};

class Threshold : public Streamable {
 public:
  explicit Threshold(const StreamableOptions& o) : o_(o) {}
  std::vector<size_t> candidates(const ProbRef& P, const std::vector<uint64_t>& u) const override {
    if (!o_.split) return pick(P, u);
    // The final split needs up to b items on each side (a short side is made up from the other).
    auto a = top_threshold_side(P, u, o_.cls, o_.threshold, o_.batch, true);
    auto b = top_threshold_side(P, u, o_.cls, o_.threshold, o_.batch, false);
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
  std::vector<size_t> pick(const ProbRef& P, const std::vector<uint64_t>& u) const override {
    return o_.split ? split_around_threshold(P, u, o_.cls, o_.threshold, o_.batch)
                    : top_around_threshold(P, u, o_.cls, o_.threshold, o_.batch);
  }
  double score(const float* p, int C, uint64_t) const override { return around_threshold(p, C, o_.cls, o_.threshold); }

 private:
  StreamableOptions o_;
};

}  // namespace

bool is_streamable(const std::string& n) {
  return n == "random" || n == "least-confidence" || n == "margin" || n == "entropy" || n == "threshold";
}

std::unique_ptr<Streamable> make_streamable(const StreamableOptions& o) {
  if (o.name == "random") return std::make_unique<Random>(o);
  if (o.name == "least-confidence") return std::make_unique<Uncertain>(o, Uncertainty::kLeastConfidence);
  if (o.name == "margin") return std::make_unique<Uncertain>(o, Uncertainty::kMargin);
  if (o.name == "entropy") return std::make_unique<Uncertain>(o, Uncertainty::kEntropy);
  if (o.name == "threshold") return std::make_unique<Threshold>(o);
  throw UsageError(cat("strategy '", o.name, "' does not select from a stream of blocks"));
}

}  // namespace trawl::strategy
