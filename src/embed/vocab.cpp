// Over 600 lines on purpose: the local count, the all-to-all exchange, the gather and the
// part merge share the record type and the open-addressing tables defined here.
// trawl-vocab: a distributed document-frequency count of token ids over the pool's chunks.
//
// Each process counts its share of the chunk list (mpi::work_split) into an open-addressing
// hash map, then the ranks exchange counts so that each id is owned by one rank (a hash of
// the id picks the owner; MPI_Alltoallv, in rounds bounded by max_message_bytes), every owner
// sums and prunes its ids, and rank 0 gathers the survivors in id-range rounds and writes the
// file. Counts are integer sums, so the file does not depend on the rank count, the number of
// array tasks or the chunk order.
#include "embed/vocab.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/h5.h"
#include "mpi/comm.h"
#include "mpi/report.h"
#include "mpi/run.h"
#include "text/tokenize.h"

namespace trawl::embed {

// ---- Vocab ---------------------------------------------------------------------------------

int64_t Vocab::find(uint32_t token_id) const {
  auto it = std::lower_bound(id.begin(), id.end(), token_id);
  if (it == id.end() || *it != token_id) return -1;
  return it - id.begin();
}

uint64_t Vocab::df_of(uint32_t token_id) const {
  int64_t i = find(token_id);
  return i < 0 ? 0 : df[static_cast<size_t>(i)];
}

double Vocab::idf(uint32_t token_id) const {
  return std::log((1.0 + double(n_docs)) / (1.0 + double(df_of(token_id)))) + 1.0;
}

std::string Vocab::checksum() const {
  uint64_t h = hash_bytes(&n_docs, sizeof n_docs, 0x766f636162ULL);
  h = hash_bytes(id.data(), id.size() * sizeof(uint32_t), h);
  h = hash_bytes(df.data(), df.size() * sizeof(uint64_t), h);
  char buf[40];
  std::snprintf(buf, sizeof buf, "vocab:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string vocab_part_name(int shard_id, int num_shards) {
  return cat("part-", shard_id, "-of-", num_shards, ".h5");
}

std::vector<std::string> read_chunk_list(const std::string& list_file) {
  std::ifstream in(list_file);
  if (!in) throw IoError(cat(list_file, ": cannot open the input list"));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos || line[a] == '#') continue;
    size_t b = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(a, b - a + 1));
  }
  if (in.bad()) throw IoError(cat(list_file, ": read error in the input list"));
  if (out.empty()) throw InputError(cat(list_file, ": the input list names no files"));
  return out;
}

// ---- File I/O ------------------------------------------------------------------------------

namespace {

namespace h5 = io::h5;

uint64_t chunk_rows_for(uint64_t n) { return std::min<uint64_t>(std::max<uint64_t>(n, 1), 1 << 16); }

template <class T>
void write_column(h5::File& f, const std::string& name, h5::Type t, const std::vector<T>& v) {
  auto d = h5::Dataset::create(f, name, t, chunk_rows_for(v.size()), 0, v.size() > 4096 ? 1 : 0);
  if (!v.empty()) d.write(0, v.size(), v.data());
}

void write_strings(h5::File& f, const std::string& name, const std::vector<std::string>& v) {
  auto d = h5::Dataset::create(f, name, h5::Type::kStr, chunk_rows_for(v.size()));
  if (!v.empty()) d.write_strings(0, v.size(), v.data());
}

}  // namespace

