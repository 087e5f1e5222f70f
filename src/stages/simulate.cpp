#include "stages/simulate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/shard.h"
#include "labels/journal.h"
#include "labels/labels.h"
#include "pool/pool.h"
#include "score/score_stage.h"
#include "stages/retrieve_stage.h"
#include "strategy/activelab.h"
#include "strategy/select_stage.h"
#include "train/train_stage.h"

namespace trawl::stages {

namespace {

std::string round_dir(const std::string& out, uint64_t r) {
  char b[32];
  std::snprintf(b, sizeof b, "round-%03llu", static_cast<unsigned long long>(r));
  return join_path(out, b);
}
std::string labels_path(const std::string& out, uint64_t r) {
  char b[32];
  std::snprintf(b, sizeof b, "labels-%03llu.tsv", static_cast<unsigned long long>(r));
  return join_path(out, b);
}

using LabelMap = std::map<uint64_t, std::string>;

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

// The oracle: pool labels of the given uids (collective).
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

// Per-class counts of the pool's labels (collective: ranks split the shards).
std::map<std::string, uint64_t> pool_label_counts(const mpi::Comm& comm, const pool::Pool& p) {
  std::map<std::string, uint64_t> mine;
  for (size_t s = size_t(comm.rank()); s < p.shards.size(); s += size_t(comm.size())) {
    io::ShardReader r(p.shards[s]);
    if (!r.meta().has_label)
      throw InputError(cat(p.shards[s], ": no label column; trawl-simulate's oracle is the pool's labels (embed the "
                                        "chunks with --label-column)"));
    io::ShardBlock b;
    for (uint64_t i = 0; i < r.rows(); i += 65536) {
      r.read(i, std::min(r.rows(), i + 65536), b, io::ShardReader::kLabel);
      for (auto& l : b.label) mine[l]++;
    }
  }
  // Gather the (small) class lists: names joined by newlines with counts.
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

// Target-class counts at argmax over the unlabelled items of every scored shard (collective).
void evaluate_pool(const mpi::Comm& comm, const pool::Pool& p, const std::string& scores_dir, const LabelMap& labelled,
                   const std::string& target, RoundMetrics& m) {
  std::vector<uint64_t> c(3, 0);  // tp, fp, fn
  for (size_t s = size_t(comm.rank()); s < p.shards.size(); s += size_t(comm.size())) {
    io::ShardReader r(p.shards[s]);
    score::ScoresReader sr(join_path(scores_dir, basename(score::scores_file_name(p.shards[s]))));
    const auto& cls = sr.info().classes;
    const long t = std::find(cls.begin(), cls.end(), target) - cls.begin();
    if (t == long(cls.size())) throw InputError(cat("the model has no class '", target, "'"));
    const size_t C = cls.size();
    io::ShardBlock b;
    std::vector<uint64_t> uid;
    std::vector<float> probs;
    for (uint64_t i = 0; i < r.rows(); i += 65536) {
      const uint64_t e = std::min(r.rows(), i + 65536);
      r.read(i, e, b, io::ShardReader::kUid | io::ShardReader::kLabel);
      sr.read(i, e, uid, probs);
      for (size_t k = 0; k < b.size(); ++k) {
        TRAWL_ASSERT_MSG(uid[k] == b.uid[k], "scores file rows out of step with the shard");
        if (labelled.count(b.uid[k])) continue;
        const float* pr = probs.data() + k * C;
        const size_t am = size_t(std::max_element(pr, pr + C) - pr);
        const bool pred = am == size_t(t), truth = b.label[k] == target;
        if (pred && truth) c[0]++;
        else if (pred) c[1]++;
        else if (truth) c[2]++;
      }
    }
  }
  comm.allreduce_inplace(c, MPI_SUM);
  m.tp = c[0], m.fp = c[1], m.fn = c[2];
}

// Precision at the top N unlabelled items of top-<target>.tsv (rank 0 reads, all receive).
void precision_at(const mpi::Comm& comm, const pool::Pool& p, const std::string& top_tsv, const LabelMap& labelled,
                  uint64_t n, const std::string& target, RoundMetrics& m) {
  std::vector<uint64_t> top;
  if (comm.root()) {
    std::ifstream f(top_tsv);
    if (!f) throw IoError(cat(top_tsv, ": cannot open"));
    std::string line;
    std::getline(f, line);  // header: rank uid id score
    while (top.size() < n && std::getline(f, line)) {
      auto a = line.find('\t'), b = line.find('\t', a + 1);
      uint64_t u = std::stoull(line.substr(a + 1, b - a - 1));
      if (!labelled.count(u)) top.push_back(u);
    }
  }
  comm.bcast(top);
  auto lab = oracle(comm, p, top, top_tsv);
  m.top_n = top.size();
  m.top_hits = 0;
  for (uint64_t u : top) m.top_hits += lab[u] == target;
}

void write_metrics(const std::string& path, const SimulateSummary& s) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path());
    f << "# trawl-format: simulate-metrics\n# trawl-format-version: 1\n# target: " << s.target << "\n# pool: "
      << s.pool_items << " items, " << s.pool_target << " of class " << s.target << "\n";
    f << "round\tlabelled\ttarget_labelled\tfound_share\tsubpool\tsubpool_target\tqueued\tqueued_target\t"
         "evaluated\tprecision\trecall\tf1\ttop_n\tprecision_at_top\tauc_f1\trelabelled\tlabel_accuracy\tselect_seconds\ttrain_seconds\n";
    double auc = 0, prev_f1 = -1;
    for (auto& r : s.rounds) {
      if (r.evaluated) {
        if (prev_f1 >= 0) auc += (prev_f1 + r.f1()) / 2;
        prev_f1 = r.f1();
      }
      char b[640];
      std::snprintf(b, sizeof b,
                    "%llu\t%llu\t%llu\t%.6f\t%llu\t%llu\t%llu\t%llu\t%d\t%.6f\t%.6f\t%.6f\t%llu\t%.6f\t%.6f\t%llu\t%.6f\t%.3f\t%.3f\n",
                    (unsigned long long)r.round, (unsigned long long)r.labelled, (unsigned long long)r.target_labelled,
                    s.pool_target ? double(r.target_labelled) / double(s.pool_target) : 0.0,
                    (unsigned long long)r.subpool, (unsigned long long)r.subpool_target, (unsigned long long)r.queued,
                    (unsigned long long)r.queued_target, r.evaluated ? 1 : 0, r.precision(), r.recall(), r.f1(),
                    (unsigned long long)r.top_n, r.top_n ? double(r.top_hits) / double(r.top_n) : 0.0, auc,
                    (unsigned long long)r.relabelled, r.label_accuracy, r.select_seconds, r.train_seconds);
      f << b;
    }
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write error"));
  }
  out.commit();
}


