// The MPI layer: a RAII environment, a duplicated communicator, checked calls and typed
// collectives that are no-ops on one rank. A binary run without mpirun is a 1-rank job.
#pragma once
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"

#define TRAWL_MPI_CHECK(call)                                                        \
  do {                                                                               \
    int trawl_mpi_rc_ = (call);                                                      \
    if (trawl_mpi_rc_ != MPI_SUCCESS) ::trawl::mpi::fail(#call, __FILE__, __LINE__, trawl_mpi_rc_); \
  } while (0)

namespace trawl::mpi {

[[noreturn]] void fail(const char* call, const char* file, int line, int rc);

template <class T> MPI_Datatype type();
template <> inline MPI_Datatype type<double>() { return MPI_DOUBLE; }
template <> inline MPI_Datatype type<float>() { return MPI_FLOAT; }
template <> inline MPI_Datatype type<int>() { return MPI_INT; }
template <> inline MPI_Datatype type<unsigned>() { return MPI_UNSIGNED; }
template <> inline MPI_Datatype type<long>() { return MPI_LONG; }
template <> inline MPI_Datatype type<long long>() { return MPI_LONG_LONG; }
template <> inline MPI_Datatype type<unsigned long>() { return MPI_UNSIGNED_LONG; }
template <> inline MPI_Datatype type<unsigned long long>() { return MPI_UNSIGNED_LONG_LONG; }
template <> inline MPI_Datatype type<char>() { return MPI_CHAR; }
template <> inline MPI_Datatype type<unsigned char>() { return MPI_UNSIGNED_CHAR; }

/// Initialises MPI (threads: funneled) when the process was started by an MPI launcher
/// (mpirun/mpiexec, srun with PMI/PMIx; or TRAWL_MPI=1) and MPI is not initialised yet;
/// a process started without one is a 1-rank job that never starts MPI. Finalises on normal
/// destruction only — never while an exception unwinds (the error path aborts instead).
class Environment {
 public:
  Environment(int* argc, char*** argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owns_ = false;
};

/// A duplicated communicator (library traffic never mixes with the application's).
class Comm {
 public:
  /// MPI_Comm_dup(MPI_COMM_WORLD); without MPI (no launcher, see Environment) a 1-rank
  /// communicator whose collectives are local no-ops.
  static Comm world();
  explicit Comm(MPI_Comm c, bool owned);
  Comm(Comm&& o) noexcept;
  Comm& operator=(Comm&&) = delete;
  Comm(const Comm&) = delete;
  ~Comm();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  MPI_Comm raw() const { return c_; }

  void barrier() const;
  [[noreturn]] void abort(int code) const;

  template <class T> T allreduce(T v, MPI_Op op) const {
    static_assert(std::is_arithmetic<T>::value, "arithmetic only");
    if (size_ == 1) return v;
    T out;
    TRAWL_MPI_CHECK(MPI_Allreduce(&v, &out, 1, type<T>(), op, c_));
    return out;
  }
  template <class T> T sum(T v) const { return allreduce(v, MPI_SUM); }
  template <class T> T min(T v) const { return allreduce(v, MPI_MIN); }
  template <class T> T max(T v) const { return allreduce(v, MPI_MAX); }
  bool any(bool v) const { return allreduce<int>(v ? 1 : 0, MPI_MAX) != 0; }

  /// Element-wise in-place allreduce of a vector.
  template <class T> void allreduce_inplace(std::vector<T>& v, MPI_Op op) const {
    if (size_ == 1 || v.empty()) return;
    TRAWL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), type<T>(), op, c_));
  }

  template <class T> void bcast(std::vector<T>& v, int root = 0) const {
    static_assert(std::is_trivially_copyable<T>::value, "trivially copyable only");
    if (size_ == 1) return;
    uint64_t n = v.size();
    TRAWL_MPI_CHECK(MPI_Bcast(&n, 1, MPI_UINT64_T, root, c_));
    v.resize(n);
    bcast_bytes(v.data(), n * sizeof(T), root);
  }
  void bcast(std::string& s, int root = 0) const;
  void bcast(std::vector<std::string>& v, int root = 0) const;  // any strings (lengths, then bytes)
  /// Collective: every rank gets v of the lowest rank whose v is non-empty (all empty: stays
  /// empty), e.g. class names read by the ranks that hold a shard.
  void bcast_from_first_nonempty(std::vector<std::string>& v) const;
  /// n values at p (allocated on every rank) from root to every rank.
  template <class T> void bcast_n(T* p, uint64_t n, int root) const {
    static_assert(std::is_trivially_copyable<T>::value, "trivially copyable only");
    if (size_ == 1 || n == 0) return;
    bcast_bytes(p, n * sizeof(T), root);
  }
  template <class T> void bcast_value(T& v, int root = 0) const {
    static_assert(std::is_trivially_copyable<T>::value, "trivially copyable only");
    if (size_ == 1) return;
    bcast_bytes(&v, sizeof(T), root);
  }

  /// Every rank's vector, concatenated in rank order, on every rank.
  template <class T> std::vector<T> allgatherv(const std::vector<T>& mine) const {
    static_assert(std::is_trivially_copyable<T>::value, "trivially copyable only");
    if (size_ == 1) return mine;
    auto bytes = allgatherv_bytes(mine.data(), mine.size() * sizeof(T));
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
  /// Every rank's vector, in rank order, on root only (others get an empty result).
  template <class T> std::vector<std::vector<T>> gatherv(const std::vector<T>& mine, int root = 0) const {
    static_assert(std::is_trivially_copyable<T>::value, "trivially copyable only");
    std::vector<std::vector<T>> out;
    if (size_ == 1) { out.push_back(mine); return out; }
    auto parts = gatherv_bytes(mine.data(), mine.size() * sizeof(T), root);
    for (auto& p : parts) {
      std::vector<T> v(p.size() / sizeof(T));
      if (!v.empty()) std::memcpy(v.data(), p.data(), p.size());
      out.push_back(std::move(v));
    }
    return out;
  }
  std::vector<std::string> gather_strings(const std::string& mine, int root = 0) const;
  std::vector<std::string> allgather_strings(const std::string& mine) const;

 private:
  Comm() = default;  // the 1-rank communicator without MPI
  void bcast_bytes(void* p, uint64_t n, int root) const;
  std::vector<char> allgatherv_bytes(const void* p, uint64_t n) const;
  std::vector<std::vector<char>> gatherv_bytes(const void* p, uint64_t n, int root) const;
  MPI_Comm c_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0, size_ = 1;
};

/// The slice of n work items (chunks, shards) this process takes: items i with
/// i % parts == part, where parts = num_shards * comm.size() and part combines the array
/// task id (--shard-id) with the rank. Without --num-shards the array is 1 task.
struct WorkSplit {
  int part = 0, parts = 1;
  bool mine(uint64_t i) const { return static_cast<int>(i % parts) == part; }
  std::vector<uint64_t> items(uint64_t n) const;
};
WorkSplit work_split(const Comm& comm, int shard_id, int num_shards);

/// Collective: how many ranks of comm share this rank's node (1 without MPI); a memory check
/// divides the node's memory by it.
int ranks_on_node(const Comm& comm);

}  // namespace trawl::mpi