void write_vocab(const std::string& path, const Vocab& v) {
  TRAWL_ASSERT(v.df.size() == v.id.size() && v.tf.size() == v.id.size());
  TRAWL_ASSERT(v.input_checksum.size() == v.input_file.size());
  TRAWL_ASSERT(v.format == kVocabFormat || v.format == kVocabPartFormat);
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, v.format, kVocabFormatVersion);
    f.set_attr_u64("n_docs", v.n_docs);
    f.set_attr_u64("min_df", v.min_df);
    f.set_attr_u64("pruned_ids", v.pruned_ids);
    f.set_attr_u64("tokens", v.tokens);
    f.set_attr_u64("bad_rows", v.bad_rows);
    f.set_attr("config", v.config);
    if (v.format == kVocabPartFormat) {
      f.set_attr("shard_id", static_cast<int64_t>(v.shard_id));
      f.set_attr("num_shards", static_cast<int64_t>(v.num_shards));
    }
    write_column(f, "id", h5::Type::kU32, v.id);
    write_column(f, "df", h5::Type::kU64, v.df);
    write_column(f, "tf", h5::Type::kU64, v.tf);
    write_strings(f, "input_file", v.input_file);
    write_strings(f, "input_checksum", v.input_checksum);
    f.close();
  }
  out.commit();
}

Vocab read_vocab(const std::string& path, bool allow_part) {
  auto f = h5::File::open(path);
  Vocab v;
  std::string fmt = kVocabFormat;
  if (f.has_attr("trawl-format")) {
    std::string found = f.attr_str("trawl-format");
    if (found == kVocabPartFormat) {
      if (!allow_part)
        throw InputError(cat(path, ": a partial count of one array task (trawl-format = '", found,
                             "'), not a vocab; merge the parts first: trawl-vocab --merge-parts DIR --output FILE"));
      fmt = found;
    }
  }
  v.format_version = h5::check_format(f, fmt, kVocabFormatVersion);
  v.format = fmt;
  v.trawl_version = f.has_attr("trawl-version") ? f.attr_str("trawl-version") : "";
  v.n_docs = f.attr_u64("n_docs");
  v.min_df = f.attr_u64("min_df");
  v.pruned_ids = f.attr_u64("pruned_ids");
  v.tokens = f.attr_u64("tokens");
  v.bad_rows = f.attr_u64("bad_rows");
  v.config = f.attr_str("config");
  if (fmt == kVocabPartFormat) {
    v.shard_id = static_cast<int>(f.attr_i64("shard_id"));
    v.num_shards = static_cast<int>(f.attr_i64("num_shards"));
    if (v.num_shards < 1 || v.shard_id < 0 || v.shard_id >= v.num_shards)
      throw InputError(cat(path, ": shard_id ", v.shard_id, " / num_shards ", v.num_shards,
                           " are inconsistent (expected 0 <= shard_id < num_shards)"));
  }
  auto did = h5::Dataset::open(f, "id");
  did.expect(h5::Type::kU32, 1);
  auto ddf = h5::Dataset::open(f, "df");
  ddf.expect(h5::Type::kU64, 1);
  ddf.expect_rows(did.rows(), "one per id");
  auto dtf = h5::Dataset::open(f, "tf");
  dtf.expect(h5::Type::kU64, 1);
  dtf.expect_rows(did.rows(), "one per id");
  auto din = h5::Dataset::open(f, "input_file");
  din.expect(h5::Type::kStr, 1);
  auto dck = h5::Dataset::open(f, "input_checksum");
  dck.expect(h5::Type::kStr, 1);
  dck.expect_rows(din.rows(), "one per input file");
  v.id = did.read_all<uint32_t>();
  v.df = ddf.read_all<uint64_t>();
  v.tf = dtf.read_all<uint64_t>();
  if (din.rows()) din.read_strings(0, din.rows(), v.input_file);
  if (dck.rows()) dck.read_strings(0, dck.rows(), v.input_checksum);
  for (size_t i = 0; i < v.id.size(); ++i) {
    if (i > 0 && v.id[i] <= v.id[i - 1])
      throw InputError(cat(path, ", dataset 'id': not strictly increasing at row ", i, " (", v.id[i - 1],
                           " then ", v.id[i], ")"));
    if (v.df[i] < 1 || v.df[i] < v.min_df || v.df[i] > v.n_docs)
      throw InputError(cat(path, ", dataset 'df': row ", i, " has df ", v.df[i], ", expected ",
                           std::max<uint64_t>(1, v.min_df), "..n_docs = ", v.n_docs));
    if (v.tf[i] < v.df[i])
      throw InputError(cat(path, ", dataset 'tf': row ", i, " has tf ", v.tf[i], " < df ", v.df[i],
                           " (every document with the id holds it at least once)"));
  }
  return v;
}

