// trawl-libs: trawl_retrieve
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "retrieve/exact.h"

using namespace trawl;
using namespace trawl::retrieve;

namespace {

struct Pool {
  int dim = 0;
  std::vector<float> x;  // n × dim
  std::vector<uint64_t> uid;
  size_t n() const { return uid.size(); }
};

void normalise(float* v, int dim) {
  double s = 0;
  for (int i = 0; i < dim; ++i) s += double(v[i]) * v[i];
  if (s == 0) return;
  float inv = float(1.0 / std::sqrt(s));
  for (int i = 0; i < dim; ++i) v[i] *= inv;
}

// Random unit vectors; about a fifth are exact copies of an earlier vector (distance ties,
// broken by uid); one zero vector; uids scattered (not in row order).
Pool make_pool(Rng& r, size_t n, int dim) {
  Pool p;
  p.dim = dim;
  p.x.resize(n * dim);
  for (size_t i = 0; i < n; ++i) {
    float* v = &p.x[i * dim];
    if (i > 0 && r.below(5) == 0) {
      size_t src = r.below(i);
      std::copy(&p.x[src * dim], &p.x[src * dim] + dim, v);
    } else {
      for (int k = 0; k < dim; ++k) v[k] = float(r.normal());
      normalise(v, dim);
    }
    p.uid.push_back(mix64(i + 1000) >> 8);
  }
  if (n > 3) std::fill(&p.x[3 * dim], &p.x[4 * dim], 0.f);
  return p;
}

std::vector<float> make_queries(Rng& r, const Pool& p, int nq) {
  std::vector<float> q(size_t(nq) * p.dim);
  for (int j = 0; j < nq; ++j) {
    float* v = &q[size_t(j) * p.dim];
    if (p.n() > 0 && r.below(2) == 0) {  // some queries are pool vectors (distance-0 hits)
      size_t src = r.below(p.n());
      std::copy(&p.x[src * p.dim], &p.x[src * p.dim] + p.dim, v);
    } else {
      for (int k = 0; k < p.dim; ++k) v[k] = float(r.normal());
      normalise(v, p.dim);
    }
  }
  return q;
}

// The reference: every (query, item) pair by a plain double loop, sorted, cut at K.
AnchorLists naive(const std::vector<float>& q, int nq, const Pool& p, int K, const std::set<uint64_t>& excl) {
  AnchorLists out(K, size_t(nq));
  for (int j = 0; j < nq; ++j) {
    std::vector<Neighbour> all;
    for (size_t i = 0; i < p.n(); ++i) {
      if (excl.count(p.uid[i])) continue;
      double s = 0;
      for (int k = 0; k < p.dim; ++k) s += double(q[size_t(j) * p.dim + k]) * double(p.x[i * p.dim + k]);
      float d = float(1.0 - s);
      if (std::isnan(d)) continue;
      all.push_back({d, p.uid[i]});
    }
    std::sort(all.begin(), all.end(), [](const Neighbour& a, const Neighbour& b) {
      return a.dist != b.dist ? a.dist < b.dist : a.uid < b.uid;
    });
    if (all.size() > size_t(K)) all.resize(size_t(K));
    out.lists[size_t(j)] = all;
  }
  return out;
}

// Searches p in random consecutive blocks through exact_search's accumulator.
AnchorLists blocked(const std::vector<float>& q, int nq, const Pool& p, int K, const std::vector<uint64_t>* excl,
                    Rng& r, ExactOptions opt) {
  AnchorLists acc(K, 0);
  size_t i = 0;
  while (i < p.n()) {
    size_t nb = std::min(p.n() - i, size_t(1 + r.below(p.n() / 2 + 1)));
    exact_search(q.data(), nq, &p.x[i * p.dim], &p.uid[i], nb, p.dim, excl, acc, opt);
    i += nb;
  }
  if (acc.lists.empty()) acc.lists.resize(size_t(nq));
  return acc;
}

}  // namespace

TEST(Exact, CanonicalDistanceFormula) {
  float a[3] = {1, 0, 0}, b[3] = {0, 1, 0}, z[3] = {0, 0, 0};
  EXPECT_EQ(cosine_distance(a, a, 3), 0.f);
  EXPECT_EQ(cosine_distance(a, b, 3), 1.f);
  EXPECT_EQ(cosine_distance(a, z, 3), 1.f);  // zero vector: distance 1
  float c[2] = {0.6f, 0.8f}, d[2] = {-0.6f, -0.8f};
  EXPECT_FLOAT_EQ(cosine_distance(c, d, 2), 2.f);
}

