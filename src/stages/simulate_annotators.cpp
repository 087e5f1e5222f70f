// trawl-simulate: simulated noisy annotators answering through the labels journal, and the
// journal's majority and CROWDLAB consensus (contracts in simulate_parts.h and simulate.h).
#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "labels/journal.h"
#include "labels/labels.h"
#include "stages/score_stage.h"
#include "stages/simulate_parts.h"
#include "strategy/activelab.h"

namespace trawl::stages::sim {

namespace {

double annotator_accuracy(uint64_t seed, int j, double accuracy) {
  Rng r(key(seed, 0x616e6e6fULL, uint64_t(j)));
  return std::min(1.0, std::max(0.0, accuracy - 0.1 + 0.2 * r.uniform()));
}

std::string annotator_name(int j) { return cat("sim-", j); }

}  // namespace

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
    formats::ScoresReader r(f);
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

}  // namespace trawl::stages::sim
