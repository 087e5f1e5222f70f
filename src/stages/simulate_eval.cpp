// trawl-simulate: the held-out test split, seed draws, the test-split evaluation and the
// metrics files (contracts in simulate_parts.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "formats/metrics.h"
#include "io/shard.h"
#include "labels/labels.h"
#include "score/prior.h"
#include "stages/score_stage.h"
#include "stages/simulate_parts.h"

namespace trawl::stages::sim {

namespace {

constexpr uint64_t kSplitStream = 0x7e575b17ULL;  // "test split" stream of key()
constexpr uint64_t kRows = 65536;

// Streams (uid, label) of this rank's shards (shard s goes to rank s % size).
template <class F>
void for_labels(const mpi::Comm& comm, const pool::Pool& p, F&& f) {
  for (size_t s = size_t(comm.rank()); s < p.shards.size(); s += size_t(comm.size())) {
    io::ShardReader r(p.shards[s]);
    if (!r.meta().has_label)
      throw InputError(cat(p.shards[s], ": no label column; trawl-simulate's oracle is the pool's labels (embed the "
                                        "chunks with --label-column)"));
    io::ShardBlock b;
    for (uint64_t i = 0; i < r.rows(); i += kRows) {
      r.read(i, std::min(r.rows(), i + kRows), b, io::ShardReader::kUid | io::ShardReader::kLabel);
      for (size_t k = 0; k < b.size(); ++k) f(b.uid[k], b.label[k]);
    }
  }
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.6f", v);
  return b;
}

}  // namespace

LabelMap read_label_map(const std::string& path) {
  auto ls = labels::read_labels_tsv(path);
  LabelMap m;
  for (auto& it : ls.items) m[it.uid] = ls.classes[size_t(it.cls)];
  return m;
}

void write_label_map(const std::string& path, const LabelMap& m) {
  std::vector<std::pair<uint64_t, std::string>> rows(m.begin(), m.end());
  labels::write_labels_tsv(path, rows);
}

LabelMap oracle(const mpi::Comm& comm, const pool::Pool& p, std::vector<uint64_t> uids, const std::string& what) {
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  LabelMap m;
  if (uids.empty()) return m;
  auto rows = pool::fetch_rows(
      comm, p, uids, [&](uint64_t u) { return cat(what, ": uid ", u); }, io::ShardReader::kLabel);
  for (size_t i = 0; i < rows.size(); ++i) m[rows.uid[i]] = rows.label[i];
  return m;
}

std::map<std::string, uint64_t> pool_label_counts(const mpi::Comm& comm, const pool::Pool& p) {
  std::map<std::string, uint64_t> mine;
  for_labels(comm, p, [&](uint64_t, const std::string& l) { mine[l]++; });
  std::string blob;
  for (auto& [k, v] : mine) blob += k + '\t' + std::to_string(v) + '\n';
  std::vector<char> bytes(blob.begin(), blob.end());
  auto all = comm.allgatherv(bytes);
  std::map<std::string, uint64_t> total;
  std::string s(all.begin(), all.end());
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    auto t = line.rfind('\t');
    total[line.substr(0, t)] += std::stoull(line.substr(t + 1));
  }
  return total;
}