// ---- noisy annotators -------------------------------------------------------------------------

double annotator_accuracy(uint64_t seed, int j, double accuracy) {
  Rng r(key(seed, 0x616e6e6fULL, uint64_t(j)));
  return std::min(1.0, std::max(0.0, accuracy - 0.1 + 0.2 * r.uniform()));
}

std::string annotator_name(int j) { return cat("sim-", j); }

// The journal's majority consensus as a LabelMap (rank 0 reads; all receive the file through
// the labels TSV written at `path`).
void write_consensus(const std::string& journal, const std::string& path, uint64_t seed) {
  auto jr = labels::read_journal(journal);
  labels::ConsensusOptions co;
  co.rule = "majority", co.seed = seed;
  auto res = labels::consensus(labels::effective_votes(jr.records), co);
  labels::write_labels_tsv(path, labels::label_rows(res, journal));
}

// CROWDLAB consensus (activelab.md §2, best_quality) of the journal's effective votes, with P
// from the given scores files (the round's out-of-fold probabilities for items labelled before
// it, the subpool's for items first labelled in it). Falls back to the majority rule (returns
// false) when some item has no probabilities or no item has two labels.
bool write_crowdlab_consensus(const std::string& journal, const std::string& path,
                              const std::vector<std::string>& prob_files, const std::vector<std::string>& classes,
                              uint64_t seed, std::string* how) {
  namespace al = strategy::activelab;
  auto votes = labels::effective_votes(labels::read_journal(journal).records);
  std::map<uint64_t, int> item;
  std::map<std::string, int> annot;
  for (auto& v : votes) item.emplace(v.uid, 0), annot.emplace(v.annotator, 0);
  int i = 0;
  std::vector<uint64_t> uids;
  for (auto& [u, k] : item) k = i++, uids.push_back(u);
  i = 0;
  for (auto& [a, k] : annot) k = i++;
  std::map<std::string, int> cls_index;
  for (size_t c = 0; c < classes.size(); ++c) cls_index[classes[c]] = int(c);
  al::Annotations L;
  L.num_items = int(item.size()), L.num_annotators = int(annot.size()), L.num_classes = int(classes.size());
  std::vector<int> n_of(item.size(), 0);
  for (auto& v : votes) {
    L.add(item[v.uid], annot[v.annotator], cls_index.at(v.label));
    n_of[size_t(item[v.uid])]++;
  }
  if (std::none_of(n_of.begin(), n_of.end(), [](int n) { return n > 1; })) return false;
  al::MatrixXdR P(L.num_items, L.num_classes);
  std::vector<char> have(item.size(), 0);
  for (auto& f : prob_files) {
    if (!path_exists(f)) continue;
    score::ScoresReader r(f);
    std::vector<long> col;  // file column of each class
    for (auto& c : classes) {
      auto it = std::find(r.info().classes.begin(), r.info().classes.end(), c);
      if (it == r.info().classes.end()) return false;
      col.push_back(long(it - r.info().classes.begin()));
    }
    std::vector<uint64_t> u;
    std::vector<float> pr;
    r.read(0, r.info().rows, u, pr);
    const size_t C = r.info().classes.size();
    for (size_t k = 0; k < u.size(); ++k) {
      auto it = item.find(u[k]);
      if (it == item.end() || have[size_t(it->second)]) continue;
      for (size_t c = 0; c < classes.size(); ++c) P(it->second, long(c)) = double(pr[k * C + size_t(col[c])]);
      have[size_t(it->second)] = 1;
    }
  }
  if (std::find(have.begin(), have.end(), 0) != have.end()) {
    log::warn("simulate: ", std::count(have.begin(), have.end(), 0), " labelled items have no out-of-sample "
              "probabilities; majority consensus instead of CROWDLAB");
    return false;
  }
  auto res = al::crowdlab(L, P, uids, seed);
  uint64_t changed = 0;
  for (size_t k = 0; k < uids.size(); ++k) changed += res.consensus_label[k] != res.majority_label[k];
  *how = cat("CROWDLAB consensus of ", votes.size(), " votes on ", uids.size(), " items (model weight ",
              res.model_weight, "; ", changed, " differ from the majority vote)");
  std::vector<std::pair<uint64_t, std::string>> rows;
  for (size_t k = 0; k < uids.size(); ++k) rows.push_back({uids[k], classes[size_t(res.consensus_label[k])]});
  labels::write_labels_tsv(path, rows);
  return true;
}

