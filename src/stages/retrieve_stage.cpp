#include "stages/retrieve_stage.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <cmath>
#include <fstream>
#include <map>
#include <iterator>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "index/hnsw_index.h"
#include "io/h5.h"
#include "io/block_stream.h"
#include "io/shard.h"
#include "labels/labels.h"
#include "pool/pool.h"
#include "mpi/report.h"
#include "retrieve/anchors.h"
#include "retrieve/exact.h"
#include "formats/round.h"
#include "formats/subpool.h"
#include "retrieve/subpool.h"
#include "retrieve/topk.h"
#include "trawl/version.h"

namespace trawl::stages {

using retrieve::AnchorLists;
using retrieve::Neighbour;
using retrieve::RowMatrixXf;

namespace {


using pool::check_shard;
using pool::fetch_rows;
using pool::open_pool;
using pool::Pool;
using pool::Rows;

// ---- search --------------------------------------------------------------------------------

double mtime(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return double(st.st_mtim.tv_sec) + 1e-9 * double(st.st_mtim.tv_nsec);
}

// `open`: the shards the labelled rows were fetched through (the exact search's stream takes
// them over, so their mappings and the chunks' verification state carry over).
AnchorLists search(const RetrieveOptions& o, const Pool& p, const std::vector<std::string>& shards,
                   const RowMatrixXf& queries, const std::vector<uint64_t>& excluded, int K, uint64_t* scanned,
                   Rows* kept, pool::OpenShards& open) {
  AnchorLists acc(K, size_t(queries.rows()));
  if (queries.rows() == 0 || K == 0) return acc;
  const std::vector<uint64_t> rows = open.rows(p, shards);
  uint64_t total_rows = 0;
  for (auto n : rows) total_rows += n;
  Progress prog(cat("search (", o.backend, ")"), total_rows, "items");
  if (o.backend == "exact") {
    ScopedTimer t("search exact");
    retrieve::ExactOptions eo;
    eo.threads = o.threads;
    eo.keep_vectors = true;  // the neighbours' vectors, for the subpool without a second read
    retrieve::ExactScanner sc(queries.data(), int(queries.rows()), p.dim, K, &excluded, eo);
    // Reads overlap the scan: the stream's thread reads the next block (of this shard or the
    // next) while this one is searched.
    // f32 shards are searched in place in the mapped files (no copy out of the page cache).
    io::ShardStream stream(shards, io::ShardReader::kUid | io::ShardReader::kEmbeddingView, o.block_rows, {}, rows, true,
                           open.take(shards));
    while (const io::ShardBlock* b = stream.next()) {
      b->for_each_embedding_run(p.dim, [&](const float* x, uint64_t at, uint64_t n, float norm_bound) {
        sc.scan(x, b->uid.data() + at, n, norm_bound);
      });
      prog.add(b->size());
    }
    acc = sc.result();
    *scanned = sc.items_scanned();
    std::vector<uint64_t> found;
    for (const auto& l : acc.lists)
      for (const auto& n : l) found.push_back(n.uid);
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    sc.kept_vectors(found, kept->uid, kept->emb);
  } else if (o.backend == "hnsw") {
    ScopedTimer t("search hnsw");
    index::UidSet ex(excluded);
    int ef = o.ef > 0 ? o.ef : std::max(K, 100);
    std::string idir = o.index_dir.empty() ? join_path(o.pool, "index") : o.index_dir;
    for (size_t i = 0; i < shards.size(); ++i) {
      const auto& s = shards[i];
      std::string ip = join_path(idir, index::index_file_name(s));
      if (!path_exists(ip)) throw InputError(cat(ip, ": no index for shard ", s, " (run trawl-index, or use --backend exact)"));
      auto info = index::HnswIndex::read_info(ip);
      if (info.count != rows[i] || info.dim != p.dim)
        throw InputError(cat(ip, ": indexes ", info.count, " vectors of dim ", info.dim, " but ", s, " has ", rows[i],
                             " rows of dim ", p.dim, "; rerun trawl-index"));
      // Cheap staleness test first; a shard newer than its index is checked by content (a
      // byte-identical rewrite keeps the index valid).
      if (mtime(ip) < mtime(s) && checksum_file(s).str() != info.shard_checksum)
        throw InputError(cat(ip, ": the index is older than its shard ", s, " (the shard was rewritten); rerun trawl-index"));
      auto idx = index::HnswIndex::load(ip);
      idx.set_ef(ef);
      auto hits = idx.search(queries.data(), size_t(queries.rows()), K, ef, ex, o.threads);
      for (size_t a = 0; a < hits.size(); ++a) {
        std::vector<Neighbour> l;
        l.reserve(hits[a].size());
        for (auto& h : hits[a]) l.push_back({h.dist, h.uid});
        acc.lists[a] = retrieve::merge_sorted(acc.lists[a], l, K);
      }
      *scanned += rows[i];
      prog.add(rows[i]);
    }
  } else {
    throw UsageError(cat("--backend: '", o.backend, "' is not one of exact, hnsw"));
  }
  prog.finish();
  return acc;
}

// ---- files ---------------------------------------------------------------------------------

void write_anchors_tsv(const std::string& path, const retrieve::AnchorSet& a, const labels::LabelSet& ls) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path());
    f << "anchor\tclass\tuid\n";
    for (size_t i = 0; i < a.size(); ++i) f << i << '\t' << ls.classes[a.cls[i]] << '\t' << a.uid[i] << '\n';
    if (!f) throw IoError(cat(out.temp_path(), ": write error"));
  }
  out.commit();
}

