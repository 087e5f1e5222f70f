#include "mpi/comm.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "core/fatal.h"
#include "core/log.h"

namespace trawl::mpi {

void fail(const char* call, const char* file, int line, int rc) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  std::fprintf(stderr, "rank %d: internal error: %s:%d: %s failed: %s\n", log::rank(), file, line,
               call, msg);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, kExitInternal);
  std::abort();
}

namespace {
// A failed assertion or an uncaught exception on any rank ends the whole job.
void abort_job(int code) {
  int init = 0, fin = 0, size = 1;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) return;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}
[[noreturn]] void on_terminate() {
  std::string what = "std::terminate without an active exception";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = cat("uncaught exception: ", x.what());
    } catch (...) {
      what = "uncaught exception of unknown type";
    }
  }
  std::fprintf(stderr, "rank %d: internal error: %s\n", log::rank(), what.c_str());
  std::fflush(stderr);
  abort_job(kExitInternal);
  std::abort();
}
}  // namespace

bool launched_by_mpi() {
  // mpirun/mpiexec (Open MPI, Hydra), srun with PMI or PMIx, or an explicit request.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS", "TRAWL_MPI"})
    if (const char* x = std::getenv(v); x && *x) return true;
  return false;
}

Environment::Environment(int* argc, char*** argv) {
  set_fatal_hook(&abort_job);
  std::set_terminate(&on_terminate);
  int inited = 0;
  MPI_Initialized(&inited);
  // Without a launcher the process is a 1-rank job that never starts MPI: no singleton
  // start-up (seconds with Open MPI), so --help, --version and small runs return at once.
  if (!inited && launched_by_mpi()) {
    int provided = 0;
    TRAWL_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    owns_ = true;
    inited = 1;
  }
  int r = 0, s = 1;
  if (inited) {
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &s);
  }
  log::set_rank(r, s);
}

Environment::~Environment() {
  if (!owns_ || std::uncaught_exceptions() > 0) return;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

Comm Comm::world() {
  int inited = 0, fin = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&fin);
  if (!inited || fin) return Comm();  // no MPI: the 1-rank job
  MPI_Comm c;
  TRAWL_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &c));
  return Comm(c, true);
}
Comm::Comm(MPI_Comm c, bool owned) : c_(c), owned_(owned) {
  TRAWL_MPI_CHECK(MPI_Comm_rank(c_, &rank_));
  TRAWL_MPI_CHECK(MPI_Comm_size(c_, &size_));
}
Comm::Comm(Comm&& o) noexcept : c_(o.c_), owned_(o.owned_), rank_(o.rank_), size_(o.size_) {
  o.owned_ = false;
  o.c_ = MPI_COMM_NULL;
}
Comm::~Comm() {
  if (!owned_ || std::uncaught_exceptions() > 0) return;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Comm_free(&c_);
}
void Comm::barrier() const {
  if (size_ > 1) TRAWL_MPI_CHECK(MPI_Barrier(c_));
}
void Comm::abort(int code) const {
  std::fflush(stderr);
  if (c_ != MPI_COMM_NULL) MPI_Abort(c_, code);
  std::exit(code);
}

void Comm::bcast(std::string& s, int root) const {
  if (size_ == 1) return;
  std::vector<char> v(s.begin(), s.end());
  bcast(v, root);
  s.assign(v.begin(), v.end());
}

void Comm::bcast(std::vector<std::string>& v, int root) const {
  if (size_ == 1) return;
  std::vector<uint64_t> len;
  std::vector<char> bytes;
  for (auto& x : v) {
    len.push_back(x.size());
    bytes.insert(bytes.end(), x.begin(), x.end());
  }
  bcast(len, root);
  bcast(bytes, root);
  v.clear();
  uint64_t off = 0;
  for (uint64_t l : len) {
    v.emplace_back(bytes.data() + off, l);
    off += l;
  }
}

void Comm::bcast_from_first_nonempty(std::vector<std::string>& v) const {
  if (size_ == 1) return;
  const int root = allreduce(v.empty() ? size_ : rank_, MPI_MIN);
  if (root == size_) return;
  bcast(v, root);
}

void Comm::bcast_bytes(void* p, uint64_t n, int root) const {
  auto* c = static_cast<char*>(p);
  const uint64_t step = 1ULL << 30;
  for (uint64_t off = 0; off < n; off += step) {
    int len = static_cast<int>(std::min(step, n - off));
    TRAWL_MPI_CHECK(MPI_Bcast(c + off, len, MPI_BYTE, root, c_));
  }
}

