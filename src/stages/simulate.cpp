// trawl-simulate: the round loop and the multi-seed driver (contract in simulate.h; the test
// split, evaluation and metrics files are in simulate_eval.cpp, the noisy annotators in
// simulate_annotators.cpp).
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
#include "formats/subpool.h"
#include "io/h5.h"
#include "labels/journal.h"
#include "labels/labels.h"
#include "pool/pool.h"
#include "stages/score_stage.h"
#include "stages/retrieve_stage.h"
#include "stages/simulate_parts.h"
#include "stages/select_stage.h"
#include "stages/train_stage.h"

namespace trawl::stages {

using namespace sim;

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

// Silences the stages' own info logs while a round runs (the simulation logs one line a round).
struct QuietStages {
  log::Level saved;
  QuietStages() : saved(log::level()) {
    if (saved != log::Level::kDebug) log::set_level(log::Level::kWarn);
  }
  ~QuietStages() { log::set_level(saved); }
};

void write_uid_list(const std::string& path, const std::vector<uint64_t>& uids) {
  std::string s = "uid\n";
  for (auto u : uids) s += std::to_string(u) + '\n';
  write_text_atomic(path, s);
}

struct Shared {  // what every seed's run shares
  pool::Pool p;
  std::vector<std::string> classes;
  std::map<std::string, uint64_t> counts;
  TestSplit split;
  std::string split_path;  // empty when --test-fraction 0
};

// Round 0's labels of one run: the file (minus held-out items) or a draw; noisy mode enters
// them into the journal as annotator "seed".
void initial_labels(const mpi::Comm& comm, const SimulateOptions& o, const Shared& sh, uint64_t seed,
                    const std::string& out, const std::string& journal) {
  int exists = comm.root() && path_exists(labels_path(out, 0)) ? 1 : 0;  // decided once: every rank
  comm.bcast_value(exists);                                                // takes the same branch
  if (exists) return;
  LabelMap labelled;
  if (!o.initial_minority.empty()) {
    std::set<std::string> mino;
    std::stringstream ss(o.initial_minority);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) {
        if (!sh.counts.count(x)) throw UsageError(cat("--initial-minority: class '", x, "' does not occur in ", o.pool));
        mino.insert(x);
      }
    labelled = draw_seed_labels(comm, sh.p, mino, o.initial_per_class, o.initial_rest, seed, sh.split.uid);
  } else {
    labelled = read_label_map(o.labels);
    uint64_t dropped = 0;
    for (auto it = labelled.begin(); it != labelled.end();)
      if (std::binary_search(sh.split.uid.begin(), sh.split.uid.end(), it->first)) it = labelled.erase(it), ++dropped;
      else ++it;
    if (dropped)
      log::warn(o.labels, ": ", dropped, " seed labels fall in the held-out test split and are dropped (",
                labelled.size(), " left)");
    if (labelled.empty()) throw InputError(cat(o.labels, ": no seed label outside the held-out test split"));
  }
  if (comm.root()) {
    if (o.annotators > 0) {
      std::set<uint64_t> have;  // seeds appended before a restart (whole lines only)
      if (path_exists(journal))
        for (auto& rec : labels::read_journal(journal).records)
          if (rec.annotator == "seed") have.insert(rec.uid);
      std::vector<labels::Record> seeds;
      const std::string now = labels::now_iso8601();
      for (auto& [u, l] : labelled) {
        if (have.count(u)) continue;
        labels::Record rec;
        rec.uid = u, rec.annotator = "seed", rec.label = l, rec.time = now, rec.round = 0;
        rec.source = o.labels.empty() ? "initial draw" : o.labels;
        seeds.push_back(rec);
      }
      if (!seeds.empty()) labels::append_journal(journal, seeds);
      write_consensus(journal, labels_path(out, 0), seed);
    } else {
      write_label_map(labels_path(out, 0), labelled);
    }
  }
  comm.barrier();
}

