// Over 600 lines on purpose: hnswlib.h defines non-inline functions, so this must stay the
// only translation unit that includes it — the index, its file format and its checks.
#include "index/hnsw_index.h"

#include <hnswlib/hnswlib.h>
#include <omp.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/fs.h"
#include "trawl/version.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "index files are little-endian and hnswlib's payload is native-endian");

namespace trawl::index {

using Graph = hnswlib::HierarchicalNSW<float>;
using hnswlib::tableint;

namespace {

constexpr const char* kHnswlibLayout = "0.6.2";
constexpr uint64_t kMaxHeaderBytes = 64ull << 20;
constexpr int kMaxLevel = 64;  // a level above this has probability M^-64: only corruption
// The fixed part of hnswlib's saveIndex: 10 size_t, an int, a tableint and a double... in order.
constexpr uint64_t kPayloadFixedBytes = 8 * 6 + 4 + 4 + 8 * 3 + 8 + 8;
// Bytes per node of the uid -> internal id unordered_map (node + malloc header + bucket share).
constexpr uint64_t kLabelMapBytes = 48;
constexpr uint64_t kMutexBytes = sizeof(std::mutex);

uint64_t level0_bytes_per_node(int dim, int M) {
  return sizeof(hnswlib::linklistsizeint) + uint64_t(2 * M) * sizeof(tableint) + uint64_t(dim) * sizeof(float) +
         sizeof(hnswlib::labeltype);
}
/// Expected upper-level link bytes per node: E[levels] = 1/(M-1), (4 + 4M) bytes per level.
double upper_bytes_per_node(int M) {
  return double(sizeof(hnswlib::linklistsizeint) + uint64_t(M) * sizeof(tableint)) / double(M - 1);
}

void check_params(int dim, uint64_t max_elements, const HnswParams& p) {
  if (dim < 1) throw UsageError(cat("index dimension ", dim, ": must be at least 1"));
  if (p.M < 2 || p.M > 1024) throw UsageError(cat("--M ", p.M, ": must be in [2, 1024]"));
  if (p.ef_construction < 1)
    throw UsageError(cat("--ef-construction ", p.ef_construction, ": must be at least 1"));
  if (max_elements >= std::numeric_limits<tableint>::max())
    throw UsageError(cat("an HNSW index holds fewer than 2^32 - 1 vectors; ", max_elements,
                         " requested (split the shard)"));
}

/// Copies v into out scaled to unit L2 norm (a zero vector stays zero).
inline void normalise(const float* v, float* out, int dim) {
  double s = 0;
  for (int j = 0; j < dim; ++j) s += double(v[j]) * v[j];
  float inv = s > 0 ? float(1.0 / std::sqrt(s)) : 0.0f;
  for (int j = 0; j < dim; ++j) out[j] = v[j] * inv;
}

/// Index of the first row with a non-finite value, or n.
size_t first_non_finite(const float* v, size_t n, int dim, int threads) {
  std::atomic<size_t> bad{n};
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
  for (long i = 0; i < long(n); ++i) {
    const float* r = v + size_t(i) * dim;
    for (int j = 0; j < dim; ++j)
      if (!std::isfinite(r[j])) {
        size_t cur = bad.load();
        while (size_t(i) < cur && !bad.compare_exchange_weak(cur, size_t(i))) {
        }
        break;
      }
  }
  return bad.load();
}

/// Runs body(i) for i in [0, n) on `threads` OpenMP threads; the first exception stops the
/// remaining work and is rethrown on the calling thread.
template <class F>
void parallel_for(size_t n, int threads, int chunk, F&& body) {
  std::exception_ptr err;
  std::atomic<bool> failed{false};
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(dynamic, chunk)
  for (long i = 0; i < long(n); ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      body(size_t(i));
    } catch (...) {
#pragma omp critical(trawl_index_parallel_for)
      if (!err) err = std::current_exception();
      failed = true;
    }
  }
  if (err) std::rethrow_exception(err);
}

// ---- the file: writer and reader --------------------------------------------------------------

class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) throw IoError(cat(path, ": cannot create the index file: ", std::strerror(errno)));
  }
  ~Writer() {
    if (f_) std::fclose(f_);
  }
  void raw(const void* p, size_t n, bool checksum = true) {
    if (n == 0) return;
    if (checksum) crc_ = crc(crc_, p, n);
    if (std::fwrite(p, 1, n, f_) != n)
      throw IoError(cat(path_, ": write failed after ", written_, " bytes: ", std::strerror(errno)));
    written_ += n;
  }
  template <class T> void pod(const T& v) { raw(&v, sizeof v); }
  void close() {
    uint32_t c = static_cast<uint32_t>(crc_);
    raw(&c, sizeof c, false);
    int rc = std::fflush(f_);
    int rc2 = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0 || rc2 != 0) throw IoError(cat(path_, ": write failed: ", std::strerror(errno)));
  }
  uint64_t written() const { return written_; }
  static uLong crc(uLong c, const void* p, size_t n) {
    const Bytef* b = static_cast<const Bytef*>(p);
    while (n > 0) {
      uInt k = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      c = ::crc32(c, b, k);
      b += k;
      n -= k;
    }
    return c;
  }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uLong crc_ = ::crc32(0L, Z_NULL, 0);
  uint64_t written_ = 0;
};