TEST(Exact, BlockedSearchEqualsNaiveLoopWithTiesAndExclusions) {
  Rng r(21);
  int trial = 0;
  for (int dim : {1, 5, 17, 64, 130}) {
    for (int rep = 0; rep < 6; ++rep, ++trial) {
      size_t n = r.below(400);
      Pool p = make_pool(r, n, dim);
      int nq = int(r.below(9));
      auto q = make_queries(r, p, nq);
      int K = std::vector<int>{0, 1, 3, 10, 50, 1000}[r.below(6)];
      std::set<uint64_t> ex;
      for (size_t i = 0; i < n; ++i)
        if (r.below(6) == 0) ex.insert(p.uid[i]);
      ex.insert(12345);  // a uid not in the pool
      std::vector<uint64_t> exv(ex.begin(), ex.end());
      ExactOptions opt;
      opt.block_rows = int(r.below(3)) == 0 ? 0 : int(1 + r.below(70));
      opt.query_tile = int(r.below(4));
      opt.threads = int(r.below(3));
      auto got = blocked(q, nq, p, K, &exv, r, opt);
      auto want = naive(q, nq, p, K, ex);
      ASSERT_EQ(got.K, K);
      ASSERT_EQ(got.lists.size(), size_t(nq));
      for (int j = 0; j < nq; ++j)
        EXPECT_EQ(got.lists[j], want.lists[j])
            << "trial " << trial << " dim " << dim << " n " << n << " K " << K << " query " << j;
      for (const auto& l : got.lists)
        for (const auto& e : l) EXPECT_EQ(ex.count(e.uid), 0u);
      EXPECT_NO_THROW(validate(got, "result"));
    }
  }
}

// Items nearly parallel to the query: their dot products agree to within float rounding,
// so a GEMM in float cannot order them; the canonical order must still come out exactly.
TEST(Exact, NearTiesResolvedCanonically) {
  Rng r(22);
  const int dim = 96, n = 3000, K = 40;
  Pool p;
  p.dim = dim;
  std::vector<float> q(dim);
  for (auto& v : q) v = float(r.normal());
  normalise(q.data(), dim);
  p.x.resize(size_t(n) * dim);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < dim; ++k) p.x[size_t(i) * dim + k] = q[k] + float(r.normal()) * 3e-4f;
    normalise(&p.x[size_t(i) * dim], dim);
    p.uid.push_back(uint64_t(n - i));
  }
  auto want = naive(q, 1, p, K, {});
  for (int threads : {1, 2}) {
    for (int rows : {16, 100, 0}) {
      AnchorLists acc(K, 1);
      exact_search(q.data(), 1, p.x.data(), p.uid.data(), p.n(), dim, nullptr, acc, {rows, 0, threads});
      EXPECT_EQ(acc.lists[0], want.lists[0]) << threads << " threads, " << rows << " rows";
    }
  }
  // In float arithmetic (what a GEMM yields) these items are indistinguishable: many of the
  // top K share one float dot product, while the canonical distances all differ.
  std::set<float> float_dots, canonical;
  for (const auto& e : want.lists[0]) {
    size_t i = size_t(n) - size_t(e.uid);
    float s = 0;
    for (int k = 0; k < dim; ++k) s += q[k] * p.x[i * dim + k];
    float_dots.insert(s);
    canonical.insert(e.dist);
  }
  EXPECT_LT(float_dots.size(), size_t(K) / 2);
  EXPECT_GT(canonical.size(), size_t(K) / 2);
}