using Meta = formats::RoundMeta;  // what a round records about itself

struct SubpoolRow {
  uint64_t uid;
  double score;
  int count;
};

void write_subpool(const std::string& path, const Meta& m, const std::vector<SubpoolRow>& rows, const Rows& emb,
                   uint64_t n_candidates, uint64_t n_anchors, uint64_t n_labelled, bool all_unlabelled) {
  ScopedTimer t("write subpool");
  formats::SubpoolInfo info;
  info.meta = m;
  info.candidates = n_candidates;
  info.anchors = n_anchors;
  info.labelled = n_labelled;
  info.all_unlabelled = all_unlabelled;
  info.rows = rows.size();
  std::vector<uint64_t> u;
  std::vector<double> s;
  std::vector<int32_t> c;
  std::vector<float> e;
  for (auto& r : rows) {
    u.push_back(r.uid);
    s.push_back(r.score);
    c.push_back(r.count);
    long i = emb.find(r.uid);
    TRAWL_ASSERT_MSG(i >= 0, "subpool uid ", r.uid, " was not fetched");
    e.insert(e.end(), emb.row(size_t(i), m.dim), emb.row(size_t(i), m.dim) + m.dim);
  }
  formats::write_subpool(path, info, u, s, c, e);
}

std::vector<uint64_t> set_union(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> o;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(o));
  return o;
}
std::vector<uint64_t> set_minus(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> o;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(o));
  return o;
}

// ---- the shared tail: lists -> subpool -------------------------------------------------------

struct Partial {  // what one task (or the whole MPI job) found
  AnchorLists lists;                         // anchoral, seals
  std::vector<retrieve::Prioritised> sample;  // randsub, random
  Rows kept;  // vectors this rank already holds (the exact search's neighbours), by uid
};

RetrieveSummary finish(const mpi::Comm& comm, const Pool& p, const Meta& m, const Partial& part,
                       const std::vector<uint64_t>& labelled, const std::vector<uint64_t>& queries,
                       const std::string& out_dir, const std::string& seals_in) {
  RetrieveSummary s;
  std::vector<SubpoolRow> rows;
  s.anchors = part.lists.n_anchors();
  if (m.method == "anchoral") {
    auto cands = retrieve::score_candidates(part.lists);
    s.candidates = cands.size();
    for (auto& c : retrieve::top_m(std::move(cands), m.M)) rows.push_back({c.uid, c.score, c.count});
  } else if (m.method == "seals") {
    formats::SealsState st = formats::read_seals_state(seals_in);
    std::vector<uint64_t> found;
    for (auto& l : part.lists.lists)
      for (auto& n : l) found.push_back(n.uid);
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    s.candidates = found.size();
    st.pool = set_minus(set_union(st.pool, found), labelled);
    st.searched = set_union(st.searched, queries);
    for (auto u : st.pool) rows.push_back({u, std::nan(""), 0});
    if (comm.root()) formats::write_seals_state(join_path(out_dir, "seals-state.h5"), st, m);
  } else if (m.method == "randsub" || m.method == "random") {
    s.candidates = part.sample.size();
    for (auto& x : part.sample) rows.push_back({x.uid, std::nan(""), 0});
  }
  std::vector<uint64_t> want;
  for (auto& r : rows) want.push_back(r.uid);
  std::sort(want.begin(), want.end());
  Rows emb = pool::gather_embeddings(comm, p, want, part.kept, [&](uint64_t) { return std::string("subpool"); });
  s.subpool = rows.size();
  s.subpool_path = join_path(out_dir, "subpool.h5");
  if (comm.root()) write_subpool(s.subpool_path, m, rows, emb, s.candidates, s.anchors, labelled.size(), m.method == "full");
  comm.barrier();
  return s;
}

