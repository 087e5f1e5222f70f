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

const io::ShardReader& OpenShards::use(const Pool& p, const std::string& path, std::unique_ptr<io::ShardReader>& tmp) {
  auto it = open_.find(path);
  if (it != open_.end()) return *it->second;
  auto r = std::make_unique<io::ShardReader>(path);
  check_shard(p, *r);
  if (open_.size() >= keep_) {
    tmp = std::move(r);
    return *tmp;
  }
  return *open_.emplace(path, std::move(r)).first->second;
}

std::vector<uint64_t> OpenShards::rows(const Pool& p, const std::vector<std::string>& paths) {
  std::vector<uint64_t> n;
  for (const auto& path : paths) {
    auto it = open_.find(path);
    if (it != open_.end()) {
      n.push_back(it->second->rows());
    } else {
      io::ShardReader r(path);
      check_shard(p, r);
      n.push_back(r.rows());
    }
  }
  return n;
}

std::vector<std::unique_ptr<io::ShardReader>> OpenShards::take(const std::vector<std::string>& paths) {
  std::vector<std::unique_ptr<io::ShardReader>> out;
  for (const auto& path : paths) {
    auto it = open_.find(path);
    if (it == open_.end()) {
      out.emplace_back();
    } else {
      out.push_back(std::move(it->second));
      open_.erase(it);
    }
  }
  return out;
}

Rows fetch_rows(const mpi::Comm& comm, const Pool& p, const std::vector<uint64_t>& wanted,
                const std::function<std::string(uint64_t)>& where, unsigned cols, FetchVia via) {
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
    std::unique_ptr<io::ShardReader> own;
    if (!via.open) {
      own = std::make_unique<io::ShardReader>(path);
      check_shard(p, *own);
    }
    const io::ShardReader& r = via.open ? via.open->use(p, path, own) : *own;
    if ((cols & io::ShardReader::kLabel) && !r.meta().has_label)
      throw InputError(cat(path, ": the shard has no label column"));
    // One read per run of wanted rows at most `gap` rows apart (the rows between are read and
    // dropped): one HDF5 read of each column costs as much as a few hundred short rows, and a
    // text row can be long, hence the smaller gap with text.
    const uint64_t gap = (cols & io::ShardReader::kText) ? 8 : 128;
    // Embeddings as views into the mapped shard where it allows (io/shard.h kEmbeddingView): a
    // wanted row's chunk is mapped and verified in place, once per chunk, instead of copied out
    // of the page cache whole by HDF5 and verified in the copy; the rows wanted are copied.
    const unsigned other = (cols & io::ShardReader::kEmbedding)
                               ? (cols & ~unsigned(io::ShardReader::kEmbedding)) | io::ShardReader::kUid |
                                     io::ShardReader::kEmbeddingView | io::ShardReader::kEmbeddingViewHalf |
                                     (via.later ? io::ShardReader::kDeferCheck : 0u)
                               : cols | io::ShardReader::kUid;
    std::vector<float> emb;
    // Appends the rows' columns to `mine`; false (nothing appended) when `check` finds a uid
    // that is not at its row.
    auto extract = [&](const std::vector<uint64_t>& rows, bool check) {
      const size_t mark = mine.uid.size(), mark_tok = mine.token_ids.size(), mark_len = tok_len.size();
      auto undo = [&] {
        TRAWL_ASSERT(check);
        mine.uid.resize(mark);
        mine.emb.resize(mark * size_t(p.dim) * ((cols & io::ShardReader::kEmbedding) ? 1 : 0));
        mine.token_ids.resize(mark_tok);
        tok_len.resize(mark_len);
        for (auto* v : {&mine.id, &mine.text, &mine.label})
          if (v->size() > mark) v->resize(mark);
        return false;
      };
      for (size_t i = 0; i < rows.size();) {
        size_t j = i + 1;
        while (j < rows.size() && rows[j] - rows[j - 1] <= gap) ++j;
        const uint64_t lo = rows[i], hi = rows[j - 1] + 1;
        if (hi > r.rows()) return undo();  // only when check: resolved rows are in range
        r.read(lo, hi, one, other);
        if (cols & io::ShardReader::kEmbedding) {
          emb.resize((hi - lo) * size_t(p.dim));
          one.for_each_embedding_run(p.dim, [&](const float* x, uint64_t at, uint64_t n, float) {
            std::copy(x, x + n * uint64_t(p.dim), emb.begin() + ptrdiff_t(at * uint64_t(p.dim)));
          });
          if (via.later) {
            std::vector<uint64_t> used;
            for (size_t k = i; k < j; ++k) used.push_back(rows[k] - lo);
            via.later->add(one, used);
          }
          one.release_views();  // copied: a fetch of many rows keeps none of their pages mapped
        }
        for (size_t k = i; k < j; ++k) {
          const size_t at = size_t(rows[k] - lo);
          if (one.uid[at] != uids[k]) return undo();
          mine.uid.push_back(uids[k]);
          if (cols & io::ShardReader::kEmbedding)
            mine.emb.insert(mine.emb.end(), emb.begin() + ptrdiff_t(at * size_t(p.dim)),
                            emb.begin() + ptrdiff_t((at + 1) * size_t(p.dim)));
          if (cols & io::ShardReader::kTokens) {
            const auto b = one.token_ids.begin();
            tok_len.push_back(one.token_offsets[at + 1] - one.token_offsets[at]);
            mine.token_ids.insert(mine.token_ids.end(), b + ptrdiff_t(one.token_offsets[at]),
                                  b + ptrdiff_t(one.token_offsets[at + 1]));
          }
          if (cols & io::ShardReader::kId) mine.id.push_back(std::move(one.id[at]));
          if (cols & io::ShardReader::kText) mine.text.push_back(std::move(one.text[at]));
          if (cols & io::ShardReader::kLabel) mine.label.push_back(std::move(one.label[at]));
        }
        i = j;
      }
      return true;
    };
    // A uid's row is its low 40 bits when the chunk lost no rows to rejection (the usual case;
    // the uids read with the rows confirm it); else each uid is looked up in the uid column.
    const uint64_t mask = io::kMaxRowsPerChunk - 1;
    std::vector<uint64_t> rows;
    for (auto u : uids) rows.push_back(u & mask);
    if (!extract(rows, true)) {
      const auto all = r.read_uids();
      rows.clear();
      for (auto u : uids) {
        auto it = std::lower_bound(all.begin(), all.end(), u);
        if (it == all.end() || *it != u)
          throw InputError(cat(where(u), ": uid ", u, " is not in the pool (no such row in ", path, ")"));
        rows.push_back(uint64_t(it - all.begin()));  // increasing: a shard's uids increase with its rows
      }
      extract(rows, false);
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
