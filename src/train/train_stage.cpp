// The trawl-train stage (contract in train/train_stage.h). No torch headers here.
#include "train/train_stage.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "io/h5.h"
#include "io/shard.h"
#include "labels/labels.h"
#include "mpi/report.h"
#include "pool/pool.h"

namespace trawl::train {

namespace {

constexpr const char* kSubpoolFormat = "subpool";
constexpr int kSubpoolMaxVersion = 1;

std::string num(double v) {
  std::ostringstream os;
  os << std::setprecision(17) << v;
  return os.str();
}

std::string dir_of(const std::string& p) {
  auto s = p.find_last_of('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

// Runs f on rank 0 only; an error there is thrown on every rank with the same family and message.
template <class F>
void on_root(const mpi::Comm& comm, F&& f) {
  int code = 0;
  std::string msg;
  if (comm.root()) {
    try {
      f();
    } catch (const Error& e) {
      code = e.exit_code();
      msg = e.what();
    } catch (const std::exception& e) {
      code = kExitInternal;
      msg = cat("unexpected error: ", e.what());
    }
  }
  comm.bcast_value(code);
  comm.bcast(msg);
  switch (code) {
    case kExitOk: return;
    case kExitUsage: throw UsageError(msg);
    case kExitInput: throw InputError(msg);
    case kExitIo: throw IoError(msg);
    default: throw Error(msg);
  }
}

struct SubpoolRows {
  std::map<uint64_t, std::vector<float>> emb;  // labelled uids found in the subpool
};

// Rank 0: the embeddings of the labelled uids that the subpool holds.
SubpoolRows read_subpool(const std::string& path, const pool::Pool& p, const std::vector<uint64_t>& wanted) {
  namespace h5 = io::h5;
  SubpoolRows out;
  auto f = h5::File::open(path);
  h5::check_format(f, kSubpoolFormat, kSubpoolMaxVersion);
  std::string enc = f.attr_str("encoder"), params = f.attr_str("encoder-params");
  int64_t dim = f.attr_i64("dim");
  if (enc != p.encoder || params != p.params || dim != p.dim)
    throw InputError(cat(path, ": subpool of encoder '", enc, "' (", params, "), dim ", dim, " but the pool ", p.dir,
                         " is encoder '", p.encoder, "' (", p.params, "), dim ", p.dim,
                         "; pass the subpool retrieved from this pool"));
  auto du = h5::Dataset::open(f, "uid");
  du.expect(h5::Type::kU64, 1);
  auto de = h5::Dataset::open(f, "embedding");
  de.expect(h5::Type::kF32, 2, uint64_t(p.dim));
  de.expect_rows(du.rows(), "one embedding per uid");
  auto uids = du.read_all<uint64_t>();
  std::map<uint64_t, uint64_t> row_of;
  for (uint64_t r = 0; r < uids.size(); ++r) row_of.emplace(uids[r], r);
  for (auto u : wanted) {
    auto it = row_of.find(u);
    if (it == row_of.end()) continue;
    std::vector<float> v(size_t(p.dim));
    de.read(it->second, 1, v.data());
    out.emb.emplace(u, std::move(v));
  }
  return out;
}

}  // namespace

std::string train_fingerprint(const TrainStageOptions& o, const std::string& labels_checksum,
                              const std::string& subpool_checksum, const std::string& encoder,
                              const std::string& encoder_params, int dim) {
  const auto& t = o.train;
  std::ostringstream s;
  s << "model=" << t.model << "\n";
  if (t.model != "logreg") s << "hidden=" << t.hidden << "\n";
  if (t.model == "embbag") s << "buckets=" << t.buckets << "\n";
  s << "epochs=" << t.epochs << "\nmin-steps=" << t.min_steps << "\nbatch-size=" << t.batch_size << "\nlr=" << num(t.lr)
    << "\nweight-decay=" << num(t.weight_decay) << "\nseed=" << t.seed << "\nround=" << t.round
    << "\nallow-missing-classes=" << (t.allow_missing_classes ? 1 : 0) << "\nclasses=";
  for (size_t i = 0; i < o.classes.size(); ++i) s << (i ? "," : "") << o.classes[i];
  s << "\nlabels=" << labels_checksum << "\nsubpool=" << subpool_checksum << "\nencoder=" << encoder << "\nencoder-params="
    << encoder_params << "\ndim=" << dim << "\nmodel-format=" << kModelFormatVersion << "\n";
  return s.str();
}

TrainStageSummary run_train(const mpi::Comm& comm, const TrainStageOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  validate(o.train);
  const std::string input = input_of(o.train.model);
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
  on_root(comm, [&] { check_writable_dir(dir_of(o.output)); });

  labels::LabelSet ls = labels::read_labels_tsv(o.labels, o.classes);
  if (ls.items.empty()) throw InputError(cat(o.labels, ": no labelled items (expected rows 'uid<TAB>label' after the header)"));
  pool::Pool p = pool::open_pool(comm, o.pool);

  // Skip an up-to-date output.
  std::string fp;
  int skip = 0;
  TrainStageSummary sum;
  sum.output = o.output;
  sum.classes = ls.classes;
  on_root(comm, [&] {
    std::string sub_ck = "none";
    if (!o.subpool.empty() && input == "embedding") sub_ck = checksum_file(o.subpool).str();
    TrainStageOptions oc = o;
    oc.classes = ls.classes;
    fp = train_fingerprint(oc, checksum_file(o.labels).str(), sub_ck, p.encoder, p.params, p.dim);
    if (model_is_complete(o.output)) {
      auto h = read_model_header(o.output);
      if (h.fingerprint == fp) {
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
      on_root(comm, [&] {
        sub = read_subpool(o.subpool, p, labelled);
        from_pool.clear();
        for (auto u : labelled)
          if (!sub.emb.count(u)) from_pool.push_back(u);
      });
      comm.bcast(from_pool);
    } else {
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
                            input == "embedding" ? io::ShardReader::kEmbedding : io::ShardReader::kTokens);
  }
  if (rows.size() != from_pool.size())
    throw InputError(cat(o.labels, ": ", from_pool.size() - rows.size(), " labelled uids were not found in the pool ", o.pool));

  // Rank 0 trains and writes.
  std::vector<double> nums;
  on_root(comm, [&] {
    TrainData d;
    d.classes = ls.classes;
    d.dim = p.dim;
    std::vector<char> in_sub;
    for (auto& it : ls.items) {
      d.y.push_back(it.cls);
      d.uid.push_back(it.uid);
      if (input == "embedding") {
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
      }
    }
    d.where = [&](size_t i) {
      uint64_t u = d.uid[i];
      std::string src = input == "embedding" && in_sub[i] ? o.subpool : pool::shard_of_uid(p, u);
      return cat("uid ", u, " (", at(o.labels, (long long)ls.items[i].line, "labelled here"), "; ", input, " read from ",
                 src, ")");
    };
    TrainResult r = train_model(d, o.train, o.labels);
    ModelHeader h = make_header(d, o.train);
    h.encoder = p.encoder;
    h.encoder_params = p.params;
    h.config = o.config;
    h.training_summary = r.summary(d.classes);
    h.fingerprint = fp;
    {
      ScopedTimer t("write model");
      write_model(o.output, h, r.params);
    }
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

}  // namespace trawl::train