struct VecSink {
  std::vector<char> v;
  void raw(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    v.insert(v.end(), c, c + n);
  }
  template <class T> void pod(const T& x) { raw(&x, sizeof x); }
};

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_str(std::string& s, const std::string& v) {
  put_u32(s, static_cast<uint32_t>(v.size()));
  s += v;
}

std::string encode_header(const IndexInfo& info) {
  std::map<std::string, std::string> kv = {
      {"trawl-format", kIndexFormat},
      {"trawl-format-version", std::to_string(kIndexFormatVersion)},
      {"trawl-version", TRAWL_VERSION},
      {"hnswlib", kHnswlibLayout},
      {"metric", info.metric},
      {"dim", std::to_string(info.dim)},
      {"M", std::to_string(info.params.M)},
      {"ef-construction", std::to_string(info.params.ef_construction)},
      {"seed", std::to_string(info.params.seed)},
      {"count", std::to_string(info.count)},
      {"shard", info.shard},
      {"shard-checksum", info.shard_checksum},
      {"config", info.config},
  };
  std::string h;
  put_u32(h, static_cast<uint32_t>(kv.size()));
  for (auto& [k, v] : kv) {
    put_str(h, k);
    put_str(h, v);
  }
  return h;
}

/// Reads an index file front to back, keeping the CRC of everything after the magic.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) throw IoError(cat(path, ": cannot open the index file: ", std::strerror(errno)));
    struct stat st;
    if (::fstat(fileno(f_), &st) != 0) throw IoError(cat(path, ": cannot stat: ", std::strerror(errno)));
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~Reader() {
    if (f_) std::fclose(f_);
  }
  uint64_t size() const { return size_; }
  uint64_t pos() const { return pos_; }
  const std::string& path() const { return path_; }

  void raw(void* p, size_t n, bool checksum = true) {
    if (n == 0) return;
    if (pos_ + n > size_) throw bad(cat("truncated: needs at least ", pos_ + n, " bytes, the file has ", size_));
    size_t got = std::fread(p, 1, n, f_);
    if (got != n) {
      if (std::ferror(f_)) throw IoError(cat(path_, ": read error at byte ", pos_, ": ", std::strerror(errno)));
      throw bad(cat("truncated while reading: got ", pos_ + got, " of ", size_, " bytes"));
    }
    if (checksum) crc_ = Writer::crc(crc_, p, n);
    pos_ += n;
  }
  template <class T> T pod() {
    T v;
    raw(&v, sizeof v);
    return v;
  }
  /// Streams n bytes through the CRC without keeping them.
  void skip(uint64_t n) {
    std::vector<char> buf(std::min<uint64_t>(n, 8u << 20));
    while (n > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, buf.size()));
      raw(buf.data(), k);
      n -= k;
    }
  }
  uint32_t crc() const { return static_cast<uint32_t>(crc_); }

  InputError bad(const std::string& msg) const { return InputError(cat(path_, ": ", msg)); }

  /// Reads the stored CRC at the end of the file and compares. Expects pos() == size() - 4.
  void check_crc() {
    uint32_t want = crc();
    uint32_t stored = 0;
    raw(&stored, sizeof stored, false);
    if (stored != want) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "stored %08x, computed %08x", stored, want);
      throw bad(cat("checksum mismatch (", buf, "): the index file is corrupt; delete it and rerun trawl-index"));
    }
  }
  /// A structural problem found before the CRC was verified: if the rest of the file fails
  /// the CRC, report corruption (the likelier cause); otherwise report the problem.
  [[noreturn]] void fail_structure(const InputError& problem) {
    const uint64_t crc_end = size_ >= 4 ? size_ - 4 : 0;
    if (pos_ <= crc_end) {
      skip(crc_end - pos_);
      check_crc();  // throws on a mismatch
    }
    throw problem;
  }
  [[noreturn]] void fail_structure(const std::string& msg) { fail_structure(bad(msg)); }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0, pos_ = 0;
  uLong crc_ = ::crc32(0L, Z_NULL, 0);
};

