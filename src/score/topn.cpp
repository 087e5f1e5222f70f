#include "score/topn.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "core/rng.h"
#include "mpi/comm.h"

namespace trawl::score {

namespace {

using u128 = unsigned __int128;

inline u128 key128(const Scored& s) { return (u128(s.key) << 64) | u128(s.uid); }
inline Scored from128(u128 k) {
  Scored s;
  s.key = uint32_t(k >> 64);
  s.uid = uint64_t(k);
  s.score = key_score(s.key);
  return s;
}
const u128 kMaxKey = (u128(1) << 96) - 1;  // the sentinel's key

// Largest list length an MPI message carries per column (16 bytes an item, int byte counts).
constexpr uint64_t kMaxReduceItems = uint64_t(1) << 26;

// Fails on every rank when the ranks disagree on a value (so no rank hangs in a collective).
void agree(const mpi::Comm& comm, uint64_t v, const char* what) {
  if (comm.size() == 1) return;
  unsigned long long lo = comm.min<unsigned long long>(v), hi = comm.max<unsigned long long>(v);
  if (lo != hi) throw UsageError(cat("score selection: ranks disagree on ", what, " (", lo, " .. ", hi, ")"));
}

// The MPI reduction op: element = one sorted list of n Scored (n from the datatype size);
// inout <- the best n of the union of in and inout (identical entries kept once).
void merge_op(void* in, void* inout, int* len, MPI_Datatype* dt) {
  int bytes = 0;
  MPI_Type_size(*dt, &bytes);
  const size_t n = size_t(bytes) / sizeof(Scored);
  std::vector<Scored> tmp(n);
  for (int e = 0; e < *len; ++e) {
    const Scored* a = static_cast<const Scored*>(in) + size_t(e) * n;
    Scored* b = static_cast<Scored*>(inout) + size_t(e) * n;
    size_t i = 0, j = 0, k = 0;
    while (k < n) {
      if (i < n && j < n && same(a[i], b[j])) {
        tmp[k++] = a[i++];
        ++j;
      } else if (j >= n || (i < n && better(a[i], b[j]))) {
        tmp[k++] = a[i++];
      } else {
        tmp[k++] = b[j++];
      }
    }
    std::copy(tmp.begin(), tmp.end(), b);
  }
}

// Sorts by (key, uid) ascending, i.e. best first: an LSD radix sort over six 16-bit digits
// (uid low to high, then key low and high), skipping digits every item shares (e.g. the high
// uid bits of a pool with few chunks). About twice as fast as std::sort for 10^6 items.
void sort_best_first(std::vector<Scored>& v) {
  const size_t n = v.size();
  if (n < 4096 || n > size_t(std::numeric_limits<uint32_t>::max())) {
    std::sort(v.begin(), v.end(), better);
    return;
  }
  constexpr int kDigits = 6;
  constexpr size_t kRadix = 65536;
  auto digit = [](const Scored& x, int d) -> uint32_t {
    return d < 4 ? uint32_t(x.uid >> (16 * d)) & 0xffffu : uint32_t(x.key >> (16 * (d - 4))) & 0xffffu;
  };
  std::vector<uint32_t> hist(kDigits * kRadix, 0);
  for (const auto& x : v) {
    hist[0 * kRadix + (x.uid & 0xffffu)]++;
    hist[1 * kRadix + ((x.uid >> 16) & 0xffffu)]++;
    hist[2 * kRadix + ((x.uid >> 32) & 0xffffu)]++;
    hist[3 * kRadix + (x.uid >> 48)]++;
    hist[4 * kRadix + (x.key & 0xffffu)]++;
    hist[5 * kRadix + (x.key >> 16)]++;
  }
  std::vector<Scored> tmp(n);
  Scored* src = v.data();
  Scored* dst = tmp.data();
  for (int d = 0; d < kDigits; ++d) {
    uint32_t* h = hist.data() + size_t(d) * kRadix;
    if (h[digit(src[0], d)] == n) continue;  // every item has this digit: nothing to do
    uint32_t sum = 0;
    for (size_t x = 0; x < kRadix; ++x) {
      uint32_t c = h[x];
      h[x] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) dst[h[digit(src[i], d)]++] = src[i];
    std::swap(src, dst);
  }
  if (src != v.data()) std::copy(src, src + n, v.data());
}

// One rank's items of one column by bucket (the top 16 bits of the score key): the order select()
// reads without sorting everything. First only the per-bucket counts (one pass); then the
// buckets a query needs are marked, gathered in a second pass, and each is sorted, best first,
// when first read. What is never needed is never moved.
class BucketOrder {
 public:
  static constexpr int kShift = 16;
  static constexpr size_t kBuckets = size_t(1) << (32 - kShift);