// No 2^31 limit: counts travel as u64 and the bytes in messages of at most 1 GiB (MPI's int
// counts). allgatherv: one (chunked) broadcast per rank, in rank order; gatherv: chunked
// point-to-point messages to the root, rank by rank.
std::vector<char> Comm::allgatherv_bytes(const void* p, uint64_t n) const {
  std::vector<uint64_t> counts(size_);
  uint64_t mine = n;
  TRAWL_MPI_CHECK(MPI_Allgather(&mine, 1, MPI_UINT64_T, counts.data(), 1, MPI_UINT64_T, c_));
  std::vector<uint64_t> displs(size_ + 1, 0);
  for (int r = 0; r < size_; ++r) displs[r + 1] = displs[r] + counts[r];
  std::vector<char> out(displs[size_]);
  if (n) std::memcpy(out.data() + displs[rank_], p, n);
  for (int r = 0; r < size_; ++r)
    if (counts[r]) bcast_bytes(out.data() + displs[r], counts[r], r);
  return out;
}

std::vector<std::vector<char>> Comm::gatherv_bytes(const void* p, uint64_t n, int root) const {
  constexpr uint64_t kStep = 1ULL << 30;
  constexpr int kTag = 7311;
  std::vector<uint64_t> counts(size_);
  uint64_t mine = n;
  TRAWL_MPI_CHECK(MPI_Gather(&mine, 1, MPI_UINT64_T, counts.data(), 1, MPI_UINT64_T, root, c_));
  std::vector<std::vector<char>> out;
  if (rank_ != root) {
    const char* c = static_cast<const char*>(p);
    for (uint64_t off = 0; off < n; off += kStep)
      TRAWL_MPI_CHECK(MPI_Send(c + off, static_cast<int>(std::min(kStep, n - off)), MPI_BYTE, root, kTag, c_));
    return out;
  }
  out.resize(size_);
  for (int r = 0; r < size_; ++r) {
    out[r].resize(counts[r]);
    if (r == root) {
      if (n) std::memcpy(out[r].data(), p, n);
      continue;
    }
    for (uint64_t off = 0; off < counts[r]; off += kStep)
      TRAWL_MPI_CHECK(MPI_Recv(out[r].data() + off, static_cast<int>(std::min(kStep, counts[r] - off)), MPI_BYTE, r,
                               kTag, c_, MPI_STATUS_IGNORE));
  }
  return out;
}

std::vector<std::string> Comm::gather_strings(const std::string& mine, int root) const {
  if (size_ == 1) return {mine};
  auto parts = gatherv_bytes(mine.data(), mine.size(), root);
  std::vector<std::string> out;
  for (auto& p : parts) out.emplace_back(p.begin(), p.end());
  return out;
}
std::vector<std::string> Comm::allgather_strings(const std::string& mine) const {
  if (size_ == 1) return {mine};
  std::vector<uint64_t> lens(size_);
  uint64_t n = mine.size();
  TRAWL_MPI_CHECK(MPI_Allgather(&n, 1, MPI_UINT64_T, lens.data(), 1, MPI_UINT64_T, c_));
  auto all = allgatherv_bytes(mine.data(), mine.size());
  std::vector<std::string> out;
  uint64_t off = 0;
  for (int r = 0; r < size_; ++r) {
    out.emplace_back(all.data() + off, lens[r]);
    off += lens[r];
  }
  return out;
}

std::vector<uint64_t> WorkSplit::items(uint64_t n) const {
  std::vector<uint64_t> v;
  for (uint64_t i = part; i < n; i += parts) v.push_back(i);
  return v;
}

WorkSplit work_split(const Comm& comm, int shard_id, int num_shards) {
  WorkSplit w;
  if (num_shards <= 0) {
    if (shard_id > 0) throw UsageError(cat("--shard-id ", shard_id, " given without --num-shards"));
    shard_id = 0;
    num_shards = 1;
  }
  if (shard_id < 0 || shard_id >= num_shards)
    throw UsageError(cat("--shard-id ", shard_id, " is outside [0, --num-shards ", num_shards, ")"));
  w.parts = num_shards * comm.size();
  w.part = shard_id * comm.size() + comm.rank();
  return w;
}

int ranks_on_node(const Comm& comm) {
  if (comm.size() == 1) return 1;
  MPI_Comm node;
  TRAWL_MPI_CHECK(MPI_Comm_split_type(comm.raw(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node));
  int n = 1;
  TRAWL_MPI_CHECK(MPI_Comm_size(node, &n));
  TRAWL_MPI_CHECK(MPI_Comm_free(&node));
  return n;
}

}  // namespace trawl::mpi