uint64_t parse_u64(const Reader& r, const std::map<std::string, std::string>& kv, const std::string& key) {
  auto it = kv.find(key);
  if (it == kv.end()) throw r.bad(cat("the header lacks '", key, "'"));
  const std::string& s = it->second;
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
    throw r.bad(cat("header value ", key, " = '", s, "' is not a non-negative integer"));
  return std::stoull(s);
}
const std::string& get_str(const Reader& r, const std::map<std::string, std::string>& kv, const std::string& key) {
  auto it = kv.find(key);
  if (it == kv.end()) throw r.bad(cat("the header lacks '", key, "'"));
  return it->second;
}

IndexInfo parse_header_fields(const Reader& r, const std::map<std::string, std::string>& kv, uint32_t version,
                              uint64_t plen);

/// Reads magic, version and header; checks the file size. Leaves r at the payload (after P).
/// Returns the info and sets *payload_bytes.
IndexInfo read_header(Reader& r, uint64_t* payload_bytes) {
  static const char kHdf5Sig[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  char magic[8] = {0};
  size_t have = static_cast<size_t>(std::min<uint64_t>(r.size(), 8));
  r.raw(magic, have, false);
  if (have == 0) throw r.bad("is empty (a truncated index file?)");
  if (std::memcmp(magic, kIndexMagic, have) != 0) {
    if (have == 8 && std::memcmp(magic, kHdf5Sig, 8) == 0)
      throw r.bad("is an HDF5 file (a shard?), not a trawl index");
    throw r.bad("is not a trawl index file (no TRAWLIDX magic; a raw hnswlib file or another format?)");
  }
  const uint64_t min_size = 8 + 4 + 4 + 8 + 4;
  if (r.size() < min_size) throw r.bad(cat("truncated: ", r.size(), " bytes, less than the smallest index file"));
  uint32_t version = r.pod<uint32_t>();
  if (version > kIndexFormatVersion)
    throw r.bad(cat("index format version ", version, " is newer than this trawl (", TRAWL_VERSION, ") reads (",
                    kIndexFormatVersion, "); upgrade trawl or rebuild the index"));
  if (version == 0) throw r.bad("index format version 0 is not a version trawl wrote (corrupt file?)");
  uint32_t hlen = r.pod<uint32_t>();
  if (hlen > kMaxHeaderBytes) throw r.bad(cat("header length ", hlen, " is implausible (corrupt file?)"));
  if (16 + uint64_t(hlen) + 8 + 4 > r.size())
    throw r.bad(cat("truncated: the header alone needs ", 16 + uint64_t(hlen) + 12, " bytes, the file has ", r.size()));
  std::string h(hlen, '\0');
  r.raw(h.data(), hlen);
  uint64_t plen = r.pod<uint64_t>();
  const uint64_t expect = 16 + uint64_t(hlen) + 8 + plen + 4;
  if (plen > r.size() || expect > r.size())
    throw r.bad(cat("truncated: the header says ", expect, " bytes, the file has ", r.size()));
  if (expect < r.size())
    throw r.bad(cat(r.size() - expect, " unexpected bytes after the end of the index (corrupt file?)"));

  // Header entries.
  std::map<std::string, std::string> kv;
  size_t p = 0;
  auto take_u32 = [&](uint32_t& v) {
    if (p + 4 > h.size()) return false;
    std::memcpy(&v, h.data() + p, 4);
    p += 4;
    return true;
  };
  auto take_str = [&](std::string& s) {
    uint32_t n;
    if (!take_u32(n) || p + n > h.size()) return false;
    s.assign(h.data() + p, n);
    p += n;
    return true;
  };
  uint32_t entries = 0;
  bool ok = take_u32(entries);
  for (uint32_t i = 0; ok && i < entries; ++i) {
    std::string k, v;
    ok = take_str(k) && take_str(v);
    if (ok) kv[k] = v;
  }
  if (!ok || p != h.size()) r.fail_structure("malformed header");
  try {
    IndexInfo info = parse_header_fields(r, kv, version, plen);
    *payload_bytes = plen;
    return info;
  } catch (const InputError& e) {
    r.fail_structure(e);  // a corrupt header reads as a checksum mismatch
  }
}

IndexInfo parse_header_fields(const Reader& r, const std::map<std::string, std::string>& kv, uint32_t version,
                              uint64_t plen) {
  IndexInfo info;
  info.file_size = r.size();
  info.format_version = version;
  const std::string& fmt = get_str(r, kv, "trawl-format");
  if (fmt != kIndexFormat) throw r.bad(cat("is a trawl '", fmt, "' file, not an index"));
  if (parse_u64(r, kv, "trawl-format-version") != version)
    throw r.bad(cat("header version ", get_str(r, kv, "trawl-format-version"), " disagrees with the file version ", version));
  info.trawl_version = get_str(r, kv, "trawl-version");
  const std::string& layout = get_str(r, kv, "hnswlib");
  if (layout != kHnswlibLayout)
    throw r.bad(cat("payload layout hnswlib ", layout, " is not one this trawl reads (", kHnswlibLayout, ")"));
  info.metric = get_str(r, kv, "metric");
  if (info.metric != "cosine") throw r.bad(cat("metric '", info.metric, "' is not supported (cosine)"));
  uint64_t dim = parse_u64(r, kv, "dim"), M = parse_u64(r, kv, "M"), efc = parse_u64(r, kv, "ef-construction");
  if (dim < 1 || dim > (1u << 24) || M < 2 || M > 1024 || efc < 1 || efc > (1u << 30))
    throw r.bad(cat("implausible shape in the header: dim ", dim, ", M ", M, ", ef-construction ", efc));
  info.dim = int(dim);
  info.params.M = int(M);
  info.params.ef_construction = int(efc);
  info.params.seed = parse_u64(r, kv, "seed");
  info.count = parse_u64(r, kv, "count");
  info.shard = get_str(r, kv, "shard");
  info.shard_checksum = get_str(r, kv, "shard-checksum");
  info.config = get_str(r, kv, "config");
  // The payload of `count` nodes needs at least the fixed part, level 0 and a size per node.
  uint64_t min_payload = kPayloadFixedBytes + info.count * (level0_bytes_per_node(info.dim, info.params.M) + 4);
  if (info.count >= std::numeric_limits<tableint>::max() || plen < min_payload)
    throw r.bad(cat("payload of ", plen, " bytes is too small for ", info.count, " vectors of dim ", dim));
  return info;
}

}  // namespace

