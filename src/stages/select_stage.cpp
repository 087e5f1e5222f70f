#include "stages/select_stage.h"

#include "formats/scores.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/tsv.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/h5.h"
#include "labels/labels.h"
#include "mpi/report.h"
#include "pool/pool.h"
#include "strategy/activelab.h"
#include "strategy/strategy.h"
#include "text/tokenize.h"
#include "trawl/version.h"

namespace trawl::stages {

namespace h5 = io::h5;
using strategy::RowMatrixXf;

std::string tsv_escape(const std::string& s) { return tsv::escape(s); }
std::string tsv_unescape(const std::string& s) { return tsv::unescape(s); }

namespace {

const char* const kStrategies[] = {"random", "least-confidence", "margin", "entropy", "threshold",
                                   "badge", "kmeans", "exploit-explore", "activelab"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  v.push_back(cur);
  return v;
}

bool parse_u64(const std::string& s, uint64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long x = std::strtoull(s.c_str(), &end, 10);
  if (errno || *end) return false;
  v = x;
  return true;
}

// ---- scores files (formats/scores.h validates them) ----------------------------------------
struct ScoresFile {
  std::string path;
  std::unique_ptr<formats::ScoresReader> reader;
  std::vector<std::string> classes;
  uint64_t rows = 0;
  int C = 0, F = 0;
};

ScoresFile open_scores(const std::string& path, bool need_features) {
  ScoresFile s;
  s.path = path;
  s.reader = std::make_unique<formats::ScoresReader>(path);
  const auto& info = s.reader->info();
  s.classes = info.classes;
  s.rows = info.rows;
  s.C = int(info.classes.size());
  s.F = info.feature_dim;
  if (need_features && s.F == 0)
    throw InputError(cat(path, ": no 'features' dataset; this strategy needs the model's penultimate features: "
                               "rerun trawl-score with --features"));
  return s;
}

/// Rows [b0, b1) of a scores file with the labelled rows dropped (the reader validates
/// probabilities and features).
struct Block {
  std::vector<uint64_t> uid;
  std::vector<float> p, h;
};
uint64_t read_block(const ScoresFile& s, uint64_t b0, uint64_t b1, bool feats, const std::vector<uint64_t>& labelled,
                    Block& out) {
  std::vector<uint64_t> uid;
  std::vector<float> p, h;
  s.reader->read(b0, b1, uid, p, feats ? &h : nullptr);
  const uint64_t n = b1 - b0;
  out.uid.clear();
  out.p.clear();
  out.h.clear();
  uint64_t skipped = 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (std::binary_search(labelled.begin(), labelled.end(), uid[i])) {
      ++skipped;
      continue;
    }
    out.uid.push_back(uid[i]);
    out.p.insert(out.p.end(), &p[i * uint64_t(s.C)], &p[(i + 1) * uint64_t(s.C)]);
    if (feats) out.h.insert(out.h.end(), &h[i * uint64_t(s.F)], &h[(i + 1) * uint64_t(s.F)]);
  }
  return skipped;
}

Eigen::Map<const RowMatrixXf> as_matrix(const std::vector<float>& v, size_t rows, int cols) {
  return Eigen::Map<const RowMatrixXf>(v.data(), Eigen::Index(rows), cols);
}

// ---- top-<class>.tsv -------------------------------------------------------------------------
struct TopRow {
  uint64_t uid;
  double score;
};
std::vector<TopRow> read_top(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the class's top list (expected trawl-score's top-<class>.tsv)"));
  std::string line;
  if (!std::getline(in, line)) throw InputError(cat(path, ": empty file; expected a header naming 'uid'"));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto head = split(line, '\t');
  int cu = -1, cs = -1;
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == "uid") cu = int(i);
    if (head[i] == "score") cs = int(i);
  }
  if (cu < 0) throw InputError(cat(at(path, 1, "header '"), line, "' has no 'uid' column"));
  std::vector<TopRow> rows;
  uint64_t ln = 1;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto f = split(line, '\t');
    TopRow r{0, 0.0};
    if (int(f.size()) <= cu || !parse_u64(f[size_t(cu)], r.uid))
      throw InputError(at(path, (long long)ln, cat("uid '", int(f.size()) > cu ? f[size_t(cu)] : "", "' is not an unsigned integer")));
    if (cs >= 0) {
      char* end = nullptr;
      const std::string& t = int(f.size()) > cs ? f[size_t(cs)] : std::string();
      r.score = std::strtod(t.c_str(), &end);
      if (t.empty() || *end || !std::isfinite(r.score))
        throw InputError(at(path, (long long)ln, cat("score '", t, "' is not a finite number")));
    }
    rows.push_back(r);
  }
  if (cs >= 0)
    std::stable_sort(rows.begin(), rows.end(), [](const TopRow& a, const TopRow& b) {
      return a.score != b.score ? a.score > b.score : a.uid < b.uid;
    });
  return rows;
}