// One simulated answer for each queued uid, appended to the journal as round `round`.
void annotate(const std::string& journal, const std::vector<uint64_t>& queue, const LabelMap& truth,
              const std::vector<std::string>& classes, const SimulateOptions& o, uint64_t round) {
  auto jr = labels::read_journal(journal);
  // Items already answered in this round (an append before a restart, possibly cut short: the
  // journal keeps every whole line of it) are not asked again; the rest are.
  std::set<uint64_t> answered;
  for (auto& rec : jr.records)
    if (rec.round == round) answered.insert(rec.uid);
  std::map<uint64_t, std::set<std::string>> who;
  for (auto& rec : jr.records) who[rec.uid].insert(rec.annotator);
  std::vector<labels::Record> out;
  const std::string now = labels::now_iso8601();
  for (uint64_t u : queue) {
    if (answered.count(u)) continue;
    const uint64_t M = uint64_t(o.annotators), start = key(o.seed, u) % M;
    int j = -1;
    for (uint64_t k = 0; k < M && j < 0; ++k) {
      const int c = int((start + k) % M);
      if (!who[u].count(annotator_name(c))) j = c;
    }
    if (j < 0) j = int(start);  // every annotator has labelled it: the first answers again
    const std::string& t = truth.at(u);
    Rng r(key(o.seed, u, uint64_t(j), round));
    std::string answer = t;
    if (r.uniform() >= annotator_accuracy(o.seed, j, o.accuracy) && classes.size() > 1) {
      std::vector<std::string> others;
      for (auto& c : classes)
        if (c != t) others.push_back(c);
      answer = others[size_t(r.below(others.size()))];
    }
    labels::Record rec;
    rec.uid = u, rec.annotator = annotator_name(j), rec.label = answer, rec.time = now, rec.round = round;
    rec.source = "trawl-simulate";
    out.push_back(rec);
  }
  if (!out.empty()) labels::append_journal(journal, out);
}

