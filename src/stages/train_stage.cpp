// The trawl-train stage (contract in train/train_stage.h). No torch headers here.
#include "stages/train_stage.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <sstream>

#include "byo/classifier.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "embed/vocab.h"
#include "formats/scores.h"
#include "formats/subpool.h"
#include "io/h5.h"
#include "io/shard.h"
#include "labels/labels.h"
#include "mpi/report.h"
#include "mpi/run.h"
#include "pool/pool.h"
#include "train/linear.h"

namespace trawl::stages {

using namespace trawl::train;  // the classifiers this stage trains

namespace {

std::string num(double v) {
  std::ostringstream os;
  os << std::setprecision(17) << v;
  return os.str();
}


struct SubpoolRows {
  std::map<uint64_t, std::vector<float>> emb;  // labelled uids found in the subpool
};

// Rank 0: the embeddings of the labelled uids that the subpool holds.
SubpoolRows read_subpool(const std::string& path, const pool::Pool& p, const std::vector<uint64_t>& wanted) {
  SubpoolRows out;
  formats::SubpoolReader sr(path);
  const auto& m = sr.info().meta;
  if (m.encoder != p.encoder || m.params != p.params || m.dim != p.dim)
    throw InputError(cat(path, ": subpool of encoder '", m.encoder, "' (", m.params, "), dim ", m.dim, " but the pool ",
                         p.dir, " is encoder '", p.encoder, "' (", p.params, "), dim ", p.dim,
                         "; pass the subpool retrieved from this pool"));
  std::map<uint64_t, uint64_t> row_of;
  for (uint64_t r = 0; r < sr.uids().size(); ++r) row_of.emplace(sr.uids()[r], r);
  for (auto u : wanted) {
    auto it = row_of.find(u);
    if (it == row_of.end()) continue;
    std::vector<float> v(size_t(p.dim));
    sr.read_embedding(it->second, 1, v.data());
    out.emb.emplace(u, std::move(v));
  }
  return out;
}

// What idf weights depend on (a vocab's content checksum), for the fingerprint.
std::string vocab_identity(const std::string& path) { return embed::read_vocab(path).checksum(); }

std::string oof_fingerprint(const std::string& fp, int K) { return cat(fp, "oof-folds=", K, "\n"); }

bool oof_is_current(const std::string& path, const std::string& fp) {
  if (!path_exists(path)) return false;
  try {
    return formats::read_scores_info(path).fingerprint == fp;
  } catch (const Error&) {
    return false;
  }
}

byo::FineTuneOptions finetune_options(const TrainOptions& t) {
  byo::FineTuneOptions f;
  f.epochs = t.epochs;
  f.min_steps = t.min_steps;
  f.batch_size = t.batch_size;
  f.lr = t.lr;
  f.weight_decay = t.weight_decay;
  f.warmup = t.warmup;
  f.freeze_encoder = t.freeze_encoder;
  f.head_prefix = t.head_prefix;
  f.class_weighting = t.class_weighting;
  f.allow_missing_classes = t.allow_missing_classes;
  f.seed = t.seed;
  f.round = t.round;
  f.threads = t.threads;
  f.progress = t.progress;
  return f;
}

// Rank 0: trains a model per fold and writes the out-of-fold scores file.
void write_oof(const TrainData& d, const TrainStageOptions& o, const std::string& input, const ModelHeader& full,
               const std::string& fp, const std::string& labels_checksum) {
  ScopedTimer t("out-of-fold");
  const int K = o.oof_folds, C = int(d.classes.size());
  const auto fold = oof_fold_assignment(d.uid, d.y, C, K, o.train.seed, o.train.round);
  const size_t n = d.size();
  std::vector<float> probs(n * size_t(C), 0.0f);
  for (int f = 0; f < K; ++f) {
    TrainData tr, te;
    tr.classes = te.classes = d.classes;
    tr.dim = te.dim = d.dim;
    tr.idf = d.idf;
    std::vector<size_t> held;
    for (size_t i = 0; i < n; ++i) {
      TrainData& dst = fold[i] == f ? te : tr;
      if (fold[i] == f) held.push_back(i);
      dst.y.push_back(d.y[i]);
      dst.uid.push_back(d.uid[i]);
      if (input == "text") dst.text.push_back(d.text[i]);
      else if (input != "tokens")
        dst.x.insert(dst.x.end(), d.x.begin() + long(i) * d.dim, d.x.begin() + long(i + 1) * d.dim);
      if (input != "embedding" && input != "text") {
        dst.token_ids.insert(dst.token_ids.end(), d.token_ids.begin() + long(d.token_offsets[i]),
                             d.token_ids.begin() + long(d.token_offsets[i + 1]));
        dst.token_offsets.push_back(dst.token_ids.size());
      }
    }
    TrainOptions to = o.train;
    to.allow_missing_classes = true;
    to.progress = false;
    for (uint64_t c : class_counts(tr))
      if (c == 0) {
        log::warn("--oof-folds ", K, ": a class has no example outside fold ", f, "; its fold model never predicts it "
                  "with weight (loss weight 0)");
        break;
      }
    std::vector<float> p(te.size() * size_t(C));
    if (input == "text") {
      ModelHeader ih;
      auto payload = read_torchscript_payload(o.train.init, &ih);
      auto fo = finetune_options(to);
      auto r = byo::finetune(o.train.init, tr.text, tr.y, tr.classes, fo, cat(o.labels, " (out-of-fold training, fold ", f, ")"));
      p = byo::predict_with(r.module, ih, payload.vocab, te.text, o.train.threads);
      for (size_t h = 0; h < held.size(); ++h)
        std::copy(p.begin() + long(h) * C, p.begin() + long(h + 1) * C, probs.begin() + long(held[h]) * C);
      continue;
    }
    TrainResult r = train_model(tr, to, cat(o.labels, " (out-of-fold training, fold ", f, ")"));
    auto m = make_model(make_header(tr, to), r.params, o.train.threads);
    if (input == "embedding")
      m->predict(te.x.data(), te.size(), p.data());
    else if (input == "tokens")
      m->predict_tokens(te.token_offsets.data(), te.token_ids.data(), te.size(), p.data());
    else
      m->predict_mixed(te.token_offsets.data(), te.token_ids.data(), te.x.data(), te.size(), p.data());
    for (size_t h = 0; h < held.size(); ++h)
      std::copy(p.begin() + long(h) * C, p.begin() + long(h + 1) * C, probs.begin() + long(held[h]) * C);
  }
  // Rows sorted by uid.
  std::vector<size_t> ord(n);
  for (size_t i = 0; i < n; ++i) ord[i] = i;
  std::sort(ord.begin(), ord.end(), [&](size_t a, size_t b) { return d.uid[a] < d.uid[b]; });
  std::vector<uint64_t> uid(n);
  std::vector<float> pr(n * size_t(C));
  for (size_t r = 0; r < n; ++r) {
    uid[r] = d.uid[ord[r]];
    std::copy(probs.begin() + long(ord[r]) * C, probs.begin() + long(ord[r] + 1) * C, pr.begin() + long(r) * C);
  }
  const std::string path = oof_scores_path(o.output);
  formats::ScoresInfo h;
  h.classes = d.classes;
  h.model = o.output;
  h.model_checksum = checksum_file(o.output).str();
  h.model_kind = full.kind;
  h.model_input = full.input;
  h.source_kind = "oof";
  h.shard = basename(o.labels);
  h.shard_identity = labels_checksum;
  h.encoder = full.encoder;
  h.encoder_params = full.encoder_params;
  h.dim = d.dim;
  h.config = o.config;
  h.fingerprint = oof_fingerprint(fp, K);
  formats::ScoresWriter w(path, h, n);
  w.set_attr("oof-folds", int64_t(K));
  w.write(0, n, uid.data(), pr.data());
  w.commit();
  log::info("out-of-fold probabilities of ", n, " labelled items (", K, " folds) -> ", path);
}

}  // namespace

std::string oof_scores_path(const std::string& model_output) { return model_output + ".oof.scores.h5"; }

std::vector<int> oof_fold_assignment(const std::vector<uint64_t>& uid, const std::vector<int>& y, int num_classes,
                                     int K, uint64_t seed, uint64_t round) {
  const size_t n = uid.size();
  TRAWL_ASSERT(y.size() == n);
  if (K < 2 || uint64_t(K) > n)
    throw UsageError(cat("--oof-folds ", K, ": expected 2 <= K <= ", n, " (the number of labelled items), or 0 for none"));
  std::vector<size_t> ord(n);
  for (size_t i = 0; i < n; ++i) ord[i] = i;
  std::sort(ord.begin(), ord.end(), [&](size_t a, size_t b) {
    if (y[a] != y[b]) return y[a] < y[b];
    const uint64_t ka = key(seed, round, uid[a]), kb = key(seed, round, uid[b]);
    return ka != kb ? ka < kb : uid[a] < uid[b];
  });
  (void)num_classes;
  std::vector<int> fold(n);
  for (size_t r = 0; r < n; ++r) fold[ord[r]] = int(r % size_t(K));
  return fold;
}

std::string train_fingerprint(const TrainStageOptions& o, const std::string& labels_checksum,
                              const std::string& subpool_checksum, const std::string& encoder,
                              const std::string& encoder_params, int dim) {
  const auto& t = o.train;
  std::ostringstream s;
  s << "model=" << t.model << "\n";
  if (t.model == "logreg")
    s << "features=" << t.features << "\nC=" << num(t.C) << "\ntol=" << num(t.tol) << "\nfeature-buckets="
      << t.feature_buckets << "\nvocab=" << (t.vocab.empty() ? std::string("none") : vocab_identity(t.vocab)) << "\n";
  if (t.model != "logreg" && t.model != "torchscript") s << "hidden=" << t.hidden << "\n";
  if (t.model == "embbag") s << "buckets=" << t.buckets << "\n";
  if (t.model == "torchscript")
    s << "init=" << checksum_file(t.init).str() << "\nfreeze-encoder=" << (t.freeze_encoder ? 1 : 0)
      << "\nhead-prefix=" << t.head_prefix << "\nwarmup=" << num(t.warmup) << "\n";
  s << "epochs=" << t.epochs << "\nmin-steps=" << t.min_steps << "\nbatch-size=" << t.batch_size << "\nlr=" << num(t.lr)
    << "\nweight-decay=" << num(t.weight_decay) << "\nseed=" << t.seed << "\nround=" << t.round
    << "\nallow-missing-classes=" << (t.allow_missing_classes ? 1 : 0) << "\nclasses=";
  for (size_t i = 0; i < o.classes.size(); ++i) s << (i ? "," : "") << o.classes[i];
  s << "\nlabels=" << labels_checksum << "\nsubpool=" << subpool_checksum << "\nencoder=" << encoder << "\nencoder-params="
    << encoder_params << "\ndim=" << dim << "\nmodel-format=" << (t.model == "torchscript" ? kModelFormatVersion : kModelFormatVersionClassic) << "\n";
  return s.str();
}

TrainStageSummary run_train(const mpi::Comm& comm, const TrainStageOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  validate(o.train);
  const std::string input = input_of(o.train);
  if (o.output.empty()) throw UsageError("--output: a model file path is required");
  if (o.pool.empty()) throw UsageError("--pool: a pool directory is required");
  if (o.labels.empty()) throw UsageError("--labels: a labels file is required");
  {
    auto c = o.classes;
    std::sort(c.begin(), c.end());
    auto d = std::adjacent_find(c.begin(), c.end());
    if (d != c.end()) throw UsageError(cat("--classes: class '", *d, "' is listed twice"));
  }
  // Fail before the work when the output cannot be written (fastText's habit).
  mpi::on_root(comm, [&] { check_writable_dir(parent_dir(o.output)); });

  if (o.oof_folds < 0 || o.oof_folds == 1)
    throw UsageError(cat("--oof-folds ", o.oof_folds, ": expected 0 (none) or at least 2 folds"));
  std::vector<std::string> want_classes = o.classes;
  if (input == "text") {
    if (!path_exists(o.train.init)) throw IoError(cat(o.train.init, ": model file not found (--init)"));
    auto ih = read_model_header(o.train.init);
    if (ih.kind != "torchscript")
      throw InputError(cat(o.train.init, ": a ", ih.kind, " model; --init takes a torchscript model file (from "
                           "trawl-import-model or an earlier trawl-train --model torchscript)"));
    if (want_classes.empty()) want_classes = ih.classes;
    else if (want_classes != ih.classes)
      throw UsageError(cat("--classes differ from the classes of ", o.train.init, " (the module's outputs)"));
  }
  labels::LabelSet ls = labels::read_labels_tsv(o.labels, want_classes);
  if (ls.items.empty()) throw InputError(cat(o.labels, ": no labelled items (expected rows 'uid<TAB>label' after the header)"));
  if (uint64_t(o.oof_folds) > ls.items.size())
    throw UsageError(cat("--oof-folds ", o.oof_folds, ": more folds than the ", ls.items.size(), " labelled items of ",
                         o.labels, "; expected 2 <= K <= ", ls.items.size()));
  pool::Pool p = pool::open_pool(comm, o.pool);

  // Skip an up-to-date output.
  std::string fp, labels_ck;
  int skip = 0;
  TrainStageSummary sum;
  sum.output = o.output;
  sum.classes = ls.classes;
  mpi::on_root(comm, [&] {
    std::string sub_ck = "none";
    if (!o.subpool.empty() && input == "embedding") sub_ck = checksum_file(o.subpool).str();
    if (!o.train.vocab.empty() && input == "embedding")
      log::warn("--vocab ", o.train.vocab, ": a logreg over embeddings uses no idf weights; ignored");
    TrainStageOptions oc = o;
    oc.classes = ls.classes;
    labels_ck = checksum_file(o.labels).str();
    fp = train_fingerprint(oc, labels_ck, sub_ck, p.encoder, p.params, p.dim);
    if (model_is_complete(o.output)) {
      auto h = read_model_header(o.output);
      if (o.oof_folds > 0 && !oof_is_current(oof_scores_path(o.output), oof_fingerprint(fp, o.oof_folds))) {
        log::info(oof_scores_path(o.output), " is missing or out of date; retraining");
      } else if (h.fingerprint == fp) {
        skip = 1;
        sum.summary = h.training_summary;
      } else {
        log::info(o.output, " exists but was trained on other inputs or options; retraining");
      }
    }
  });
  comm.bcast_value(skip);
  if (skip) {
    comm.bcast(sum.summary);
    sum.skipped = true;
    log::info(o.output, " is up to date (same labels, options and encoder); skipping");
    return sum;
  }

  // Which labelled uids come from the subpool (rank 0 reads it) and which from the shards.
  std::vector<uint64_t> labelled;
  for (auto& it : ls.items) labelled.push_back(it.uid);
  SubpoolRows sub;
  std::vector<uint64_t> from_pool = labelled;
  if (!o.subpool.empty()) {
    if (input == "embedding") {
      mpi::on_root(comm, [&] {
        sub = read_subpool(o.subpool, p, labelled);
        from_pool.clear();
        for (auto u : labelled)
          if (!sub.emb.count(u)) from_pool.push_back(u);
      });
      comm.bcast(from_pool);
    } else if (input == "tokens" && o.train.model != "logreg") {
      log::warn("--subpool ", o.subpool, " holds embeddings only; the ", o.train.model,
                " model reads token ids, all from the pool's shards");
    }
  }
  auto line_of = [&](uint64_t u) {
    auto it = std::lower_bound(ls.items.begin(), ls.items.end(), u,
                               [](const labels::Labelled& a, uint64_t v) { return a.uid < v; });
    return it != ls.items.end() && it->uid == u ? it->line : 0;
  };
  pool::Rows rows;
  {
    ScopedTimer t("gather labelled");
    rows = pool::fetch_rows(comm, p, from_pool, [&](uint64_t u) { return cat(o.labels, ":", line_of(u)); },
                            input == "text" ? io::ShardReader::kText
                                            : (input != "tokens" ? io::ShardReader::kEmbedding : 0u) |
                                                  (input != "embedding" ? io::ShardReader::kTokens : 0u));
  }
  if (rows.size() != from_pool.size())
    throw InputError(cat(o.labels, ": ", from_pool.size() - rows.size(), " labelled uids were not found in the pool ", o.pool));

  // Rank 0 trains and writes.
  std::vector<double> nums;
  mpi::on_root(comm, [&] {
    TrainData d;
    d.classes = ls.classes;
    d.dim = p.dim;
    std::vector<char> in_sub;
    for (auto& it : ls.items) {
      d.y.push_back(it.cls);
      d.uid.push_back(it.uid);
      if (input == "text") {
        long r = rows.find(it.uid);
        TRAWL_ASSERT_MSG(r >= 0, "uid ", it.uid, " was not gathered");
        d.text.push_back(rows.text[size_t(r)]);
        in_sub.push_back(0);
      } else if (input == "embedding") {
        auto s = sub.emb.find(it.uid);
        if (s != sub.emb.end()) {
          d.x.insert(d.x.end(), s->second.begin(), s->second.end());
          in_sub.push_back(1);
          ++sum.from_subpool;
        } else {
          long r = rows.find(it.uid);
          TRAWL_ASSERT_MSG(r >= 0, "uid ", it.uid, " was not gathered");
          d.x.insert(d.x.end(), rows.row(size_t(r), p.dim), rows.row(size_t(r), p.dim) + p.dim);
          in_sub.push_back(0);
        }
      } else {
        long r = rows.find(it.uid);
        TRAWL_ASSERT_MSG(r >= 0, "uid ", it.uid, " was not gathered");
        d.token_ids.insert(d.token_ids.end(), rows.token_ids.begin() + long(rows.token_offsets[size_t(r)]),
                           rows.token_ids.begin() + long(rows.token_offsets[size_t(r) + 1]));
        d.token_offsets.push_back(d.token_ids.size());
        if (input == "tokens+embedding") d.x.insert(d.x.end(), rows.row(size_t(r), p.dim), rows.row(size_t(r), p.dim) + p.dim);
        in_sub.push_back(0);
      }
    }
    d.where = [&](size_t i) {
      uint64_t u = d.uid[i];
      std::string src = input == "embedding" && in_sub[i] ? o.subpool : pool::shard_of_uid(p, u);
      return cat("uid ", u, " (", at(o.labels, (long long)ls.items[i].line, "labelled here"), "; ", input, " read from ",
                 src, ")");
    };
    if (o.train.model == "logreg" && input != "embedding" && !o.train.vocab.empty()) {
      ScopedTimer t("idf");
      auto v = embed::read_vocab(o.train.vocab);
      d.idf = linear::bucket_idf(v.id, v.df, v.n_docs, uint32_t(o.train.feature_buckets));
    }
    TrainResult r;
    ModelHeader h;
    if (input == "text") {
      auto payload = read_torchscript_payload(o.train.init, &h);
      auto fr = byo::finetune(o.train.init, d.text, d.y, d.classes, finetune_options(o.train), o.labels);
      payload.module = std::move(fr.module);
      h.config = o.config;
      h.training_summary = fr.summary(d.classes);
      h.fingerprint = fp;
      h.seed = o.train.seed;
      h.round = o.train.round;
      r.counts = fr.counts;
      r.weights = fr.weights;
      r.steps = fr.steps;
      r.final_loss = fr.final_loss;
      r.train_accuracy = fr.train_accuracy;
      r.minority = fr.minority;
      r.minority_f1 = fr.minority_f1;
      r.seconds = fr.seconds;
      ScopedTimer t("write model");
      write_torchscript_model(o.output, h, payload);
    } else {
      r = train_model(d, o.train, o.labels);
      h = make_header(d, o.train);
      h.encoder = p.encoder;
      h.encoder_params = p.params;
      h.config = o.config;
      h.training_summary = r.summary(d.classes);
      h.fingerprint = fp;
      ScopedTimer t("write model");
      write_model(o.output, h, r.params);
    }
    if (o.oof_folds > 0) write_oof(d, o, input, h, fp, labels_ck);
    sum.per_class = r.counts;
    sum.examples = d.size();
    sum.steps = r.steps;
    sum.final_loss = r.final_loss;
    sum.train_accuracy = r.train_accuracy;
    sum.minority_f1 = r.minority_f1;
    sum.summary = h.training_summary;
    nums = {double(sum.examples), double(sum.from_subpool), double(sum.steps), sum.final_loss, sum.train_accuracy,
            sum.minority_f1};
    std::string pc;
    for (size_t c = 0; c < d.classes.size(); ++c) pc += cat(c ? ", " : "", d.classes[c], " ", r.counts[c]);
    log::info("trained ", o.train.model, " on ", d.size(), " examples (", pc, "; ", sum.from_subpool,
              " from the subpool): ", r.steps, " steps, final loss ", r.final_loss, ", train accuracy ",
              r.train_accuracy, ", minority F1 [", r.minority >= 0 ? d.classes[size_t(r.minority)] : "-", "] ",
              r.minority_f1, ", ", Progress::human_time(r.seconds), " -> ", o.output);
  });
  comm.bcast(nums);
  comm.bcast(sum.summary);
  std::vector<uint64_t> pc = sum.per_class;
  comm.bcast(pc);
  sum.per_class = pc;
  sum.examples = uint64_t(nums[0]);
  sum.from_subpool = uint64_t(nums[1]);
  sum.steps = uint64_t(nums[2]);
  sum.final_loss = nums[3];
  sum.train_accuracy = nums[4];
  sum.minority_f1 = nums[5];
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  mpi::report_timers(comm);
  return sum;
}

}  // namespace trawl::stages
