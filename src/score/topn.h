// Distributed selection over per-item scores, without a global sort and without gathering the
// scores in one process (reference/twitter-labor.md §4.2, §8.1, §10):
//  * the per-class top N items;
//  * the items at the evaluation rank points (the 17 log-spaced ranks 1 .. 10^6, 10 items each).
//
// Order. Items are ranked by (score descending, uid ascending); rank 1 is the best. Because
// ties break on the uid, every rank is held by exactly one item, so the results do not depend
// on the rank count, on shard order or on block boundaries. -0.0 counts as +0.0; NaN scores
// and the reserved uid kNoUid are rejected (InputError).
//
// Algorithm. Each rank streams its own items through a LocalBest per class, which keeps only
// the best `keep` of them (keep = the largest rank any query needs: N, or 10^6 + 10 for the
// rank points) in a buffer of at most 2·keep entries. Nothing else is kept, so memory is
// O(classes · keep) per rank whatever the pool size.
//  * top N: every rank's sorted local best N are merged by one MPI_Allreduce whose
//    user-defined, commutative op merges two sorted lists (a reduction tree); 16·N bytes per
//    class per message.
//  * the item at global rank r: first the bucket of 2^16 score keys it lies in, from the
//    per-bucket counts of every rank (one MPI_Allreduce of 65,536 u64 per column); then
//    bisection on the 96-bit order key (score key, uid) within that bucket — the smallest key
//    whose global count of items at or before it reaches r. Each round costs a binary search per
//    query in that one bucket of each rank's list and one MPI_Allreduce of one u64 count per
//    query (all classes and rank points in the same message): at most 80 rounds.
//    A rank whose LocalBest dropped items reports at most `keep` items, which is exact
//    enough: it then holds at least keep >= r items at or before the probe.
//    No rank sorts its whole list: its items are grouped by bucket (a counting sort) and only
//    the buckets a query reads are sorted — those holding the top N, the rank points and the
//    windows after them. (A full sort of each class's up to 2·keep items cost more than the
//    scoring itself.)
//  * the window of ranks r .. r+w-1: once the key at rank r is known, every rank offers its
//    first w local items at or after it; one allgather of w entries per window and rank, and
//    the w best of them are the window (exact, since an item of the window is among the w
//    best at or after that key on its own rank).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace trawl::mpi {
class Comm;
}

