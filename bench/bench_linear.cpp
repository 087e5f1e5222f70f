// trawl-libs: trawl_linear
// bench_linear: the TF-IDF featuriser and the logistic-regression fit of src/train/linear.h on
// synthetic hashed token documents (10-30 tokens per row, ~20 nonzero buckets of 2^18), and the
// same fit by scikit-learn in the same run (Debian's /usr/bin/python3, python3-sklearn 1.2, via
// tests/support/logreg_ref.py bench: LogisticRegression(solver='lbfgs', tol=1e-12,
// max_iter=100000) on the full-width CSR matrix, as a user would call it).
//
//   bench_linear [--sizes 1000,10000] [--classes 2,3] [--C 1] [--balanced 1] [--buckets 262144]
//                [--reps 1] [--no-sklearn] [--source DIR]
//
//   --sizes      rows n
//   --classes    classes K (2 = binary sigmoid, 3+ = multinomial)
//   --C          inverse L2 strength
//   --reps       runs per trawl figure; the best is printed (timings are never asserted)
//   --source     the source tree holding tests/support/logreg_ref.py (default $TRAWL_SOURCE, else
//                the tree this file was compiled from)
// Printed per (n, K): featuriser rows/s; trawl fit seconds, L-BFGS iterations, final ‖∇F‖₂;
// sklearn seconds and iterations, and the time ratio sklearn / trawl. sklearn's lbfgs stops on
// scipy's relative-decrease test (ftol 2.2e-9) well before trawl's gradient rule, so its
// iteration count is lower and it does less work than trawl for a less accurate answer (see
// tests/support/logreg_ref.py): the ratio compares "a fit as each tool ships it".
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <map>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/rng.h"
#include "train/linear.h"

using namespace trawl;
using namespace trawl::train::linear;
using trawl::bench::arg;
using trawl::bench::best_of;
using trawl::bench::flag;
using trawl::bench::now;
using trawl::bench::parse_list;