TestSplit make_test_split(const mpi::Comm& comm, const pool::Pool& p, const std::map<std::string, uint64_t>& counts,
                          double fraction, uint64_t split_seed) {
  TestSplit ts;
  if (!(fraction >= 0 && fraction < 1)) throw UsageError(cat("--test-fraction ", fraction, ": expected a value in [0, 1)"));
  std::vector<std::string> classes;
  std::vector<uint64_t> want;
  for (auto& [c, n] : counts) {
    classes.push_back(c);
    want.push_back(uint64_t(std::llround(fraction * double(n))));
  }
  const size_t C = classes.size();
  if (fraction == 0) {
    for (auto& c : classes) ts.per_class[c] = 0;
    return ts;
  }
  auto cls_of = [&](const std::string& l) { return size_t(std::lower_bound(classes.begin(), classes.end(), l) - classes.begin()); };
  auto k_of = [&](uint64_t u) { return key(kSplitStream, split_seed, u); };
  // Pass 1: per-class histograms of the keys' top 16 bits.
  constexpr size_t B = 65536;
  std::vector<uint64_t> hist(C * B, 0);
  for_labels(comm, p, [&](uint64_t u, const std::string& l) { hist[cls_of(l) * B + (k_of(u) >> 48)]++; });
  comm.allreduce_inplace(hist, MPI_SUM);
  std::vector<uint64_t> edge(C, B), need(C, 0);  // boundary bin; items still needed from it
  for (size_t c = 0; c < C; ++c) {
    uint64_t acc = 0;
    for (size_t b = 0; b < B; ++b) {
      if (acc + hist[c * B + b] >= want[c]) {
        edge[c] = b, need[c] = want[c] - acc;
        break;
      }
      acc += hist[c * B + b];
    }
  }
  // Pass 2: the items below the boundary bin, and the boundary bin's (class, key, uid).
  std::vector<uint64_t> mine, boundary;  // boundary: triples c, k, u
  for_labels(comm, p, [&](uint64_t u, const std::string& l) {
    const size_t c = cls_of(l);
    const uint64_t k = k_of(u), b = k >> 48;
    if (b < edge[c]) mine.push_back(u);
    else if (b == edge[c] && need[c] > 0) boundary.insert(boundary.end(), {uint64_t(c), k, u});
  });
  auto all = comm.allgatherv(boundary);
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> t;
  for (size_t i = 0; i + 2 < all.size(); i += 3) t.emplace_back(all[i], all[i + 1], all[i + 2]);
  std::sort(t.begin(), t.end());
  std::vector<uint64_t> taken(C, 0), extra;
  for (auto& [c, k, u] : t)
    if (taken[c] < need[c]) ++taken[c], extra.push_back(u);
  ts.uid = comm.allgatherv(mine);
  ts.uid.insert(ts.uid.end(), extra.begin(), extra.end());
  std::sort(ts.uid.begin(), ts.uid.end());
  for (size_t c = 0; c < C; ++c) ts.per_class[classes[c]] = want[c];
  TRAWL_ASSERT_MSG(ts.uid.size() == [&] {
    uint64_t s = 0;
    for (auto w : want) s += w;
    return s;
  }(), "test split size");
  return ts;
}

LabelMap draw_seed_labels(const mpi::Comm& comm, const pool::Pool& p, const std::set<std::string>& minority,
                          uint64_t per_class, uint64_t rest, uint64_t seed, const std::vector<uint64_t>& excluded) {
  // Per group (a minority class, or the rest): this rank's smallest priorities, then the global ones.
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> groups;  // (priority, uid)
  std::map<uint64_t, std::string> label_of;
  for_labels(comm, p, [&](uint64_t u, const std::string& l) {
    if (l.empty() || std::binary_search(excluded.begin(), excluded.end(), u)) return;
    const bool m = minority.count(l) > 0;
    auto& v = groups[m ? l : std::string("\x01rest")];
    v.emplace_back(mix64(key(seed, u)), u);
    const uint64_t keep = m ? per_class : rest;
    if (v.size() > 4 * keep + 1024) {
      std::nth_element(v.begin(), v.begin() + long(keep), v.end());
      v.resize(keep);
    }
  });
  std::vector<uint64_t> cand;  // (priority, uid, group index)
  std::vector<std::string> names;
  for (auto& m : minority) names.push_back(m);
  names.push_back("\x01rest");
  for (size_t g = 0; g < names.size(); ++g) {
    auto it = groups.find(names[g]);
    if (it == groups.end()) continue;
    auto& v = it->second;
    const uint64_t keep = g + 1 == names.size() ? rest : per_class;
    std::sort(v.begin(), v.end());
    if (v.size() > keep) v.resize(keep);
    for (auto& [pr, u] : v) cand.insert(cand.end(), {pr, u, uint64_t(g)});
  }
  auto all = comm.allgatherv(cand);
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> t;  // (group, priority, uid)
  for (size_t i = 0; i + 2 < all.size(); i += 3) t.emplace_back(all[i + 2], all[i], all[i + 1]);
  std::sort(t.begin(), t.end());
  std::vector<uint64_t> chosen, taken(names.size(), 0);
  for (auto& [g, pr, u] : t) {
    const uint64_t keep = g + 1 == names.size() ? rest : per_class;
    if (taken[g] < keep) ++taken[g], chosen.push_back(u);
  }
  for (size_t g = 0; g + 1 < names.size(); ++g)
    if (taken[g] < per_class)
      log::warn("initial labels: class '", names[g], "' has only ", taken[g], " items outside the test split (", per_class,
                " wanted)");
  return oracle(comm, p, chosen, "initial labels");
}

