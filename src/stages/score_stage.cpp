#include "stages/score_stage.h"

#include "labels/labels.h"
#include "score/prior.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/tsv.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "formats/subpool.h"
#include "io/block_stream.h"
#include "io/h5.h"
#include "io/shard.h"
#include "mpi/report.h"
#include "pool/pool.h"
#include "score/topn.h"
#include "train/model.h"

namespace trawl::stages {

using namespace trawl::score;  // top N, metrics and the pool prior

namespace h5 = io::h5;

using formats::class_file_tag;
using formats::read_scores_info;
using formats::ScoresInfo;
using formats::ScoresReader;
using formats::scores_file_name;

namespace {

// ---- scoring blocks --------------------------------------------------------------------------------

struct Block {
  uint64_t begin = 0, n = 0;
  std::vector<uint64_t> uid;
  std::vector<float> emb;                 // embedding models
  std::vector<uint64_t> offsets;          // token models (CSR, from 0)
  std::vector<uint32_t> ids;
  std::vector<std::string> text;          // text models (torchscript)
  // Embedding-only models in pool mode: the rows as read by ShardReader::kEmbeddingView (views
  // into the mapped shard, verified by the reading thread; or copied rows, e.g. f16), read
  // through for_each_embedding_run instead of `emb`.
  io::ShardBlock rows;
  bool viewed = false;
  int dim = 0;
  // Viewed rows scored by both the stream's reading thread and the caller (ShardBlock::arm_work):
  // each block's own results, since the reading thread scores the next block while the caller
  // writes this one.
  std::vector<float> probs, feats;
};

struct Scorer {
  const train::Model* model = nullptr;
  std::string path, checksum;
  bool tokens = false, features = false;
  bool text = false;           // the model reads the items' text (torchscript)
  bool emb = true;             // read the items' embeddings (the model reads them, or they are the features)
  bool model_emb = true;       // the model itself reads the embedding
  bool feat_from_emb = false;  // features requested of a model without its own (logreg over tokens): the embedding
  int C = 0, F = 0;
  const std::vector<std::string>* classes = nullptr;
};

using ReadFn = std::function<void(uint64_t begin, uint64_t end, Block&)>;       // called under the HDF5 lock
using WriteFn = std::function<void(const Block&, const float*, const float*)>;  // called under the HDF5 lock
using FeedFn = std::function<void(const Block&, const float*)>;                 // no HDF5

// Streams rows [0, rows) through the one block stream (io/block_stream.h): its helper thread
// reads block i+1 while this thread predicts block i, then writes it. Blocks start at multiples
// of block_rows, whatever the rank count.
void score_blocks(const Scorer& s, const std::string& what, uint64_t rows, uint64_t block_rows, const ReadFn& read,
                  const WriteFn& write, const FeedFn& feed, Progress& prog) {
  std::vector<float> probs, feats;
  // A model whose predict() is a memory-bound pass that two threads may run at once (logistic
  // regression over the embedding): the reading thread scores too, each chunk verified and
  // scored tile by tile from cache (ShardBlock::arm_work) — one pass over memory, on both cores.
  const bool shared = s.model->concurrent_predict() && io::read_ahead_enabled();
  // Rows [at, at + n) of a block of viewed rows into its probs (and feats, when asked for): a
  // row's probabilities do not depend on the rows beside it, so runs may go in any order.
  auto score_run = [&s](float* probs, float* feats, const float* x, uint64_t at, uint64_t n) {
    float* fp = feats ? feats + at * size_t(s.F) : nullptr;
    s.model->predict(x, n, probs + at * size_t(s.C), fp && !s.feat_from_emb ? fp : nullptr);
    if (fp && s.feat_from_emb) std::copy(x, x + n * size_t(s.F), fp);
  };
  io::BlockStream<Block> stream(
      io::block_tasks({rows}, block_rows),
      [&](const io::BlockTask& t, Block& blk) {
        ScopedTimer timer("read");
        blk.begin = t.begin;
        blk.n = t.rows();
        read(t.begin, t.end, blk);
      },
      true,
      [](Block& blk) {
        ScopedTimer timer("check rows");
        if (blk.rows.armed_for_work())
          blk.rows.work_views();
        else if (blk.viewed)
          blk.rows.check_views(/*norms=*/false);
      },
      [&](Block& blk) {  // viewed rows are scored right behind their check, chunk by chunk
        if (!blk.viewed) return;
        if (!shared || blk.rows.emb_segments.empty()) return blk.rows.arm_check(/*norms=*/false);
        blk.probs.resize(blk.n * size_t(s.C));
        blk.feats.resize(s.features ? blk.n * size_t(s.F) : 0);
        blk.rows.arm_work(
            [&score_run, &blk, features = s.features](const float* x, uint64_t at, uint64_t n) {
              score_run(blk.probs.data(), features ? blk.feats.data() : nullptr, x, at, n);
            },
            blk.dim);
      });
  for (;;) {
    Block* next;
    {
      ScopedTimer t("wait for read");
      next = stream.next();
    }
    if (!next) break;
    Block& cur = *next;
    if (cur.rows.armed_for_work()) {
      {
        ScopedTimer t("predict");
        cur.rows.work_views();
      }
      {
        ScopedTimer t("wait for scores");
        cur.rows.wait_views();
      }
      probs.swap(cur.probs);
      feats.swap(cur.feats);
    } else {
      ScopedTimer t("predict");
      probs.resize(cur.n * size_t(s.C));
      feats.resize(s.features ? cur.n * size_t(s.F) : 0);
      float* fp = s.features ? feats.data() : nullptr;
      if (s.text)
        s.model->predict_texts(cur.text, probs.data());
      else if (s.tokens && s.model_emb)
        s.model->predict_mixed(cur.offsets.data(), cur.ids.data(), cur.emb.data(), cur.n, probs.data());
      else if (s.tokens)
        s.model->predict_tokens(cur.offsets.data(), cur.ids.data(), cur.n, probs.data(), s.feat_from_emb ? nullptr : fp);
      else if (cur.viewed)
        cur.rows.for_each_embedding_run(cur.dim, [&](const float* x, uint64_t at, uint64_t n, float) {
          score_run(probs.data(), fp, x, at, n);
        });
      else
        s.model->predict(cur.emb.data(), cur.n, probs.data(), s.feat_from_emb ? nullptr : fp);
      if (fp && s.feat_from_emb && !cur.viewed) std::copy(cur.emb.begin(), cur.emb.begin() + long(cur.n * size_t(s.F)), fp);
    }
    for (size_t i = 0; i < cur.n; ++i)
      for (int c = 0; c < s.C; ++c) {
        float p = probs[i * size_t(s.C) + size_t(c)];
        if (!std::isfinite(p))
          throw InputError(cat(what, ": uid ", cur.uid[i], " (row ", cur.begin + i, "): the probability of class '",
                               (*s.classes)[size_t(c)], "' is ", p,
                               "; the item's input holds NaN or inf values (check the shard with trawl-inspect --check)"));
      }
    {
      ScopedTimer t("write");
      std::lock_guard<std::mutex> g(io::hdf5_lock());
      write(cur, probs.data(), s.features ? feats.data() : nullptr);
    }
    if (feed) {
      ScopedTimer t("collect");
      feed(cur, probs.data());
    }
    prog.add(cur.n);
  }
}

// The header of a scores file this scorer writes for one source (shard or subpool).
ScoresInfo scores_header(const Scorer& s, const io::ShardMeta& src, const std::string& kind, const std::string& shard,
                         const std::string& identity, const std::string& config) {
  ScoresInfo h;
  h.classes = *s.classes;
  h.model = s.path;
  h.model_checksum = s.checksum;
  h.model_kind = s.model->header().kind;
  h.model_input = s.model->header().input;
  h.source_kind = kind;
  h.shard = shard;
  h.shard_identity = identity;
  h.encoder = src.encoder;
  h.encoder_params = src.encoder_params;
  h.dim = src.dim;
  h.feature_dim = s.features ? s.F : 0;
  h.config = config;
  return h;
}

// An existing scores file that can be reused: complete, same model file, same shard contents.
bool up_to_date(const std::string& path, const Scorer& s, const std::string& shard, const std::string& identity,
                uint64_t rows) {
  if (!path_exists(path)) return false;
  try {
    auto info = read_scores_info(path);
    std::string why;
    if (info.model_checksum != s.checksum)
      why = cat("made by another model (", info.model_checksum, ", now ", s.checksum, ")");
    else if (info.shard != shard || info.shard_identity != identity || info.shard_rows != rows)
      why = cat("made from another version of ", shard);
    else if (s.features && info.feature_dim != s.F)
      why = "has no features (--features)";
    if (why.empty()) return true;
    log::info_all(path, ": ", why, "; scoring again");
  } catch (const Error& e) {
    log::warn(path, ": not a usable scores file (", e.what(), "); scoring again");
  }
  return false;
}

void feed_columns(std::vector<LocalBest>& cols, const std::string& what, const uint64_t* uid, const float* probs,
                  size_t n) {
  const size_t C = cols.size();
  try {
    for (size_t c = 0; c < C; ++c) cols[c].push_column(probs + c, C, uid, n);
  } catch (const InputError& e) {
    throw InputError(cat(what, ": ", e.what()));
  }
}

// ---- TSV outputs -------------------------------------------------------------------------------------

std::string fmt_score(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", double(v));
  return b;
}

void write_tsvs(const mpi::Comm& comm, const ScoreOptions& o, const pool::Pool& p,
                const std::vector<std::string>& classes, const std::vector<Selection>& sel, ScoreSummary& sum) {
  ScopedTimer t("fetch and write tsv");
  std::set<uint64_t> want;
  for (auto& s : sel) {
    for (auto& x : s.top) want.insert(x.uid);
    for (auto& w : s.windows)
      for (auto& x : w.items) want.insert(x.uid);
  }
  unsigned cols = io::ShardReader::kId | (o.text ? io::ShardReader::kText : 0u);
  auto rows = pool::fetch_rows(comm, p, std::vector<uint64_t>(want.begin(), want.end()),
                               [&](uint64_t) { return std::string("selected item"); }, cols);
  std::map<std::string, std::string> tags;
  for (auto& c : classes) {
    auto tag = class_file_tag(c);
    if (tags.count(tag))
      throw InputError(cat(o.model, ": classes '", tags[tag], "' and '", c, "' map to the same file name part '", tag,
                           "'; rename one"));
    tags[tag] = c;
  }
  auto line = [&](std::ostream& f, const Scored& x) {
    long i = rows.find(x.uid);
    TRAWL_ASSERT_MSG(i >= 0, "selected uid ", x.uid, " was not fetched");
    f << x.uid << '\t' << tsv::escape(rows.id[size_t(i)]) << '\t' << fmt_score(x.score);
    if (o.text) f << '\t' << tsv::escape(rows.text[size_t(i)]);
    f << '\n';
  };
  const std::string text_col = o.text ? "\ttext" : "";
  for (size_t c = 0; c < classes.size(); ++c) {
    const std::string tag = class_file_tag(classes[c]);
    std::vector<std::pair<std::string, bool>> files;
    if (o.top_n > 0) files.push_back({join_path(o.output, "top-" + tag + ".tsv"), true});
    if (o.cutoffs) files.push_back({join_path(o.output, "cutoffs-" + tag + ".tsv"), false});
    for (auto& [path, is_top] : files) {
      sum.outputs.push_back(path);
      if (!comm.root()) continue;
      AtomicOutput out(path);
      {
        std::ofstream f(out.temp_path());
        if (is_top) {
          f << "rank\tuid\tid\tscore" << text_col << '\n';
          for (size_t r = 0; r < sel[c].top.size(); ++r) {
            f << r + 1 << '\t';
            line(f, sel[c].top[r]);
          }
        } else {
          f << "bucket\trank\tuid\tid\tscore" << text_col << '\n';
          for (auto& w : sel[c].windows)
            for (size_t k = 0; k < w.items.size(); ++k) {
              f << w.ranks.point << '\t' << w.ranks.first + k << '\t';
              line(f, w.items[k]);
            }
        }
        f.flush();
        if (!f) throw IoError(cat(out.temp_path(), ": write error"));
      }
      out.commit();
    }
  }
}

// ---- option checks -------------------------------------------------------------------------------------

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  return p;
}

void check_options(const ScoreOptions& o) {
  if (o.output.empty()) throw UsageError("--output: required (the directory for scores files)");
  if (o.pool.empty() && o.subpool.empty()) throw UsageError("give --pool DIR (score every shard) or --subpool FILE");
  if (o.select_only) {
    if (o.pool.empty()) throw UsageError("--select-only needs --pool DIR (the pool whose scores files are selected from)");
    if (!o.subpool.empty()) throw UsageError("--select-only selects over a pool's scores files; --subpool does not apply");
    if (o.num_shards > 0)
      throw UsageError("--select-only runs once over all scores files (one process or an MPI job), not as an array task");
    if (o.features) throw UsageError("--features applies when scoring, not with --select-only");
  } else if (o.model.empty()) {
    throw UsageError("--model: required (a model file from trawl-train)");
  }
  if (!o.subpool.empty() && o.num_shards > 0)
    throw UsageError("--subpool scores one file: run one process or an MPI job, not an array (--num-shards)");
  if (o.block_rows < 1) throw UsageError(cat("--block-rows ", o.block_rows, ": must be at least 1"));
  if (o.prior_correction != "none" && o.prior_correction != "em")
    throw UsageError(cat("--prior-correction '", o.prior_correction, "': expected none or em"));
  if (o.prior_correction == "em") {
    if (o.pool.empty() || o.num_shards > 0)
      throw UsageError("--prior-correction em estimates over the whole pool: pool mode as one process or an MPI job "
                       "(after an array job: with --select-only)");
    if (o.labels.empty()) throw UsageError("--prior-correction em needs --labels (the labelled set the model was trained on)");
    if (!o.oof.empty() && !path_exists(o.oof)) throw IoError(cat(o.oof, ": out-of-fold scores file does not exist (--oof)"));
  }
  if (!o.model.empty() && !path_exists(o.model)) throw IoError(cat(o.model, ": model file does not exist (--model)"));
  if (!o.subpool.empty() && !path_exists(o.subpool)) throw IoError(cat(o.subpool, ": subpool file does not exist (--subpool)"));
  if (!o.pool.empty() && is_directory(o.output) && real_path(o.output) == real_path(o.pool))
    throw UsageError(cat("--output ", o.output, " is the pool directory; scores files (shard-*.scores.h5) must go to "
                         "another directory"));
}

struct LoadedModel {
  std::unique_ptr<train::Model> model;
  Scorer scorer;
};

LoadedModel load_model(const ScoreOptions& o) {
  if (!path_exists(o.model)) throw IoError(cat(o.model, ": model file does not exist (--model)"));
  if (is_directory(o.model)) throw IoError(cat(o.model, ": is a directory, expected a model file (--model)"));
  LoadedModel m;
  m.scorer.checksum = checksum_file(o.model).str();
  m.model = train::Model::load(o.model, o.threads);
  m.scorer.text = m.model->reads_text();
  if (m.scorer.text && o.features)
    throw UsageError(cat("--features: the torchscript model ", o.model, " has no stored features (it reads text)"));
  m.scorer.model = m.model.get();
  m.scorer.path = o.model;
  m.scorer.tokens = m.model->reads_tokens();
  m.scorer.model_emb = m.model->reads_embedding();
  m.scorer.features = o.features;
  m.scorer.C = m.model->num_classes();
  m.scorer.F = m.model->feature_dim();
  // A model without dense features of its own (logreg over tokens) stores the items' embeddings
  // as features (BADGE and k-means work on them); F is set to the pool's dim once it is known.
  m.scorer.feat_from_emb = o.features && m.scorer.F == 0;
  m.scorer.emb = m.scorer.model_emb || m.scorer.feat_from_emb;
  m.scorer.classes = &m.model->header().classes;
  return m;
}

// ---- subpool mode ----------------------------------------------------------------------------------------

ScoreSummary run_subpool(const mpi::Comm& comm, const ScoreOptions& o) {
  ScoreSummary sum;
  auto lm = load_model(o);
  const auto& s = lm.scorer;
  const std::string out_path = join_path(o.output, "subpool.scores.h5");
  sum.outputs.push_back(out_path);
  const std::string identity = checksum_file(o.subpool).str();
  io::ShardMeta meta;
  std::vector<uint64_t> uids;
  std::string pool_dir;
  {
    formats::SubpoolReader sr(o.subpool);
    const auto& si = sr.info();
    if (si.all_unlabelled)
      throw UsageError(cat(o.subpool, ": a 'full' subpool holds no rows (it stands for every unlabelled item of the pool ",
                           si.meta.pool, "); score the pool with --pool instead"));
    meta.encoder = si.meta.encoder;
    meta.encoder_params = si.meta.params;
    meta.dim = si.meta.dim;
    pool_dir = o.pool.empty() ? si.meta.pool : o.pool;
    uids = sr.uids();
  }
  train::check_compatible(s.model->header(), meta.encoder, meta.encoder_params, meta.dim, o.subpool);
  if (s.feat_from_emb) lm.scorer.F = meta.dim;
  const std::string name = basename(o.subpool);
  int skip = comm.root() && up_to_date(out_path, s, name, identity, uids.size()) ? 1 : 0;
  comm.bcast_value(skip);
  if (skip) {
    log::info(out_path, ": up to date (same model and subpool); nothing to do");
    sum.shards_skipped = 1;
    return sum;
  }
  // Token models read the items' token ids from the pool (collective).
  pool::Rows tok;
  if (s.tokens || s.text) {
    auto p = pool::open_pool(comm, pool_dir);
    std::vector<uint64_t> sorted(uids);
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    tok = pool::fetch_rows(comm, p, sorted, [&](uint64_t) { return o.subpool; },
                           s.text ? io::ShardReader::kText : io::ShardReader::kTokens);
  }
  // One process scores the subpool (small), so its block boundaries never depend on the ranks.
  if (comm.root()) {
    formats::SubpoolReader sr(o.subpool);
    formats::ScoresWriter w(out_path, scores_header(s, meta, "subpool", name, identity, o.config), uids.size());
    Progress prog("score subpool", uids.size(), "items");
    auto read = [&](uint64_t b, uint64_t e, Block& blk) {
      blk.uid.assign(uids.begin() + ptrdiff_t(b), uids.begin() + ptrdiff_t(e));
      if (s.emb) {
        blk.emb.resize((e - b) * size_t(meta.dim));
        sr.read_embedding(b, e - b, blk.emb.data());
      }
      if (s.text) {
        blk.text.clear();
        for (uint64_t i = b; i < e; ++i) {
          long k = tok.find(uids[i]);
          TRAWL_ASSERT(k >= 0);
          blk.text.push_back(tok.text[size_t(k)]);
        }
        return;
      }
      if (!s.tokens) return;
      blk.offsets.assign(1, 0);
      blk.ids.clear();
      for (uint64_t i = b; i < e; ++i) {
        long k = tok.find(uids[i]);
        TRAWL_ASSERT(k >= 0);
        blk.ids.insert(blk.ids.end(), tok.token_ids.begin() + ptrdiff_t(tok.token_offsets[size_t(k)]),
                       tok.token_ids.begin() + ptrdiff_t(tok.token_offsets[size_t(k) + 1]));
        blk.offsets.push_back(blk.ids.size());
      }
    };
    score_blocks(s, o.subpool, uids.size(), o.block_rows, read,
                 [&](const Block& b, const float* p, const float* ft) { w.write(b.begin, b.n, b.uid.data(), p, ft); }, nullptr, prog);
    w.commit();
    prog.finish();
    sum.rows_scored = uids.size();
    sum.shards_scored = 1;
    log::info("scored ", uids.size(), " subpool items -> ", out_path);
  }
  comm.barrier();
  return sum;
}

// ---- pool mode -----------------------------------------------------------------------------------------

struct ShardPlan {
  std::string shard, scores;
  uint64_t rows = 0;
  std::string identity;
  bool skip = false;
};

ScoreSummary run_pool(const mpi::Comm& comm, const ScoreOptions& o) {
  ScoreSummary sum;
  const double t0 = log::uptime();
  auto p = pool::open_pool(comm, o.pool);
  const bool array = o.num_shards > 0;
  const bool selecting = !array && (o.top_n > 0 || o.cutoffs);
  auto split = mpi::work_split(comm, o.shard_id, o.num_shards);
  auto mine = split.items(p.shards.size());

  LoadedModel lm;
  std::vector<std::string> classes;
  std::string model_checksum;
  if (!o.select_only) {
    lm = load_model(o);
    classes = lm.scorer.classes ? *lm.scorer.classes : classes;
    model_checksum = lm.scorer.checksum;
    if (array && comm.root() && o.shard_id == 0)
      log::info("array task: writes scores files only; select afterwards with trawl-score --select-only --pool ",
                o.pool, " --output ", o.output);
  } else {
    // The reference for every scores file: the first shard's (rank 0 reads, all receive).
    std::vector<std::string> ref;  // the model checksum, then the classes
    if (comm.root()) {
      const std::string first = join_path(o.output, scores_file_name(p.shards.front()));
      if (!path_exists(first))
        throw InputError(cat(first, ": no scores for shard ", p.shards.front(),
                             " (score the pool with trawl-score --model first)"));
      auto info = read_scores_info(first);
      ref = info.classes;
      ref.insert(ref.begin(), info.model_checksum);
    }
    comm.bcast(ref);
    model_checksum = ref[0];
    classes.assign(ref.begin() + 1, ref.end());
    if (!o.model.empty()) {
      std::string now = checksum_file(o.model).str();
      if (now != model_checksum)
        throw InputError(cat(o.output, ": the scores files were made by a model with checksum ", model_checksum,
                             ", not by --model ", o.model, " (", now, "); score the pool again"));
    }
  }

  // Plan: open every shard of this process (validates it and its compatibility before any work).
  std::vector<ShardPlan> plan;
  uint64_t to_score = 0;
  for (auto i : mine) {
    ShardPlan sp;
    sp.shard = p.shards[i];
    sp.scores = join_path(o.output, scores_file_name(sp.shard));
    io::ShardReader r(sp.shard);
    pool::check_shard(p, r);
    sp.rows = r.rows();
    sp.identity = r.meta().source_checksum;
    if (o.select_only) {
      if (!path_exists(sp.scores))
        throw InputError(cat(sp.scores, ": no scores for shard ", sp.shard, " (score it with trawl-score --model first)"));
      auto info = read_scores_info(sp.scores);
      if (info.model_checksum != model_checksum || info.classes != classes)
        throw InputError(cat(sp.scores, ": made by model ", info.model_checksum, " but ",
                             scores_file_name(p.shards.front()), " by model ", model_checksum,
                             "; all scores files must come from one model (score the pool again)"));
      if (info.shard != basename(sp.shard) || info.shard_identity != sp.identity || info.shard_rows != sp.rows)
        throw InputError(cat(sp.scores, ": scores another version of ", sp.shard, " (", info.shard_rows, " rows, ",
                             info.shard_identity, "; the shard has ", sp.rows, " rows, ", sp.identity,
                             "); score the pool again"));
      sp.skip = true;
    } else {
      train::check_compatible(lm.model->header(), r.meta().encoder, r.meta().encoder_params, r.meta().dim, sp.shard);
      if (lm.scorer.feat_from_emb) lm.scorer.F = r.meta().dim;
      sp.skip = up_to_date(sp.scores, lm.scorer, basename(sp.shard), sp.identity, sp.rows);
      if (!sp.skip) to_score += sp.rows;
    }
    plan.push_back(sp);
  }

  const auto windows = o.cutoffs && selecting ? cutoff_windows(rank_points()) : std::vector<RankWindow>{};
  std::vector<LocalBest> cols;
  if (selecting) cols.assign(classes.size(), LocalBest(needed_keep(o.top_n, windows)));

  uint64_t to_read = 0;
  for (auto& sp : plan) to_read += sp.skip && selecting ? sp.rows : 0;
  Progress prog("score", to_score, "items");
  std::unique_ptr<Progress> read_prog;
  if (to_read > 0) read_prog = std::make_unique<Progress>("read scores", to_read, "items");
  std::vector<uint64_t> uid;
  std::vector<float> probs;
  for (auto& sp : plan) {
    if (sp.skip) {
      ++sum.shards_skipped;
      if (!selecting) continue;
      ScopedTimer t("read scores");
      ScoresReader sr(sp.scores);
      for (uint64_t b = 0; b < sp.rows; b += o.block_rows) {
        uint64_t e = std::min(sp.rows, b + o.block_rows);
        sr.read(b, e, uid, probs);
        feed_columns(cols, sp.scores, uid.data(), probs.data(), uid.size());
        read_prog->add(e - b);
      }
      sum.rows_read += sp.rows;
      continue;
    }
    const auto& s = lm.scorer;
    io::ShardReader r(sp.shard);
    formats::ScoresWriter w(sp.scores, scores_header(s, r.meta(), "shard", basename(sp.shard), sp.identity, o.config),
                            sp.rows);
    const int dim = r.meta().dim;
    // A model that reads only the embedding reads the rows in place (io/shard.h kEmbeddingView,
    // f16 rows widened tile by tile as they are scored): no copy out of the page cache, each
    // chunk verified by the reading thread outside the HDF5 lock.
    const bool in_place = s.emb && !s.tokens && !s.text;
    auto read = [&](uint64_t b, uint64_t e, Block& blk) {
      if (in_place) {
        r.read(b, e, blk.rows, io::ShardReader::kUid | io::ShardReader::kEmbeddingView | io::ShardReader::kEmbeddingViewHalf);
        blk.uid.assign(blk.rows.uid.begin(), blk.rows.uid.end());
        blk.viewed = true;
        blk.dim = dim;
        return;
      }
      io::ShardBlock sb;
      r.read(b, e, sb, io::ShardReader::kUid | (s.tokens ? io::ShardReader::kTokens : 0u) |
                           (s.text ? io::ShardReader::kText : 0u));
      blk.uid.swap(sb.uid);
      if (s.text) blk.text.swap(sb.text);
      if (s.tokens) {
        blk.offsets.swap(sb.token_offsets);
        blk.ids.swap(sb.token_ids);
      }
      if (s.emb) {
        blk.emb.resize((e - b) * size_t(dim));
        r.read_embeddings(b, e, blk.emb.data());
      }
    };
    FeedFn feed;
    if (selecting)
      feed = [&](const Block& b, const float* pr) { feed_columns(cols, sp.scores, b.uid.data(), pr, b.n); };
    score_blocks(s, sp.shard, sp.rows, o.block_rows, read,
                 [&](const Block& b, const float* pr, const float* ft) { w.write(b.begin, b.n, b.uid.data(), pr, ft); }, feed, prog);
    {
      std::lock_guard<std::mutex> g(io::hdf5_lock());
      w.commit();
    }
    ++sum.shards_scored;
    sum.rows_scored += sp.rows;
    log::debug("scored ", sp.shard, " -> ", sp.scores);
  }
  if (to_score > 0) prog.finish();
  if (read_prog) read_prog->finish();
  const double t_scored = log::uptime() - t0;
  if (!o.select_only)
    mpi::report_total(comm, "scored", double(sum.rows_scored), "items", t_scored);
  const uint64_t skipped = comm.sum(sum.shards_skipped), scored = comm.sum(sum.shards_scored);
  log::info("shards: ", scored, " scored, ", skipped, o.select_only ? " read" : " up to date (skipped)");

  if (o.prior_correction == "em") {
    ScopedTimer t("prior");
    std::map<uint64_t, std::string> lab;
    {
      auto ls = labels::read_labels_tsv(o.labels);
      for (auto& it : ls.items) lab[it.uid] = ls.classes[size_t(it.cls)];
    }
    std::vector<uint64_t> skip;
    for (auto& [u, l] : lab) skip.push_back(u);
    Calibration cal;
    if (!o.oof.empty()) {
      std::vector<std::string> oc;
      cal = calibrate_from_oof(o.oof, lab, &oc);
      if (oc != classes) throw InputError(cat(o.oof, ": classes differ from the model's"));
    }
    auto pp = estimate_pool_prior(comm, p, o.output, skip, weighted_training_prior(classes, lab),
                                  o.oof.empty() ? nullptr : &cal);
    const std::string path = join_path(o.output, "prior.tsv");
    if (comm.root()) write_prior_tsv(path, pp);
    comm.barrier();
    sum.outputs.push_back(path);
    std::string msg;
    for (size_t c = 0; c < classes.size(); ++c) msg += cat(c ? ", " : "", classes[c], " ", pp.prior[c]);
    log::info("pool prior by EM over ", pp.items, " unlabelled items", o.oof.empty() ? "" : " (calibrated)", ": ", msg,
              " (", pp.iterations, " iterations) -> ", path);
  }

  if (selecting) {
    std::vector<Selection> sel;
    {
      ScopedTimer t("select");
      sel = select(comm, cols, o.top_n, windows);
    }
    sum.items_total = sel.empty() ? 0 : sel[0].total;
    write_tsvs(comm, o, p, classes, sel, sum);
    log::info("selected over ", sum.items_total, " items: top ", std::min(o.top_n, sum.items_total), " per class",
              o.cutoffs ? cat(", ", sel.empty() ? 0 : sel[0].windows.size(), " rank-point windows") : std::string(),
              " -> ", o.output);
  }
  mpi::report_timers(comm);
  return sum;
}

}  // namespace

ScoreSummary run_score(const mpi::Comm& comm, const ScoreOptions& o) {
  check_options(o);
  check_writable_dir(o.output);
  if (!o.subpool.empty()) return run_subpool(comm, o);
  return run_pool(comm, o);
}

}  // namespace trawl::stages