bool vocab_is_complete(const std::string& path, bool allow_part) {
  if (!path_exists(path)) return false;
  try {
    read_vocab(path, allow_part);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// ---- Counting ------------------------------------------------------------------------------

namespace {

/// One id's counts, the unit of the exchange between ranks.
struct Rec {
  uint32_t id;
  uint32_t pad;
  uint64_t df;
  uint64_t tf;
};

/// The records of `counts` (anything with for_each(id, df, tf) over `total` ids) with
/// df >= min_df, sorted by id; *dropped counts the others.
template <class Counts>
std::vector<Rec> sorted_records(const Counts& counts, uint64_t total, uint64_t min_df, uint64_t* dropped) {
  std::vector<Rec> out;
  uint64_t kept = 0;
  counts.for_each([&](uint32_t, uint64_t df, uint64_t) { kept += df >= min_df; });
  out.reserve(kept);
  counts.for_each([&](uint32_t id, uint64_t df, uint64_t tf) {
    if (df >= min_df) out.push_back(Rec{id, 0, df, tf});
  });
  if (dropped) *dropped = total - kept;
  std::sort(out.begin(), out.end(), [](const Rec& a, const Rec& b) { return a.id < b.id; });
  return out;
}

/// id -> (df, tf), open addressing with linear probing; a slot holds the key and both counts
/// (24 bytes, one cache line per probe); load <= 0.7.
/// Each table hashes with its own seed: iterating one table and inserting into another with
/// the same hash order (the exchange does) would otherwise pile keys into long probe runs.
class IdCounts {
 public:
  explicit IdCounts(uint64_t seed) : seed_(mix64(seed)) { reset(1 << 12); }
  void prefetch(uint32_t id) const { __builtin_prefetch(&slots_[slot(id)]); }
  void add(uint32_t id, uint64_t df, uint64_t tf) {
    if (id == kEmpty) {
      if (!has_empty_) { has_empty_ = true; ++size_; }
      empty_df_ += df;
      empty_tf_ += tf;
      return;
    }
    size_t h = slot(id);
    for (;;) {
      uint32_t k = slots_[h].id;
      if (k == id) break;
      if (k == kEmpty) {
        if ((used_ + 1) * 10 > slots_.size() * 7) {
          grow();
          h = slot(id);
          continue;
        }
        slots_[h].id = id;
        ++used_;
        ++size_;
        break;
      }
      h = (h + 1) & mask_;
    }
    slots_[h].df += df;
    slots_[h].tf += tf;
  }
  size_t size() const { return size_; }
  template <class F> void for_each(F&& f) const {
    for (const Rec& r : slots_)
      if (r.id != kEmpty) f(r.id, r.df, r.tf);
    if (has_empty_) f(kEmpty, empty_df_, empty_tf_);
  }
  void release() {
    std::vector<Rec>().swap(slots_);
    has_empty_ = false;
    empty_df_ = empty_tf_ = 0;
    reset(16);
  }
  /// The ids with df >= min_df, sorted by id; *dropped counts the others.
  std::vector<Rec> sorted(uint64_t min_df = 1, uint64_t* dropped = nullptr) const {
    return sorted_records(*this, size_, min_df, dropped);
  }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  size_t slot(uint32_t id) const {
    uint64_t h = (uint64_t(id) ^ seed_) * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 32)) * 0xd6e8feb86659fd93ULL;
    return static_cast<size_t>(h >> shift_);
  }
  void reset(size_t cap) {
    slots_.assign(cap, Rec{kEmpty, 0, 0, 0});
    mask_ = cap - 1;
    shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1) --shift_;
    used_ = 0;
    size_ = has_empty_ ? 1 : 0;
  }
  void grow() {
    std::vector<Rec> old;
    old.swap(slots_);
    bool he = has_empty_;
    reset(old.size() * 2);
    has_empty_ = he;
    for (const Rec& r : old) {
      if (r.id == kEmpty) continue;
      size_t h = slot(r.id);
      while (slots_[h].id != kEmpty) h = (h + 1) & mask_;
      slots_[h] = r;
      ++used_;
    }
    size_ = used_ + (has_empty_ ? 1 : 0);
  }
  uint64_t seed_;
  std::vector<Rec> slots_;
  size_t mask_ = 0, used_ = 0, size_ = 0;
  int shift_ = 64;
  bool has_empty_ = false;
  uint64_t empty_df_ = 0, empty_tf_ = 0;
};