  explicit BucketOrder(const std::vector<Scored>& items)
      : src_(&items), start_(kBuckets + 1, 0), pos_(kBuckets, 0), need_(kBuckets, 0), done_(kBuckets, 0) {
    for (const auto& x : items) ++start_[bucket(x.key) + 1];
    for (size_t b = 0; b < kBuckets; ++b) start_[b + 1] += start_[b];
  }
  static size_t bucket(uint32_t key) { return key >> kShift; }
  static size_t bucket_of(u128 k) { return bucket(uint32_t(k >> 64)); }
  uint64_t count(size_t b) const { return start_[b + 1] - start_[b]; }

  /// Marks the buckets that hold this rank's best n items.
  void need_top(uint64_t n) {
    for (size_t b = 0; b < kBuckets && n > 0; ++b) {
      need_[b] = 1;
      n -= std::min(n, count(b));
    }
  }
  /// Marks bucket b and the buckets after it until those hold n items (the items that can
  /// follow any item of b in a window of n + 1).
  void need_from(size_t b, uint64_t n) {
    need_[b] = 1;
    while (n > 0 && ++b < kBuckets) {
      need_[b] = 1;
      n -= std::min(n, count(b));
    }
  }
  /// The second pass: copies the marked buckets' items. Call once, after marking.
  void gather() {
    TRAWL_ASSERT(!gathered_);
    uint64_t total = 0;
    for (size_t b = 0; b < kBuckets; ++b)
      if (need_[b]) {
        pos_[b] = total;
        total += count(b);
      }
    items_.resize(total);
    std::vector<uint64_t> at(pos_);
    for (const auto& x : *src_) {
      const size_t b = bucket(x.key);
      if (need_[b]) items_[at[b]++] = x;
    }
    gathered_ = true;
  }
  /// Local items at or before order key k (k's bucket must be marked).
  uint64_t count_upto(u128 k) {
    const size_t b = bucket_of(k);
    auto [lo, hi] = range(b);
    return start_[b] + uint64_t(std::upper_bound(lo, hi, k, [](u128 x, const Scored& s) { return x < key128(s); }) - lo);
  }
  /// Appends to out the first n items at or after s, best first (as far as the marked buckets reach).
  void append_from(const Scored& s, uint64_t n, std::vector<Scored>& out) {
    if (n == 0) return;
    size_t b = bucket(s.key);
    auto [lo, hi] = range(b);
    auto it = std::lower_bound(lo, hi, s, better);
    for (uint64_t k = 0; k < n;) {
      if (it == hi) {
        if (++b >= kBuckets || !need_[b]) return;
        std::tie(lo, hi) = range(b);
        it = lo;
        continue;
      }
      out.push_back(*it++);
      ++k;
    }
  }