// ---- small public helpers ---------------------------------------------------------------------

std::string index_file_name(const std::string& shard_path) {
  std::string b = basename(shard_path);
  const std::string ext = ".h5";
  if (b.size() > ext.size() && b.compare(b.size() - ext.size(), ext.size(), ext) == 0) b.resize(b.size() - ext.size());
  return b + ".hnsw";
}

UidSet::UidSet(std::vector<uint64_t> uids) : uids_(std::move(uids)) {
  std::sort(uids_.begin(), uids_.end());
  uids_.erase(std::unique(uids_.begin(), uids_.end()), uids_.end());
}
bool UidSet::contains(uint64_t uid) const { return std::binary_search(uids_.begin(), uids_.end(), uid); }

uint64_t estimate_file_size(uint64_t n, int dim, int M) {
  double per = double(level0_bytes_per_node(dim, M)) + 4.0 + upper_bytes_per_node(M);
  // magic, version, header (a few KB with the resolved config), P, payload fixed part, CRC.
  return static_cast<uint64_t>(16 + 4096 + 8 + kPayloadFixedBytes + 4 + per * double(n));
}

uint64_t estimate_memory(uint64_t n, int dim, int M, int threads) {
  double per = double(level0_bytes_per_node(dim, M)) + upper_bytes_per_node(M) +
               (16.0 + 1.0) / M /* malloc header of nodes with upper levels */ + sizeof(void*) /* linkLists_ */ +
               sizeof(int) /* element_levels_ */ + double(kMutexBytes) + double(kLabelMapBytes) +
               2.0 * std::max(1, threads) /* visited lists (u16 per node) */;
  double fixed = double(Graph::max_update_element_locks) * kMutexBytes + (1 << 20);
  return static_cast<uint64_t>(fixed + per * double(n));
}