/// Counts split over T tables by a hash of the id, so T threads insert without locks.
class ShardedCounts {
 public:
  explicit ShardedCounts(int parts) {
    for (int i = 0; i < std::max(parts, 1); ++i) tables_.emplace_back(100 + i);
  }
  int parts() const { return static_cast<int>(tables_.size()); }
  IdCounts& part(int i) { return tables_[i]; }
  static int part_of(uint32_t id, int parts) {
    return parts == 1 ? 0 : static_cast<int>(((uint64_t(id) * 0xc2b2ae3d27d4eb4fULL) >> 40) % uint64_t(parts));
  }
  size_t size() const {
    size_t n = 0;
    for (auto& t : tables_) n += t.size();
    return n;
  }
  template <class F> void for_each(F&& f) const {
    for (auto& t : tables_) t.for_each(f);
  }
  void release() {
    for (auto& t : tables_) t.release();
  }
  std::vector<Rec> sorted(uint64_t min_df, uint64_t* dropped) const {
    if (tables_.size() == 1) return tables_[0].sorted(min_df, dropped);
    return sorted_records(*this, size(), min_df, dropped);
  }

 private:
  std::vector<IdCounts> tables_;
};

using mpi::collective;

/// Exchanges every rank's counts so that each id ends on the rank a hash of it names, summed.
/// Returns the owned ids with df >= min_df, sorted; *pruned counts the owned ids dropped.
std::vector<Rec> exchange(const mpi::Comm& comm, ShardedCounts& local, uint64_t max_bytes, uint64_t min_df,
                          uint64_t* pruned, uint64_t* rounds_out) {
  const int P = comm.size();
  if (P == 1) {
    auto v = local.sorted(min_df, pruned);
    local.release();
    *rounds_out = 0;
    return v;
  }
  auto owner_of = [P](uint32_t id, uint64_t* h_out) {
    uint64_t h = mix64(uint64_t(id) ^ 0x6f776e6572ULL);
    *h_out = h;
    return static_cast<int>((h >> 32) % static_cast<uint64_t>(P));
  };
  // Rounds: enough that neither what a rank sends nor what it receives exceeds max_bytes in
  // one round (the low hash bits spread ids evenly over rounds).
  std::vector<uint64_t> to_owner(P, 0);
  local.for_each([&](uint32_t id, uint64_t, uint64_t) {
    uint64_t h;
    ++to_owner[owner_of(id, &h)];
  });
  uint64_t send_max = comm.max<uint64_t>(local.size());
  comm.allreduce_inplace(to_owner, MPI_SUM);
  uint64_t recv_max = *std::max_element(to_owner.begin(), to_owner.end());
  const uint64_t per_round = std::max<uint64_t>(1, max_bytes / sizeof(Rec));
  const uint64_t R = std::max<uint64_t>(1, (std::max(send_max, recv_max) + per_round - 1) / per_round);
  *rounds_out = R;
  auto route = [&](uint32_t id, int* owner) {
    uint64_t h;
    *owner = owner_of(id, &h);
    return (h & 0xffffffffULL) % R;
  };
  IdCounts mine(2);
  MPI_Datatype rec_type;
  TRAWL_MPI_CHECK(MPI_Type_contiguous(static_cast<int>(sizeof(Rec)), MPI_BYTE, &rec_type));
  TRAWL_MPI_CHECK(MPI_Type_commit(&rec_type));
  struct FreeType {
    MPI_Datatype* t;
    ~FreeType() { MPI_Type_free(t); }
  } free_rec_type{&rec_type};
  std::vector<int> scount(P), sdispl(P), rcount(P), rdispl(P);
  std::vector<Rec> send, recv;
  for (uint64_t round = 0; round < R; ++round) {
    std::vector<uint64_t> n(P, 0);
    local.for_each([&](uint32_t id, uint64_t, uint64_t) {
      int o;
      if (route(id, &o) == round) ++n[o];
    });
    std::vector<uint64_t> pos(P, 0);
    uint64_t total = 0;
    for (int p = 0; p < P; ++p) {
      pos[p] = total;
      total += n[p];
    }
    // Counts in records of a contiguous type, not bytes: the limit is 2^31 records a round
    // (rounds hold about --max-bytes; a record is 24 bytes).
    TRAWL_ASSERT_MSG(total < uint64_t(INT_MAX), "vocab exchange: ", total, " records in one round");
    send.resize(total);
    for (int p = 0; p < P; ++p) {
      scount[p] = static_cast<int>(n[p]);
      sdispl[p] = static_cast<int>(pos[p]);
    }
    local.for_each([&](uint32_t id, uint64_t df, uint64_t tf) {
      int o;
      if (route(id, &o) == round) send[pos[o]++] = Rec{id, 0, df, tf};
    });
    TRAWL_MPI_CHECK(MPI_Alltoall(scount.data(), 1, MPI_INT, rcount.data(), 1, MPI_INT, comm.raw()));
    uint64_t rtotal = 0;
    for (int p = 0; p < P; ++p) {
      rdispl[p] = static_cast<int>(rtotal);
      rtotal += static_cast<uint64_t>(rcount[p]);
      TRAWL_ASSERT_MSG(rtotal < uint64_t(INT_MAX), "vocab exchange: rank ", comm.rank(), " receives ", rtotal,
                       " records in one round");
    }
    recv.resize(rtotal);
    TRAWL_MPI_CHECK(MPI_Alltoallv(send.data(), scount.data(), sdispl.data(), rec_type, recv.data(),
                                  rcount.data(), rdispl.data(), rec_type, comm.raw()));
    for (const Rec& r : recv) mine.add(r.id, r.df, r.tf);
  }
  local.release();
  std::vector<Rec>().swap(send);
  std::vector<Rec>().swap(recv);
  return mine.sorted(min_df, pruned);
}

