#include "pool/pool.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/timer.h"

namespace trawl::pool {

Pool open_pool(const mpi::Comm& comm, const std::string& dir) {
  Pool p;
  p.dir = dir;
  p.shards = io::list_shards(dir);
  std::string desc;
  if (comm.root()) {
    io::ShardReader r(p.shards.front());
    desc = cat(r.meta().dim, "\n", r.meta().encoder, "\n", r.meta().encoder_params);
  }
  comm.bcast(desc);
  auto a = desc.find('\n'), b = desc.find('\n', a + 1);
  p.dim = std::stoi(desc.substr(0, a));
  p.encoder = desc.substr(a + 1, b - a - 1);
  p.params = desc.substr(b + 1);
  p.first = p.shards.front();
  return p;
}

void check_shard(const Pool& p, const io::ShardReader& r) {
  const auto& m = r.meta();
  if (m.dim != p.dim || m.encoder != p.encoder || m.encoder_params != p.params)
    throw InputError(cat(r.path(), ": encoder '", m.encoder, "' (", m.encoder_params, "), dim ", m.dim,
                         " differs from ", p.first, ": encoder '", p.encoder, "' (", p.params, "), dim ", p.dim,
                         "; all shards of a pool must be embedded with the same encoder"));
}

std::string shard_of_uid(const Pool& p, uint64_t uid) { return join_path(p.dir, io::shard_file_name(uid >> 40)); }

long Rows::find(uint64_t u) const {
  auto it = std::lower_bound(uid.begin(), uid.end(), u);
  return it != uid.end() && *it == u ? long(it - uid.begin()) : -1;
}

namespace {
// Strings travel as one byte buffer: u32 length + bytes each.
void pack(const std::vector<std::string>& v, std::vector<char>& out) {
  for (auto& s : v) {
    uint32_t n = uint32_t(s.size());
    const char* p = reinterpret_cast<const char*>(&n);
    out.insert(out.end(), p, p + 4);
    out.insert(out.end(), s.begin(), s.end());
  }
}
std::vector<std::string> unpack(const std::vector<char>& b) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i + 4 <= b.size()) {
    uint32_t n;
    std::memcpy(&n, b.data() + i, 4);
    out.emplace_back(b.data() + i + 4, n);
    i += 4 + n;
  }
  return out;
}
}  // namespace