std::vector<explore::Motif> read_exclude_motifs(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the motif exclusion list"));
  std::vector<explore::Motif> out;
  std::string line;
  uint64_t ln = 0;
  int col = -1;  // motifs.tsv: the 'motif' column
  std::vector<uint32_t> ids;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, '\t');
    if (ln == 1 && f.size() > 1) {
      for (size_t i = 0; i < f.size(); ++i)
        if (f[i] == "motif") col = int(i);
      if (col < 0) throw InputError(at(path, 1, "a tab-separated exclusion list needs a 'motif' column"));
      continue;
    }
    const std::string m = col >= 0 ? (int(f.size()) > col ? f[size_t(col)] : "") : line;
    ids.clear();
    text::text_to_ids(m, ids);
    const uint64_t u = text::unigram_count(ids.size());
    if (u < 2 || u > 3)
      throw InputError(at(path, (long long)ln, cat("motif '", m, "' has ", u, " tokens, expected 2 or 3")));
    out.push_back(explore::make_motif(ids[0], ids[1], u == 3 ? ids[2] : explore::kNoToken));
  }
  return out;
}

void check_options(const SelectOptions& o) {
  if (std::find(std::begin(kStrategies), std::end(kStrategies), o.strategy) == std::end(kStrategies)) {
    std::string all;
    for (auto s : kStrategies) all += cat(all.empty() ? "" : ", ", s);
    throw UsageError(cat("--strategy '", o.strategy, "' is unknown; expected one of ", all));
  }
  if (o.scores.empty()) throw UsageError("--scores is required");
  if (o.output.empty()) throw UsageError("--output is required");
  if (o.batch_size == 0) throw UsageError("--batch-size 0, expected >= 1");
  if (o.block_rows == 0) throw UsageError("--block-rows 0, expected >= 1");
  if (o.strategy == "threshold") {
    if (o.classes.size() != 1) throw UsageError("--strategy threshold needs exactly one --class");
    if (!(o.threshold >= 0 && o.threshold <= 1)) throw UsageError(cat("--threshold ", o.threshold, " outside [0, 1]"));
    if (o.threshold_mode != "split" && o.threshold_mode != "nearest")
      throw UsageError(cat("--threshold-mode '", o.threshold_mode, "', expected split or nearest"));
  }
  if (o.strategy == "exploit-explore") {
    if (o.pool.empty()) throw UsageError("--strategy exploit-explore needs --pool (exploration scans the pool's shards)");
    if (!(o.explore_fraction >= 0 && o.explore_fraction <= 1))
      throw UsageError(cat("--explore-fraction ", o.explore_fraction, " outside [0, 1]"));
    if (o.top_size == 0) throw UsageError("--top-size 0, expected >= 1");
  }
  if (o.strategy == "activelab" && o.annotations.empty())
    throw UsageError("--strategy activelab needs --annotations (a TSV with columns uid, annotator, label; a header "
                     "alone when nothing is labelled yet)");
  if ((o.strategy == "kmeans") && o.kmeans_iterations < 0)
    throw UsageError(cat("--kmeans-iterations ", o.kmeans_iterations, ", expected >= 0"));
}

struct Picked {
  uint64_t uid;
  double score;
  std::string cls, source;
};

// ---- streamable strategies (random, uncertainty, threshold) ----------------------------------
class Streamable {
 public:
  Streamable(const SelectOptions& o, int cls) : o_(o), cls_(cls), ctx_{o.seed, o.round} {}

  /// Positions to keep from a block (a superset of its share of the final selection).
  std::vector<size_t> candidates(const Eigen::Ref<const RowMatrixXf>& P, const std::vector<uint64_t>& u) const {
    if (o_.strategy == "threshold" && o_.threshold_mode == "split") {
      auto a = strategy::top_threshold_side(P, u, cls_, o_.threshold, o_.batch_size, true);
      auto b = strategy::top_threshold_side(P, u, cls_, o_.threshold, o_.batch_size, false);
      a.insert(a.end(), b.begin(), b.end());
      return a;
    }
    return final_pick(P, u);
  }
  std::vector<size_t> final_pick(const Eigen::Ref<const RowMatrixXf>& P, const std::vector<uint64_t>& u) const {
    const auto& s = o_.strategy;
    const size_t b = o_.batch_size;
    if (s == "random") return strategy::random(u, b, ctx_);
    if (s == "least-confidence") return strategy::top_uncertain(P, u, strategy::Uncertainty::kLeastConfidence, b);
    if (s == "margin") return strategy::top_uncertain(P, u, strategy::Uncertainty::kMargin, b);
    if (s == "entropy") return strategy::top_uncertain(P, u, strategy::Uncertainty::kEntropy, b);
    if (o_.threshold_mode == "split") return strategy::split_around_threshold(P, u, cls_, o_.threshold, b);
    return strategy::top_around_threshold(P, u, cls_, o_.threshold, b);
  }
  double score(const float* p, int C, uint64_t uid) const {
    const auto& s = o_.strategy;
    if (s == "random") return strategy::random_score(uid, ctx_);
    if (s == "least-confidence") return strategy::least_confidence(p, C);
    if (s == "margin") return strategy::margin(p, C);
    if (s == "entropy") return strategy::entropy(p, C);
    return strategy::around_threshold(p, C, cls_, o_.threshold);
  }

