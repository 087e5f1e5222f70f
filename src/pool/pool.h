// A pool: the directory of shards every later stage reads. Opening checks that all shards come
// from one encoder; fetch_rows gathers given items (by uid) from whichever shards hold them.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/shard.h"
#include "mpi/comm.h"

namespace trawl::pool {

struct Pool {
  std::string dir;
  std::vector<std::string> shards;  // sorted by name
  int dim = 0;
  std::string encoder, params;
  std::string first;  // the shard the identity was read from
};

/// Collective: lists the shards (IoError/InputError when there are none) and reads the encoder
/// identity from the first one (rank 0 reads, all receive).
Pool open_pool(const mpi::Comm& comm, const std::string& dir);

/// InputError naming both shards when r was embedded with another encoder or dim than the pool.
void check_shard(const Pool& p, const io::ShardReader& r);

/// Path of the shard that holds uid (uid >> 40 is its chunk index).
std::string shard_of_uid(const Pool& p, uint64_t uid);

/// Rows gathered by uid, sorted by uid. Columns present as requested.
struct Rows {
  std::vector<uint64_t> uid;
  std::vector<float> emb;                 // kEmbedding: size() * dim
  std::vector<uint64_t> token_offsets{0};  // kTokens: CSR
  std::vector<uint32_t> token_ids;
  std::vector<std::string> id, text, label;  // kId, kText, kLabel
  size_t size() const { return uid.size(); }
  const float* row(size_t i, int dim) const { return emb.data() + i * size_t(dim); }
  long find(uint64_t u) const;  // position of u, or -1
};

/// Shards a stage opens once for several steps: fetch_rows reads through them (and the views
/// its reads map stay with the reader), and a ShardStream takes them over (take) instead of
/// opening the files again — so a chunk verified (or left to verify, io::DeferredChecks) by one
/// step is known to the next.
/// At most `keep` readers stay open (an open shard holds ~1 MiB of HDF5 caches, so memory stays
/// flat in the pool's size): the first ones asked for, which a stream over the shards in order
/// takes first; the others are opened for each use and closed after.
class OpenShards {
 public:
  explicit OpenShards(size_t keep = 8) : keep_(keep) {}
  /// The reader of `path`: the open one, or one opened now (and checked against p:
  /// check_shard) — kept open while fewer than `keep` are, else owned by `tmp` for the caller's
  /// use.
  const io::ShardReader& use(const Pool& p, const std::string& path, std::unique_ptr<io::ShardReader>& tmp);
  /// Row counts of `paths` (from the open readers, or from each shard opened for it).
  std::vector<uint64_t> rows(const Pool& p, const std::vector<std::string>& paths);
  /// The open readers of `paths`, in order, handed over; null where a shard is not open.
  std::vector<std::unique_ptr<io::ShardReader>> take(const std::vector<std::string>& paths);

 private:
  size_t keep_;
  std::map<std::string, std::unique_ptr<io::ShardReader>> open_;
};

/// Where fetch_rows reads: through `open` (else it opens each shard itself and closes it
/// after), and with `later` set the embedding chunks are not verified here but collected in it
/// (io::ShardReader::kDeferCheck) for the caller to verify before the rows' results leave.
struct FetchVia {
  OpenShards* open = nullptr;
  io::DeferredChecks* later = nullptr;
};

/// Collective: the requested columns (io::ShardReader::Columns bits; kUid is implied) of
/// `wanted` (sorted, unique uids), on every rank. Shards are split over the ranks of comm. A
/// uid not in the pool is an InputError whose message starts with where(uid).
Rows fetch_rows(const mpi::Comm& comm, const Pool& p, const std::vector<uint64_t>& wanted,
                const std::function<std::string(uint64_t)>& where, unsigned cols = io::ShardReader::kEmbedding,
                FetchVia via = {});

/// Collective: fetch_rows(wanted) of the embedding column, where the ranks already hold some
/// of those rows in memory (`known`: uids ascending with their embeddings, e.g. the vectors a
/// search kept). The ranks share what they hold; only the uids no rank holds are read from the
/// shards. The same Rows as fetch_rows(comm, p, wanted, where).
Rows gather_embeddings(const mpi::Comm& comm, const Pool& p, const std::vector<uint64_t>& wanted, const Rows& known,
                       const std::function<std::string(uint64_t)>& where);

}  // namespace trawl::pool