TEST(Exact, ScannerOverManyBlocksEqualsOneScanAndScreensMostPairs) {
  Rng r(23);
  const int dim = 32, nq = 7, K = 10;
  Pool p = make_pool(r, 20000, dim);
  auto q = make_queries(r, p, nq);
  ExactScanner one(q.data(), nq, dim, K, nullptr, {0, 0, 1});
  one.scan(p.x.data(), p.uid.data(), p.n());
  ExactScanner many(q.data(), nq, dim, K, nullptr, {64, 3, 2});
  for (size_t i = 0; i < p.n(); i += 999)
    many.scan(&p.x[i * dim], &p.uid[i], std::min<size_t>(999, p.n() - i));
  EXPECT_EQ(one.result(), many.result());
  EXPECT_EQ(one.result(), naive(q, nq, p, K, {}));
  EXPECT_EQ(one.items_scanned(), p.n());
  EXPECT_EQ(many.items_scanned(), p.n());
  // The threshold test must reject the bulk of the pairs (one thread: a fixed count).
  EXPECT_LT(one.candidates(), uint64_t(nq) * p.n() / 10) << one.candidates();
  EXPECT_GE(one.candidates(), uint64_t(nq) * K);
}

TEST(Exact, RescanningABlockIntoTheAccumulatorChangesNothing) {
  Rng r(24);
  const int dim = 16, nq = 5, K = 8;
  Pool p = make_pool(r, 700, dim);
  auto q = make_queries(r, p, nq);
  AnchorLists acc(K, 0);
  exact_search(q.data(), nq, p.x.data(), p.uid.data(), p.n(), dim, nullptr, acc);
  auto once = acc;
  EXPECT_EQ(once, naive(q, nq, p, K, {}));
  // A resubmitted block (e.g. a preempted task rerun) must not duplicate uids.
  exact_search(q.data(), nq, p.x.data() + 100 * dim, p.uid.data() + 100, 300, dim, nullptr, acc, {32, 0, 2});
  EXPECT_EQ(acc, once);
  EXPECT_NO_THROW(validate(acc, "rescanned"));
}

TEST(Exact, NonFiniteItemsAreNeverReturned) {
  const int dim = 4;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {1, 0, 0, 0, std::nanf(""), 0, 0, 0, 0, 1, 0, 0, inf, 0, 0, 0, 0, -inf, 0, 0};
  std::vector<uint64_t> u = {1, 2, 3, 4, 5};
  float q[4] = {1, 0, 0, 0};
  AnchorLists acc(5, 0);
  exact_search(q, 1, x.data(), u.data(), 5, dim, nullptr, acc);
  EXPECT_EQ(acc.lists[0], (std::vector<Neighbour>{{0.f, 1}, {1.f, 3}}));
}

TEST(Exact, RejectsBadArguments) {
  float q[2] = {1, 0};
  std::vector<uint64_t> unsorted = {5, 3};
  EXPECT_THROW(ExactScanner(q, 1, 2, 3, &unsorted), UsageError);
  EXPECT_THROW(ExactScanner(q, 1, 0, 3), UsageError);
  EXPECT_THROW(ExactScanner(q, 1, 2, -1), UsageError);
  std::vector<float> x = {1, 0};
  std::vector<uint64_t> u = {kNoUid};
  ExactScanner s(q, 1, 2, 3);
  EXPECT_THROW(s.scan(x.data(), u.data(), 1), InputError);
  AnchorLists wrong(4, 1);
  EXPECT_THROW(s.seed(wrong), InputError);
}

// Every approximate-dot kernel — the few-query kernel (nq <= 64: AVX-512 on CPUs that have it,
// else AVX2/FMA; TRAWL_EXACT_KERNEL=avx2 forces the latter), and the GEMM
// (TRAWL_EXACT_KERNEL=gemm, and always above 64 queries) — gives the naive loop's lists:
// 1..100 queries, so every vector count of the kernels (1-8 of 8 lanes, 1-4 of 16, odd counts
// padded) and their row tails.
TEST(Exact, FewQueryKernelAndGemmBothEqualTheNaiveLoop) {
  Rng r(77);
  for (int nq : {1, 3, 8, 9, 17, 20, 33, 41, 49, 57, 64, 65, 100}) {
    for (int dim : {3, 32, 67}) {
      size_t n = 150 + r.below(200);
      Pool p = make_pool(r, n, dim);
      auto q = make_queries(r, p, nq);
      int K = std::vector<int>{1, 10, 60}[r.below(3)];
      std::set<uint64_t> ex;
      for (size_t i = 0; i < n; i += 7) ex.insert(p.uid[i]);
      std::vector<uint64_t> exv(ex.begin(), ex.end());
      auto want = naive(q, nq, p, K, ex);
      for (const char* kernel : {"auto", "avx2", "gemm"}) {
        if (std::string(kernel) != "auto") {
          setenv("TRAWL_EXACT_KERNEL", kernel, 1);
        } else {
          unsetenv("TRAWL_EXACT_KERNEL");
        }
        ExactOptions opt;
        opt.block_rows = int(1 + r.below(90));
        auto got = blocked(q, nq, p, K, &exv, r, opt);
        for (int j = 0; j < nq; ++j)
          ASSERT_EQ(got.lists[size_t(j)], want.lists[size_t(j)])
              << kernel << " kernel, nq " << nq << " dim " << dim << " n " << n << " K " << K << " query " << j;
      }
      unsetenv("TRAWL_EXACT_KERNEL");
    }
  }
}