// ---- HnswIndex --------------------------------------------------------------------------------

struct HnswIndex::Impl {
  int dim = 0;
  HnswParams params;
  uint64_t capacity = 0;
  int ef = 0;
  std::unique_ptr<hnswlib::InnerProductSpace> space;  // must outlive graph
  std::unique_ptr<Graph> graph;
  mutable std::mutex mu;  // serialises add, search (ef and delete marks are graph state) and save

  Impl(int d, uint64_t cap, const HnswParams& p) : dim(d), params(p), capacity(cap), ef(p.ef_construction) {
    space = std::make_unique<hnswlib::InnerProductSpace>(size_t(d));
    graph = std::make_unique<Graph>(space.get(), size_t(std::max<uint64_t>(cap, 1)), size_t(p.M),
                                    size_t(p.ef_construction), size_t(p.seed));
  }
  uint64_t count() const { return graph->cur_element_count; }

  uint64_t payload_size() const {
    const Graph& g = *graph;
    uint64_t n = g.cur_element_count;
    uint64_t s = kPayloadFixedBytes + n * g.size_data_per_element_ + 4 * n;
    for (uint64_t i = 0; i < n; ++i)
      if (g.element_levels_[i] > 0) s += g.size_links_per_element_ * g.element_levels_[i];
    return s;
  }

  /// hnswlib 0.6.2's saveIndex, field for field (max_elements is written as the count: the
  /// saved index is full).
  template <class Sink> void write_payload(Sink& out) const {
    const Graph& g = *graph;
    size_t n = g.cur_element_count;
    out.pod(g.offsetLevel0_);
    out.pod(n);  // max_elements_
    out.pod(n);  // cur_element_count
    out.pod(g.size_data_per_element_);
    out.pod(g.label_offset_);
    out.pod(g.offsetData_);
    out.pod(g.maxlevel_);
    out.pod(g.enterpoint_node_);
    out.pod(g.maxM_);
    out.pod(g.maxM0_);
    out.pod(g.M_);
    out.pod(g.mult_);
    out.pod(g.ef_construction_);
    out.raw(g.data_level0_memory_, n * g.size_data_per_element_);
    for (size_t i = 0; i < n; ++i) {
      unsigned int size = g.element_levels_[i] > 0 ? g.size_links_per_element_ * g.element_levels_[i] : 0;
      out.pod(size);
      if (size) out.raw(g.linkLists_[i], size);
    }
  }
};