Rows fetch_rows(const mpi::Comm& comm, const Pool& p, const std::vector<uint64_t>& wanted,
                const std::function<std::string(uint64_t)>& where, unsigned cols) {
  ScopedTimer t("fetch rows");
  std::map<uint64_t, std::vector<uint64_t>> by_chunk;
  for (auto u : wanted) by_chunk[u >> 40].push_back(u);
  // Rows in shard order: each chunk of a shard is read (and its checksum verified) once.
  for (auto& [chunk, uids] : by_chunk) std::sort(uids.begin(), uids.end());
  const unsigned strcols = cols & (io::ShardReader::kId | io::ShardReader::kText | io::ShardReader::kLabel);
  Rows mine;
  std::vector<uint64_t> tok_len;
  size_t k = 0;
  io::ShardBlock one;
  for (auto& [chunk, uids] : by_chunk) {
    if (int(k++ % comm.size()) != comm.rank()) continue;
    std::string path = join_path(p.dir, io::shard_file_name(chunk));
    if (!path_exists(path))
      throw InputError(cat(where(uids.front()), ": uid ", uids.front(), " is not in the pool (", path, " does not exist)"));
    io::ShardReader r(path);
    check_shard(p, r);
    if ((cols & io::ShardReader::kLabel) && !r.meta().has_label)
      throw InputError(cat(path, ": the shard has no label column"));
    // A uid's row is its low 40 bits when the chunk lost no rows to rejection (the usual case):
    // check that one uid (a chunk of the uid column) before reading the whole column.
    std::vector<uint64_t> all;
    const uint64_t mask = io::kMaxRowsPerChunk - 1;
    for (auto u : uids) {
      uint64_t row = u & mask, at = UINT64_MAX;
      if (all.empty() && row < r.rows()) r.read_uid(row, &at);
      if (at != u) {
        if (all.empty()) all = r.read_uids();
        auto it = std::lower_bound(all.begin(), all.end(), u);
        if (it == all.end() || *it != u)
          throw InputError(cat(where(u), ": uid ", u, " is not in the pool (no such row in ", path, ")"));
        row = uint64_t(it - all.begin());
      }
      mine.uid.push_back(u);
      if (cols & io::ShardReader::kEmbedding) {
        size_t off = mine.emb.size();
        mine.emb.resize(off + size_t(p.dim));
        r.read_embeddings(row, row + 1, mine.emb.data() + off);
      }
      unsigned other = cols & ~unsigned(io::ShardReader::kEmbedding);
      if (other) {
        r.read(row, row + 1, one, other);
        if (cols & io::ShardReader::kTokens) {
          tok_len.push_back(one.token_ids.size());
          mine.token_ids.insert(mine.token_ids.end(), one.token_ids.begin(), one.token_ids.end());
        }
        if (cols & io::ShardReader::kId) mine.id.push_back(one.id[0]);
        if (cols & io::ShardReader::kText) mine.text.push_back(one.text[0]);
        if (cols & io::ShardReader::kLabel) mine.label.push_back(one.label[0]);
      }
    }
  }
  // Gather everything on every rank, then sort by uid.
  Rows all;
  auto uids = comm.allgatherv(mine.uid);
  auto emb = comm.allgatherv(mine.emb);
  auto tl = comm.allgatherv(tok_len);
  auto tids = comm.allgatherv(mine.token_ids);
  std::vector<std::vector<std::string>> strs(3);
  const unsigned sc[3] = {io::ShardReader::kId, io::ShardReader::kText, io::ShardReader::kLabel};
  std::vector<std::string>* src[3] = {&mine.id, &mine.text, &mine.label};
  for (int c = 0; c < 3; ++c) {
    if (!(strcols & sc[c])) continue;
    std::vector<char> b;
    pack(*src[c], b);
    strs[c] = unpack(comm.allgatherv(b));
  }
  std::vector<uint64_t> toff(uids.size() + 1, 0);
  if (cols & io::ShardReader::kTokens)
    for (size_t i = 0; i < uids.size(); ++i) toff[i + 1] = toff[i] + tl[i];
  std::vector<size_t> order(uids.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return uids[a] < uids[b]; });
  const size_t d = size_t(p.dim);
  for (size_t i : order) {
    all.uid.push_back(uids[i]);
    if (cols & io::ShardReader::kEmbedding) all.emb.insert(all.emb.end(), emb.begin() + i * d, emb.begin() + (i + 1) * d);
    if (cols & io::ShardReader::kTokens) {
      all.token_ids.insert(all.token_ids.end(), tids.begin() + toff[i], tids.begin() + toff[i + 1]);
      all.token_offsets.push_back(all.token_ids.size());
    }
    if (strcols & io::ShardReader::kId) all.id.push_back(std::move(strs[0][i]));
    if (strcols & io::ShardReader::kText) all.text.push_back(std::move(strs[1][i]));
    if (strcols & io::ShardReader::kLabel) all.label.push_back(std::move(strs[2][i]));
  }
  return all;
}

Rows gather_embeddings(const mpi::Comm& comm, const Pool& p, const std::vector<uint64_t>& wanted, const Rows& known,
                       const std::function<std::string(uint64_t)>& where) {
  ScopedTimer t("gather rows");
  const size_t d = size_t(p.dim);
  Rows mine;
  for (size_t i = 0; i < known.size(); ++i)
    if (std::binary_search(wanted.begin(), wanted.end(), known.uid[i])) {
      mine.uid.push_back(known.uid[i]);
      mine.emb.insert(mine.emb.end(), known.row(i, p.dim), known.row(i, p.dim) + d);
    }
  auto uids = comm.allgatherv(mine.uid);
  auto emb = comm.allgatherv(mine.emb);
  std::vector<size_t> order(uids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return uids[a] < uids[b]; });
  Rows held;  // every rank computes the same `held`, hence the same `missing`
  for (size_t i : order) {
    if (!held.uid.empty() && held.uid.back() == uids[i]) continue;  // held by two ranks: the same row
    held.uid.push_back(uids[i]);
    held.emb.insert(held.emb.end(), emb.begin() + long(i * d), emb.begin() + long((i + 1) * d));
  }
  std::vector<uint64_t> missing;
  std::set_difference(wanted.begin(), wanted.end(), held.uid.begin(), held.uid.end(), std::back_inserter(missing));
  if (missing.empty()) return held;
  Rows read = fetch_rows(comm, p, missing, where);
  Rows all;
  size_t a = 0, b = 0;
  while (a < held.size() || b < read.size()) {
    const bool from_held = b == read.size() || (a < held.size() && held.uid[a] < read.uid[b]);
    const Rows& src = from_held ? held : read;
    size_t& i = from_held ? a : b;
    all.uid.push_back(src.uid[i]);
    all.emb.insert(all.emb.end(), src.row(i, p.dim), src.row(i, p.dim) + d);
    ++i;
  }
  return all;
}

}  // namespace trawl::pool
