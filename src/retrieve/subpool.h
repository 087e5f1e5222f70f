// The subpool: AnchorAL's candidate scoring and top-M cut (reference/anchoral.md §2.5), and
// the hashed uniform samples of the RandSub and random baselines (§3, §10), chosen the same
// whatever the number of ranks, shards or blocks.
#pragma once
#include <cstdint>
#include <set>
#include <vector>

#include "retrieve/topk.h"

namespace trawl::mpi {
class Comm;
}

namespace trawl::retrieve {

struct Candidate {
  uint64_t uid;
  double score;  // 1 − mean cosine distance over the anchors whose top K holds the uid
  int count;     // number of such anchors
};

/// Every uid found by some anchor, with its score and count, ordered by uid ascending.
/// The mean is plain and unweighted, over all anchors of all classes (the reference's). The
/// distances are summed in double in anchor order.
std::vector<Candidate> score_candidates(const AnchorLists& lists);

/// The M best candidates ordered by (score desc, uid asc); all of them when fewer than M.
std::vector<Candidate> top_m(std::vector<Candidate> candidates, size_t M);

// ---------------------------------------------------------------------------------------------
// Hashed uniform samples. Each uid gets the priority h = mix64(key(seed, round, stream, uid));
// the sample is the n uids with the smallest (h, uid) — a uniform sample without replacement
// that depends only on (seed, round, stream) and the set of eligible uids. Each rank keeps the
// n smallest of its own uids, then reduce_smallest_priorities keeps the n smallest overall.
// The stream separates the baselines so that the random-b batch is not a prefix of RandSub.

enum class SampleStream : uint64_t { kRandSub = 1, kRandom = 2 };

struct Prioritised {
  uint64_t priority;
  uint64_t uid;
};
inline bool operator<(const Prioritised& a, const Prioritised& b) {
  return a.priority < b.priority || (a.priority == b.priority && a.uid < b.uid);
}
inline bool operator==(const Prioritised& a, const Prioritised& b) {
  return a.priority == b.priority && a.uid == b.uid;
}

uint64_t sample_priority(uint64_t seed, uint64_t round, SampleStream stream, uint64_t uid);

/// Streaming local selection: feed uid blocks, read the n smallest priorities (sorted).
/// Uids in `excluded` (sorted ascending; referenced, may be null) are skipped. Feeding the
/// same uid twice keeps it once.
class HashSampler {
 public:
  HashSampler(size_t n, uint64_t seed, uint64_t round, SampleStream stream,
              const std::vector<uint64_t>* excluded = nullptr);
  void add(const uint64_t* uids, size_t count);
  void add(const std::vector<uint64_t>& uids) { add(uids.data(), uids.size()); }
  std::vector<Prioritised> sorted() const;
  size_t n() const { return n_; }

 private:
  size_t n_;
  uint64_t seed_, round_;
  SampleStream stream_;
  const std::vector<uint64_t>* excluded_;
  std::set<Prioritised> kept_;  // the n smallest so far
};

/// This rank's part of RandSub: its M smallest-priority unlabelled uids (sorted by priority).
std::vector<Prioritised> randsub_sample(const std::vector<uint64_t>& local_uids, size_t M, uint64_t seed,
                                        uint64_t round, const std::vector<uint64_t>* excluded = nullptr);
/// This rank's part of the random baseline's batch of b (same scheme, other stream).
std::vector<Prioritised> random_sample(const std::vector<uint64_t>& local_uids, size_t b, uint64_t seed,
                                       uint64_t round, const std::vector<uint64_t>* excluded = nullptr);

/// The n smallest of the union of two sorted lists (a uid in both kept once).
std::vector<Prioritised> merge_smallest(const std::vector<Prioritised>& a, const std::vector<Prioritised>& b,
                                        size_t n);

/// Collective: the global n smallest of all ranks' sorted local lists, on every rank (one
/// MPI_Allreduce with a commutative user op over n padded entries, 16·n bytes). Identical at
/// any rank count. All ranks must pass the same n (else UsageError on all ranks).
std::vector<Prioritised> reduce_smallest_priorities(const mpi::Comm& comm, const std::vector<Prioritised>& local,
                                                    size_t n);

/// The uids of a sample, in priority order.
std::vector<uint64_t> uids_of(const std::vector<Prioritised>& sample);

}  // namespace trawl::retrieve
