// The strategies that select from a stream of scored blocks (random, least-confidence, margin,
// entropy, threshold) behind one interface, chosen once by name: trawl-select asks each block
// for its candidates (a superset of the block's share of the final batch), gathers them over
// files and ranks, then picks the batch among them and reports each pick's score. Pure, like
// strategy.h: no I/O, no MPI.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "strategy/strategy.h"

namespace trawl::strategy {

class Streamable {
 public:
  virtual ~Streamable() = default;
  /// Positions to keep from a block: every item that could be in the final batch.
  virtual std::vector<size_t> candidates(const ProbRef& P, const std::vector<uint64_t>& uids) const {
    return pick(P, uids);
  }
  /// The batch among the gathered candidates, in selection order.
  virtual std::vector<size_t> pick(const ProbRef& P, const std::vector<uint64_t>& uids) const = 0;
  /// The score a pick is reported with (the strategy's ranking quantity).
  virtual double score(const float* p, int C, uint64_t uid) const = 0;
};

struct StreamableOptions {
  std::string name;      // random | least-confidence | margin | entropy | threshold
  size_t batch = 25;
  Context ctx;
  int cls = 0;           // threshold: the class index
  double threshold = 0.5;
  bool split = true;     // threshold: half above, half below (else the nearest on either side)
};

/// True for the names make_streamable knows.
bool is_streamable(const std::string& name);
/// The strategy of that name (UsageError for another name).
std::unique_ptr<Streamable> make_streamable(const StreamableOptions& o);

}  // namespace trawl::strategy