/// Gathers every rank's sorted, disjoint records to rank 0 in id-range rounds; rank 0 fills
/// v.id/df/tf in id order.
void append_records(Vocab& v, const std::vector<Rec>& recs) {
  v.id.reserve(v.id.size() + recs.size());
  v.df.reserve(v.df.size() + recs.size());
  v.tf.reserve(v.tf.size() + recs.size());
  for (const Rec& r : recs) {
    v.id.push_back(r.id);
    v.df.push_back(r.df);
    v.tf.push_back(r.tf);
  }
}

void gather_to_root(const mpi::Comm& comm, const std::vector<Rec>& mine, uint64_t max_bytes, Vocab& v) {
  if (comm.size() == 1) {
    append_records(v, mine);
    return;
  }
  uint64_t total = comm.sum<uint64_t>(mine.size() * sizeof(Rec));
  uint64_t R = std::max<uint64_t>(1, (total + max_bytes - 1) / std::max<uint64_t>(max_bytes, sizeof(Rec)));
  if (comm.root()) {
    uint64_t n = total / sizeof(Rec);
    v.id.reserve(n);
    v.df.reserve(n);
    v.tf.reserve(n);
  }
  auto begin = mine.begin();
  for (uint64_t g = 0; g < R; ++g) {
    uint64_t hi = ((uint64_t(1) << 32) * (g + 1)) / R;  // ids < hi
    auto end = g + 1 == R ? mine.end()
                          : std::lower_bound(begin, mine.end(), hi, [](const Rec& r, uint64_t x) { return r.id < x; });
    std::vector<Rec> slice(begin, end);
    begin = end;
    auto parts = comm.gatherv(slice);
    if (!comm.root()) continue;
    std::vector<Rec> all;
    for (auto& p : parts) all.insert(all.end(), p.begin(), p.end());
    std::sort(all.begin(), all.end(), [](const Rec& a, const Rec& b) { return a.id < b.id; });
    append_records(v, all);
  }
}