// keep_vectors: every neighbour in the result comes back with its own row's vector (checked
// against the pool, by uid), whatever the threads and however often the kept rows were
// compacted (20,000 items × 40 queries overflow the first 4,096-row store several times).
TEST(Exact, KeptVectorsAreTheResultItemsOwnRows) {
  Rng r(91);
  const int dim = 24, nq = 40, K = 30;
  Pool p = make_pool(r, 20000, dim);
  auto q = make_queries(r, p, nq);
  for (int threads : {1, 2}) {
    ExactOptions opt;
    opt.threads = threads;
    opt.block_rows = 128;
    opt.keep_vectors = true;
    ExactScanner s(q.data(), nq, dim, K, nullptr, opt);
    for (size_t i = 0; i < p.n(); i += 3001) s.scan(&p.x[i * dim], &p.uid[i], std::min<size_t>(3001, p.n() - i));
    auto res = s.result();
    ASSERT_EQ(res, naive(q, nq, p, K, {}));
    std::vector<uint64_t> want;
    for (auto& l : res.lists)
      for (auto& n : l) want.push_back(n.uid);
    want.push_back(12345);  // not in the pool: not returned
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    std::vector<uint64_t> got;
    std::vector<float> vec;
    s.kept_vectors(want, got, vec);
    ASSERT_EQ(got.size(), want.size() - 1) << threads << " threads";
    ASSERT_EQ(vec.size(), got.size() * dim);
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
    for (size_t i = 0; i < got.size(); ++i) {
      size_t row = size_t(std::find(p.uid.begin(), p.uid.end(), got[i]) - p.uid.begin());
      ASSERT_LT(row, p.n());
      for (int d = 0; d < dim; ++d) ASSERT_EQ(vec[i * dim + d], p.x[row * dim + d]) << "uid " << got[i];
    }
  }
  // Without keep_vectors nothing is kept.
  ExactScanner off(q.data(), nq, dim, K);
  off.scan(p.x.data(), p.uid.data(), p.n());
  std::vector<uint64_t> got;
  std::vector<float> vec;
  std::vector<uint64_t> all = p.uid;
  std::sort(all.begin(), all.end());
  off.kept_vectors(all, got, vec);
  EXPECT_TRUE(got.empty());
}

// A norm bound handed to scan() (as the mapped-shard reader gives one per chunk) replaces the
// scan's own pass over the rows: same lists as the naive loop, with a tight bound or a loose one.
TEST(Exact, AGivenNormBoundGivesTheSameLists) {
  Rng r(92);
  const int dim = 40, nq = 9, K = 12;
  Pool p = make_pool(r, 5000, dim);
  auto q = make_queries(r, p, nq);
  float mx = 0;
  for (size_t i = 0; i < p.n(); ++i) {
    double s2 = 0;
    for (int d = 0; d < dim; ++d) s2 += double(p.x[i * dim + d]) * p.x[i * dim + d];
    mx = std::max(mx, float(std::sqrt(s2)));
  }
  for (float bound : {mx * (1.0f + std::ldexp(1.0f, -10)), 4.0f * mx}) {
    ExactScanner s(q.data(), nq, dim, K);
    for (size_t i = 0; i < p.n(); i += 1000) s.scan(&p.x[i * dim], &p.uid[i], std::min<size_t>(1000, p.n() - i), bound);
    EXPECT_EQ(s.result(), naive(q, nq, p, K, {})) << bound;
  }
}