HnswIndex::HnswIndex(int dim, uint64_t max_elements, const HnswParams& params) {
  check_params(dim, max_elements, params);
  impl_ = std::make_unique<Impl>(dim, max_elements, params);
}
HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::HnswIndex(HnswIndex&&) noexcept = default;
HnswIndex& HnswIndex::operator=(HnswIndex&&) noexcept = default;
HnswIndex::~HnswIndex() = default;

int HnswIndex::dim() const { return impl_->dim; }
uint64_t HnswIndex::size() const { return impl_->count(); }
uint64_t HnswIndex::capacity() const { return impl_->capacity; }
const HnswParams& HnswIndex::params() const { return impl_->params; }
void HnswIndex::set_ef(int ef) {
  if (ef < 1) throw UsageError(cat("ef ", ef, ": must be at least 1"));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->ef = ef;
}
int HnswIndex::ef() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->ef;
}
bool HnswIndex::contains(uint64_t uid) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->graph->label_lookup_.count(uid) != 0;
}
std::vector<uint64_t> HnswIndex::uids() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const Graph& g = *impl_->graph;
  std::vector<uint64_t> out(g.cur_element_count);
  for (size_t i = 0; i < out.size(); ++i) out[i] = g.getExternalLabel(tableint(i));
  return out;
}

void HnswIndex::add(const float* vectors, const uint64_t* uids, size_t n, int threads) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  Graph& g = *impl_->graph;
  const int dim = impl_->dim;
  if (g.cur_element_count + n > impl_->capacity)
    throw UsageError(cat("HNSW index capacity ", impl_->capacity, " exceeded: ", g.cur_element_count, " + ", n));
  {
    std::vector<uint64_t> sorted(uids, uids + n);
    std::sort(sorted.begin(), sorted.end());
    auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end()) throw InputError(cat("uid ", *dup, " occurs twice in the vectors to index"));
    for (size_t i = 0; i < n; ++i)
      if (g.label_lookup_.count(uids[i])) throw InputError(cat("uid ", uids[i], " is already in the index"));
  }
  size_t bad = first_non_finite(vectors, n, dim, threads);
  if (bad < n) throw InputError(cat("uid ", uids[bad], ": the embedding has a non-finite value"));

  size_t start = 0;
  if (g.cur_element_count == 0) {  // the entry point first, alone (as hnswlib's Python binding does)
    std::vector<float> buf(dim);
    normalise(vectors, buf.data(), dim);
    g.addPoint(buf.data(), uids[0]);
    start = 1;
  }
  const size_t rest = n - start;
  if (threads <= 1 || rest < size_t(threads) * 4) {
    std::vector<float> buf(dim);
    for (size_t i = start; i < n; ++i) {
      normalise(vectors + i * dim, buf.data(), dim);
      g.addPoint(buf.data(), uids[i]);
    }
    return;
  }
  // hnswlib supports concurrent addPoint (per-node locks). Each thread normalises into its own
  // buffer; hnswlib copies the vector in.
  std::vector<std::vector<float>> bufs(threads, std::vector<float>(dim));
  parallel_for(rest, threads, 16, [&](size_t k) {
    size_t i = start + k;
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    float* buf = bufs[t].data();
    normalise(vectors + i * dim, buf, dim);
    g.addPoint(buf, uids[i]);
  });
}

HnswIndex HnswIndex::build(const float* vectors, const uint64_t* uids, size_t n, int dim, const HnswParams& params,
                           int threads) {
  HnswIndex idx(dim, n, params);
  idx.add(vectors, uids, n, threads);
  return idx;
}