TestEval evaluate_test(const mpi::Comm& comm, const pool::Pool& p, const std::string& scores_dir,
                       const LabelMap& labelled, const std::vector<uint64_t>& test_uids,
                       const std::vector<double>& train_prior, bool prior_correction, const std::string& oof) {
  TestEval ev;
  // The decision: calibration from the out-of-fold file (every rank fits the same), EM over the pool.
  score::Calibration cal;
  const bool calibrate = prior_correction && !oof.empty() && path_exists(oof);
  if (calibrate) {
    std::vector<std::string> oof_classes;
    cal = score::calibrate_from_oof(oof, labelled, &oof_classes);
    ev.calibration_a = cal.a;
  }
  std::vector<uint64_t> skip;
  for (auto& [u, l] : labelled) skip.push_back(u);
  score::PoolPrior pp;
  if (prior_correction) {
    pp = score::estimate_pool_prior(comm, p, scores_dir, skip, train_prior, calibrate ? &cal : nullptr);
    ev.em_iterations = pp.iterations, ev.em_converged = pp.converged;
  }
  // The test items, gathered to every rank in uid order: raw and calibrated probabilities, truth.
  std::vector<std::string> classes;
  std::vector<uint64_t> t_uid;
  std::vector<float> t_probs, t_cal;
  std::vector<std::string> t_label_mine;
  for (size_t s = size_t(comm.rank()); s < p.shards.size(); s += size_t(comm.size())) {
    io::ShardReader r(p.shards[s]);
    formats::ScoresReader sr(join_path(scores_dir, basename(formats::scores_file_name(p.shards[s]))));
    if (classes.empty()) classes = sr.info().classes;
    else if (sr.info().classes != classes) throw InputError(cat(scores_dir, ": scores files with different classes"));
    const size_t C = classes.size();
    std::vector<double> q(C, 0.0);
    io::ShardBlock b;
    std::vector<uint64_t> uid;
    std::vector<float> probs;
    for (uint64_t i = 0; i < r.rows(); i += kRows) {
      const uint64_t e = std::min(r.rows(), i + kRows);
      r.read(i, e, b, io::ShardReader::kUid | io::ShardReader::kLabel);
      sr.read(i, e, uid, probs);
      for (size_t k = 0; k < b.size(); ++k) {
        TRAWL_ASSERT_MSG(uid[k] == b.uid[k], "scores file rows out of step with the shard");
        if (!std::binary_search(test_uids.begin(), test_uids.end(), b.uid[k])) continue;
        const float* pr = probs.data() + k * C;
        t_uid.push_back(b.uid[k]);
        t_probs.insert(t_probs.end(), pr, pr + C);
        if (calibrate) cal.apply(pr, int(C), q.data());
        for (size_t c = 0; c < C; ++c) t_cal.push_back(calibrate ? float(q[c]) : pr[c]);
        t_label_mine.push_back(b.label[k]);
      }
    }
  }
  comm.bcast_from_first_nonempty(classes);  // a rank may hold no shard
  const int C = int(classes.size());
  if (train_prior.size() != classes.size()) throw InputError(cat("simulate: ", train_prior.size(), " training priors for ", C, " classes"));
  const std::vector<double> prior = prior_correction ? pp.prior : train_prior;
  const auto w = score::prior_weights(prior, train_prior);
  std::vector<uint64_t> lab_idx;
  for (auto& l : t_label_mine)
    lab_idx.push_back(uint64_t(std::find(classes.begin(), classes.end(), l) - classes.begin()));  // C: not a model class
  auto all_uid = comm.allgatherv(t_uid);
  auto all_probs = comm.allgatherv(t_probs);
  auto all_cal = comm.allgatherv(t_cal);
  auto all_lab = comm.allgatherv(lab_idx);
  std::vector<size_t> ord(all_uid.size());
  for (size_t i = 0; i < ord.size(); ++i) ord[i] = i;
  std::sort(ord.begin(), ord.end(), [&](size_t a, size_t b) { return all_uid[a] < all_uid[b]; });
  const size_t n = ord.size();
  ev.classes.resize(size_t(C));
  std::vector<int> dec(n), arg(n);
  for (size_t i = 0; i < n; ++i) {
    dec[i] = score::decide(all_cal.data() + ord[i] * size_t(C), C, w.data());
    arg[i] = score::decide(all_probs.data() + ord[i] * size_t(C), C);
  }
  for (int c = 0; c < C; ++c) {
    auto& ce = ev.classes[size_t(c)];
    ce.cls = classes[size_t(c)];
    ce.prior = prior[size_t(c)];
    std::vector<double> sc(n);
    std::vector<char> tr(n);
    for (size_t i = 0; i < n; ++i) {
      const bool t = all_lab[ord[i]] == uint64_t(c);
      sc[i] = all_probs[ord[i] * size_t(C) + size_t(c)];
      tr[i] = t;
      ce.support += t;
      for (auto [d, cnt] : {std::pair<int, score::Counts*>{dec[i], &ce.decision}, {arg[i], &ce.argmax}}) {
        if (d == c && t) cnt->tp++;
        else if (d == c) cnt->fp++;
        else if (t) cnt->fn++;
      }
    }
    ce.ranking = score::ranking_metrics(sc, tr);
  }
  return ev;
}

