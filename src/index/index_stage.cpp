#include "index/index_stage.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/shard.h"
#include "mpi/report.h"

namespace trawl::index {

uint64_t parse_bytes(const std::string& s, const std::string& option) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = s.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  double mult = 0;
  if (unit.empty()) mult = 1;
  else if (unit == "K" || unit == "k") mult = 1024.0;
  else if (unit == "M" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") mult = 1024.0 * 1024 * 1024 * 1024;
  if (used == 0 || mult == 0 || !(v >= 0) || !std::isfinite(v) || v * mult > 1.8e19)
    throw UsageError(cat(option, " '", s, "': expected a byte count such as 8G, 512M or 1000000"));
  return static_cast<uint64_t>(v * mult);
}

namespace {

/// The first number in a file ("max" or a missing file: 0).
uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return 0;
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    return 0;
  }
}

/// Memory left under this process's cgroup limit (v2 or v1), or 0 when there is no limit.
uint64_t cgroup_headroom() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "0::/path" (v2) or "4:memory:/path" (v1).
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::vector<std::pair<std::string, std::string>> files;  // (limit, usage)
    if (ctrl.empty()) {
      for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        for (const std::string& dir : {join_path(root, path.substr(path.empty() ? 0 : 1)), std::string(root)})
          files.emplace_back(join_path(dir, "memory.max"), join_path(dir, "memory.current"));
    } else if (ctrl.find("memory") != std::string::npos) {
      const char* root = "/sys/fs/cgroup/memory";
      for (const std::string& dir : {join_path(root, path.substr(path.empty() ? 0 : 1)), std::string(root)})
        files.emplace_back(join_path(dir, "memory.limit_in_bytes"), join_path(dir, "memory.usage_in_bytes"));
    }
    for (auto& [lim_file, use_file] : files) {
      uint64_t lim = read_number(lim_file);
      if (lim == 0 || lim >= (1ull << 62)) continue;  // no limit here
      uint64_t use = read_number(use_file);
      return lim > use ? lim - use : 1;
    }
  }
  return 0;
}

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

std::string human_bytes(double b) {
  char buf[32];
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    ++i;
  }
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", b, u[i]);
  return buf;
}

int ranks_on_this_node(const mpi::Comm& comm) {
  if (comm.size() == 1) return 1;
  MPI_Comm node;
  TRAWL_MPI_CHECK(MPI_Comm_split_type(comm.raw(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node));
  int n = 1;
  TRAWL_MPI_CHECK(MPI_Comm_size(node, &n));
  TRAWL_MPI_CHECK(MPI_Comm_free(&node));
  return n;
}

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
  io::ShardReader r(p.shard);
  if (r.rows() != p.rows || r.meta().dim != p.dim)
    throw InputError(cat(p.shard, ": the shard changed while trawl-index ran (rows ", r.rows(), ", was ", p.rows, ")"));
  std::vector<uint64_t> uids;
  {
    ScopedTimer t("read");
    uids = r.read_uids();
  }
  if (uids.size() != p.rows) throw InputError(cat(p.shard, ": ", uids.size(), " uids for ", p.rows, " rows"));
  const uint64_t block = std::max<uint64_t>(1, o.block_rows);
  std::vector<float> buf(std::min(block, std::max<uint64_t>(p.rows, 1)) * size_t(p.dim));
  for (uint64_t b = 0; b < p.rows; b += block) {
    uint64_t e = std::min(p.rows, b + block);
    {
      ScopedTimer t("read");
      r.read_embeddings(b, e, buf.data());
    }
    {
      ScopedTimer t("build");
      try {
        idx.add(buf.data(), uids.data() + b, e - b, o.threads);
      } catch (const InputError& err) {
        throw InputError(cat(p.shard, ": ", err.what()));
      }
    }
    prog.add(e - b);
  }
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

uint64_t available_memory(int ranks_on_node) {
  uint64_t avail = mem_available(), cg = cgroup_headroom();
  uint64_t m = avail && cg ? std::min(avail, cg) : std::max(avail, cg);
  return m / uint64_t(std::max(1, ranks_on_node));
}

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
  const int local_ranks = ranks_on_this_node(comm);  // collective
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

}  // namespace trawl::index