std::vector<std::vector<Hit>> HnswIndex::search(const float* queries, size_t nq, int K, int ef,
                                                const UidSet& excluded, int threads) const {
  if (K < 0) throw UsageError(cat("K ", K, ": must be non-negative"));
  std::vector<std::vector<Hit>> out(nq);
  if (nq == 0 || K == 0) return out;
  const int dim = impl_->dim;
  size_t bad = first_non_finite(queries, nq, dim, threads);
  if (bad < nq) throw InputError(cat("query ", bad, " has a non-finite value"));

  std::lock_guard<std::mutex> lock(impl_->mu);
  Graph& g = *impl_->graph;
  if (g.cur_element_count == 0) return out;
  g.setEf(size_t(ef > 0 ? ef : impl_->ef));

  // Mark the excluded uids of this index deleted for the duration of the call.
  struct Unmark {
    Graph& g;
    std::vector<tableint> ids;
    ~Unmark() {
      for (tableint id : ids) g.unmarkDeletedInternal(id);
    }
  } marked{g, {}};
  for (uint64_t uid : excluded.uids()) {
    auto it = g.label_lookup_.find(uid);
    if (it != g.label_lookup_.end() && !g.isMarkedDeleted(it->second)) {
      g.markDeletedInternal(it->second);
      marked.ids.push_back(it->second);
    }
  }
  const Graph& cg = g;
  std::vector<std::vector<float>> bufs(std::max(1, threads), std::vector<float>(dim));
  parallel_for(nq, threads, 4, [&](size_t q) {
    int t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    float* buf = bufs[t].data();
    normalise(queries + q * dim, buf, dim);
    auto pq = cg.searchKnn(buf, size_t(K));
    std::vector<Hit>& hits = out[q];
    hits.reserve(pq.size());
    while (!pq.empty()) {
      const auto& top = pq.top();
      if (!excluded.contains(top.second)) hits.push_back(Hit{top.first, top.second});
      pq.pop();
    }
    std::sort(hits.begin(), hits.end());
  });
  return out;
}

std::vector<char> HnswIndex::payload_bytes() const {
  VecSink sink;
  std::lock_guard<std::mutex> lock(impl_->mu);
  sink.v.reserve(impl_->payload_size());
  impl_->write_payload(sink);
  return std::move(sink.v);
}

void HnswIndex::save(const std::string& path, const IndexInfo& in) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  IndexInfo info = in;
  info.dim = impl_->dim;
  info.metric = "cosine";
  info.params = impl_->params;
  info.count = impl_->count();
  const std::string header = encode_header(info);
  Writer w(path);
  w.raw(kIndexMagic, sizeof kIndexMagic, false);
  w.pod(kIndexFormatVersion);
  w.pod(static_cast<uint32_t>(header.size()));
  w.raw(header.data(), header.size());
  const uint64_t plen = impl_->payload_size();
  w.pod(plen);
  const uint64_t before = w.written();
  impl_->write_payload(w);
  TRAWL_ASSERT_MSG(w.written() - before == plen, "payload size ", w.written() - before, " != ", plen);
  w.close();
}

IndexInfo HnswIndex::read_info(const std::string& path) {
  Reader r(path);
  uint64_t plen = 0;
  return read_header(r, &plen);
}

IndexInfo HnswIndex::verify_file(const std::string& path) {
  Reader r(path);
  uint64_t plen = 0;
  IndexInfo info = read_header(r, &plen);
  r.skip(plen);
  r.check_crc();
  return info;
}