// Silences the stages' own info logs while a round runs (the simulation logs one line a stage).
struct QuietStages {
  log::Level saved;
  QuietStages() : saved(log::level()) {
    if (saved != log::Level::kDebug) log::set_level(log::Level::kWarn);
  }
  ~QuietStages() { log::set_level(saved); }
};

}  // namespace

std::string learning_curve_svg(const SimulateSummary& s) {
  const double W = 640, H = 400, L = 60, R = 20, T = 40, B = 50;
  double xmax = 1;
  for (auto& r : s.rounds) xmax = std::max(xmax, double(r.labelled));
  auto X = [&](double v) { return L + (W - L - R) * v / xmax; };
  auto Y = [&](double v) { return H - B - (H - T - B) * v; };
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' "
    << "font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n";
  o << "<text x='" << W / 2 << "' y='20' text-anchor='middle' font-size='14'>trawl-simulate: class '" << s.target
    << "' (" << s.pool_target << " of " << s.pool_items << " items)</text>\n";
  o << "<line x1='" << L << "' y1='" << Y(0) << "' x2='" << W - R << "' y2='" << Y(0) << "' stroke='black'/>\n";
  o << "<line x1='" << L << "' y1='" << Y(0) << "' x2='" << L << "' y2='" << Y(1) << "' stroke='black'/>\n";
  for (int k = 0; k <= 4; ++k) {
    double v = k / 4.0;
    o << "<line x1='" << L << "' y1='" << Y(v) << "' x2='" << W - R << "' y2='" << Y(v)
      << "' stroke='#ddd'/><text x='" << L - 6 << "' y='" << Y(v) + 4 << "' text-anchor='end'>" << v << "</text>\n";
    double xv = std::round(xmax * k / 4.0);
    o << "<text x='" << X(xv) << "' y='" << H - B + 16 << "' text-anchor='middle'>" << xv << "</text>\n";
  }
  o << "<text x='" << (L + W - R) / 2 << "' y='" << H - 12 << "' text-anchor='middle'>labelled items</text>\n";
  struct Series {
    const char* name;
    const char* colour;
    bool eval_only;
    double (*get)(const SimulateSummary&, const RoundMetrics&);
  };
  const Series series[] = {
      {"F1 (unlabelled pool, argmax)", "#1f77b4", true, [](const SimulateSummary&, const RoundMetrics& r) { return r.f1(); }},
      {"share of target items labelled", "#d62728", false,
       [](const SimulateSummary& ss, const RoundMetrics& r) {
         return ss.pool_target ? double(r.target_labelled) / double(ss.pool_target) : 0.0;
       }},
      {"precision at top N", "#2ca02c", true,
       [](const SimulateSummary&, const RoundMetrics& r) { return r.top_n ? double(r.top_hits) / double(r.top_n) : 0.0; }},
  };
  int li = 0;
  for (auto& se : series) {
    std::string pts;
    for (auto& r : s.rounds) {
      if (se.eval_only && !r.evaluated) continue;
      char b[64];
      std::snprintf(b, sizeof b, "%.1f,%.1f ", X(double(r.labelled)), Y(se.get(s, r)));
      pts += b;
      o << "<circle cx='" << X(double(r.labelled)) << "' cy='" << Y(se.get(s, r)) << "' r='3' fill='" << se.colour
        << "'/>\n";
    }
    o << "<polyline fill='none' stroke='" << se.colour << "' stroke-width='2' points='" << pts << "'/>\n";
    o << "<rect x='" << L + 10 << "' y='" << T + 4 + 16 * li << "' width='12' height='3' fill='" << se.colour
      << "'/><text x='" << L + 28 << "' y='" << T + 9 + 16 * li << "'>" << se.name << "</text>\n";
    ++li;
  }
  o << "</svg>\n";
  return o.str();
}