 private:
  const SelectOptions& o_;
  int cls_;
  strategy::Context ctx_;
};

int class_index(const std::vector<std::string>& classes, const std::string& name, const std::string& file) {
  for (size_t i = 0; i < classes.size(); ++i)
    if (classes[i] == name) return int(i);
  std::string all;
  for (auto& c : classes) all += cat(all.empty() ? "" : ", ", c);
  throw UsageError(cat("--class '", name, "' is not a class of ", file, " (classes: ", all, ")"));
}

void write_queue(const SelectOptions& o, const std::vector<QueueRow>& q, const std::string& path) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw IoError(cat(out.temp_path(), ": cannot create the queue"));
    f << "# trawl-format: " << kQueueFormat << "\n# trawl-format-version: " << kQueueFormatVersion
      << "\n# trawl-version: " << TRAWL_VERSION << "\n";
    for (auto& l : split(o.config, '\n'))
      if (!l.empty()) f << "# config: " << tsv_escape(l) << "\n";
    f << "uid\tid\ttext\tclass\tscore\trank\tsource\tround\n";
    char buf[64];
    for (size_t i = 0; i < q.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.9g", q[i].score);
      f << q[i].uid << '\t' << tsv_escape(q[i].id) << '\t' << tsv_escape(q[i].text) << '\t' << tsv_escape(q[i].cls)
        << '\t' << buf << '\t' << (i + 1) << '\t' << tsv_escape(q[i].source) << '\t' << o.round << '\n';
    }
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write failed (disk full?)"));
  }
  out.commit();
}

void write_motifs(const SelectOptions& o, const std::vector<ChosenMotif>& ms, const std::string& path) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw IoError(cat(out.temp_path(), ": cannot create the motif list"));
    f << "class\tmotif\tsize\ttop_count\tn_top\tpool_count\tn_pool\tlift\tqueued\tcount\n";
    char buf[64];
    for (auto& m : ms) {
      std::snprintf(buf, sizeof buf, "%.9g", m.lift);
      f << tsv_escape(m.cls) << '\t' << tsv_escape(m.text) << '\t' << m.size << '\t' << m.top_count << '\t' << m.n_top
        << '\t' << m.pool_count << '\t' << m.n_pool << '\t' << buf << '\t' << m.queued << '\t'
        << (o.explore.occurrences ? "occurrences" : "documents") << '\n';
    }
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write failed (disk full?)"));
  }
  out.commit();
}

// ---- activelab --------------------------------------------------------------------------------
struct AnnotationRow {
  uint64_t uid;
  std::string annotator, label;
  uint64_t line;
};

std::vector<AnnotationRow> read_annotations(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the annotations (expected a TSV with columns uid, annotator, label)"));
  std::string line;
  uint64_t ln = 0;
  int cu = -1, ca = -1, cl = -1;
  std::vector<AnnotationRow> rows;
  bool header = false;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, '\t');
    if (!header) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "uid") cu = int(i);
        if (f[i] == "annotator") ca = int(i);
        if (f[i] == "label") cl = int(i);
      }
      if (cu < 0 || ca < 0 || cl < 0)
        throw InputError(at(path, (long long)ln, cat("header '", line, "' lacks column ", cu < 0 ? "uid" : ca < 0 ? "annotator" : "label",
                                                      "; expected the columns uid, annotator, label")));
      header = true;
      continue;
    }
    auto field = [&](int c, const char* name) -> std::string {
      if (int(f.size()) <= c || f[size_t(c)].empty())
        throw InputError(at(path, (long long)ln, cat("row '", line, "' has no ", name, " (expected uid, annotator and label)")));
      return f[size_t(c)];
    };
    AnnotationRow r;
    const std::string u = field(cu, "uid");
    if (!parse_u64(u, r.uid)) throw InputError(at(path, (long long)ln, cat("uid '", u, "' is not an unsigned integer")));
    r.annotator = field(ca, "annotator");
    r.label = tsv_unescape(field(cl, "label"));
    r.line = ln;
    rows.push_back(std::move(r));
  }
  if (!header) throw InputError(cat(path, ": empty file; expected a header with the columns uid, annotator, label"));
  return rows;
}

