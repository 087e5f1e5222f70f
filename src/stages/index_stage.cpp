#include "stages/index_stage.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/block_stream.h"
#include "io/shard.h"
#include "mpi/report.h"

namespace trawl::stages {

using namespace trawl::index;  // the HNSW index this stage builds

namespace {

struct Plan {
  std::string shard, dir, out;
  uint64_t rows = 0;
  int dim = 0;
  std::string checksum;
  bool build = true;
};

Plan plan_shard(const IndexOptions& o, const std::string& output, const std::string& shard) {
  Plan p;
  p.shard = shard;
  p.dir = output;
  p.out = join_path(output, index_file_name(shard));
  {
    ScopedTimer t("open shards");
    io::ShardReader r(shard);
    p.rows = r.rows();
    p.dim = r.meta().dim;
  }
  {
    ScopedTimer t("checksum shards");
    p.checksum = checksum_file(shard).str();
  }
  if (o.force || !path_exists(p.out)) return p;
  try {
    IndexInfo info = HnswIndex::read_info(p.out);
    std::string why;
    if (info.shard_checksum != p.checksum)
      why = cat("it is older than its shard (shard checksum ", info.shard_checksum, " when indexed, ", p.checksum,
                " now)");
    else if (info.params.M != o.params.M || info.params.ef_construction != o.params.ef_construction)
      why = cat("it was built with M ", info.params.M, ", ef-construction ", info.params.ef_construction,
                " (asked: M ", o.params.M, ", ef-construction ", o.params.ef_construction, ")");
    else if (info.count != p.rows || info.dim != p.dim)
      why = cat("it holds ", info.count, " vectors of dim ", info.dim, ", the shard ", p.rows, " of dim ", p.dim);
    if (why.empty()) {
      p.build = false;
      log::debug(p.out, " is up to date, skipping");
    } else {
      log::warn(p.out, ": ", why, "; rebuilding it");
    }
  } catch (const InputError& e) {
    log::warn(e.what(), "; rebuilding it");
  }
  return p;
}

uint64_t build_one(const IndexOptions& o, const Plan& p, Progress& prog) {
  // A killed earlier run may have left temporaries of this index.
  for (auto& stale : list_files(p.dir, basename(p.out) + ".tmp.", "")) remove_file(stale);
  HnswParams params = o.params;
  params.seed = key(o.params.seed, hash_str(basename(p.shard)));  // keyed by shard, never by rank
  HnswIndex idx(p.dim, p.rows, params);
  uint64_t seen = 0;
  auto check = [&](const io::ShardReader& r) {
    if (r.rows() != p.rows || r.meta().dim != p.dim)
      throw InputError(cat(p.shard, ": the shard changed while trawl-index ran (rows ", r.rows(), ", was ", p.rows, ")"));
  };
  // The stream's thread reads block i+1 while block i is inserted.
  io::ShardStream stream({p.shard}, io::ShardReader::kUid | io::ShardReader::kEmbedding, o.block_rows, check, {p.rows});
  for (;;) {
    const io::ShardBlock* b;
    {
      ScopedTimer t("read");
      b = stream.next();
    }
    if (!b) break;
    const uint64_t n = b->size();
    seen += n;
    {
      ScopedTimer t("build");
      try {
        idx.add(b->embedding.data(), b->uid.data(), n, o.threads);
      } catch (const InputError& err) {
        throw InputError(cat(p.shard, ": ", err.what()));
      }
    }
    prog.add(n);
  }
  if (seen != p.rows) throw InputError(cat(p.shard, ": ", seen, " rows read, expected ", p.rows));
  IndexInfo info;
  info.shard = basename(p.shard);
  info.shard_checksum = p.checksum;
  info.config = o.config;
  AtomicOutput out(p.out);
  uint64_t bytes;
  {
    ScopedTimer t("write");
    idx.save(out.temp_path(), info);
    bytes = file_size(out.temp_path());
    out.commit();
  }
  log::debug(p.shard, ": ", p.rows, " vectors -> ", p.out, " (", human_bytes(double(bytes)), ")");
  return bytes;
}

}  // namespace


int run_index(const mpi::Comm& comm, const IndexOptions& o, IndexSummary* summary) {
  if (o.pool.empty()) throw UsageError("trawl-index: --pool DIR (the shards' directory) is required");
  if (o.threads < 1) throw UsageError(cat("--threads ", o.threads, ": must be at least 1"));
  if (o.block_rows == 0) throw UsageError("--block-rows must be positive");
  HnswIndex(1, 0, o.params);  // validates M and ef-construction (UsageError)
  if (!is_directory(o.pool)) throw IoError(cat(o.pool, ": the pool directory does not exist"));
  const std::string output = o.output.empty() ? join_path(o.pool, "index") : o.output;
  if (comm.root()) check_writable_dir(output);
  comm.barrier();

  auto shards = io::list_shards(o.pool);
  auto split = mpi::work_split(comm, o.shard_id, o.num_shards);
  auto mine = split.items(shards.size());
  log::info("indexing ", shards.size(), " shards of ", o.pool, " into ", output, " (HNSW cosine, M ", o.params.M,
            ", ef-construction ", o.params.ef_construction, ", ", o.threads, " threads per process)");

  ScopedTimer total("index total");
  std::vector<Plan> plans;
  for (auto i : mine) plans.push_back(plan_shard(o, output, shards[i]));

  // Fail fast: the largest index this process builds must fit before any work starts.
  const int local_ranks = mpi::ranks_on_node(comm);  // collective
  uint64_t limit = o.max_memory ? o.max_memory : available_memory(local_ranks);
  uint64_t to_build = 0;
  for (auto& p : plans) {
    if (!p.build) continue;
    to_build += p.rows;
    uint64_t need = estimate_memory(p.rows, p.dim, o.params.M, o.threads) + p.rows * sizeof(uint64_t) +
                    std::min(o.block_rows, p.rows) * uint64_t(p.dim) * sizeof(float);
    if (limit > 0 && need > limit)
      throw UsageError(cat(p.shard, ": its index (", p.rows, " vectors of dim ", p.dim, ", M ", o.params.M,
                           ") needs about ", human_bytes(double(need)), " of memory, more than the ",
                           human_bytes(double(limit)), " this process may use (",
                           o.max_memory ? "--max-memory" : cat("available memory / ", local_ranks, " ranks on this node"),
                           "); raise --max-memory if that is wrong, run fewer ranks per node, or lower --M"));
  }

  IndexSummary s;
  Progress prog("index", to_build, "items");
  for (auto& p : plans) {
    if (!p.build) {
      ++s.skipped;
      continue;
    }
    s.bytes_out += build_one(o, p, prog);
    s.rows += p.rows;
    ++s.built;
  }
  if (to_build > 0) prog.finish();
  double secs = total.stop();
  comm.barrier();
  mpi::report_total(comm, "indexed vectors", double(s.rows), "items", secs);
  uint64_t built = comm.sum(s.built), skipped = comm.sum(s.skipped), bytes = comm.sum(s.bytes_out);
  log::info("shards: ", built, " indexed, ", skipped, " already up to date; ", human_bytes(double(bytes)), " written");
  mpi::report_timers(comm);
  if (summary) *summary = s;
  return kExitOk;
}

}  // namespace trawl::stages