 private:
  using It = std::vector<Scored>::iterator;
  // Bucket b's items, sorted on first use (empty for a bucket without items).
  std::pair<It, It> range(size_t b) {
    if (count(b) == 0) return {items_.end(), items_.end()};
    TRAWL_ASSERT_MSG(gathered_ && need_[b], "score bucket ", b, " read but not gathered");
    auto lo = items_.begin() + ptrdiff_t(pos_[b]), hi = lo + ptrdiff_t(count(b));
    if (!done_[b]) {
      std::sort(lo, hi, better);
      done_[b] = 1;
    }
    return {lo, hi};
  }
  const std::vector<Scored>* src_;
  std::vector<Scored> items_;
  std::vector<uint64_t> start_, pos_;  // start_[b]: items in buckets before b; pos_[b]: b's offset in items_
  std::vector<uint8_t> need_, done_;
  bool gathered_ = false;
};

std::vector<BucketOrder> order_columns(const std::vector<LocalBest>& columns) {
  std::vector<BucketOrder> o;
  o.reserve(columns.size());
  for (auto& c : columns) o.emplace_back(c.buffered());
  return o;
}

// The item at global rank ranks[q] of column column_of[q] (checked by the caller), on every
// rank. Marks the bucket of each and, for windows, the buckets after it until they hold
// widths[q] items; then gathers every column (its top-N buckets marked by the caller).
std::vector<Scored> find_ranks(const mpi::Comm& comm, std::vector<BucketOrder>& order,
                               const std::vector<size_t>& column_of, const std::vector<uint64_t>& ranks,
                               const std::vector<uint64_t>& widths) {
  const size_t Q = ranks.size();
  // The bucket of each rank: global per-bucket counts of the columns asked about.
  std::vector<size_t> cols(column_of.begin(), column_of.end());
  std::sort(cols.begin(), cols.end());
  cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
  std::vector<uint64_t> hist(cols.size() * BucketOrder::kBuckets);
  for (size_t i = 0; i < cols.size(); ++i)
    for (size_t b = 0; b < BucketOrder::kBuckets; ++b) hist[i * BucketOrder::kBuckets + b] = order[cols[i]].count(b);
  comm.allreduce_inplace(hist, MPI_SUM);
  std::vector<u128> lo(Q), hi(Q);
  for (size_t q = 0; q < Q; ++q) {
    const size_t i = size_t(std::lower_bound(cols.begin(), cols.end(), column_of[q]) - cols.begin());
    const uint64_t* h = hist.data() + i * BucketOrder::kBuckets;
    uint64_t before = 0;
    size_t b = 0;
    while (b + 1 < BucketOrder::kBuckets && before + h[b] < ranks[q]) before += h[b++];
    order[column_of[q]].need_from(b, widths[q]);
    lo[q] = u128(uint64_t(b) << BucketOrder::kShift) << 64;
    hi[q] = std::min(kMaxKey, (u128((uint64_t(b) << BucketOrder::kShift) | ((uint64_t(1) << BucketOrder::kShift) - 1)) << 64) |
                                  u128(std::numeric_limits<uint64_t>::max()));
  }
  for (auto& o : order) o.gather();
  std::vector<uint64_t> count(Q);
  // Bisection within the bucket: the smallest key whose global count of items at or before it
  // reaches the rank. Every rank computes the same brackets from the same global counts, so the
  // loop is in step.
  for (int round = 0; round < 200; ++round) {
    bool active = false;
    for (size_t q = 0; q < Q; ++q) {
      count[q] = 0;
      if (lo[q] >= hi[q]) continue;
      active = true;
      count[q] = order[column_of[q]].count_upto(lo[q] + (hi[q] - lo[q]) / 2);
    }
    if (!active) break;
    comm.allreduce_inplace(count, MPI_SUM);
    for (size_t q = 0; q < Q; ++q) {
      if (lo[q] >= hi[q]) continue;
      const u128 mid = lo[q] + (hi[q] - lo[q]) / 2;
      if (count[q] >= ranks[q])
        hi[q] = mid;
      else
        lo[q] = mid + 1;
    }
  }
  std::vector<Scored> out(Q);
  for (size_t q = 0; q < Q; ++q) {
    TRAWL_ASSERT_MSG(lo[q] == hi[q] && lo[q] < kMaxKey, "bisection did not converge for rank ", ranks[q]);
    out[q] = from128(lo[q]);
  }
  return out;
}

// Rank checks shared by items_at_ranks and select: every rank within its column's total and kept.
void check_ranks(const mpi::Comm& comm, const std::vector<LocalBest>& columns, const std::vector<uint64_t>& totals,
                 const std::vector<size_t>& column_of, const std::vector<uint64_t>& ranks) {
  bool bad_keep = false;
  for (size_t q = 0; q < ranks.size(); ++q) {
    TRAWL_ASSERT(column_of[q] < columns.size());
    const uint64_t r = ranks[q];
    if (r < 1 || r > totals[column_of[q]])
      throw UsageError(cat("score selection: rank ", r, " of column ", column_of[q], " is outside 1 .. ",
                           totals[column_of[q]], " (the column's items)"));
    const auto& col = columns[column_of[q]];
    if (col.truncated() && col.keep() < r) bad_keep = true;
  }
  if (comm.any(bad_keep))
    throw UsageError("score selection: a rank kept fewer items than the largest rank asked for");
}

}  // namespace

float key_score(uint32_t key) {
  uint32_t asc = ~key;
  uint32_t b = (asc & 0x80000000u) ? (asc & 0x7fffffffu) : ~asc;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

void reject_item(float score, uint64_t uid) {
  if (uid == kNoUid) throw InputError(cat("uid ", uid, " is reserved (the padding value of score selection)"));
  throw InputError(cat("uid ", uid, ": score is ", score, " (expected a number)"));
}

// ---- rank points -------------------------------------------------------------------------------

std::vector<uint64_t> rank_points(int decades) {
  if (decades < 1 || decades > 18) throw UsageError(cat("rank points: ", decades, " decades (expected 1..18)"));
  std::set<uint64_t> s;
  s.insert(1);
  for (int i = 1; i < decades; ++i)
    for (int j = 0; j <= i; ++j) s.insert(uint64_t(std::pow(10.0, double(i) + double(j) / double(i))));
  return {s.begin(), s.end()};
}

std::vector<RankWindow> cutoff_windows(const std::vector<uint64_t>& points, uint64_t width) {
  if (width < 1) throw UsageError("rank windows: the width must be at least 1");
  std::vector<RankWindow> w;
  for (uint64_t p : points) {
    if (p < 1) throw UsageError("rank windows: rank points start at 1");
    RankWindow r;
    r.point = p;
    r.first = p == 1 ? 1 : p + 1;
    r.last = r.first + width - 1;
    w.push_back(r);
  }
  return w;
}

uint64_t needed_keep(uint64_t top_n, const std::vector<RankWindow>& windows) {
  uint64_t k = top_n;
  for (auto& w : windows) k = std::max(k, w.last);
  return k;
}

// ---- LocalBest -----------------------------------------------------------------------------------

LocalBest::LocalBest(uint64_t keep) : keep_(keep) {
  const uint64_t slack = std::max<uint64_t>(keep, 1024);
  cap_ = size_t(keep > (uint64_t(1) << 60) ? keep : keep + slack);
  // The whole buffer up front (virtual memory: pages count only once touched), so filling it
  // never copies it over by reallocation; beyond 2^26 entries (1 GiB) it grows as needed.
  if (cap_ <= (size_t(1) << 26)) buf_.reserve(cap_);
  if (keep_ == 0) {
    pruned_ = true;
    bound_ = Scored{0, 0, 0.f};  // nothing is better than the best possible key
  }
}

void LocalBest::push_column(const float* column, size_t stride, const uint64_t* uid, size_t n) {
  // (Again here: a copied LocalBest does not inherit the reserved capacity.)
  if (buf_.capacity() < cap_ && cap_ <= (size_t(1) << 26)) buf_.reserve(cap_);
  for (size_t i = 0; i < n; ++i) push(column[i * stride], uid[i]);
}

void LocalBest::prune() {
  if (buf_.size() <= keep_) return;
  std::nth_element(buf_.begin(), buf_.begin() + ptrdiff_t(keep_ - 1), buf_.end(), better);
  bound_ = buf_[keep_ - 1];
  buf_.resize(keep_);
  pruned_ = true;
}

const std::vector<Scored>& LocalBest::sorted() {
  if (!is_sorted_) {
    prune();
    sort_best_first(buf_);
    is_sorted_ = true;
  }
  return buf_;
}

// ---- top N ---------------------------------------------------------------------------------------

std::vector<std::vector<Scored>> reduce_top(const mpi::Comm& comm, const std::vector<std::vector<Scored>>& local,
                                            uint64_t n) {
  agree(comm, local.size(), "the number of columns");
  agree(comm, n, "N");
  std::vector<std::vector<Scored>> out(local.size());
  for (size_t c = 0; c < local.size(); ++c) {
    const auto& v = local[c];
    TRAWL_ASSERT_MSG(std::is_sorted(v.begin(), v.end(), better), "column ", c, ": local list not sorted");
    out[c].assign(v.begin(), v.begin() + ptrdiff_t(std::min<uint64_t>(n, v.size())));
  }
  if (comm.size() == 1 || n == 0 || local.empty()) return out;
  if (n > kMaxReduceItems)
    throw UsageError(cat("top N = ", n, " is too large for one message (at most ", kMaxReduceItems, ")"));
  TRAWL_ASSERT(local.size() <= size_t(std::numeric_limits<int>::max()));
  std::vector<Scored> buf(size_t(n) * local.size(), kSentinel);
  for (size_t c = 0; c < out.size(); ++c) std::copy(out[c].begin(), out[c].end(), buf.begin() + ptrdiff_t(c * n));
  MPI_Datatype dt;
  MPI_Op op;
  TRAWL_MPI_CHECK(MPI_Type_contiguous(int(n * sizeof(Scored)), MPI_BYTE, &dt));
  TRAWL_MPI_CHECK(MPI_Type_commit(&dt));
  TRAWL_MPI_CHECK(MPI_Op_create(&merge_op, /*commute=*/1, &op));
  TRAWL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf.data(), int(local.size()), dt, op, comm.raw()));
  MPI_Op_free(&op);
  MPI_Type_free(&dt);
  for (size_t c = 0; c < out.size(); ++c) {
    const Scored* row = buf.data() + c * n;
    size_t k = 0;
    while (k < n && row[k].uid != kNoUid) ++k;
    out[c].assign(row, row + k);
  }
  return out;
}