/// The activelab queue (every rank computes the labelled side; the ranks split the candidate
/// files, keep their b best and gather them).
std::vector<Picked> select_activelab(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labels_uids,
                                     const std::vector<std::string>& files, const std::vector<std::string>& classes,
                                     SelectSummary& sum) {
  namespace al = strategy::activelab;
  auto rows = read_annotations(o.annotations);
  const int C = int(classes.size());
  // Items by sorted uid, annotators by sorted name: independent of the table's row order.
  std::vector<uint64_t> items;
  std::vector<std::string> names;
  for (auto& r : rows) {
    items.push_back(r.uid);
    names.push_back(r.annotator);
  }
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  al::Annotations L;
  al::MatrixXdR P;
  if (!rows.empty()) {
    if (o.labelled_scores.empty())
      throw UsageError(cat("--strategy activelab: ", o.annotations, " holds labels; pass --labelled-scores (out-of-sample "
                           "probabilities of the labelled items, e.g. trawl-train --oof-folds)"));
    ScoresFile s = open_scores(o.labelled_scores, false);
    if (s.classes != classes)
      throw InputError(cat(o.labelled_scores, ": classes differ from ", files.front(), "; the labelled and the candidates' "
                           "scores must come from one model's classes"));
    Block all;
    const std::vector<uint64_t> none;
    for (uint64_t b0 = 0; b0 < s.rows; b0 += o.block_rows) {
      Block blk;
      read_block(s, b0, std::min(s.rows, b0 + o.block_rows), false, none, blk);
      all.uid.insert(all.uid.end(), blk.uid.begin(), blk.uid.end());
      all.p.insert(all.p.end(), blk.p.begin(), blk.p.end());
    }
    std::map<uint64_t, size_t> row_of;
    for (size_t i = 0; i < all.uid.size(); ++i)
      if (!row_of.emplace(all.uid[i], i).second)
        throw InputError(cat(o.labelled_scores, ": uid ", all.uid[i], " is scored twice"));
    L.num_items = int(items.size());
    L.num_annotators = int(names.size());
    L.num_classes = C;
    struct E {
      int i, j, k;
      uint64_t line;
    };
    std::vector<E> es;
    for (auto& r : rows) {
      if (!row_of.count(r.uid))
        throw InputError(at(o.annotations, (long long)r.line, cat("uid ", r.uid, " has no row in --labelled-scores ",
                                                                    o.labelled_scores, " (every annotated item needs its "
                                                                    "out-of-sample probabilities)")));
      const auto k = std::find(classes.begin(), classes.end(), r.label);
      if (k == classes.end()) {
        std::string allc;
        for (auto& c : classes) allc += cat(allc.empty() ? "" : ", ", c);
        throw InputError(at(o.annotations, (long long)r.line, cat("label '", r.label, "' is not a class of ", o.labelled_scores,
                                                                    " (classes: ", allc, ")")));
      }
      es.push_back(E{int(std::lower_bound(items.begin(), items.end(), r.uid) - items.begin()),
                     int(std::lower_bound(names.begin(), names.end(), r.annotator) - names.begin()), int(k - classes.begin()),
                     r.line});
    }
    std::sort(es.begin(), es.end(), [](const E& a, const E& b) { return a.i != b.i ? a.i < b.i : a.j != b.j ? a.j < b.j : a.line < b.line; });
    for (size_t e = 1; e < es.size(); ++e)
      if (es[e].i == es[e - 1].i && es[e].j == es[e - 1].j)
        throw InputError(at(o.annotations, (long long)es[e].line, cat("annotator '", names[size_t(es[e].j)], "' labels uid ",
                                                                        items[size_t(es[e].i)], " again (first at line ",
                                                                        es[e - 1].line, "); one label per annotator and item")));
    for (auto& e : es) L.add(e.i, e.j, e.k);
    P.resize(L.num_items, C);
    for (size_t i = 0; i < items.size(); ++i) {
      const size_t r = row_of[items[i]];
      for (int k = 0; k < C; ++k) P(Eigen::Index(i), k) = all.p[r * size_t(C) + size_t(k)];
    }
    if (row_of.size() > items.size())
      log::info(o.labelled_scores, ": ", row_of.size() - items.size(), " scored rows without annotations ignored");
  }
  // The labelled side (also fixes T and the weights for the candidates).
  al::Scores fitted;
  if (!rows.empty()) {
    fitted = al::activelab_scores(&L, &P, nullptr, items, o.seed);
    log::info("activelab: ", items.size(), " labelled items, ", rows.size(), " labels by ", names.size(), " annotators; ",
              fitted.single_label ? "one label each (T = 1, unit weights)"
                                  : cat("temperature ", fitted.temperature, ", model weight ", fitted.model_weight,
                                        ", mean annotator weight ", fitted.mean_annotator_weight));
    if (fitted.random_ties > 0)
      log::warn("activelab: the majority vote of ", fitted.random_ties, " items stayed tied after tie-breaks 1-3; "
                "decided by a draw keyed by (--seed ", o.seed, ", uid)");
  }
  // Candidates: the b lowest scores per rank (ties: smaller uid).
  std::vector<uint64_t> excl = labels_uids;
  excl.insert(excl.end(), items.begin(), items.end());
  std::sort(excl.begin(), excl.end());
  std::vector<std::pair<double, uint64_t>> cand;
  uint64_t considered = 0, skipped = 0;
  auto trim = [&]() {
    std::sort(cand.begin(), cand.end());
    if (cand.size() > o.batch_size) cand.resize(o.batch_size);
  };
  for (size_t fi = 0; fi < files.size(); ++fi) {
    if (int(fi % size_t(comm.size())) != comm.rank()) continue;
    ScoresFile s = open_scores(files[fi], false);
    if (s.classes != classes)
      throw InputError(cat(files[fi], ": classes differ from ", files.front(), "; all scores files of a run must "
                           "come from one model"));
    Block blk;
    for (uint64_t b0 = 0; b0 < s.rows; b0 += o.block_rows) {
      skipped += read_block(s, b0, std::min(s.rows, b0 + o.block_rows), false, excl, blk);
      considered += blk.uid.size();
      if (blk.uid.empty()) continue;
      al::MatrixXdR Pu = as_matrix(blk.p, blk.uid.size(), C).cast<double>();
      const auto su = al::unlabelled_scores(Pu, fitted);
      for (size_t i = 0; i < su.size(); ++i) cand.emplace_back(su[i], blk.uid[i]);
      if (cand.size() > 4 * o.batch_size + 1024) trim();
    }
  }
  trim();
  sum.considered = comm.sum(considered) + items.size();
  sum.labelled_skipped = comm.sum(skipped);
  std::vector<double> cs;
  std::vector<uint64_t> cu;
  for (auto& c : cand) {
    cs.push_back(c.first);
    cu.push_back(c.second);
  }
  cs = comm.allgatherv(cs);
  cu = comm.allgatherv(cu);
  {
    auto sorted = cu;
    std::sort(sorted.begin(), sorted.end());
    auto d = std::adjacent_find(sorted.begin(), sorted.end());
    if (d != sorted.end()) throw InputError(cat("--scores ", o.scores, ": uid ", *d, " is scored twice"));
  }
  struct Item {
    double s;
    uint64_t uid;
    bool relabel;
  };
  std::vector<Item> all;
  for (size_t i = 0; i < fitted.labelled.size(); ++i) all.push_back(Item{fitted.labelled[i], items[i], true});
  for (size_t i = 0; i < cu.size(); ++i) all.push_back(Item{cs[i], cu[i], false});
  std::sort(all.begin(), all.end(), [](const Item& a, const Item& b) { return a.s != b.s ? a.s < b.s : a.uid < b.uid; });
  if (all.size() > o.batch_size) all.resize(o.batch_size);
  std::vector<Picked> picked;
  for (auto& x : all) picked.push_back(Picked{x.uid, x.s, "", x.relabel ? "activelab:relabel" : "activelab:new"});
  return picked;
}

}  // namespace