/// What one process counted.
struct LocalCount {
  explicit LocalCount(int threads) : counts(threads) {}
  ShardedCounts counts;  // one table per thread
  uint64_t docs = 0, bad_rows = 0, tokens = 0;
  std::string first_bad;  // "file:line: reason" of the first bad row
  std::map<uint64_t, std::string> checksums;  // chunk index -> FileChecksum::str()
};

void count_chunks(const VocabOptions& o, const std::vector<uint64_t>& mine, LocalCount& lc) {
  uint64_t total_bytes = 0;
  for (auto c : mine) total_bytes += file_size(o.inputs[c]);
  Progress progress("vocab: counting", total_bytes, "bytes");
  uint64_t bytes_before = 0;
  const size_t batch = std::max<uint64_t>(o.batch_rows, 1);
  std::vector<std::string> texts;
  std::vector<std::vector<uint32_t>> ids;        // per row: sorted distinct ids
  std::vector<std::vector<uint32_t>> counts;     // per row: occurrences of each
  std::vector<uint64_t> ntok;
  for (uint64_t c : mine) {
    const std::string& path = o.inputs[c];
    lc.checksums[c] = checksum_file(path).str();
    text::ChunkReader reader(path, o.reader);
    text::Row row;
    text::BadRow bad;
    bool end = false;
    while (!end) {
      texts.clear();
      while (texts.size() < batch) {
        auto st = reader.next(row, bad);
        if (st == text::ChunkReader::Status::kEnd) {
          end = true;
          break;
        }
        if (st == text::ChunkReader::Status::kBad) {
          if (lc.bad_rows++ == 0) lc.first_bad = at(path, static_cast<long long>(bad.line), bad.reason);
          continue;
        }
        texts.push_back(std::move(row.text));
      }
      const size_t n = texts.size();
      if (ids.size() < n) {
        ids.resize(n);
        counts.resize(n);
      }
      ntok.assign(n, 0);
      std::exception_ptr err;
      const int T = lc.counts.parts();
#pragma omp parallel
      {
        std::vector<std::string> scratch;
        std::vector<uint32_t> all;
#pragma omp for schedule(dynamic, 32)
        for (long long i = 0; i < static_cast<long long>(n); ++i) {
          try {
            all.clear();
            text::text_to_ids(texts[i], all, &scratch);
            ntok[i] = all.size();
            std::sort(all.begin(), all.end());
            auto& di = ids[i];
            auto& ci = counts[i];
            di.clear();
            ci.clear();
            for (size_t a = 0; a < all.size();) {
              size_t b = a + 1;
              while (b < all.size() && all[b] == all[a]) ++b;
              di.push_back(all[a]);
              ci.push_back(static_cast<uint32_t>(b - a));
              a = b;
            }
          } catch (...) {
#pragma omp critical(trawl_vocab_error)
            if (!err) err = std::current_exception();
          }
        }
        // (implicit barrier) Each table takes the ids hashed to it, from every row.
#pragma omp for schedule(static, 1)
        for (int p = 0; p < T; ++p) {
          try {
            IdCounts& table = lc.counts.part(p);
            for (size_t i = 0; i < n; ++i) {
              if (i + 1 < n)  // overlap the next row's cache misses with this row's updates
                for (uint32_t id : ids[i + 1])
                  if (ShardedCounts::part_of(id, T) == p) table.prefetch(id);
              for (size_t k = 0; k < ids[i].size(); ++k)
                if (ShardedCounts::part_of(ids[i][k], T) == p) table.add(ids[i][k], 1, counts[i][k]);
            }
          } catch (...) {
#pragma omp critical(trawl_vocab_error)
            if (!err) err = std::current_exception();
          }
        }
      }
      if (err) std::rethrow_exception(err);
      for (size_t i = 0; i < n; ++i) lc.tokens += ntok[i];
      lc.docs += n;
      progress.set(bytes_before + reader.bytes_consumed());
    }
    bytes_before += file_size(path);
    progress.set(bytes_before);
  }
  progress.finish();
}

}  // namespace