void write_metrics(const std::string& path, const std::string& classes_path, const SimulateOptions& o,
                   const SimulateSummary& s) {
  auto header = [&](std::ostream& f) {
    f << "# trawl-format: " << formats::kSimulateMetricsFormat << "\n# trawl-format-version: "
      << formats::kSimulateMetricsVersion << "\n# target: " << s.target << "\n# method: "
      << o.method << "\n# strategy: " << (o.method == "random" ? std::string("random") : o.strategy) << "\n# model: "
      << o.model << (o.model == "logreg" ? "-" + o.features : std::string()) << "\n# seed: " << s.seed
      << "\n# prior-correction: " << o.prior_correction << "\n# pool: " << s.pool_items << " items, " << s.pool_target
      << " of class " << s.target << "\n# test: " << s.test_items << " items, " << s.test_target << " of class "
      << s.target << "\n";
  };
  {
    AtomicOutput out(path);
    std::ofstream f(out.temp_path());
    header(f);
    f << "round\tlabelled\ttarget_labelled\tfound_share\tsubpool\tsubpool_target\tqueued\tqueued_target\tevaluated\t"
         "precision\trecall\tf1\tf1_argmax\tbest_f1\taverage_precision\troc_auc\tprior_target\tauc_f1\trelabelled\t"
         "label_accuracy\tselect_seconds\ttrain_seconds\n";
    double auc = 0, prev = -1;
    for (auto& r : s.rounds) {
      if (r.evaluated) {
        if (prev >= 0) auc += (prev + r.f1) / 2;
        prev = r.f1;
      }
      const uint64_t pool_target = s.pool_target - s.test_target;  // findable
      char b[160];
      std::snprintf(b, sizeof b, "%.3f\t%.3f", r.select_seconds, r.train_seconds);
      f << r.round << '\t' << r.labelled << '\t' << r.target_labelled << '\t'
        << fmt(pool_target ? double(r.target_labelled) / double(pool_target) : 0.0) << '\t' << r.subpool << '\t'
        << r.subpool_target << '\t' << r.queued << '\t' << r.queued_target << '\t' << (r.evaluated ? 1 : 0) << '\t'
        << fmt(r.precision) << '\t' << fmt(r.recall) << '\t' << fmt(r.f1) << '\t' << fmt(r.f1_argmax) << '\t'
        << fmt(r.best_f1) << '\t' << fmt(r.average_precision) << '\t' << fmt(r.roc_auc) << '\t' << fmt(r.prior_target)
        << '\t' << fmt(auc) << '\t' << r.relabelled << '\t' << fmt(r.label_accuracy) << '\t' << b << '\n';
    }
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write error"));
    f.close();
    out.commit();
  }
  {
    AtomicOutput out(classes_path);
    std::ofstream f(out.temp_path());
    header(f);
    f << "round\tlabelled\tclass\tsupport\tprecision\trecall\tf1\tf1_argmax\taverage_precision\troc_auc\tprior\n";
    for (auto& r : s.rounds)
      for (auto& c : r.classes)
        f << r.round << '\t' << r.labelled << '\t' << c.cls << '\t' << c.support << '\t' << fmt(c.precision) << '\t'
          << fmt(c.recall) << '\t' << fmt(c.f1) << '\t' << fmt(c.f1_argmax) << '\t' << fmt(c.average_precision) << '\t'
          << fmt(c.roc_auc) << '\t' << fmt(c.prior) << '\n';
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write error"));
    f.close();
    out.commit();
  }
}

}  // namespace trawl::stages::sim
