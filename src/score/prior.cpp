#include "score/prior.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "formats/scores.h"

namespace trawl::score {

using formats::ScoresReader;
using formats::scores_file_name;

std::vector<double> weighted_training_prior(const std::vector<std::string>& classes,
                                            const std::map<uint64_t, std::string>& labelled) {
  std::set<std::string> present;
  for (auto& [u, l] : labelled) present.insert(l);
  std::vector<double> tp(classes.size(), 0.0);
  size_t k = 0;
  for (auto& c : classes) k += present.count(c);
  for (size_t c = 0; c < classes.size(); ++c)
    if (present.count(classes[c])) tp[c] = 1.0 / double(k);
  return tp;
}

Calibration calibrate_from_oof(const std::string& oof, const std::map<uint64_t, std::string>& labelled,
                               std::vector<std::string>* classes) {
  ScoresReader r(oof);
  *classes = r.info().classes;
  const int C = int(classes->size());
  std::vector<uint64_t> uid;
  std::vector<float> probs;
  r.read(0, r.info().rows, uid, probs);
  std::vector<int> y(uid.size());
  std::vector<uint64_t> count(size_t(C), 0);
  for (size_t i = 0; i < uid.size(); ++i) {
    auto it = labelled.find(uid[i]);
    if (it == labelled.end()) throw InputError(cat(oof, ": uid ", uid[i], " is not among the labelled items"));
    y[i] = int(std::find(classes->begin(), classes->end(), it->second) - classes->begin());
    if (y[i] == C) throw InputError(cat(oof, ": label '", it->second, "' of uid ", uid[i], " is not a model class"));
    count[size_t(y[i])]++;
  }
  std::vector<double> w(size_t(C), 0.0);
  uint64_t present = 0;
  for (auto c : count) present += c > 0;
  for (int c = 0; c < C; ++c)
    if (count[size_t(c)]) w[size_t(c)] = double(uid.size()) / (double(present) * double(count[size_t(c)]));
  return fit_calibration(probs.data(), y.data(), uid.size(), C, w);
}

PoolPrior estimate_pool_prior(const mpi::Comm& comm, const pool::Pool& p, const std::string& scores_dir,
                              const std::vector<uint64_t>& skip, const std::vector<double>& train_prior,
                              const Calibration* cal, double tol, int max_iter) {
  PoolPrior pp;
  pp.train_prior = train_prior;
  if (cal) pp.calibration = *cal, pp.calibrated = true;
  const size_t S = p.shards.size();
  const int C = int(train_prior.size());
  struct Local {
    size_t shard;
    std::vector<float> q;  // unlabelled rows' (calibrated) probabilities, n × C
  };
  std::vector<Local> local;
  std::vector<double> qd(size_t(C), 0.0);
  for (size_t s = size_t(comm.rank()); s < S; s += size_t(comm.size())) {
    const std::string path = join_path(scores_dir, basename(scores_file_name(p.shards[s])));
    ScoresReader sr(path);
    if (pp.classes.empty()) pp.classes = sr.info().classes;
    if (sr.info().classes != pp.classes || int(pp.classes.size()) != C)
      throw InputError(cat(path, ": ", sr.info().classes.size(), " classes; expected the ", C, " of the model"));
    Local l{s, {}};
    std::vector<uint64_t> uid;
    std::vector<float> probs;
    for (uint64_t b = 0; b < sr.info().rows; b += 65536) {
      sr.read(b, std::min(sr.info().rows, b + 65536), uid, probs);
      for (size_t k = 0; k < uid.size(); ++k) {
        if (std::binary_search(skip.begin(), skip.end(), uid[k])) continue;
        const float* pr = probs.data() + k * size_t(C);
        if (cal) {
          cal->apply(pr, C, qd.data());
          for (int c = 0; c < C; ++c) l.q.push_back(float(qd[size_t(c)]));
        } else {
          l.q.insert(l.q.end(), pr, pr + C);
        }
      }
    }
    local.push_back(std::move(l));
  }
  uint64_t mine = 0;
  for (auto& l : local) mine += l.q.size() / size_t(C);
  pp.items = comm.sum(mine);
  // Every rank needs the class names (a rank may hold no shard).
  comm.bcast_from_first_nonempty(pp.classes);
  pp.prior = train_prior;
  for (pp.iterations = 0; pp.iterations < max_iter && pp.items > 0;) {
    std::vector<double> part(S * size_t(C), 0.0);
    for (auto& l : local) {
      auto s = em_step_sums(l.q.data(), l.q.size() / size_t(C), C, pp.prior, train_prior);
      std::copy(s.begin(), s.end(), part.begin() + long(l.shard * size_t(C)));
    }
    comm.allreduce_inplace(part, MPI_SUM);  // each shard's slot is non-zero on one rank only: exact
    std::vector<double> tot(size_t(C), 0.0);
    for (size_t s = 0; s < S; ++s)
      for (int c = 0; c < C; ++c) tot[size_t(c)] += part[s * size_t(C) + size_t(c)];
    ++pp.iterations;
    double delta = 0;
    for (int c = 0; c < C; ++c) {
      const double v = tot[size_t(c)] / double(pp.items);
      delta = std::max(delta, std::fabs(v - pp.prior[size_t(c)]));
      pp.prior[size_t(c)] = v;
    }
    if (delta < tol) {
      pp.converged = true;
      break;
    }
  }
  pp.weights = prior_weights(pp.prior, train_prior);
  return pp;
}

void write_prior_tsv(const std::string& path, const PoolPrior& pp) {
  std::ostringstream o;
  char b[64];
  o << "# trawl-format: prior\n# trawl-format-version: 1\n# items: " << pp.items << "\n# em-iterations: " << pp.iterations
    << (pp.converged ? "" : " (not converged)") << "\n";
  if (pp.calibrated) {
    std::snprintf(b, sizeof b, "%.9g", pp.calibration.a);
    o << "# calibration: q(c|x) = softmax(a ln p(c|x) + b_c), a = " << b << "\n";
  }
  o << "class\ttrain_prior\tpool_prior\tweight" << (pp.calibrated ? "\tcalibration_b" : "") << "\n";
  for (size_t c = 0; c < pp.classes.size(); ++c) {
    o << pp.classes[c];
    for (double v : {pp.train_prior[c], pp.prior[c], pp.weights[c]}) {
      std::snprintf(b, sizeof b, "\t%.9g", v);
      o << b;
    }
    if (pp.calibrated) {
      std::snprintf(b, sizeof b, "\t%.9g", pp.calibration.b.empty() ? 0.0 : pp.calibration.b[c]);
      o << b;
    }
    o << "\n";
  }
  write_text_atomic(path, o.str());
}

}  // namespace trawl::score