namespace trawl::score {

constexpr uint64_t kNoUid = std::numeric_limits<uint64_t>::max();

/// Order key of a score: a > b  <=>  score_key(a) < score_key(b) (smaller key = better).
/// -0.0 and +0.0 share a key. Not defined for NaN (callers reject it first).
inline uint32_t score_key(float s) {
  if (s == 0.0f) s = 0.0f;  // -0.0 -> +0.0
  uint32_t b;
  std::memcpy(&b, &s, 4);
  // Ascending unsigned order of floats: flip all bits of negatives, the sign bit of the rest;
  // then invert, so that higher scores get smaller keys.
  uint32_t asc = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ~asc;
}
/// Inverse of score_key (+0.0 for the key of zero).
float key_score(uint32_t key);

/// One scored item: 16 bytes, trivially copyable (travels through MPI as bytes).
struct Scored {
  uint64_t uid = kNoUid;
  uint32_t key = std::numeric_limits<uint32_t>::max();  // score_key(score)
  float score = -std::numeric_limits<float>::infinity();
};
static_assert(sizeof(Scored) == 16, "Scored is packed into MPI buffers");

[[noreturn]] void reject_item(float score, uint64_t uid);
/// A scored item with its key filled. Throws InputError for a NaN score or uid kNoUid.
inline Scored make_scored(float score, uint64_t uid) {
  if (score != score || uid == kNoUid) reject_item(score, uid);
  return Scored{uid, score_key(score), score};
}

/// True when a ranks before b: higher score, or equal score and smaller uid.
inline bool better(const Scored& a, const Scored& b) {
  return a.key < b.key || (a.key == b.key && a.uid < b.uid);
}
inline bool same(const Scored& a, const Scored& b) { return a.key == b.key && a.uid == b.uid; }
/// The padding entry: ranks after every real item.
constexpr Scored kSentinel{};

/// The evaluation rank points of reference/twitter-labor.md §8.1: for i = 0 .. decades-1, the
/// i + 1 log-spaced values 10^i .. 10^(i+1) (i = 0: just 1), truncated to integers, deduplicated.
/// decades = 6 gives the reference's 17 points 1, 10, 100, 316, 1000, ..., 630957, 1000000.
std::vector<uint64_t> rank_points(int decades = 6);

/// A window of consecutive global ranks [first, last] (1-based, inclusive) at a rank point.
struct RankWindow {
  uint64_t point = 0, first = 0, last = 0;
  uint64_t width() const { return last - first + 1; }
};

/// The reference's windows (§8.1 step 3): ranks 1 .. width for the point 1, and
/// point+1 .. point+width for every later point.
std::vector<RankWindow> cutoff_windows(const std::vector<uint64_t>& points, uint64_t width = 10);

/// The number of items each rank must keep per class to answer top_n and these windows.
uint64_t needed_keep(uint64_t top_n, const std::vector<RankWindow>& windows);

/// The best `keep` items pushed so far (streaming; amortised O(1) per push).
class LocalBest {
 public:
  explicit LocalBest(uint64_t keep = 0);
  uint64_t keep() const { return keep_; }
  /// Throws InputError for a NaN score or the reserved uid (the caller adds the file name).
  void push(float score, uint64_t uid) {
    ++seen_;
    is_sorted_ = false;
    Scored s = make_scored(score, uid);
    if (pruned_ && !better(s, bound_)) return;
    buf_.push_back(s);
    if (buf_.size() >= cap_) prune();
  }
  /// n items: scores at column[i * stride], uids uid[i].
  void push_column(const float* column, size_t stride, const uint64_t* uid, size_t n);
  uint64_t seen() const { return seen_; }
  /// True when items were dropped (seen() > keep()).
  bool truncated() const { return seen_ > keep_; }
  /// The kept items, best first (min(seen, keep) of them). Further pushes are allowed.
  const std::vector<Scored>& sorted();
  /// The buffered items in no order: the best min(seen, keep) of the pushed items, and perhaps
  /// more (select() orders only the parts it needs, see topn.cpp "BucketOrder").
  const std::vector<Scored>& buffered() const { return buf_; }

 private:
  void prune();
  uint64_t keep_, seen_ = 0;
  size_t cap_;
  std::vector<Scored> buf_;
  bool pruned_ = false, is_sorted_ = true;
  Scored bound_;  // when pruned_: items not better than this can never be kept
};

/// The global result for one column (class).
struct Selection {
  uint64_t total = 0;        // items over all ranks
  std::vector<Scored> top;   // the global top min(N, total), best first
  struct Window {
    RankWindow ranks;
    std::vector<Scored> items;  // global ranks ranks.first .. (fewer when the pool ends first)
  };
  /// One entry per requested window whose first rank is within the pool (first <= total),
  /// in the order requested; windows starting beyond the pool are skipped.
  std::vector<Window> windows;
};

/// Collective: the selections of every column (one LocalBest per column; every rank passes
/// the same number of columns, top_n and windows, else UsageError). Every LocalBest must keep
/// at least needed_keep(top_n, windows) items (else UsageError). The result is on every rank
/// and identical at any rank count.
std::vector<Selection> select(const mpi::Comm& comm, std::vector<LocalBest>& columns, uint64_t top_n,
                              const std::vector<RankWindow>& windows);

/// Collective building block: the global best min(n, ...) of each column from each rank's
/// local lists (sorted best first, distinct items). One MPI_Allreduce (merge of sorted lists).
std::vector<std::vector<Scored>> reduce_top(const mpi::Comm& comm, const std::vector<std::vector<Scored>>& local,
                                            uint64_t n);

/// Collective building block: the item at global rank ranks[q] (1-based) of column
/// columns[q], by bisection on the order key. Every rank must satisfy ranks[q] <= the
/// column's global total and ranks[q] <= keep() (UsageError otherwise).
std::vector<Scored> items_at_ranks(const mpi::Comm& comm, std::vector<LocalBest>& columns,
                                   const std::vector<size_t>& column_of, const std::vector<uint64_t>& ranks);

}  // namespace trawl::score