namespace {

struct Docs {
  std::vector<uint64_t> off{0};
  std::vector<uint32_t> ids;
  std::vector<int> y;
};

// Class c uses its own 300 tokens with probability 0.25, else a shared background of 50000
// tokens; log-uniform (Zipf-like) draws; ids are 32-bit hashes of the token number.
Docs make_docs(size_t n, int K, uint64_t seed) {
  Rng r(seed);
  Docs d;
  auto logu = [&](uint64_t m) {
    return std::min<uint64_t>(m - 1, uint64_t(std::exp(r.uniform() * std::log(double(m) + 1.0)) - 1.0));
  };
  for (size_t i = 0; i < n; ++i) {
    const int c = r.uniform() < 0.6 ? 0 : 1 + int(r.below(uint64_t(K - 1)));  // class 0 is the majority
    d.y.push_back(c);
    const int len = 10 + int(r.below(21));
    for (int t = 0; t < len; ++t) {
      const uint64_t tok = r.uniform() < 0.25 ? uint64_t(c) * 300 + logu(300) : uint64_t(K) * 300 + logu(50000);
      d.ids.push_back(uint32_t(mix64(tok * 0x9e3779b97f4a7c15ULL + 7) >> 17));
    }
    d.off.push_back(d.ids.size());
  }
  return d;
}

template <class T>
bool write_bin(const std::string& path, const std::vector<T>& v) {
  std::ofstream o(path, std::ios::binary);
  o.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  return bool(o);
}

std::string source_dir(int argc, char** argv) {
  std::string s = arg(argc, argv, "--source", "");
  if (!s.empty()) return s;
  if (const char* e = std::getenv("TRAWL_SOURCE")) return e;
  std::string f = __FILE__;  // <source>/bench/bench_linear.cpp
  const size_t p = f.rfind("/bench/");
  return p == std::string::npos ? "." : f.substr(0, p);
}

// Runs sklearn on (X, y); returns false when it cannot.
bool sklearn_fit(const std::string& script, const Csr& X, const std::vector<int>& y, int K, double C, bool bal,
                 double* seconds, int* iters) {
  const char* t = std::getenv("TMPDIR");
  std::string tmpl = std::string(t && *t ? t : "/tmp") + "/trawl-bench-linear-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) return false;
  const std::string dir = buf.data();
  char meta[256];
  std::snprintf(meta, sizeof meta, "%zu %lld %d %.17g %d 1\n", X.rows(), (long long)X.cols, K, C, bal ? 1 : 0);
  bool ok = true;
  {
    std::ofstream m(dir + "/meta.txt");
    m << meta;
    ok = bool(m);
  }
  ok = ok && write_bin(dir + "/offsets.u64", X.offsets) && write_bin(dir + "/index.u32", X.index) &&
       write_bin(dir + "/value.f32", X.value) && write_bin(dir + "/y.i32", y);
  std::string out;
  if (ok) {
    const std::string cmd = "/usr/bin/python3 '" + script + "' bench '" + dir + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
      ok = false;
    } else {
      char line[4096];
      while (std::fgets(line, sizeof line, p)) out += line;
      ok = pclose(p) == 0 && std::sscanf(out.c_str(), "%lf %d", seconds, iters) == 2;
    }
  }
  const std::string rm = "rm -rf '" + dir + "'";
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  if (!ok) std::fprintf(stderr, "sklearn reference failed: %s\n", out.c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
      "usage: bench_linear [--sizes 1000,10000] [--classes 2,3] [--C 1] [--balanced 1] [--buckets 262144]\n"
      "                    [--reps 1] [--no-sklearn] [--source DIR]\n"
      "The TF-IDF featuriser and trawl's logistic-regression fit on synthetic hashed documents, next to\n"
      "scikit-learn's fit of the same matrix in the same run.\n"))
    return 0;
  const auto sizes = parse_list(arg(argc, argv, "--sizes", "1000,10000"));
  const auto classes = parse_list(arg(argc, argv, "--classes", "2,3"));
  const double C = std::stod(arg(argc, argv, "--C", "1"));
  const bool bal = std::stoi(arg(argc, argv, "--balanced", "1")) != 0;
  const uint32_t buckets = uint32_t(std::stoul(arg(argc, argv, "--buckets", "262144")));
  const int reps = std::max(1, std::stoi(arg(argc, argv, "--reps", "1")));
  const bool use_sk = !flag(argc, argv, "--no-sklearn");
  const std::string script = source_dir(argc, argv) + "/tests/support/logreg_ref.py";
  const bool have_script = use_sk && access(script.c_str(), R_OK) == 0;
  if (use_sk && !have_script) std::fprintf(stderr, "no %s: sklearn column skipped\n", script.c_str());

  std::printf("bench_linear: buckets %u, C %g, class_weight %s, tol %g (default), 1 thread\n", buckets, C,
              bal ? "balanced" : "none", LogregOptions{}.tol);
  std::printf("%7s %2s %9s %10s | %9s %6s %9s %5s | %9s %6s %7s\n", "n", "K", "nnz/row", "feat row/s", "fit s",
              "iters", "grad", "conv", "sklearn s", "iters", "sk/trawl");
  for (long n : sizes) {
    for (long K : classes) {
      const Docs d = make_docs(size_t(n), int(K), 1000 + uint64_t(n) * 7 + uint64_t(K));
      // Pool vocabulary of the documents for the idf.
      std::map<uint32_t, uint64_t> df;
      for (size_t i = 0; i < size_t(n); ++i) {
        std::set<uint32_t> s(d.ids.begin() + long(d.off[i]), d.ids.begin() + long(d.off[i + 1]));
        for (uint32_t t : s) ++df[t];
      }
      std::vector<uint32_t> vid;
      std::vector<uint64_t> vdf;
      for (auto& [t, c] : df) vid.push_back(t), vdf.push_back(c);
      const auto idf = bucket_idf(vid, vdf, uint64_t(n), buckets);
      Csr X;
      const double tf = best_of(reps, [&] { tfidf_rows(d.off.data(), d.ids.data(), size_t(n), buckets, idf.data(), &X); });

      LogregOptions o;
      o.C = C;
      o.class_weight_balanced = bal;
      LogregFit f;
      const double tfit = best_of(reps, [&] { f = fit_logreg(X, d.y, int(K), o); });

      double sk_s = 0;
      int sk_it = 0;
      const bool sk = have_script && sklearn_fit(script, X, d.y, int(K), C, bal, &sk_s, &sk_it);
      char skcol[64] = "        -      -       -";
      if (sk) std::snprintf(skcol, sizeof skcol, "%9.3f %6d %7.1f", sk_s, sk_it, sk_s / tfit);
      std::printf("%7ld %2ld %9.1f %10.3g | %9.3f %6d %9.1e %5s | %s\n", n, K, double(X.index.size()) / double(n),
                  double(n) / tf, tfit, f.iterations, f.grad_norm, f.converged ? "yes" : "NO", skcol);
      std::fflush(stdout);
    }
  }
  return 0;
}
