// Per-anchor top-K neighbour lists: the bounded heap that collects them, the merge that
// combines partial lists (ranks, array tasks, threads), their byte and table forms for
// partial files, and the MPI reduction that yields the global lists.
//
// Order. Neighbours are ordered by (dist asc, uid asc). Because ties break on the uid, the
// top K of any set of candidates is unique, so results never depend on shard order, block
// boundaries, thread count or rank count.
//
// Reserved values. uid UINT64_MAX is the padding sentinel of the packed MPI buffers and is
// rejected in stored lists; shard uids (chunk << 40 | row) never reach it. Distances are
// finite: searches never emit NaN (see exact.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace trawl::mpi {
class Comm;
}

namespace trawl::retrieve {

struct Neighbour {
  float dist;
  uint64_t uid;
};
inline bool operator<(const Neighbour& a, const Neighbour& b) {
  return a.dist < b.dist || (a.dist == b.dist && a.uid < b.uid);
}
inline bool operator==(const Neighbour& a, const Neighbour& b) {
  return a.dist == b.dist && a.uid == b.uid;
}
inline bool operator!=(const Neighbour& a, const Neighbour& b) { return !(a == b); }

constexpr uint64_t kNoUid = std::numeric_limits<uint64_t>::max();
/// Padding entry: sorts after every real neighbour.
constexpr Neighbour kSentinel{std::numeric_limits<float>::infinity(), kNoUid};

/// The K smallest neighbours pushed so far (a bounded max-heap: the root is the worst kept).
/// K = 0 keeps nothing. Does not deduplicate uids: callers push each item once per query
/// (merge_lists deduplicates when partial lists are combined).
class TopK {
 public:
  explicit TopK(int k = 0);
  int k() const { return k_; }
  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() == static_cast<size_t>(k_); }
  /// The entry a candidate must beat to enter: the worst kept when full, else kSentinel.
  const Neighbour& worst() const { return full() && k_ > 0 ? heap_.front() : sentinel_; }
  /// Distance bound: a candidate with dist > threshold() can never enter.
  float threshold() const { return worst().dist; }
  /// True when n entered the heap.
  bool push(const Neighbour& n);
  void push_all(const std::vector<Neighbour>& v) {
    for (const auto& n : v) push(n);
  }
  void clear() { heap_.clear(); }
  /// The kept entries sorted ascending.
  std::vector<Neighbour> sorted() const;

 private:
  int k_;
  std::vector<Neighbour> heap_;
  Neighbour sentinel_ = kSentinel;
};

/// One sorted list (ascending, at most K entries, uids distinct) per anchor, in anchor order.
struct AnchorLists {
  int K = 0;
  std::vector<std::vector<Neighbour>> lists;

  AnchorLists() = default;
  AnchorLists(int k, size_t n_anchors) : K(k), lists(n_anchors) {}
  size_t n_anchors() const { return lists.size(); }
  size_t total() const;  // entries over all anchors
  bool operator==(const AnchorLists& o) const { return K == o.K && lists == o.lists; }
  bool operator!=(const AnchorLists& o) const { return !(*this == o); }
};

/// The top K of the union of two sorted lists; a uid present in both is kept once (with the
/// smaller entry). Exactly associative and commutative.
std::vector<Neighbour> merge_sorted(const std::vector<Neighbour>& a, const std::vector<Neighbour>& b,
                                    int K);

/// Per anchor merge_sorted. Throws InputError when K or the anchor count differ (e.g. partial
/// files of different runs); the caller adds the file names.
AnchorLists merge_lists(const AnchorLists& a, const AnchorLists& b);

/// Checks a list set: per anchor sorted strictly by (dist, uid), at most K entries, uids
/// distinct, no NaN, no reserved uid. Throws InputError naming `what`, anchor and position.
void validate(const AnchorLists& l, const char* what);

/// Self-describing bytes: magic "TRWLTOPK", version, K, anchor count, then per anchor a
/// count and (dist f32, uid u64) entries; little-endian. deserialize validates everything and
/// throws InputError (naming `what`) on foreign, truncated, newer or inconsistent data.
std::vector<char> serialize(const AnchorLists& l);
AnchorLists deserialize(const char* data, size_t n, const char* what = "top-k bytes");
inline AnchorLists deserialize(const std::vector<char>& b, const char* what = "top-k bytes") {
  return deserialize(b.data(), b.size(), what);
}
constexpr uint32_t kTopKBytesVersion = 1;

/// Flat (anchor, dist, uid) table, rows ordered by anchor then list position: the form the
/// array-mode partial files store. K and the anchor count travel separately (attributes),
/// since anchors with empty lists have no rows.
struct FlatLists {
  std::vector<uint32_t> anchor;
  std::vector<float> dist;
  std::vector<uint64_t> uid;
  size_t size() const { return uid.size(); }
};
FlatLists flatten(const AnchorLists& l);
/// Inverse of flatten. Throws InputError (naming `what`) on columns of different lengths,
/// anchors out of range or out of order, or lists that fail validate().
AnchorLists unflatten(int K, size_t n_anchors, const FlatLists& f, const char* what = "top-k table");

/// Collective: replaces `l` on every rank by the global per-anchor top K of all ranks' lists
/// (the result is on every rank, identical at any rank count). One MPI_Allreduce with a
/// commutative user-defined op over a packed buffer of K entries per anchor padded with
/// kSentinel. All ranks must pass the same K and anchor count (else UsageError on all ranks).
/// Buffer: 16·K·n_anchors bytes per rank.
void reduce_topk(const mpi::Comm& comm, AnchorLists& l);

}  // namespace trawl::retrieve
