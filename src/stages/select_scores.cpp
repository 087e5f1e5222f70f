// trawl-select: the strategies that read the scores files (random, uncertainty, threshold,
// BADGE, k-means), through the one block stream.
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
#include "strategy/streamable.h"

namespace trawl::stages::sel {

int class_index(const std::vector<std::string>& classes, const std::string& name, const std::string& file) {
  for (size_t i = 0; i < classes.size(); ++i)
    if (classes[i] == name) return int(i);
  std::string all;
  for (auto& c : classes) all += cat(all.empty() ? "" : ", ", c);
  throw UsageError(cat("--class '", name, "' is not a class of ", file, " (classes: ", all, ")"));
}

/// random, uncertainty and threshold: per-block candidates on each rank, gathered, picked again.
std::vector<Picked> select_streamable(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                     const std::vector<std::string>& files, const std::vector<std::string>& classes,
                                     SelectSummary& sum) {
  std::vector<Picked> picked;
  // ---- streamable: per-block candidates, gathered, selected again ----
  strategy::StreamableOptions so;
  so.name = o.strategy;
  so.batch = o.batch_size;
  so.ctx = {o.seed, o.round};
  so.cls = o.strategy == "threshold" ? class_index(classes, o.classes[0], files.front()) : 0;
  so.threshold = o.threshold;
  so.split = o.threshold_mode == "split";
  const auto strat = strategy::make_streamable(so);  // chosen once
  const strategy::Streamable& st = *strat;
  const int C = int(classes.size());
  Block cand;
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
  {
    ScoresStream stream(my_files(comm, files), classes, false, labelled, o.block_rows,
                        cat(files.front(), "; all scores files of a run must come from one model"));
    while (const Block* blk = stream.next()) {
      skipped += blk->skipped;
      considered += blk->uid.size();
      for (size_t i : st.candidates(as_matrix(blk->p, blk->uid.size(), C), blk->uid)) {
        cand.uid.push_back(blk->uid[i]);
        cand.p.insert(cand.p.end(), blk->p.begin() + long(i) * C, blk->p.begin() + long(i + 1) * C);
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
  for (size_t i : st.pick(P, uids))
    picked.push_back(Picked{uids[i], st.score(&probs[i * size_t(C)], C, uids[i]),
                            o.strategy == "threshold" ? o.classes[0] : "", o.strategy});
  return picked;
}

/// badge and kmeans: every unlabelled row gathered into rank 0, which picks; the picks broadcast.
std::vector<Picked> select_diverse(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                     const std::vector<std::string>& files, const std::vector<std::string>& classes,
                                     SelectSummary& sum) {
  std::vector<Picked> picked;
  // ---- badge / kmeans: every unlabelled row in one process ----
  const bool badge = o.strategy == "badge";
  Block all;
  uint64_t skipped = 0;
  int C = int(classes.size()), F = -1;
  {
    ScoresStream stream(my_files(comm, files), classes, true, labelled, o.block_rows,
                        cat(files.front(), "; all scores files of a run must come from one model"));
    while (const Block* blk = stream.next()) {
      skipped += blk->skipped;
      all.uid.insert(all.uid.end(), blk->uid.begin(), blk->uid.end());
      all.p.insert(all.p.end(), blk->p.begin(), blk->p.end());
      all.h.insert(all.h.end(), blk->h.begin(), blk->h.end());
      if (all.uid.size() > o.max_rows)
        throw UsageError(cat("--strategy ", o.strategy, " needs every unlabelled row in one process; more than --max-rows ",
                             o.max_rows, " rows in ", o.scores, " (select from a subpool, or raise --max-rows)"));
    }
    F = stream.features();
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
  return picked;
}

}  // namespace trawl::stages::sel