ReducedCounts count_and_reduce(const mpi::Comm& comm, const VocabOptions& o, const std::vector<uint64_t>& mine,
                               uint64_t min_df) {
  LocalCount lc(omp_get_max_threads());
  ReducedCounts rc;
  mpi::collective(comm, [&] {
    ScopedTimer t("vocab count");
    count_chunks(o, mine, lc);
    rc.count_seconds = t.stop();
  });
  rc.local_docs = lc.docs;
  rc.docs = comm.sum(lc.docs);
  rc.bad_rows = comm.sum(lc.bad_rows);
  rc.tokens = comm.sum(lc.tokens);
  for (auto& b : comm.gather_strings(lc.first_bad))
    if (!b.empty() && rc.first_bad.empty()) rc.first_bad = b;
  // Checksums of the inputs, by chunk index, to rank 0.
  std::string mine_ck;
  for (auto& [c, ck] : lc.checksums) mine_ck += cat(c, "\t", ck, "\n");
  auto cks = comm.gather_strings(mine_ck);
  // Reduce: owner ranks sum and prune, then rank 0 gathers the survivors.
  std::vector<Rec> owned;
  uint64_t pruned = 0;
  {
    ScopedTimer t("vocab reduce");
    owned = exchange(comm, lc.counts, o.max_message_bytes, min_df, &pruned, &rc.exchange_rounds);
  }
  rc.pruned_ids = comm.sum<uint64_t>(pruned);
  rc.kept_ids = comm.sum<uint64_t>(owned.size());
  gather_to_root(comm, owned, o.max_message_bytes, rc.counts);
  if (comm.root()) {
    rc.counts.input_checksum.assign(o.inputs.size(), std::string());
    for (auto& block : cks) {
      std::istringstream in(block);
      std::string line;
      while (std::getline(in, line)) {
        auto tab = line.find('\t');
        uint64_t c = std::stoull(line.substr(0, tab));
        TRAWL_ASSERT(c < rc.counts.input_checksum.size());
        rc.counts.input_checksum[c] = line.substr(tab + 1);
      }
    }
  }
  return rc;
}

struct PartSum::Impl {
  IdCounts sum{3};
};
PartSum::PartSum() : impl_(new Impl) {}
PartSum::~PartSum() { delete impl_; }
void PartSum::add(const Vocab& part) {
  for (size_t k = 0; k < part.size(); ++k) impl_->sum.add(part.id[k], part.df[k], part.tf[k]);
}
void PartSum::finish(uint64_t min_df, Vocab& out) {
  auto recs = impl_->sum.sorted(min_df, &out.pruned_ids);
  impl_->sum.release();
  out.id.clear();
  out.df.clear();
  out.tf.clear();
  append_records(out, recs);
}

}  // namespace trawl::embed
