// Streaming exact k-nearest-neighbour search by cosine distance: the anchors (queries) against
// row blocks of item vectors, as a blocked GEMM (Eigen) followed by per-query top-K selection.
//
// Distances. Vectors are stored L2-normalised, so the cosine distance is 1 − q·x. The
// distance trawl reports is the canonical
//     d(q, x) = float(1 − Σ_i double(q_i)·double(x_i))       (i ascending)
// — float products are exact in double and the sum order is fixed, so d is bit-identical
// whatever the block split, thread count, rank count or SIMD width. A zero vector has
// distance exactly 1 to everything. Vectors that are not unit length are not renormalised
// (the formula above is applied as is). Items with a non-finite distance (NaN or inf in the
// input vectors) are never returned.
//
// Method. For each L2-sized sub-block of items, S = Q·Xᵀ is computed in float by Eigen's
// GEMM; an item is a candidate for query q only if its float score clears the query's
// current K-th distance by a rounding-error margin (a bound on |float dot − exact dot| for
// the vectors' norms). Candidates, few after the first K, get the canonical distance and go
// through the bounded heap. Hence the result equals the canonical top K exactly, as a naive
// double loop over all pairs would find it, at GEMM speed. OpenMP threads take sub-blocks
// and keep their own heaps; the per-thread lists are merged at the end (exact, so the
// schedule cannot change the result).
//
// Excluded uids (the labelled items) never appear in results.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "retrieve/topk.h"

namespace trawl::retrieve {

/// The canonical distance defined above.
float cosine_distance(const float* q, const float* x, int dim);

struct ExactOptions {
  /// Items per sub-block (one GEMM, one unit of thread work); 0 = sized so the sub-block
  /// (block_rows × dim floats) takes about 256 KiB, a share of a per-core L2 (256 rows at
  /// dim 256; bench_exact --sweep times the alternatives).
  int block_rows = 0;
  /// Queries per GEMM tile; 0 = 256. Bounds the score buffer (query_tile × block_rows).
  int query_tile = 0;
  /// OpenMP threads; 0 = omp_get_max_threads().
  int threads = 0;
  /// Keep a copy of the vector of every item that enters a top-K list (pruned to the current
  /// lists as it grows), so kept_vectors() can return the neighbours' vectors without a
  /// second read of the pool.
  bool keep_vectors = false;
};

/// Scans any number of item blocks against fixed queries, keeping per-query top-K state and
/// all work buffers between blocks (no reallocation per block).
class ExactScanner {
 public:
  /// queries: nq × dim row-major, copied. excluded: uids sorted ascending (may be null),
  /// referenced, not copied — it must outlive the scanner. Throws UsageError on K < 0,
  /// dim < 1, nq < 0 or an unsorted exclusion list.
  ExactScanner(const float* queries, int nq, int dim, int K,
               const std::vector<uint64_t>* excluded = nullptr, ExactOptions opt = {});
  ~ExactScanner();
  ExactScanner(const ExactScanner&) = delete;
  ExactScanner& operator=(const ExactScanner&) = delete;

  /// Starts from earlier results (e.g. the lists accumulated so far): they join the result
  /// (a uid in both is kept once, so rescanning a block is harmless) and their K-th entries
  /// tighten the thresholds at once. K and anchor count must match (else InputError).
  void seed(const AnchorLists& prior);
  /// Scans nb items: block is nb × dim row-major, uids[i] the uid of row i. Throws
  /// InputError when a candidate carries the reserved uid UINT64_MAX.
  /// norm_bound, when given (>= 0), is an upper bound of every row's L2 norm (NaN rows
  /// aside), e.g. io::ShardBlock::Segment::norm_bound; it saves the scan a pass over the rows to
  /// find their largest norm (which sizes the rounding margin). A bound too large only lets more
  /// candidates reach the canonical check; one too small could lose neighbours.
  void scan(const float* block, const uint64_t* uids, size_t nb, float norm_bound = -1.0f);
  /// The per-query top K of everything scanned (and seeded) so far.
  AnchorLists result() const;
  /// With keep_vectors: of `uids` (sorted ascending), those whose vectors the scan kept —
  /// every scanned item that is still in a top-K list is kept — appended to out_uid (ascending)
  /// and their dim floats each to out_vec. Seeded items that were not scanned are not kept.
  void kept_vectors(const std::vector<uint64_t>& uids, std::vector<uint64_t>& out_uid,
                    std::vector<float>& out_vec) const;

  int nq() const;
  int dim() const;
  int K() const;
  /// Statistics: items scanned, and (query, item) pairs that needed the canonical distance.
  uint64_t items_scanned() const;
  uint64_t candidates() const;
  int block_rows() const;
  int query_tile() const;
  int threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

/// One block, merged into acc: acc.lists is resized to nq if empty, else must hold nq lists;
/// acc.K is the K of the search. Equivalent to seeding a scanner with acc and scanning the
/// block. For many blocks prefer an ExactScanner (it keeps its buffers).
/// Uids must be unique within what one scanner scans (apart from the seeded prior lists).
void exact_search(const float* queries, int nq, const float* block, const uint64_t* block_uids, size_t nb,
                  int dim, const std::vector<uint64_t>* excluded, AnchorLists& acc, ExactOptions opt = {});

}  // namespace trawl::retrieve