SimulateSummary run_one(const mpi::Comm& comm, const SimulateOptions& o, const Shared& sh, uint64_t seed,
                        const std::string& out) {
  if (comm.root()) make_dirs(out);
  comm.barrier();
  check_writable_dir(out);
  const auto& p = sh.p;
  const auto& classes = sh.classes;
  SimulateSummary sum;
  sum.seed = seed;
  sum.target = o.target;
  if (sum.target.empty()) {
    uint64_t best = UINT64_MAX;
    for (auto& [k, v] : sh.counts)
      if (v < best) best = v, sum.target = k;
  }
  if (!sh.counts.count(sum.target)) throw UsageError(cat("--target '", sum.target, "': no item of the pool has that label"));
  for (auto& [k, v] : sh.counts) sum.pool_items += v;
  sum.pool_target = sh.counts.at(sum.target);
  sum.test_items = sh.split.uid.size();
  sum.test_target = sh.split.per_class.count(sum.target) ? sh.split.per_class.at(sum.target) : 0;
  sum.test_split_path = sh.split_path;
  const bool noisy = o.annotators > 0;
  const std::string journal = join_path(out, "journal.tsv");
  initial_labels(comm, o, sh, seed, out, journal);
  if (o.strategy == "activelab" && read_label_map(labels_path(out, 0)).size() < 2)
    throw UsageError(cat(labels_path(out, 0), ": --strategy activelab needs at least 2 seed labels (its out-of-fold "
                                              "probabilities need two folds)"));
  const bool needs_features = o.strategy == "badge" || o.strategy == "kmeans";
  sum.metrics_path = join_path(out, "metrics.tsv");
  sum.classes_path = join_path(out, "metrics-classes.tsv");
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };

  for (uint64_t r = 0; r < o.rounds; ++r) {
    const std::string rd = round_dir(out, r), lp = labels_path(out, r), next = labels_path(out, r + 1);
    LabelMap labelled = read_label_map(lp);
    RoundMetrics m;
    std::string consensus_note;
    m.round = r;
    m.labelled = labelled.size();
    for (auto& [u, l] : labelled) m.target_labelled += l == sum.target;
    const bool done = path_exists(next);
    const bool eval = (o.eval_every > 0 && (r + 1) % o.eval_every == 0) || r + 1 == o.rounds;
    QuietStages quiet;
    if (comm.root()) make_dirs(rd);
    comm.barrier();
    // 1. retrieve (random: the uniform batch itself)
    RetrieveOptions ro;
    ro.pool = o.pool, ro.labels = lp, ro.classes = classes, ro.output = rd, ro.round = r, ro.seed = seed;
    ro.method = o.method, ro.backend = o.backend, ro.anchors_per_class = o.anchors_per_class;
    ro.neighbours = o.neighbours, ro.subpool_size = o.method == "random" ? o.batch_size : o.subpool_size;
    ro.threads = o.threads, ro.config = o.config, ro.exclude = sh.split_path;
    if (o.method == "seals" && r > 0) ro.state = join_path(round_dir(out, r - 1), "seals-state.h5");
    std::vector<uint64_t> sub_uids;
    const std::string subpool = join_path(rd, "subpool.h5");
    auto t0 = clock::now();
    if (!done || !path_exists(subpool)) run_retrieve(comm, ro);
    m.select_seconds += secs(t0);
    const bool whole_pool = o.method == "full";
    if (comm.root()) {
      sub_uids = formats::SubpoolReader(subpool).uids();
    }
    comm.bcast(sub_uids);
    m.subpool = whole_pool ? sum.pool_items - sum.test_items - labelled.size() : sub_uids.size();
    if (!whole_pool) {
      auto lab = oracle(comm, p, sub_uids, subpool);
      for (auto& [u, l] : lab) m.subpool_target += l == sum.target;
    }
    // 2. train
    stages::TrainStageOptions to;
    to.pool = o.pool, to.labels = lp, to.output = join_path(rd, "model.h5");
    to.subpool = whole_pool || o.method == "random" ? "" : subpool;
    to.classes = classes;
    to.train.model = o.model, to.train.features = o.features, to.train.C = o.C;
    to.train.vocab = o.features == "embedding" ? std::string() : o.vocab;  // (warned once, below)
    to.train.lr = o.lr, to.train.epochs = o.epochs, to.train.min_steps = o.min_steps;
    to.train.seed = seed, to.train.round = r, to.train.threads = o.threads, to.train.progress = false;
    to.train.allow_missing_classes = true;
    // Out-of-fold P: for CROWDLAB and ActiveLab, and to calibrate the prior correction.
    if ((noisy || (eval && o.prior_correction == "em")) && labelled.size() >= 2)
      to.oof_folds = int(std::min<uint64_t>(5, labelled.size()));
    to.config = o.config;
    t0 = clock::now();
    stages::run_train(comm, to);
    m.train_seconds = secs(t0);
    // 3. score and select
    t0 = clock::now();
    const std::string pool_scores = join_path(rd, "pool-scores");
    auto score_pool = [&](uint64_t top_n) {
      stages::ScoreOptions so;
      so.model = to.output, so.pool = o.pool, so.output = pool_scores, so.top_n = top_n, so.cutoffs = false;
      so.text = false, so.threads = o.threads, so.config = o.config, so.features = needs_features && whole_pool;
      stages::run_score(comm, so);
    };
    std::vector<uint64_t> q;
    std::vector<std::string> prob_files;  // noisy mode: where the new items' probabilities are
    if (o.method == "random") {
      q = sub_uids;  // plain random sampling: the uniform batch, no model in the loop
      m.select_seconds = comm.max(m.select_seconds);
    } else {
      SelectOptions se;
      const bool pool_strategy = o.strategy == "exploit-explore";  // works on the pool's top list and motifs
      if (whole_pool || pool_strategy) {
        // exploit-explore reads top-<class>.tsv: enough rows that top_size stay after the labelled and held-out ones
        score_pool(pool_strategy ? se.top_size + labelled.size() + sh.split.uid.size() : 0);
        se.scores = pool_scores;
        for (auto& f : list_files(pool_scores, "shard-", ".scores.h5")) prob_files.push_back(f);
      } else {
        stages::ScoreOptions so;
        so.model = to.output, so.subpool = subpool, so.output = rd, so.features = needs_features;
        so.threads = o.threads, so.config = o.config;
        stages::run_score(comm, so);
        se.scores = join_path(rd, "subpool.scores.h5");
        prob_files.push_back(se.scores);
      }
      se.strategy = o.strategy, se.batch_size = o.batch_size, se.pool = o.pool, se.labels = lp, se.output = rd;
      se.round = r, se.seed = seed, se.config = o.config, se.exclude = sh.split_path;
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
        se.labelled_scores = stages::oof_scores_path(to.output);
      }
      auto sel = run_select(comm, se);
      m.select_seconds += secs(t0);
      m.select_seconds = comm.max(m.select_seconds);
      for (auto& row : sel.queue) q.push_back(row.uid);
    }
    m.train_seconds = comm.max(m.train_seconds);
    // 4. the oracle answers
    auto answers = oracle(comm, p, q, join_path(rd, "queue"));
    m.queued = q.size();
    for (auto& [u, l] : answers) m.queued_target += l == sum.target;
    if (noisy) {
      for (uint64_t u : q) m.relabelled += labelled.count(u);
      std::vector<uint64_t> lu;
      for (auto& [u, l] : labelled) lu.push_back(u);
      auto truth = oracle(comm, p, lu, lp);
      uint64_t right = 0;
      m.target_labelled = 0;  // by the truth, not by the (noisy) consensus
      for (auto& [u, l] : labelled) right += truth[u] == l, m.target_labelled += truth[u] == sum.target;
      m.label_accuracy = labelled.empty() ? 1.0 : double(right) / double(labelled.size());
    }
    if (whole_pool) m.subpool_target = sum.pool_target - sum.test_target - m.target_labelled;  // the unlabelled pool's
    if (!done) {
      if (noisy) {
        if (comm.root()) {
          annotate(journal, q, answers, classes, o, r + 1);
          std::vector<std::string> probs = {stages::oof_scores_path(to.output)};
          probs.insert(probs.end(), prob_files.begin(), prob_files.end());
          std::string how = "majority consensus (no item has two labels yet)";
          if (!write_crowdlab_consensus(journal, next, probs, classes, seed, &how)) write_consensus(journal, next, seed);
          consensus_note = how;
        }
      } else {
        LabelMap nl = labelled;
        for (auto& [u, l] : answers) nl[u] = l;
        if (comm.root()) write_label_map(next, nl);
      }
      comm.barrier();
    }
    // 5. the model on the held-out test split
    if (eval && !sh.split.uid.empty()) {
      m.evaluated = true;
      score_pool(0);
      std::vector<double> train_prior(classes.size(), 0.0);
      {
        std::set<std::string> present;
        for (auto& [u, l] : labelled) present.insert(l);
        for (size_t c = 0; c < classes.size(); ++c)
          if (present.count(classes[c])) train_prior[c] = 1.0 / double(present.size());
      }
      auto ev = evaluate_test(comm, p, pool_scores, labelled, sh.split.uid, train_prior, o.prior_correction == "em",
                              to.oof_folds > 0 ? stages::oof_scores_path(to.output) : std::string());
      for (auto& ce : ev.classes) {
        RoundMetrics::PerClass pc;
        pc.cls = ce.cls, pc.support = ce.support, pc.precision = ce.decision.precision(), pc.recall = ce.decision.recall();
        pc.f1 = ce.decision.f1(), pc.f1_argmax = ce.argmax.f1(), pc.average_precision = ce.ranking.average_precision;
        pc.roc_auc = ce.ranking.roc_auc, pc.prior = ce.prior;
        m.classes.push_back(pc);
        if (ce.cls == sum.target) {
          m.precision = pc.precision, m.recall = pc.recall, m.f1 = pc.f1, m.f1_argmax = pc.f1_argmax;
          m.best_f1 = ce.ranking.best_f1, m.average_precision = pc.average_precision, m.roc_auc = pc.roc_auc;
          m.prior_target = pc.prior;
        }
      }
    }
    sum.rounds.push_back(m);
    {
      log::Level lv = quiet.saved;
      log::set_level(lv);
      log::info("seed ", seed, " round ", r, ": ", m.labelled, " labelled (", m.target_labelled, " ", sum.target,
                "), subpool ", m.subpool, " (", m.subpool_target, " ", sum.target, "), queued ", m.queued, " (",
                m.queued_target, " ", sum.target, ")",
                m.evaluated ? cat("; test: P ", m.precision, " R ", m.recall, " F1 ", m.f1, " (argmax ", m.f1_argmax,
                                  ", best ", m.best_f1, ") AP ", m.average_precision, " prior ", m.prior_target)
                            : std::string(),
                consensus_note.empty() ? std::string() : cat("; next labels: ", consensus_note));
    }
    if (comm.root()) write_metrics(sum.metrics_path, sum.classes_path, o, sum);
    comm.barrier();
  }
  return sum;
}

}  // namespace