// ---- items at global ranks -------------------------------------------------------------------------

std::vector<Scored> items_at_ranks(const mpi::Comm& comm, std::vector<LocalBest>& columns,
                                   const std::vector<size_t>& column_of, const std::vector<uint64_t>& ranks) {
  TRAWL_ASSERT(column_of.size() == ranks.size());
  agree(comm, columns.size(), "the number of columns");
  agree(comm, ranks.size(), "the number of rank queries");
  std::vector<uint64_t> totals(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) totals[c] = columns[c].seen();
  comm.allreduce_inplace(totals, MPI_SUM);
  check_ranks(comm, columns, totals, column_of, ranks);
  auto order = order_columns(columns);
  return find_ranks(comm, order, column_of, ranks, std::vector<uint64_t>(ranks.size(), 0));
}

// ---- the whole selection -------------------------------------------------------------------------

std::vector<Selection> select(const mpi::Comm& comm, std::vector<LocalBest>& columns, uint64_t top_n,
                              const std::vector<RankWindow>& windows) {
  uint64_t h = key(columns.size(), top_n, windows.size());
  for (auto& w : windows) h = key(h, w.point, w.first, w.last);
  agree(comm, h, "the columns, N or the rank windows");
  const uint64_t need = needed_keep(top_n, windows);
  bool small = false;
  for (auto& c : columns) small |= c.keep() < need;
  if (comm.any(small))
    throw UsageError(cat("score selection: every column must keep at least ", need, " items per rank"));
  for (auto& w : windows)
    if (w.first < 1 || w.last < w.first) throw UsageError(cat("score selection: bad rank window ", w.first, "..", w.last));

  const size_t C = columns.size();
  std::vector<Selection> out(C);
  std::vector<uint64_t> totals(C);
  for (size_t c = 0; c < C; ++c) totals[c] = columns[c].seen();
  comm.allreduce_inplace(totals, MPI_SUM);
  uint64_t most = 0;
  for (size_t c = 0; c < C; ++c) {
    out[c].total = totals[c];
    most = std::max(most, totals[c]);
  }

  // Each rank's items counted by score bucket; only the buckets read below are gathered and sorted.
  auto order = order_columns(columns);
  const uint64_t n = std::min(top_n, most);
  for (auto& o : order) o.need_top(n);
  // The windows' first ranks: found by bisection within their buckets (find_ranks gathers).
  std::vector<size_t> col_of, win_of;
  std::vector<uint64_t> firsts, widths;
  for (size_t c = 0; c < C; ++c)
    for (size_t w = 0; w < windows.size(); ++w)
      if (windows[w].first <= totals[c]) {
        col_of.push_back(c);
        win_of.push_back(w);
        firsts.push_back(windows[w].first);
        widths.push_back(windows[w].width());
      }
  std::vector<Scored> at;
  if (!firsts.empty()) {
    check_ranks(comm, columns, totals, col_of, firsts);
    at = find_ranks(comm, order, col_of, firsts, widths);
  } else {
    for (auto& o : order) o.gather();
  }

  // Top N: the local best N of each column, merged across ranks.
  std::vector<std::vector<Scored>> local(C);
  const Scored first{0, 0, 0.f};  // no item ranks before it
  for (size_t c = 0; c < C; ++c) order[c].append_from(first, n, local[c]);
  auto top = reduce_top(comm, local, n);
  for (size_t c = 0; c < C; ++c) out[c].top = std::move(top[c]);
  if (firsts.empty()) return out;

  // Windows: every rank offers its first `width` items at or after the key found.
  std::vector<Scored> offer;
  for (size_t q = 0; q < at.size(); ++q) {
    const uint64_t width = windows[win_of[q]].width();
    const size_t had = offer.size();
    order[col_of[q]].append_from(at[q], width, offer);
    offer.resize(had + width, kSentinel);
  }
  const auto all = comm.allgatherv(offer);
  const size_t per_rank = offer.size();
  TRAWL_ASSERT(all.size() == per_rank * size_t(comm.size()));
  size_t off = 0;
  for (size_t q = 0; q < at.size(); ++q) {
    const uint64_t width = windows[win_of[q]].width();
    std::vector<Scored> cand;
    for (int r = 0; r < comm.size(); ++r)
      for (uint64_t k = 0; k < width; ++k) {
        const Scored& s = all[size_t(r) * per_rank + off + k];
        if (s.uid != kNoUid) cand.push_back(s);
      }
    off += width;
    std::sort(cand.begin(), cand.end(), better);
    cand.erase(std::unique(cand.begin(), cand.end(), same), cand.end());
    if (cand.size() > width) cand.resize(width);
    TRAWL_ASSERT_MSG(!cand.empty() && same(cand.front(), at[q]), "window at rank ", firsts[q],
                     " does not start with the item found there");
    Selection::Window win;
    win.ranks = windows[win_of[q]];
    win.items = std::move(cand);
    out[col_of[q]].windows.push_back(std::move(win));
  }
  return out;
}

}  // namespace trawl::score
