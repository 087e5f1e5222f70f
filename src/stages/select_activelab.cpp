// trawl-select --strategy activelab: the annotations table and ActiveLab's scores
// (reference/activelab.md) over the labelled items and the candidates' scores files.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/tsv.h"
#include "stages/select_parts.h"
#include "strategy/activelab.h"

namespace trawl::stages::sel {
namespace {

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
    auto f = tsv::split(line);
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
    if (!tsv::parse_u64(u, &r.uid)) throw InputError(at(path, (long long)ln, cat("uid '", u, "' is not an unsigned integer")));
    r.annotator = field(ca, "annotator");
    r.label = tsv_unescape(field(cl, "label"));
    r.line = ln;
    rows.push_back(std::move(r));
  }
  if (!header) throw InputError(cat(path, ": empty file; expected a header with the columns uid, annotator, label"));
  return rows;
}

}  // namespace

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
    Block all;
    const std::vector<uint64_t> none;
    ScoresStream stream({o.labelled_scores}, classes, false, none, o.block_rows,
                        cat(files.front(), "; the labelled and the candidates' scores must come from one model's classes"));
    while (const Block* blk = stream.next()) {
      all.uid.insert(all.uid.end(), blk->uid.begin(), blk->uid.end());
      all.p.insert(all.p.end(), blk->p.begin(), blk->p.end());
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
  {
    ScoresStream stream(my_files(comm, files), classes, false, excl, o.block_rows,
                        cat(files.front(), "; all scores files of a run must come from one model"));
    while (const Block* blk = stream.next()) {
      skipped += blk->skipped;
      considered += blk->uid.size();
      if (blk->uid.empty()) continue;
      al::MatrixXdR Pu = as_matrix(blk->p, blk->uid.size(), C).cast<double>();
      const auto su = al::unlabelled_scores(Pu, fitted);
      for (size_t i = 0; i < su.size(); ++i) cand.emplace_back(su[i], blk->uid[i]);
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


}  // namespace trawl::stages::sel