std::vector<SimulateSummary> run_simulate(const mpi::Comm& comm, const SimulateOptions& o) {
  if (o.pool.empty()) throw UsageError("--pool: required");
  if (o.labels.empty() == o.initial_minority.empty())
    throw UsageError("round 0's labels: pass either --labels FILE or --initial-minority CLASSES (drawn per seed)");
  if (o.output.empty()) throw UsageError("--output: required");
  if (o.rounds < 1) throw UsageError("--rounds must be at least 1");
  if (!o.vocab.empty() && o.features == "embedding")
    log::warn("--vocab ", o.vocab, ": a logreg over embeddings uses no idf weights; ignored");
  if (o.batch_size < 1) throw UsageError("--batch-size must be at least 1");
  if (o.annotators < 0) throw UsageError(cat("--annotators ", o.annotators, " must be >= 0"));
  if (!(o.accuracy >= 0 && o.accuracy <= 1)) throw UsageError(cat("--accuracy ", o.accuracy, " outside [0, 1]"));
  if (o.prior_correction != "em" && o.prior_correction != "none")
    throw UsageError(cat("--prior-correction '", o.prior_correction, "': expected em or none"));
  if (!(o.test_fraction > 0 && o.test_fraction < 1))
    throw UsageError(cat("--test-fraction ", o.test_fraction, ": expected a value in (0, 1); every metric is "
                         "measured on the held-out split"));
  if (o.strategy == "activelab" && o.annotators == 0)
    throw UsageError("--strategy activelab needs noisy annotators (--annotators M): it decides between relabelling and "
                     "labelling new items");
  if (comm.root()) make_dirs(o.output);
  comm.barrier();
  check_writable_dir(o.output);

  Shared sh;
  sh.p = pool::open_pool(comm, o.pool);
  sh.counts = pool_label_counts(comm, sh.p);
  for (auto& [k, v] : sh.counts) sh.classes.push_back(k);
  sh.split = make_test_split(comm, sh.p, sh.counts, o.test_fraction, o.split_seed);
  sh.split_path = join_path(o.output, "test-split.tsv");
  if (comm.root()) write_uid_list(sh.split_path, sh.split.uid);
  comm.barrier();
  std::string per;
  for (auto& [c, n] : sh.split.per_class) per += cat(per.empty() ? "" : ", ", c, " ", n);
  log::info("held-out test split: ", sh.split.uid.size(), " items (", per, ") -> ", sh.split_path);

  std::vector<SimulateSummary> all;
  if (o.seeds.empty()) {
    all.push_back(run_one(comm, o, sh, o.seed, o.output));
  } else {
    for (uint64_t s : o.seeds) all.push_back(run_one(comm, o, sh, s, join_path(o.output, cat("seed-", s))));
  }
  return all;
}

}  // namespace trawl::stages