std::string part_path(const std::string& out_dir, int id, int n) {
  return join_path(join_path(out_dir, "parts"), cat("part-", id, "-of-", n, ".h5"));
}

}  // namespace

RetrieveSummary run_retrieve(const mpi::Comm& comm, const RetrieveOptions& o) {
  static const std::vector<std::string> methods = {"anchoral", "seals", "randsub", "full", "random"};
  if (std::find(methods.begin(), methods.end(), o.method) == methods.end())
    throw UsageError(cat("--method: '", o.method, "' is not one of anchoral, seals, randsub, full, random"));
  if (o.backend != "exact" && o.backend != "hnsw") throw UsageError(cat("--backend: '", o.backend, "' is not one of exact, hnsw"));
  if (o.neighbours < 1) throw UsageError(cat("--neighbours ", o.neighbours, ": must be at least 1"));
  if (o.anchors_per_class < 1) throw UsageError(cat("--anchors-per-class ", o.anchors_per_class, ": must be at least 1"));
  if (o.subpool_size < 1) throw UsageError(cat("--subpool-size ", o.subpool_size, ": must be at least 1"));
  if (o.block_rows < 1) throw UsageError("--block-rows must be positive");
  if (comm.root()) check_writable_dir(o.output);
  comm.barrier();
  ScopedTimer total("retrieve total");
  const bool array = o.num_shards > 0;
  Pool p = open_pool(comm, o.pool);
  auto ls = labels::read_labels_tsv(o.labels, o.classes);
  std::vector<uint64_t> labelled;
  std::map<uint64_t, uint64_t> line_of;
  for (auto& it : ls.items) {
    labelled.push_back(it.uid);
    line_of[it.uid] = it.line;
  }
  // Never retrievable: the labelled items and the held-out ones (--exclude, e.g. a test split).
  std::vector<uint64_t> excluded = labelled;
  if (!o.exclude.empty()) {
    auto held = labels::read_uid_list(o.exclude);
    std::vector<uint64_t> both;
    std::set_intersection(labelled.begin(), labelled.end(), held.begin(), held.end(), std::back_inserter(both));
    if (!both.empty())
      throw InputError(cat(o.labels, ":", line_of[both[0]], ": uid ", both[0], " is labelled but held out by --exclude ",
                           o.exclude, " (", both.size(), " such uids); a held-out item must never be trained on"));
    excluded.clear();
    std::set_union(labelled.begin(), labelled.end(), held.begin(), held.end(), std::back_inserter(excluded));
  }
  Meta m;
  m.method = o.method;
  m.backend = o.backend;
  m.pool = o.pool;
  m.labels = o.labels;
  m.config = o.config;
  m.round = o.round;
  m.seed = o.seed;
  m.M = o.subpool_size;
  m.K = o.neighbours;
  m.A = o.anchors_per_class;
  m.ef = o.ef;
  m.dim = p.dim;
  m.encoder = p.encoder;
  m.params = p.params;

  // Array tasks each need every labelled embedding; MPI ranks share the fetch.
  auto where = [&](uint64_t u) { return cat(o.labels, ":", line_of[u]); };
  auto split = mpi::work_split(comm, o.shard_id, o.num_shards);
  std::vector<std::string> mine;
  for (auto i : split.items(p.shards.size())) mine.push_back(p.shards[i]);

  Partial part;
  std::vector<uint64_t> queries_uid;
  RetrieveSummary s;
  std::optional<retrieve::AnchorSet> anchors;  // written once the search has succeeded
  if (o.method == "anchoral" || o.method == "seals") {
    // The labelled rows are used before their chunks are verified: the exact search's stream
    // over the same readers verifies every chunk of this task's shards anyway, and `later`
    // verifies what it did not cover (other tasks' shards, the hnsw backend) before anything
    // is written — or before another error those rows may have caused is reported.
    pool::OpenShards open;
    io::DeferredChecks later;
    try {
      Rows lab = fetch_rows(comm, p, labelled, where, io::ShardReader::kEmbedding, {&open, &later});
      RowMatrixXf q;
      if (o.method == "anchoral") {
        std::vector<int> cls;
        for (auto& it : ls.items) cls.push_back(it.cls);
        Eigen::Map<const RowMatrixXf> E(lab.emb.data(), Eigen::Index(lab.uid.size()), p.dim);
        std::vector<int> per(ls.classes.size(), 0);
        for (int c : cls) per[c]++;
        for (size_t c = 0; c < per.size(); ++c)
          if (per[c] == 0) log::warn("class '", ls.classes[c], "' has no labelled items: it gets no anchors this round");
        retrieve::AnchorSet a;
        {
          ScopedTimer t("anchors");
          a = retrieve::select_anchors(lab.uid, cls, E, o.anchors_per_class, o.seed, o.round);
        }
        q = a.queries(E);
        queries_uid = a.uid;
        anchors = std::move(a);
        log::info("round ", o.round, ": ", anchors->size(), " anchors from ", labelled.size(), " labelled items in ",
                  ls.classes.size(), " classes");
      } else {
        std::string prev = o.state;
        if (!prev.empty() && !path_exists(prev)) throw IoError(cat("--state ", prev, ": no such SEALS state file"));
        formats::SealsState st = formats::read_seals_state(prev);
        queries_uid = set_minus(labelled, st.searched);
        q.resize(Eigen::Index(queries_uid.size()), p.dim);
        for (size_t i = 0; i < queries_uid.size(); ++i) {
          long r = lab.find(queries_uid[i]);
          std::copy_n(lab.row(size_t(r), p.dim), p.dim, q.row(Eigen::Index(i)).data());
        }
        log::info("round ", o.round, ": SEALS searches with ", queries_uid.size(), " newly labelled items");
      }
      part.lists = search(o, p, mine, q, excluded, o.neighbours, &s.items_scanned, &part.kept, open);
      later.verify();
    } catch (...) {
      later.verify();  // a changed chunk is the error to report, not what its rows led to
      throw;
    }
    ScopedTimer t("reduce");
    retrieve::reduce_topk(comm, part.lists);
  } else if (o.method == "randsub" || o.method == "random") {
    ScopedTimer t("sample");
    retrieve::HashSampler hs(o.subpool_size, o.seed, o.round,
                             o.method == "randsub" ? retrieve::SampleStream::kRandSub : retrieve::SampleStream::kRandom,
                             &excluded);
    for (auto& sh : mine) {
      io::ShardReader r(sh);
      check_shard(p, r);
      hs.add(r.read_uids());
      s.items_scanned += r.rows();
    }
    part.sample = retrieve::reduce_smallest_priorities(comm, hs.sorted(), o.subpool_size);
  }
  s.items_scanned = comm.sum(s.items_scanned);
  // anchors.tsv goes with the round's result, after it: a failure before leaves neither.
  auto write_anchors = [&] {
    if (anchors && comm.root() && o.shard_id == 0) write_anchors_tsv(join_path(o.output, "anchors.tsv"), *anchors, ls);
  };

  if (array) {
    // Write this task's partial result for trawl-merge.
    s.part_path = part_path(o.output, o.shard_id, o.num_shards);
    if (comm.root()) {
      make_dirs(join_path(o.output, "parts"));
      formats::RetrievePart rp;
      rp.meta = m;
      rp.part = o.shard_id;
      rp.parts = o.num_shards;
      rp.state = o.state;
      rp.anchors = part.lists.n_anchors();
      rp.query_uid = queries_uid;
      rp.labelled_uid = labelled;
      auto fl = retrieve::flatten(part.lists);
      rp.uid = std::move(fl.uid);
      rp.anchor = std::move(fl.anchor);
      rp.dist = std::move(fl.dist);
      for (auto& x : part.sample) {
        rp.sample_priority.push_back(x.priority);
        rp.sample_uid.push_back(x.uid);
      }
      formats::write_retrieve_part(s.part_path, rp);
    }
    write_anchors();
    comm.barrier();
    log::info("wrote ", s.part_path, " (task ", o.shard_id, " of ", o.num_shards, "); run trawl-merge when all tasks are done");
  } else {
    s = [&] {
      auto r = finish(comm, p, m, part, labelled, queries_uid, o.output, o.state);
      r.items_scanned = s.items_scanned;
      return r;
    }();
    write_anchors();
    log::info("subpool: ", s.subpool, " items (", s.candidates, " candidates from ", s.anchors, " queries over ",
              s.items_scanned, " items) -> ", s.subpool_path);
  }
  mpi::report_total(comm, "retrieve", double(s.items_scanned) / comm.size(), "items", total.stop());
  mpi::report_timers(comm);
  return s;
}

