#include "retrieve/subpool.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "mpi/comm.h"

namespace trawl::retrieve {

static_assert(sizeof(Prioritised) == 16, "Prioritised is the packed MPI entry");

std::vector<Candidate> score_candidates(const AnchorLists& lists) {
  struct Row {
    uint64_t uid;
    size_t anchor;
    float dist;
  };
  std::vector<Row> rows;
  rows.reserve(lists.total());
  for (size_t a = 0; a < lists.lists.size(); ++a)
    for (const auto& n : lists.lists[a]) rows.push_back(Row{n.uid, a, n.dist});
  // Group by uid; within a uid keep anchor order so the double sum has a fixed order.
  std::sort(rows.begin(), rows.end(),
            [](const Row& x, const Row& y) { return x.uid != y.uid ? x.uid < y.uid : x.anchor < y.anchor; });
  std::vector<Candidate> out;
  for (size_t i = 0; i < rows.size();) {
    size_t j = i;
    double s = 0.0;
    while (j < rows.size() && rows[j].uid == rows[i].uid) s += static_cast<double>(rows[j++].dist);
    const int count = static_cast<int>(j - i);
    out.push_back(Candidate{rows[i].uid, 1.0 - s / count, count});
    i = j;
  }
  return out;
}

std::vector<Candidate> top_m(std::vector<Candidate> c, size_t M) {
  auto better = [](const Candidate& x, const Candidate& y) {
    return x.score != y.score ? x.score > y.score : x.uid < y.uid;
  };
  if (M < c.size()) {
    std::nth_element(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(M), c.end(), better);
    c.resize(M);
  }
  std::sort(c.begin(), c.end(), better);
  return c;
}

// ---------------------------------------------------------------------------------------------

uint64_t sample_priority(uint64_t seed, uint64_t round, SampleStream stream, uint64_t uid) {
  return mix64(key(seed, round, static_cast<uint64_t>(stream), uid));
}

HashSampler::HashSampler(size_t n, uint64_t seed, uint64_t round, SampleStream stream,
                         const std::vector<uint64_t>* excluded)
    : n_(n), seed_(seed), round_(round), stream_(stream), excluded_(excluded) {
  if (excluded && !std::is_sorted(excluded->begin(), excluded->end()))
    throw UsageError("hashed sample: the excluded uid list is not sorted ascending");
}

void HashSampler::add(const uint64_t* uids, size_t count) {
  if (n_ == 0) return;
  for (size_t i = 0; i < count; ++i) {
    const Prioritised p{sample_priority(seed_, round_, stream_, uids[i]), uids[i]};
    if (kept_.size() == n_ && !(p < *kept_.rbegin())) continue;  // the common, cheap case
    if (excluded_ && std::binary_search(excluded_->begin(), excluded_->end(), uids[i])) continue;
    if (!kept_.insert(p).second) continue;  // already kept
    if (kept_.size() > n_) kept_.erase(std::prev(kept_.end()));
  }
}

std::vector<Prioritised> HashSampler::sorted() const { return {kept_.begin(), kept_.end()}; }

std::vector<Prioritised> randsub_sample(const std::vector<uint64_t>& local_uids, size_t M, uint64_t seed,
                                        uint64_t round, const std::vector<uint64_t>* excluded) {
  HashSampler s(M, seed, round, SampleStream::kRandSub, excluded);
  s.add(local_uids);
  return s.sorted();
}

std::vector<Prioritised> random_sample(const std::vector<uint64_t>& local_uids, size_t b, uint64_t seed,
                                       uint64_t round, const std::vector<uint64_t>* excluded) {
  HashSampler s(b, seed, round, SampleStream::kRandom, excluded);
  s.add(local_uids);
  return s.sorted();
}

namespace {
constexpr Prioritised kPad{std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max()};

void merge_into(const Prioritised* a, size_t na, const Prioritised* b, size_t nb, size_t n,
                std::vector<Prioritised>& out) {
  out.clear();
  size_t i = 0, j = 0;
  while (out.size() < n && (i < na || j < nb)) {
    Prioritised p;
    if (j >= nb || (i < na && !(b[j] < a[i]))) p = a[i++];
    else p = b[j++];
    // A uid has one priority, so a uid in both lists meets itself adjacently.
    if (!out.empty() && out.back() == p) continue;
    out.push_back(p);
  }
}

size_t unpadded(const Prioritised* p, size_t n) {
  size_t k = 0;
  while (k < n && !(p[k] == kPad)) ++k;
  return k;
}

void merge_op(void* in, void* inout, int* len, MPI_Datatype* dt) {
  int bytes = 0;
  MPI_Type_size(*dt, &bytes);
  const size_t n = static_cast<size_t>(bytes) / sizeof(Prioritised);
  thread_local std::vector<Prioritised> out;
  auto* a = static_cast<const Prioritised*>(in);
  auto* b = static_cast<Prioritised*>(inout);
  for (int e = 0; e < *len; ++e, a += n, b += n) {
    merge_into(a, unpadded(a, n), b, unpadded(b, n), n, out);
    std::copy(out.begin(), out.end(), b);
    std::fill(b + out.size(), b + n, kPad);
  }
}
}  // namespace

std::vector<Prioritised> merge_smallest(const std::vector<Prioritised>& a, const std::vector<Prioritised>& b,
                                        size_t n) {
  std::vector<Prioritised> out;
  merge_into(a.data(), a.size(), b.data(), b.size(), n, out);
  return out;
}

std::vector<Prioritised> reduce_smallest_priorities(const mpi::Comm& comm, const std::vector<Prioritised>& local,
                                                    size_t n) {
  TRAWL_ASSERT_MSG(std::is_sorted(local.begin(), local.end()), "local sample not sorted");
  std::vector<Prioritised> mine(local.begin(), local.begin() + static_cast<std::ptrdiff_t>(std::min(n, local.size())));
  if (comm.size() == 1) return mine;
  const unsigned long long nn = n, lo = comm.min(nn), hi = comm.max(nn);
  if (lo != hi)
    throw UsageError(cat("hashed sample: ranks disagree on the sample size (", lo, "..", hi, ")"));
  if (n == 0) return {};
  TRAWL_ASSERT_MSG(n * sizeof(Prioritised) <= static_cast<size_t>(std::numeric_limits<int>::max()),
                   "sample of ", n, " too large for one MPI datatype");
  std::vector<Prioritised> buf(n, kPad);
  std::copy(mine.begin(), mine.end(), buf.begin());
  MPI_Datatype dt;
  MPI_Op op;
  TRAWL_MPI_CHECK(MPI_Type_contiguous(static_cast<int>(n * sizeof(Prioritised)), MPI_BYTE, &dt));
  TRAWL_MPI_CHECK(MPI_Type_commit(&dt));
  TRAWL_MPI_CHECK(MPI_Op_create(&merge_op, /*commute=*/1, &op));
  TRAWL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf.data(), 1, dt, op, comm.raw()));
  MPI_Op_free(&op);
  MPI_Type_free(&dt);
  buf.resize(unpadded(buf.data(), n));
  return buf;
}

std::vector<uint64_t> uids_of(const std::vector<Prioritised>& s) {
  std::vector<uint64_t> u;
  u.reserve(s.size());
  for (const auto& p : s) u.push_back(p.uid);
  return u;
}

}  // namespace trawl::retrieve