HnswIndex HnswIndex::load(const std::string& path, IndexInfo* info_out) {
  Reader r(path);
  uint64_t plen = 0;
  IndexInfo info = read_header(r, &plen);
  const uint64_t payload_start = r.pos(), crc_end = r.size() - 4;
  const int dim = info.dim, M = info.params.M;

  // hnswlib's fixed fields, checked against the header.
  size_t offsetLevel0 = r.pod<size_t>(), max_elements = r.pod<size_t>(), count = r.pod<size_t>();
  size_t sdpe = r.pod<size_t>(), label_offset = r.pod<size_t>(), offset_data = r.pod<size_t>();
  int maxlevel = r.pod<int>();
  tableint enterpoint = r.pod<tableint>();
  size_t maxM = r.pod<size_t>(), maxM0 = r.pod<size_t>(), Mp = r.pod<size_t>();
  double mult = r.pod<double>();
  size_t efc = r.pod<size_t>();
  const size_t links0 = sizeof(hnswlib::linklistsizeint) + 2 * size_t(M) * sizeof(tableint);
  const size_t want_efc = std::max<size_t>(size_t(info.params.ef_construction), size_t(M));
  if (offsetLevel0 != 0 || count != info.count || max_elements < count || sdpe != level0_bytes_per_node(dim, M) ||
      offset_data != links0 || label_offset != links0 + size_t(dim) * sizeof(float) || Mp != size_t(M) ||
      maxM != size_t(M) || maxM0 != 2 * size_t(M) || efc != want_efc || !(std::fabs(mult * std::log(double(M)) - 1) < 1e-9) ||
      maxlevel < (count ? 0 : -1) || maxlevel > kMaxLevel || (count && enterpoint >= count))
    r.fail_structure("the hnswlib payload disagrees with the header (dim, M, ef-construction, count or layout)");

  auto impl = std::make_unique<Impl>(dim, uint64_t(count), info.params);
  Graph& g = *impl->graph;
  // Level 0 straight into hnswlib's block.
  {
    char* p = g.data_level0_memory_;
    uint64_t left = uint64_t(count) * sdpe;
    while (left > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(left, 64u << 20));
      r.raw(p, k);
      p += k;
      left -= k;
    }
  }
  g.cur_element_count = count;  // from here the destructor frees the upper levels read so far
  const size_t spe = g.size_links_per_element_;
  for (size_t i = 0; i < count; ++i) {
    unsigned int size = r.pod<unsigned int>();
    if (size == 0) continue;
    if (size % spe != 0 || size / spe > size_t(kMaxLevel) || r.pos() + size > crc_end)
      r.fail_structure(cat("node ", i, " has an implausible upper-level size ", size));
    char* links = static_cast<char*>(std::malloc(size));
    if (!links) throw std::bad_alloc();
    g.linkLists_[i] = links;
    g.element_levels_[i] = int(size / spe);
    r.raw(links, size);
  }
  if (r.pos() != payload_start + plen)
    r.fail_structure(cat("the payload holds ", r.pos() - payload_start, " bytes of ", plen));
  r.check_crc();

  // The CRC is good: check the graph itself, so a file written by a buggy writer cannot send a
  // search out of bounds.
  g.maxlevel_ = maxlevel;
  g.enterpoint_node_ = count ? enterpoint : tableint(-1);
  g.mult_ = mult;
  g.revSize_ = 1.0 / mult;
  g.num_deleted_ = 0;
  if (count && g.element_levels_[enterpoint] != maxlevel)
    throw r.bad(cat("entry point ", enterpoint, " is not on the top level ", maxlevel));
  for (size_t i = 0; i < count; ++i) {
    for (int l = 0; l <= g.element_levels_[i]; ++l) {
      auto* ll = g.get_linklist_at_level(tableint(i), l);
      size_t n = g.getListCount(ll);
      if (n > (l == 0 ? maxM0 : maxM)) throw r.bad(cat("node ", i, " level ", l, " has ", n, " links"));
      const tableint* nb = reinterpret_cast<const tableint*>(ll + 1);
      for (size_t j = 0; j < n; ++j)
        if (nb[j] >= count || g.element_levels_[nb[j]] < l)
          throw r.bad(cat("node ", i, " level ", l, " links to node ", nb[j], ", which is not on that level"));
    }
    if (g.isMarkedDeleted(tableint(i))) ++g.num_deleted_;
    if (!g.label_lookup_.emplace(g.getExternalLabel(tableint(i)), tableint(i)).second)
      throw r.bad(cat("uid ", g.getExternalLabel(tableint(i)), " occurs twice"));
  }
  impl->ef = info.params.ef_construction;
  g.setEf(size_t(impl->ef));
  if (info_out) *info_out = info;
  return HnswIndex(std::move(impl));
}

}  // namespace trawl::index
