// trawl-libs: trawl_embed
// The lsa encoder's sparse TF-IDF × dense basis product against the memory bandwidth of the basis
// rows it touches. One thread (the per-core figure; the encoder's threads split rows).
//   bench_lsa_encoder [--encoder FILE] [--rows 200000] [--features 65536] [--dim 256]
//                     [--unigrams 24] [--reps 3]
// Without --encoder a synthetic model (V features, random basis, idf from a Zipf df). Rows: half
// of the tokens are features drawn by a log-uniform rank in df order, half ids the model does
// not select (a package summary has 11.7 selected ids on average: --unigrams 24).
// Reports, best of reps:
//   encode    — Encoder::encode on token ids (featurise: column lookup, sublinear tf · idf, L2;
//               then Σ x_j · basis[j] and the row's L2 normalisation);
//   product   — the product alone on the featurised rows (Σ x_j · basis[j], float), this file's
//               plain loop;
//   prefetch  — the same with the basis row 4 entries ahead prefetched (what the encoder did
//               before its register slabs);
//   huge      — prefetch, from a copy of the basis in transparent huge pages;
//   slab      — the encoder's product (embed::basis_product: slabs of 64 outputs in registers
//               while the row's entries stream by, the next row's basis rows prefetched);
//   gather    — the limit: the same basis rows in the same order, prefetched alike, only summed;
//   read-sum  — a sequential sum over 1 GiB (the core's memory read bandwidth);
// each as rows/s and as GB/s of basis rows touched (selected ids × dim × 4 bytes).
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "embed/encoder.h"
#include "embed/lsa.h"
#include "train/linear.h"

using namespace trawl;
using bench::arg;
using bench::best_of;

namespace {

std::shared_ptr<embed::LsaModel> synthetic_model(size_t V, int d, uint64_t seed) {
  auto m = std::make_shared<embed::LsaModel>();
  std::mt19937_64 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  m->dim = d;
  for (size_t j = 0; j < V; ++j) {
    m->id.push_back(uint32_t(j * 4));
    m->df.push_back(uint64_t(1e6 / double(j + 1)) + 1);
    m->idf.push_back(float(std::log((1.0 + 1e6) / (1.0 + double(m->df.back()))) + 1.0));
  }
  m->basis.resize(V * size_t(d));
  for (auto& x : m->basis) x = nd(g) / std::sqrt(float(V));
  m->singular_values.assign(size_t(d), 1.0);
  return m;
}

// Token id lists of `tokens` ids per row: each token is, with probability 1/2, one of the model's
// features, drawn by a log-uniform rank in decreasing df (frequent features often, the tail
// rarely, as in text), else an id the model does not select.
void make_rows(const embed::LsaModel& m, size_t n, int tokens, uint64_t seed, std::vector<uint64_t>* offs,
               std::vector<uint32_t>* ids) {
  std::vector<uint32_t> by_df(m.features());
  for (size_t j = 0; j < by_df.size(); ++j) by_df[j] = uint32_t(j);
  std::stable_sort(by_df.begin(), by_df.end(), [&](uint32_t a, uint32_t b) { return m.df[a] > m.df[b]; });
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(0, 1);
  offs->assign(1, 0);
  ids->clear();
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < tokens; ++k) {
      if (g() & 1) {
        const size_t r = std::min(by_df.size() - 1, size_t(std::pow(double(by_df.size()), u(g))) - 1);
        ids->push_back(m.id[by_df[r]]);
      } else {
        uint32_t x;
        do x = uint32_t(g()); while (std::binary_search(m.id.begin(), m.id.end(), x));
        ids->push_back(x);
      }
    }
    offs->push_back(ids->size());
  }
}

// out[r] = Σ_q value[q] · basis[index[q]], float, one row at a time (no prefetching: the
// plain loop, vectorised as the encoder's is).
__attribute__((target_clones("avx2", "default"))) void product(const train::linear::Csr& x, const float* basis, int d, float* out) {
  for (size_t r = 0; r < x.rows(); ++r) {
    float* o = out + r * size_t(d);
    std::fill(o, o + d, 0.0f);
    for (uint64_t q = x.offsets[r]; q < x.offsets[r + 1]; ++q) {
      const float* b = basis + size_t(x.index[q]) * size_t(d);
      const float a = x.value[q];
      for (int t = 0; t < d; ++t) o[t] += a * b[t];
    }
  }
}

// The same with the basis row of the entry 4 ahead prefetched, as the encoder does.
__attribute__((target_clones("avx2", "default"))) void product_prefetch(const train::linear::Csr& x,
                                                                        const float* basis, int d, float* out) {
  const uint64_t end = x.offsets.back();
  for (size_t r = 0; r < x.rows(); ++r) {
    float* o = out + r * size_t(d);
    std::fill(o, o + d, 0.0f);
    for (uint64_t q = x.offsets[r]; q < x.offsets[r + 1]; ++q) {
      if (q + 4 < end) {
        const char* p = reinterpret_cast<const char*>(basis + size_t(x.index[q + 4]) * size_t(d));
        for (size_t b = 0; b < size_t(d) * sizeof(float); b += 64) __builtin_prefetch(p + b);
      }
      const float* b = basis + size_t(x.index[q]) * size_t(d);
      const float a = x.value[q];
      for (int t = 0; t < d; ++t) o[t] += a * b[t];
    }
  }
}