SimulateSummary run_simulate(const mpi::Comm& comm, const SimulateOptions& o) {
  if (o.pool.empty()) throw UsageError("--pool: required");
  if (o.labels.empty()) throw UsageError("--labels: required (round 0's labelled set, e.g. from trawl-seed-labels)");
  if (o.output.empty()) throw UsageError("--output: required");
  if (o.rounds < 1) throw UsageError("--rounds must be at least 1");
  if (o.batch_size < 1) throw UsageError("--batch-size must be at least 1");
  if (comm.root()) make_dirs(o.output);
  comm.barrier();
  check_writable_dir(o.output);

  auto p = pool::open_pool(comm, o.pool);
  SimulateSummary sum;
  auto counts = pool_label_counts(comm, p);
  for (auto& [k, v] : counts) sum.pool_items += v;
  sum.target = o.target;
  if (sum.target.empty()) {
    uint64_t best = UINT64_MAX;
    for (auto& [k, v] : counts)
      if (v < best) best = v, sum.target = k;
  }
  if (!counts.count(sum.target))
    throw UsageError(cat("--target '", sum.target, "': no item of the pool has that label"));
  sum.pool_target = counts[sum.target];
  std::vector<std::string> classes;
  for (auto& [k, v] : counts) classes.push_back(k);

  // Round 0's labels are the seed file as given (a seed label that disagrees with the pool's is
  // kept: the simulation follows the file); with noisy annotators they enter the journal as
  // annotator "seed".
  if (o.annotators < 0) throw UsageError(cat("--annotators ", o.annotators, " must be >= 0"));
  if (!(o.accuracy >= 0 && o.accuracy <= 1)) throw UsageError(cat("--accuracy ", o.accuracy, " outside [0, 1]"));
  if (o.strategy == "activelab" && o.annotators == 0)
    throw UsageError("--strategy activelab needs noisy annotators (--annotators M): it decides between relabelling and "
                     "labelling new items");
  const bool noisy = o.annotators > 0;
  if (o.strategy == "activelab" && read_label_map(o.labels).size() < 2)
    throw UsageError(cat(o.labels, ": --strategy activelab needs at least 2 seed labels (its out-of-fold probabilities "
                         "need two folds)"));
  const std::string journal = join_path(o.output, "journal.tsv");
  LabelMap labelled = read_label_map(o.labels);
  if (comm.root() && !path_exists(labels_path(o.output, 0))) {
    if (noisy) {
      {
        std::set<uint64_t> have;  // seeds appended before a restart (whole lines only)
        if (path_exists(journal))
          for (auto& rec : labels::read_journal(journal).records)
            if (rec.annotator == "seed") have.insert(rec.uid);
        std::vector<labels::Record> seeds;
        const std::string now = labels::now_iso8601();
        for (auto& [u, l] : labelled) {
          if (have.count(u)) continue;
          labels::Record rec;
          rec.uid = u, rec.annotator = "seed", rec.label = l, rec.time = now, rec.round = 0, rec.source = o.labels;
          seeds.push_back(rec);
        }
        if (!seeds.empty()) labels::append_journal(journal, seeds);
      }
      write_consensus(journal, labels_path(o.output, 0), o.seed);
    } else {
      write_label_map(labels_path(o.output, 0), labelled);
    }
  }
  comm.barrier();
  const bool needs_features = o.strategy == "badge" || o.strategy == "kmeans";
  sum.metrics_path = join_path(o.output, "metrics.tsv");
  sum.plot_path = join_path(o.output, "learning-curve.svg");

  for (uint64_t r = 0; r < o.rounds; ++r) {
    const std::string rd = round_dir(o.output, r), lp = labels_path(o.output, r), next = labels_path(o.output, r + 1);
    labelled = read_label_map(lp);
    RoundMetrics m;
    std::string consensus_note;
    m.round = r;
    m.labelled = labelled.size();
    for (auto& [u, l] : labelled) m.target_labelled += l == sum.target;
    const bool done = path_exists(next);
    const bool eval = (o.eval_every > 0 && (r + 1) % o.eval_every == 0) || r + 1 == o.rounds;
    {
      QuietStages quiet;
      if (comm.root()) make_dirs(rd);
      comm.barrier();
      RetrieveOptions ro;
      ro.pool = o.pool, ro.labels = lp, ro.classes = classes, ro.output = rd, ro.round = r, ro.seed = o.seed;
      ro.method = o.method, ro.backend = o.backend, ro.anchors_per_class = o.anchors_per_class;
      ro.neighbours = o.neighbours, ro.subpool_size = o.subpool_size, ro.threads = o.threads, ro.config = o.config;
      if (o.method == "seals" && r > 0) ro.state = join_path(round_dir(o.output, r - 1), "seals-state.h5");
      using clock = std::chrono::steady_clock;
      auto secs = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
      std::vector<uint64_t> sub_uids;
      const std::string subpool = join_path(rd, "subpool.h5");
      auto t0 = clock::now();
      if (!done || !path_exists(subpool)) run_retrieve(comm, ro);
      m.select_seconds += secs(t0);
      const bool whole_pool = o.method == "full";
      if (comm.root()) {
        auto f = io::h5::File::open(subpool);
        sub_uids = io::h5::Dataset::open(f, "uid").read_all<uint64_t>();
      }
      comm.bcast(sub_uids);
      m.subpool = whole_pool ? sum.pool_items - labelled.size() : sub_uids.size();
      if (!whole_pool) {
        auto lab = oracle(comm, p, sub_uids, subpool);
        for (auto& [u, l] : lab) m.subpool_target += l == sum.target;
      }

      train::TrainStageOptions to;
      to.pool = o.pool, to.labels = lp, to.output = join_path(rd, "model.h5");
      to.subpool = whole_pool ? "" : subpool;
      to.classes = classes;
      to.train.model = o.model, to.train.lr = o.lr, to.train.epochs = o.epochs, to.train.min_steps = o.min_steps;
      to.train.seed = o.seed, to.train.round = r, to.train.threads = o.threads, to.train.progress = false;
      to.train.allow_missing_classes = true;
      if (noisy && labelled.size() >= 2)  // P for CROWDLAB (and ActiveLab); one item: majority only
        to.oof_folds = int(std::min<uint64_t>(5, labelled.size()));
      to.config = o.config;
      t0 = clock::now();
      train::run_train(comm, to);
      m.train_seconds = secs(t0);
      t0 = clock::now();

      std::string pool_scores = join_path(rd, "pool-scores");
      auto score_pool = [&](uint64_t top_n) {
        score::ScoreOptions so;
        so.model = to.output, so.pool = o.pool, so.output = pool_scores, so.top_n = top_n, so.cutoffs = false;
        so.text = false, so.threads = o.threads, so.config = o.config, so.features = needs_features && whole_pool;
        score::run_score(comm, so);
      };
      SelectOptions se;
      const bool pool_strategy = o.strategy == "exploit-explore";  // works on the pool's top list and motifs
      if (whole_pool || pool_strategy) {
        // exploit-explore reads top-<class>.tsv: enough rows that top_size stay after the labelled ones
        score_pool(pool_strategy ? se.top_size + labelled.size() : 0);
        se.scores = pool_scores;
      } else {
        score::ScoreOptions so;
        so.model = to.output, so.subpool = subpool, so.output = rd, so.features = needs_features;
        so.threads = o.threads, so.config = o.config;
        score::run_score(comm, so);
        se.scores = join_path(rd, "subpool.scores.h5");
      }
      se.strategy = o.strategy, se.batch_size = o.batch_size, se.pool = o.pool, se.labels = lp, se.output = rd;
      se.round = r, se.seed = o.seed, se.config = o.config;
      if (o.strategy == "threshold" || o.strategy == "exploit-explore") se.classes = {sum.target};
      if (o.strategy == "activelab") {
        se.annotations = join_path(rd, "annotations.tsv");
        if (comm.root()) {
          auto jr = labels::read_journal(journal);
          std::vector<labels::Record> upto;  // the votes behind this round's labelled set
          for (auto& rec : jr.records)
            if (rec.round <= r) upto.push_back(rec);
          labels::write_long_table(se.annotations, labels::effective_votes(upto));
        }
        comm.barrier();
        se.labelled_scores = train::oof_scores_path(to.output);
      }
      auto sel = run_select(comm, se);
      m.select_seconds += secs(t0);
      m.select_seconds = comm.max(m.select_seconds), m.train_seconds = comm.max(m.train_seconds);
      std::vector<uint64_t> q;
      for (auto& row : sel.queue) q.push_back(row.uid);
      auto answers = oracle(comm, p, q, sel.queue_path);  // the truth of the queued items
      m.queued = q.size();
      for (auto& [u, l] : answers) m.queued_target += l == sum.target;
      if (noisy) {
        for (uint64_t u : q) m.relabelled += labelled.count(u);
        auto truth = oracle(comm, p, [&] {
          std::vector<uint64_t> v;
          for (auto& [u, l] : labelled) v.push_back(u);
          return v;
        }(), lp);
        uint64_t right = 0;
        m.target_labelled = 0;  // by the truth, not by the (noisy) consensus
        for (auto& [u, l] : labelled) right += truth[u] == l, m.target_labelled += truth[u] == sum.target;
        m.label_accuracy = labelled.empty() ? 1.0 : double(right) / double(labelled.size());
      }
      if (whole_pool) m.subpool_target = sum.pool_target - m.target_labelled;  // the unlabelled pool's
      if (!done) {
        if (noisy) {
          if (comm.root()) {
            annotate(journal, q, answers, classes, o, r + 1);
            std::vector<std::string> probs = {train::oof_scores_path(to.output)};
            if (whole_pool || pool_strategy)  // new items were picked from the pool's scores
              for (auto& f : list_files(pool_scores, "shard-", ".scores.h5")) probs.push_back(f);
            else
              probs.push_back(join_path(rd, "subpool.scores.h5"));
            std::string how = "majority consensus (no item has two labels yet)";
            if (!write_crowdlab_consensus(journal, next, probs, classes, o.seed, &how)) write_consensus(journal, next, o.seed);
            consensus_note = how;
          }
        } else {
          LabelMap nl = labelled;
          for (auto& [u, l] : answers) nl[u] = l;
          if (comm.root()) write_label_map(next, nl);
        }
        comm.barrier();
      }
      if (eval) {
        m.evaluated = true;
        const uint64_t want = o.precision_at + labelled.size();
        score_pool(o.precision_at > 0 ? want : 0);
        evaluate_pool(comm, p, pool_scores, labelled, sum.target, m);
        if (o.precision_at > 0)
          precision_at(comm, p, join_path(pool_scores, "top-" + score::class_file_tag(sum.target) + ".tsv"),
                       labelled, o.precision_at, sum.target, m);
      }
    }
    sum.rounds.push_back(m);
    log::info("round ", r, ": ", m.labelled, " labelled (", m.target_labelled, " ", sum.target, "), subpool ",
              m.subpool, " (", m.subpool_target, " ", sum.target, "), queued ", m.queued, " (", m.queued_target, " ",
              sum.target, ")",
              m.evaluated ? cat("; unlabelled pool: P ", m.precision(), " R ", m.recall(), " F1 ", m.f1(),
                                m.top_n ? cat(", precision@", m.top_n, " ", double(m.top_hits) / double(m.top_n)) : "")
                          : std::string(),
              consensus_note.empty() ? std::string() : cat("; next labels: ", consensus_note));
    if (comm.root()) {
      write_metrics(sum.metrics_path, sum);
      write_text_atomic(sum.plot_path, learning_curve_svg(sum));
    }
    comm.barrier();
  }
  return sum;
}

}  // namespace trawl::stages