SelectSummary run_select(const mpi::Comm& comm, const SelectOptions& o) {
  ScopedTimer total("select");
  check_options(o);
  if (comm.root()) check_writable_dir(o.output);
  SelectSummary sum;
  sum.queue_path = join_path(o.output, "queue.tsv");

  // Labelled items (sorted uids).
  std::vector<uint64_t> labelled;
  if (!o.labels.empty()) {
    auto ls = labels::read_labels_tsv(o.labels);
    for (auto& it : ls.items) labelled.push_back(it.uid);
    std::sort(labelled.begin(), labelled.end());
  }
  // Held-out items are skipped like labelled ones (and counted with them).
  if (!o.exclude.empty()) {
    auto held = labels::read_uid_list(o.exclude);
    std::vector<uint64_t> u;
    std::set_union(labelled.begin(), labelled.end(), held.begin(), held.end(), std::back_inserter(u));
    labelled.swap(u);
  }

  // The scores files (exploit-explore reads top-<class>.tsv instead).
  const bool dir = is_directory(o.scores);
  if (!dir && !path_exists(o.scores)) throw IoError(cat("--scores ", o.scores, ": no such file or directory"));
  std::vector<Picked> picked;
  const bool ee = o.strategy == "exploit-explore";
  std::vector<std::string> files;
  if (!ee) {
    files = dir ? list_files(o.scores, "shard-", ".scores.h5") : std::vector<std::string>{o.scores};
    if (files.empty())
      throw InputError(cat("--scores ", o.scores, ": no shard-*.scores.h5 files (expected trawl-score's output: a "
                           "scores file or a directory of per-shard scores)"));
  }
  std::vector<std::string> classes;
  if (!files.empty()) classes = open_scores(files.front(), false).classes;

  if (o.strategy == "activelab") {
    picked = select_activelab(comm, o, labelled, files, classes, sum);
  } else if (!ee && o.strategy != "badge" && o.strategy != "kmeans") {
    // ---- streamable: per-block candidates, gathered, selected again ----
    const int cls = o.strategy == "threshold" ? class_index(classes, o.classes[0], files.front()) : 0;
    Streamable st(o, cls);
    const int C = int(classes.size());
    Block blk, cand;
    uint64_t considered = 0, skipped = 0;
    auto reduce = [&]() {
      auto pos = st.candidates(as_matrix(cand.p, cand.uid.size(), C), cand.uid);
      Block k;
      for (size_t i : pos) {
        k.uid.push_back(cand.uid[i]);
        k.p.insert(k.p.end(), cand.p.begin() + long(i) * C, cand.p.begin() + long(i + 1) * C);
      }
      std::swap(k, cand);
    };
    for (size_t fi = 0; fi < files.size(); ++fi) {
      if (int(fi % size_t(comm.size())) != comm.rank()) continue;
      ScoresFile s = open_scores(files[fi], false);
      if (s.classes != classes)
        throw InputError(cat(files[fi], ": classes differ from ", files.front(), "; all scores files of a run must "
                             "come from one model"));
      for (uint64_t b0 = 0; b0 < s.rows; b0 += o.block_rows) {
        skipped += read_block(s, b0, std::min(s.rows, b0 + o.block_rows), false, labelled, blk);
        considered += blk.uid.size();
        for (size_t i : st.candidates(as_matrix(blk.p, blk.uid.size(), C), blk.uid)) {
          cand.uid.push_back(blk.uid[i]);
          cand.p.insert(cand.p.end(), blk.p.begin() + long(i) * C, blk.p.begin() + long(i + 1) * C);
        }
        if (cand.uid.size() > 8 * o.batch_size + 1024) reduce();
      }
    }
    sum.considered = comm.sum(considered);
    sum.labelled_skipped = comm.sum(skipped);
    auto uids = comm.allgatherv(cand.uid);
    auto probs = comm.allgatherv(cand.p);
    // A uid in two files would be selected twice.
    {
      auto sorted = uids;
      std::sort(sorted.begin(), sorted.end());
      auto d = std::adjacent_find(sorted.begin(), sorted.end());
      if (d != sorted.end()) throw InputError(cat("--scores ", o.scores, ": uid ", *d, " is scored twice"));
    }
    auto P = as_matrix(probs, uids.size(), C);
    for (size_t i : st.final_pick(P, uids))
      picked.push_back(Picked{uids[i], st.score(&probs[i * size_t(C)], C, uids[i]),
                              o.strategy == "threshold" ? o.classes[0] : "", o.strategy});
  } else if (!ee) {
    // ---- badge / kmeans: every unlabelled row in one process ----
    const bool badge = o.strategy == "badge";
    Block blk, all;
    uint64_t skipped = 0;
    int C = int(classes.size()), F = -1;
    for (size_t fi = 0; fi < files.size(); ++fi) {
      if (int(fi % size_t(comm.size())) != comm.rank()) continue;
      ScoresFile s = open_scores(files[fi], true);
      if (s.classes != classes)
        throw InputError(cat(files[fi], ": classes differ from ", files.front(), "; all scores files of a run must "
                             "come from one model"));
      if (F >= 0 && s.F != F) throw InputError(cat(files[fi], ": ", s.F, " features, expected ", F, " as the other files"));
      F = s.F;
      for (uint64_t b0 = 0; b0 < s.rows; b0 += o.block_rows) {
        skipped += read_block(s, b0, std::min(s.rows, b0 + o.block_rows), true, labelled, blk);
        all.uid.insert(all.uid.end(), blk.uid.begin(), blk.uid.end());
        all.p.insert(all.p.end(), blk.p.begin(), blk.p.end());
        all.h.insert(all.h.end(), blk.h.begin(), blk.h.end());
        if (all.uid.size() > o.max_rows)
          throw UsageError(cat("--strategy ", o.strategy, " needs every unlabelled row in one process; more than --max-rows ",
                               o.max_rows, " rows in ", o.scores, " (select from a subpool, or raise --max-rows)"));
      }
    }
    F = comm.max(F);
    sum.labelled_skipped = comm.sum(skipped);
    sum.considered = comm.sum(uint64_t(all.uid.size()));
    if (sum.considered > o.max_rows)
      throw UsageError(cat("--strategy ", o.strategy, " needs every unlabelled row in one process; ", sum.considered,
                           " rows > --max-rows ", o.max_rows, " (select from a subpool, or raise --max-rows)"));
    auto u_parts = comm.gatherv(all.uid);
    auto p_parts = comm.gatherv(all.p);
    auto h_parts = comm.gatherv(all.h);
    std::vector<uint64_t> sel_uid;
    std::vector<double> sel_score;
    if (comm.root()) {
      std::vector<uint64_t> U;
      std::vector<float> Pv, Hv;
      for (size_t r = 0; r < u_parts.size(); ++r) {
        U.insert(U.end(), u_parts[r].begin(), u_parts[r].end());
        Pv.insert(Pv.end(), p_parts[r].begin(), p_parts[r].end());
        Hv.insert(Hv.end(), h_parts[r].begin(), h_parts[r].end());
      }
      auto P = as_matrix(Pv, U.size(), C);
      auto H = as_matrix(Hv, U.size(), std::max(F, 0));
      strategy::Context ctx{o.seed, o.round};
      if (badge) {
        for (size_t i : strategy::badge(P, H, U, o.batch_size, ctx)) {
          sel_uid.push_back(U[i]);
          sel_score.push_back(strategy::badge_norm2(&Pv[i * size_t(C)], &Hv[i * size_t(F)], C, F));
        }
      } else {
        std::vector<double> d;
        auto pos = strategy::kmeans_diversity_scored(H, U, o.batch_size, ctx, o.kmeans_iterations, &d);
        for (size_t k = 0; k < pos.size(); ++k) {
          sel_uid.push_back(U[pos[k]]);
          sel_score.push_back(-d[k]);
        }
      }
    }
    comm.bcast(sel_uid);
    comm.bcast(sel_score);
    for (size_t k = 0; k < sel_uid.size(); ++k) picked.push_back(Picked{sel_uid[k], sel_score[k], "", o.strategy});
    if (sel_uid.size() < o.batch_size && sum.considered > sel_uid.size())
      log::warn(o.strategy, ": ", sel_uid.size(), " distinct items chosen for a batch of ", o.batch_size,
                " (coinciding points are picked once)");
  } else {
    // ---- exploit-explore ----
    const std::string tdir = dir ? o.scores : [&] {
      auto s = o.scores.rfind('/');
      return s == std::string::npos ? std::string(".") : o.scores.substr(0, s);
    }();
    std::vector<std::string> cls = o.classes;
    if (cls.empty()) {
      // The class names of a scores file beside the lists when there is one (file names hold
      // only a sanitised tag), else the tags themselves.
      auto sf = list_files(tdir, "shard-", ".scores.h5");
      if (path_exists(join_path(tdir, "subpool.scores.h5"))) sf.push_back(join_path(tdir, "subpool.scores.h5"));
      if (!sf.empty()) {
        for (auto& c : open_scores(sf.front(), false).classes)
          if (path_exists(join_path(tdir, "top-" + formats::class_file_tag(c) + ".tsv"))) cls.push_back(c);
      } else {
        for (auto& f : list_files(tdir, "top-", ".tsv")) {
          auto b = basename(f);
          cls.push_back(b.substr(4, b.size() - 8));
        }
      }
    }
    if (cls.empty()) throw InputError(cat(tdir, ": no top-<class>.tsv files (trawl-score writes them per class)"));
    pool::Pool p = pool::open_pool(comm, o.pool);
    explore::ExploreOptions eo = o.explore;
    eo.seed = o.seed;
    eo.round = o.round;
    if (!o.exclude_motifs.empty()) {
      auto ex = read_exclude_motifs(o.exclude_motifs);
      eo.exclude.insert(eo.exclude.end(), ex.begin(), ex.end());
    }
    const uint64_t b = o.batch_size;
    const uint64_t b_explore = uint64_t(std::llround(double(b) * o.explore_fraction));
    eo.per_motif = size_t(2 * b_explore + 8);  // slack for items deduplicated on text
    std::set<uint64_t> taken;
    std::set<std::string> taken_text;
    for (auto& c : cls) {
      const std::string path = join_path(tdir, "top-" + formats::class_file_tag(c) + ".tsv");
      auto rows = read_top(path);
      std::vector<uint64_t> top;
      std::map<uint64_t, double> top_score;
      uint64_t skipped = 0;
      for (auto& r : rows) {
        if (top.size() >= o.top_size) break;
        if (std::binary_search(labelled.begin(), labelled.end(), r.uid)) {
          ++skipped;
          continue;
        }
        if (top_score.count(r.uid)) throw InputError(cat(path, ": uid ", r.uid, " listed twice"));
        top.push_back(r.uid);
        top_score[r.uid] = r.score;
      }
      sum.labelled_skipped += skipped;
      sum.considered += top.size();
      if (rows.size() < o.top_size)
        log::warn(path, ": ", rows.size(), " rows, fewer than --top-size ", o.top_size, " (trawl-score --top-n)");
      log::info("class '", c, "': top set of ", top.size(), " unlabelled items from ", path, " (", skipped,
                " labelled skipped)");
      // Exploration.
      std::vector<uint64_t> excl = labelled;
      excl.insert(excl.end(), taken.begin(), taken.end());
      std::sort(excl.begin(), excl.end());
      std::vector<Picked> ex;
      if (b_explore > 0 && !top.empty()) {
        auto res = explore::explore(comm, p, top, excl, eo);
        const size_t first_motif = sum.motifs.size();
        for (auto& m : res.chosen) {
          ChosenMotif cm;
          cm.cls = c;
          cm.text = m.text;
          cm.size = m.motif.size();
          cm.top_count = m.top_count;
          cm.n_top = res.n_top;
          cm.pool_count = m.pool_count;
          cm.n_pool = res.n_pool;
          cm.lift = m.lift;
          sum.motifs.push_back(cm);
        }
        std::vector<uint64_t> want;
        for (auto& v : res.samples)
          for (auto& x : v) want.push_back(x.uid);
        std::sort(want.begin(), want.end());
        want.erase(std::unique(want.begin(), want.end()), want.end());
        auto txt = pool::fetch_rows(comm, p, want, [](uint64_t) { return std::string("exploration sample"); },
                                    io::ShardReader::kText);
        std::vector<size_t> next(res.chosen.size(), 0), used(res.chosen.size(), 0);
        bool progress = true;
        while (ex.size() < b_explore && progress) {
          progress = false;
          for (size_t m = 0; m < res.chosen.size() && ex.size() < b_explore; ++m) {
            if (o.explore_per_motif && used[m] >= o.explore_per_motif) continue;
            auto& v = res.samples[m];
            while (next[m] < v.size()) {
              const uint64_t u = v[next[m]++].uid;
              const std::string& t = txt.text[size_t(txt.find(u))];
              if (taken.count(u) || taken_text.count(t)) continue;
              taken.insert(u);
              taken_text.insert(t);
              ex.push_back(Picked{u, res.chosen[m].lift, c, "explore:" + res.chosen[m].text});
              ++used[m];
              ++sum.motifs[first_motif + m].queued;
              progress = true;
              break;
            }
          }
        }
        if (ex.size() < b_explore)
          log::warn("class '", c, "': exploration found ", ex.size(), " of ", b_explore, " items (", res.chosen.size(),
                    " motifs chosen); the rest comes from exploitation");
      }
      // Exploitation: a keyed uniform sample of the top set.
      std::vector<uint64_t> pool_top;
      for (auto u : top)
        if (!taken.count(u)) pool_top.push_back(u);
      strategy::Context ctx{key(o.seed, hash_str("exploit:" + c)), o.round};
      const size_t b_exploit = size_t(b - std::min<uint64_t>(b, ex.size()));
      for (size_t i : strategy::random(pool_top, b_exploit, ctx)) {
        taken.insert(pool_top[i]);
        picked.push_back(Picked{pool_top[i], top_score[pool_top[i]], c, "exploit"});
      }
      picked.insert(picked.end(), ex.begin(), ex.end());
    }
  }

  // id and text of the queued items.
  std::vector<uint64_t> want;
  for (auto& x : picked) want.push_back(x.uid);
  std::sort(want.begin(), want.end());
  pool::Rows rows;
  if (!o.pool.empty()) {
    pool::Pool p = pool::open_pool(comm, o.pool);
    rows = pool::fetch_rows(comm, p, want, [&](uint64_t) { return cat("--scores ", o.scores); },
                            io::ShardReader::kId | io::ShardReader::kText);
  } else if (!picked.empty()) {
    log::warn("no --pool given: the queue's id and text columns are empty");
  }
  for (auto& x : picked) {
    QueueRow r;
    r.uid = x.uid;
    r.cls = x.cls;
    r.score = x.score;
    r.source = x.source;
    if (!o.pool.empty()) {
      const long i = rows.find(x.uid);
      TRAWL_ASSERT(i >= 0);
      r.id = rows.id[size_t(i)];
      r.text = rows.text[size_t(i)];
    }
    sum.queue.push_back(std::move(r));
  }
  if (sum.queue.empty())
    log::warn("nothing to select: ", sum.considered, " unlabelled items in ", o.scores, " (", sum.labelled_skipped,
              " labelled skipped); writing an empty queue");
  if (comm.root()) {
    write_queue(o, sum.queue, sum.queue_path);
    if (ee) write_motifs(o, sum.motifs, join_path(o.output, "motifs.tsv"));
  }
  std::map<std::string, size_t> by_source;
  for (auto& r : sum.queue) ++by_source[r.source.compare(0, 8, "explore:") == 0 ? "explore" : r.source];
  std::string srcs;
  for (auto& [s, n] : by_source) srcs += cat(srcs.empty() ? "" : ", ", n, " ", s);
  log::info(o.strategy, ": ", sum.queue.size(), " items (", srcs.empty() ? "none" : srcs, ") from ", sum.considered,
            " unlabelled candidates (", sum.labelled_skipped, " labelled skipped) -> ", sum.queue_path);
  for (auto& m : sum.motifs)
    log::info("class '", m.cls, "' motif '", m.text, "': lift ", m.lift, " (top ", m.top_count, "/", m.n_top, ", pool ",
              m.pool_count, "/", m.n_pool, "), ", m.queued, " queued");
  total.stop();
  mpi::report_timers(comm);
  return sum;
}

}  // namespace trawl::stages