RetrieveSummary run_merge(const mpi::Comm& comm, const std::string& round_dir, const std::string& pool_override,
                          const std::string& config) {
  ScopedTimer total("merge total");
  std::string pdir = join_path(round_dir, "parts");
  auto files = list_files(pdir, "part-", ".h5");
  if (files.empty()) throw InputError(cat(pdir, ": no part-*.h5 files (run trawl-retrieve with --num-shards first)"));
  Meta m0;
  int n = 0;
  std::vector<uint64_t> labelled, queries;
  std::string state;
  std::vector<bool> have;
  Partial all;
  for (size_t i = 0; i < files.size(); ++i) {
    formats::RetrievePart rp = formats::read_retrieve_part(files[i]);
    const Meta& m = rp.meta;
    const int id = rp.part, parts = rp.parts;
    const uint64_t n_anchors = rp.anchors;
    if (i == 0) {
      m0 = m;
      n = parts;
      have.assign(size_t(n), false);
      labelled = rp.labelled_uid;
      queries = rp.query_uid;
      state = rp.state;
      all.lists = AnchorLists(m.K, n_anchors);
    } else if (parts != n || m.round != m0.round || m.seed != m0.seed || m.method != m0.method || m.K != m0.K ||
               m.M != m0.M || m.labels != m0.labels || n_anchors != all.lists.n_anchors()) {
      throw InputError(cat(files[i], ": part of another run (round ", m.round, ", method ", m.method, ", ", parts,
                           " parts) than ", files[0], " (round ", m0.round, ", method ", m0.method, ", ", n, " parts)"));
    }
    if (id < 0 || id >= n || have[size_t(id)]) throw InputError(cat(files[i], ": part ", id, " is out of range or repeated"));
    have[size_t(id)] = true;
    retrieve::FlatLists fl;
    fl.uid = std::move(rp.uid);
    fl.anchor = std::move(rp.anchor);
    fl.dist = std::move(rp.dist);
    auto lists = retrieve::unflatten(m.K, n_anchors, fl, files[i].c_str());
    all.lists = retrieve::merge_lists(all.lists, lists);
    std::vector<retrieve::Prioritised> smp;
    for (size_t k = 0; k < rp.sample_uid.size(); ++k) smp.push_back({rp.sample_priority[k], rp.sample_uid[k]});
    all.sample = retrieve::merge_smallest(all.sample, smp, m.M);
  }
  std::string missing;
  for (int i = 0; i < n; ++i)
    if (!have[size_t(i)]) missing += cat(missing.empty() ? "" : ", ", i);
  if (!missing.empty()) throw InputError(cat(pdir, ": parts ", missing, " of ", n, " are missing (rerun those array tasks)"));
  if (!pool_override.empty()) m0.pool = pool_override;
  m0.config = config + "# merged from " + std::to_string(n) + " parts\n" + m0.config;
  Pool p = open_pool(comm, m0.pool);
  auto s = finish(comm, p, m0, all, labelled, queries, round_dir, state);
  log::info("merged ", n, " parts: subpool of ", s.subpool, " items -> ", s.subpool_path);
  total.stop();
  mpi::report_timers(comm);
  return s;
}

}  // namespace trawl::stages