// The limit for this access pattern: the same basis rows in the same order, prefetched the same
// way, only summed (16 float accumulators, no weights, no output rows): the rate at which the
// memory system delivers exactly the rows the product touches.
__attribute__((target_clones("avx2", "default"))) float gather_sum(const train::linear::Csr& x, const float* basis,
                                                                   int d) {
  const uint64_t end = x.offsets.back();
  float s[16] = {0};
  for (uint64_t q = 0; q < end; ++q) {
    if (q + 4 < end) {
      const char* p = reinterpret_cast<const char*>(basis + size_t(x.index[q + 4]) * size_t(d));
      for (size_t b = 0; b < size_t(d) * sizeof(float); b += 64) __builtin_prefetch(p + b);
    }
    const float* b = basis + size_t(x.index[q]) * size_t(d);
    for (int t = 0; t < d; t += 16)
      for (int u = 0; u < 16; ++u) s[u] += b[t + u];
  }
  float tot = 0;
  for (float v : s) tot += v;
  return tot;
}

}  // namespace

int main(int argc, char** argv) {
  if (bench::flag(argc, argv, "--help")) {
    std::printf("bench_lsa_encoder [--encoder FILE] [--rows N] [--features V] [--dim D] [--unigrams U] [--reps R]\n");
    return 0;
  }
  const size_t n = std::stoull(arg(argc, argv, "--rows", "200000"));
  const int reps = std::stoi(arg(argc, argv, "--reps", "3"));
  const int unigrams = std::stoi(arg(argc, argv, "--unigrams", "24"));
  const std::string path = arg(argc, argv, "--encoder", "");
  std::shared_ptr<embed::LsaModel> m;
  if (!path.empty()) {
    m = std::make_shared<embed::LsaModel>(embed::read_lsa(path));
  } else {
    m = synthetic_model(std::stoull(arg(argc, argv, "--features", "65536")),
                        std::stoi(arg(argc, argv, "--dim", "256")), 1);
  }
  omp_set_num_threads(1);
  const size_t V = m->features();
  const int d = m->dim;
  // Token ids over 4·V ids when synthetic; with a real encoder, over its own id range.
  std::vector<uint64_t> offs;
  std::vector<uint32_t> ids;
  make_rows(*m, n, unigrams, 42, &offs, &ids);
  embed::LsaFeaturizer feat(m->id, m->idf);
  train::linear::Csr x;
  feat.rows(offs.data(), ids.data(), n, &x);
  const double entries = double(x.offsets.back());
  const double basis_bytes = entries * double(d) * 4.0;
  std::printf("# lsa encoder, 1 thread: %zu rows, V = %zu, dim %d (basis %.0f MiB), %.1f selected ids per row "
              "(%.1f tokens), best of %d\n",
              n, V, d, double(V) * d * 4 / (1 << 20), entries / double(n), double(ids.size()) / double(n), reps);
  auto enc = embed::make_lsa_encoder(m);
  std::vector<float> out(n * size_t(d));
  std::vector<std::string> texts(n);  // unused: token ids are given
  const double t_enc = best_of(reps, [&] { enc->encode(texts, offs, ids, out.data()); });
  train::linear::Csr x2;
  const double t_feat = best_of(reps, [&] {
    for (size_t r0 = 0; r0 < n; r0 += 512) feat.rows(offs.data() + r0, ids.data(), std::min<size_t>(512, n - r0), &x2);
  });
  const double t_prod = best_of(reps, [&] { product(x, m->basis.data(), d, out.data()); });
  const double t_pref = best_of(reps, [&] { product_prefetch(x, m->basis.data(), d, out.data()); });
  const double t_slab = best_of(reps, [&] { embed::basis_product(*m, x, out.data()); });
  volatile float gsink = 0;
  const double t_gather = best_of(reps, [&] { gsink = gsink + gather_sum(x, m->basis.data(), d); });
  // The same from a copy of the basis in 2 MiB pages (transparent huge pages asked for).
  const size_t bytes = (m->basis.size() * sizeof(float) + (size_t(1) << 21) - 1) & ~((size_t(1) << 21) - 1);
  float* huge = static_cast<float*>(std::aligned_alloc(size_t(1) << 21, bytes));
  ::madvise(huge, bytes, MADV_HUGEPAGE);
  std::copy(m->basis.begin(), m->basis.end(), huge);
  const double t_huge = best_of(reps, [&] { product_prefetch(x, huge, d, out.data()); });
  std::free(huge);
  // Read-sum over 1 GiB of floats.
  std::vector<float> big(size_t(1) << 28, 1.0f);
  volatile float sink = 0;
  const double t_read = best_of(reps, [&] {
    float s[16] = {0};
    for (size_t i = 0; i < big.size(); i += 16)
      for (int t = 0; t < 16; ++t) s[t] += big[i + size_t(t)];
    float tot = 0;
    for (float v : s) tot += v;
    sink = sink + tot;
  });
  const double bw = double(big.size()) * 4.0 / t_read;
  auto line = [&](const char* what, double t) {
    std::printf("%-9s %10.3f s %12.0f rows/s %8.2f GB/s of basis rows  = %5.1f%% of gather, %5.1f%% of read-sum\n",
                what, t, double(n) / t, basis_bytes / t / 1e9, 100.0 * t_gather / t, 100.0 * basis_bytes / t / bw);
  };
  line("encode", t_enc);
  line("product", t_prod);
  line("prefetch", t_pref);
  line("huge", t_huge);
  line("slab", t_slab);
  line("gather", t_gather);
  std::printf("%-9s %10.3f s %35.2f GB/s\n", "read-sum", t_read, bw / 1e9);
  std::printf("%-9s %10.3f s %12.0f rows/s (token ids -> TF-IDF rows, in the encoder's pieces of 512 rows)\n",
              "featurise", t_feat, double(n) / t_feat);
  std::printf("encode / product time: %.2fx (the featurisation and normalisation on top of the product)\n",
              t_enc / t_prod);
  return 0;
}
