#include "io/shard.h"

#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/fs.h"
#include "core/timer.h"
#include "core/log.h"
#include "io/checksum.h"
#include "io/h5.h"
#include "io/mapped.h"
#include "trawl/version.h"

namespace trawl::io {

namespace {
constexpr uint64_t kTokenChunk = 1 << 16;  // token_ids chunk (elements)
constexpr uint64_t kMaxChunkBytes = 64ull << 20;
constexpr uint32_t kBigramBit = 1u << 31;
// Chunks of the CSR string columns. They are read mostly a few rows at a time (the selected
// items' ids and texts, the labelled rows), and every read verifies the whole chunks it
// touches, so their chunks are small: a sparse row costs its offsets chunk (at most
// kStrOffsetRows rows) and one bytes chunk, not the 64 KiB + 256 KiB–1 MiB of the row-chunk
// sized offsets and the old byte chunks (docs/FORMATS.md, docs/BENCHMARKS.md). Texts are long,
// ids and labels short.
constexpr uint64_t kTextByteChunk = 1ull << 17;
constexpr uint64_t kShortByteChunk = 1ull << 15;
constexpr uint64_t kStrOffsetRows = 2048;

const char* const kRequired[] = {"uid",           "id_offsets", "id_bytes",  "text_offsets", "text_bytes",
                                 "token_offsets", "token_ids",  "embedding"};

// Returns the length of a valid UTF-8 prefix; == s.size() when all of s is valid.
size_t utf8_valid_prefix(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07, min = 0x10000;
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return n;
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}
}  // namespace

Dtype parse_dtype(const std::string& s) {
  if (s == "f32") return Dtype::kF32;
  if (s == "f16") return Dtype::kF16;
  throw UsageError(cat("dtype '", s, "': expected f32 or f16"));
}

const char* dtype_name(Dtype d) { return d == Dtype::kF16 ? "f16" : "f32"; }

void ShardBlock::clear() {
  uid.clear();
  id.clear();
  text.clear();
  label.clear();
  token_offsets.assign(1, 0);
  token_ids.clear();
  embedding.clear();
  emb_segments.clear();
  views.reset();
  work_.reset();
  armed_ = armed_norms_ = defer_check_ = false;
}

// A shard's mapping and, per embedding chunk, where it lies in the mapping (filled by the
// reader as blocks reach the chunk, under the HDF5 lock) and whether it has been verified. A
// chunk is verified once, however many blocks and threads share it: the thread that moves its
// state from kNew to kClaimed verifies it (and finds its norm bound) and publishes kVerified or
// kFailed; the others wait for that, or (armed checkers) move on.
struct EmbeddingViews {
  enum : uint8_t { kNew, kClaimed, kVerified, kFailed };
  std::shared_ptr<const MappedFile> map;
  std::string where;  // "file, dataset 'embedding'"
  uint64_t chunk_rows = 0, rows = 0;
  struct Chunk {
    const char* data = nullptr;
    uint64_t bytes = 0;
    float norm_bound = -1;  // see ShardBlock::for_each_embedding_run (-1: not computed)
  };
  int dim = 0;
  bool half = false;  // f16 rows (kEmbeddingViewHalf): verified, never bounded
  std::vector<Chunk> chunks;
  std::unique_ptr<std::atomic<uint8_t>[]> state;  // one per chunk
  std::mutex m;                                   // with cv: waiting for a claimed chunk
  std::condition_variable cv;
  std::exception_ptr error;  // the first chunk's failure (kFailed)
};

namespace {
// max over rows of Σ x², NaN rows ignored (8 partial sums per row; any order is fine: the
// caller adds a relative margin far above the rounding difference).
float max_squared_norm_portable(const float* x, uint64_t rows, size_t d) {
  float m2 = 0.f;
  for (uint64_t r = 0; r < rows; ++r, x += d) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += x[i + size_t(k)] * x[i + size_t(k)];
    for (; i < d; ++i) acc[0] += x[i] * x[i];
    const float s2 = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    if (s2 > m2) m2 = s2;
  }
  return m2;
}
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) inline __m256 row_sq8(const float* x, size_t d8) {
  __m256 a = _mm256_setzero_ps();
  for (size_t i = 0; i < d8; i += 8) {
    const __m256 u = _mm256_loadu_ps(x + i);
    a = _mm256_fmadd_ps(u, u, a);
  }
  return a;
}
// Eight rows at a time, their eight partial-sum vectors reduced together (a transposing hadd
// tree), so no row waits on its own horizontal sum.
__attribute__((target("avx2,fma"))) float max_squared_norm_avx2(const float* x, uint64_t rows, size_t d) {
  if (d % 8 != 0) return max_squared_norm_portable(x, rows, d);
  __m256 best = _mm256_setzero_ps();
  uint64_t r = 0;
  for (; r + 8 <= rows; r += 8, x += 8 * d) {
    __m256 v[8];
    for (int k = 0; k < 8; ++k) v[k] = row_sq8(x + size_t(k) * d, d);
    const __m256 h01 = _mm256_hadd_ps(v[0], v[1]), h23 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 h45 = _mm256_hadd_ps(v[4], v[5]), h67 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
    // q0 = [r0 r1 r2 r3 | r0 r1 r2 r3] halves (low lanes from the low 128 bits), likewise q1.
    const __m256 lo = _mm256_permute2f128_ps(q0, q1, 0x20), hi = _mm256_permute2f128_ps(q0, q1, 0x31);
    best = _mm256_max_ps(_mm256_add_ps(lo, hi), best);  // a NaN sum loses to best (max_ps takes the 2nd operand)
  }
  float b[8];
  _mm256_storeu_ps(b, best);
  float m2 = 0.f;
  for (float t : b)
    if (t > m2) m2 = t;
  const float rest = max_squared_norm_portable(x, rows - r, d);
  return rest > m2 ? rest : m2;
}
#endif
float max_squared_norm(const float* x, uint64_t rows, size_t d) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return max_squared_norm_avx2(x, rows, d);
#endif
  return max_squared_norm_portable(x, rows, d);
}

// Claims chunk `chunk` and verifies it: false, doing nothing, when another thread has claimed
// it already (or it is verified). A mismatch is published (kFailed, for the threads waiting on
// the chunk) and thrown.
// With `tiles` (use(first_row, count) over rows of the chunk), the checksum is summed tile by tile
// (tile_rows rows) and each tile's rows are handed to use right after, while in cache; a
// mismatch is found after the last tile (the caller's results for the chunk are then void).
using TileUse = std::function<void(uint64_t first, uint64_t n)>;
bool try_verify(EmbeddingViews& v, size_t chunk, bool norms, const TileUse* tiles = nullptr, uint64_t tile_rows = 0) {
  uint8_t expect = EmbeddingViews::kNew;
  if (!v.state[chunk].compare_exchange_strong(expect, EmbeddingViews::kClaimed, std::memory_order_acq_rel))
    return false;
  auto& c = v.chunks[chunk];
  const uint64_t lo = chunk * v.chunk_rows, nrows = std::min(lo + v.chunk_rows, v.rows) - lo;
  uint8_t result = EmbeddingViews::kVerified;
  std::exception_ptr err;
  try {
    {
      // Map the chunk's pages in one call rather than by a fault per 64 KiB as they are read.
      const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
      const uintptr_t a = uintptr_t(c.data) / page * page, b = uintptr_t(c.data + c.bytes + 4);
      ::madvise(reinterpret_cast<void*>(a), b - a, MADV_POPULATE_READ);  // a hint: errors are harmless
    }
    bool ok;
    if (tiles) {
      // The stored chunk is whole (chunk_rows rows) even where the dataset ends inside it.
      const uint64_t rb = uint64_t(v.dim) * (v.half ? sizeof(uint16_t) : sizeof(float));
      Fletcher32 f(c.bytes);
      for (uint64_t r = 0; r * rb < c.bytes; r += tile_rows) {
        f.update(c.data + r * rb, std::min<uint64_t>(tile_rows * rb, c.bytes - r * rb));
        if (r < nrows) (*tiles)(r, std::min(tile_rows, nrows - r));
      }
      ok = f.matches(c.data + c.bytes);
    } else {
      ok = fletcher32_matches(c.data, c.bytes, c.data + c.bytes);
    }
    if (!ok)
      throw InputError(cat(v.where, ": checksum mismatch in rows [", lo, ", ", lo + nrows,
                           "): the stored bytes changed after they were written; restore the file or make it again"));
    // The largest row norm, while the chunk is in cache.
    if (norms && !v.half) {
      const float m2 = max_squared_norm(reinterpret_cast<const float*>(c.data), nrows, size_t(v.dim));
      c.norm_bound = std::sqrt(m2) * (1.0f + std::ldexp(1.0f, -10));
    }
  } catch (...) {
    result = EmbeddingViews::kFailed;
    err = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> g(v.m);
    if (err && !v.error) v.error = err;
    v.state[chunk].store(result, std::memory_order_release);
  }
  v.cv.notify_all();
  if (err) std::rethrow_exception(err);
  return true;
}

// Returns once chunk `chunk` is verified (by this thread, when nobody has claimed it yet);
// rethrows the failure another thread met on it.
void ensure_verified(EmbeddingViews& v, size_t chunk, bool norms) {
  if (v.state[chunk].load(std::memory_order_acquire) == EmbeddingViews::kVerified) return;
  if (try_verify(v, chunk, norms)) return;
  // Claimed by another thread, which is a chunk's check away from done: spin a few
  // microseconds before sleeping on the lock.
  uint8_t st = EmbeddingViews::kClaimed;
  for (int i = 0; i < 256 && st == EmbeddingViews::kClaimed; ++i) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    st = v.state[chunk].load(std::memory_order_acquire);
  }
  if (st == EmbeddingViews::kClaimed) {
    std::unique_lock<std::mutex> lk(v.m);
    v.cv.wait(lk, [&] { return v.state[chunk].load(std::memory_order_acquire) != EmbeddingViews::kClaimed; });
    st = v.state[chunk].load(std::memory_order_acquire);
  }
  if (st == EmbeddingViews::kFailed) {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> g(v.m);
      e = v.error;
    }
    std::rethrow_exception(e);
  }
}
}  // namespace

const float* ShardBlock::widen(const Segment& s, uint64_t first, uint64_t n, int dim) const {
  const size_t count = size_t(n) * size_t(dim);
  if (widened_.size() < count) widened_.resize(count);
  h5::f16_to_f32(s.half + first * uint64_t(dim), widened_.data(), count);
  return widened_.data();
}

void ShardBlock::arm_check(bool norms) {
  armed_ = true;
  armed_norms_ = norms;
}

void ShardBlock::check_views(bool norms) {
  for (auto& s : emb_segments) {
    if (armed_)
      try_verify(*views, s.chunk, norms);  // a chunk the caller has claimed is the caller's to finish
    else
      ensure_verified(*views, s.chunk, norms);
  }
}

// Blocks from a BlockStream arrive checked (check_views) or armed (checked while they are
// used); this is the guard that no view is used unverified.
void ShardBlock::view_before(const Segment& s) const {
  if (defer_check_) return;  // the caller's DeferredChecks verifies the chunk later
  auto& v = *views;
  if (armed_ && v.state[s.chunk].load(std::memory_order_acquire) == EmbeddingViews::kClaimed) {
    // The checker is on this chunk: rather than wait, verify the next one (if nobody has claimed
    // it), which this thread then reads from its own cache; the checker moves past it. When the
    // caller is the faster of the two, they take turns.
    const size_t k = size_t(&s - emb_segments.data());
    if (k + 1 < emb_segments.size()) {
      try {
        try_verify(v, emb_segments[k + 1].chunk, armed_norms_);
      } catch (const std::exception&) {
        // Recorded on the chunk (kFailed): it reaches this caller when it gets there, not
        // before the rows ahead of it are used.
      }
    }
  }
  ensure_verified(v, s.chunk, armed_ && armed_norms_);
}

// ---- work_views: the block's segments shared among threads ----------------------------------

struct ShardBlock::Work {
  enum : uint8_t { kPending, kDone, kFailed };
  RunFn fn;
  int dim = 0;
  uint64_t tile_values = 0;
  std::vector<uint64_t> at;                       // each segment's first row in the block
  std::unique_ptr<std::atomic<uint8_t>[]> state;  // per segment
  std::vector<std::exception_ptr> error;          // per segment, set before kFailed is published
  std::atomic<size_t> next{0};                    // the next segment to take
  std::atomic<bool> failed{false};
  std::mutex m;
  std::condition_variable cv;
};

void ShardBlock::arm_work(RunFn fn, int dim, uint64_t tile_values) {
  TRAWL_ASSERT(views && dim > 0);
  auto w = std::make_shared<Work>();
  w->fn = std::move(fn);
  w->dim = dim;
  w->tile_values = std::max<uint64_t>(1, tile_values);
  const size_t n = emb_segments.size();
  w->state.reset(new std::atomic<uint8_t>[n]);
  w->error.resize(n);
  uint64_t at = 0;
  for (size_t k = 0; k < n; ++k) {
    w->state[k].store(Work::kPending, std::memory_order_relaxed);
    w->at.push_back(at);
    at += emb_segments[k].rows;
  }
  work_ = std::move(w);
}

void ShardBlock::work_views() {
  Work& w = *work_;
  for (;;) {
    if (w.failed.load(std::memory_order_acquire)) return;
    const size_t k = w.next.fetch_add(1, std::memory_order_acq_rel);
    if (k >= emb_segments.size()) return;
    uint8_t result = Work::kDone;
    std::exception_ptr err;
    try {
      work_segment(k);
    } catch (...) {
      result = Work::kFailed;
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> g(w.m);
      if (err) {
        w.error[k] = err;
        w.failed.store(true, std::memory_order_release);
      }
      w.state[k].store(result, std::memory_order_release);
    }
    w.cv.notify_all();
    if (err) std::rethrow_exception(err);
  }
}

// Segments are taken in order, and every segment taken is finished (done or failed); after a
// failure no more are taken, so the ones never taken all lie past a failed one, which this loop
// reaches first.
void ShardBlock::wait_views() const {
  Work& w = *work_;
  for (size_t k = 0; k < emb_segments.size(); ++k) {
    if (w.state[k].load(std::memory_order_acquire) == Work::kPending) {
      std::unique_lock<std::mutex> lk(w.m);
      w.cv.wait(lk, [&] { return w.state[k].load(std::memory_order_acquire) != Work::kPending; });
    }
    if (w.state[k].load(std::memory_order_acquire) == Work::kFailed) std::rethrow_exception(w.error[k]);
  }
}

void ShardBlock::work_segment(size_t k) {
  const Segment& s = emb_segments[k];
  Work& w = *work_;
  auto& v = *views;
  const auto& c = v.chunks[s.chunk];
  const uint64_t at = w.at[k], dim = uint64_t(w.dim);
  const uint64_t rb = dim * (s.data ? sizeof(float) : sizeof(uint16_t));
  const char* first = s.data ? reinterpret_cast<const char*>(s.data) : reinterpret_cast<const char*>(s.half);
  const uint64_t r0 = uint64_t(first - c.data) / rb;  // the segment's first row in its chunk
  const uint64_t tile = std::max<uint64_t>(1, w.tile_values / dim);
  thread_local std::vector<float> wide;
  TileUse use = [&](uint64_t lo, uint64_t n) {  // rows [lo, lo + n) of the chunk
    const uint64_t a = std::max(lo, r0), b = std::min(lo + n, r0 + s.rows);
    if (a >= b) return;
    if (s.data) {
      w.fn(reinterpret_cast<const float*>(c.data) + a * dim, at + (a - r0), b - a);
    } else {
      if (wide.size() < (b - a) * dim) wide.resize((b - a) * dim);
      h5::f16_to_f32(reinterpret_cast<const uint16_t*>(c.data) + a * dim, wide.data(), size_t((b - a) * dim));
      w.fn(wide.data(), at + (a - r0), b - a);
    }
  };
  if (!try_verify(v, s.chunk, false, &use, tile)) {  // verified, or being verified, by another thread
    ensure_verified(v, s.chunk, false);
    if (s.data)
      use(r0, s.rows);
    else
      for (uint64_t r = 0; r < s.rows; r += tile) use(r0 + r, std::min(tile, s.rows - r));
  }
  view_after(s, w.dim);
}

namespace {
// Unmaps [a, b) widened to whole 2 MiB pages (a page mapped with one 2 MiB entry is only
// released whole), but never past the shard's mapping `m`: beyond it lies other memory, which
// MADV_DONTNEED would zero.
void release_around(const MappedFile& m, const char* a, const char* b) {
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (uintptr_t(m.data()) + page - 1) / page * page;
  const uintptr_t last = (uintptr_t(m.data()) + m.size()) / page * page;  // whole pages only
  const uintptr_t lo = std::max(uintptr_t(a) / kHuge * kHuge, first);
  const uintptr_t hi = std::min((uintptr_t(b) + kHuge - 1) / kHuge * kHuge, last);
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}
}  // namespace

void ShardBlock::release_views() const {
  for (const auto& s : emb_segments) {
    const char* a = s.data ? reinterpret_cast<const char*>(s.data) : reinterpret_cast<const char*>(s.half);
    const uint64_t bytes = s.rows * uint64_t(views->dim) * (s.data ? sizeof(float) : sizeof(uint16_t));
    release_around(*views->map, a, a + bytes);
  }
}

void DeferredChecks::add(const ShardBlock& b, const std::vector<uint64_t>& used) {
  TRAWL_ASSERT(b.defer_check_ || b.emb_segments.empty());
  uint64_t at = 0;
  size_t i = 0;
  for (const auto& s : b.emb_segments) {
    bool any = false;
    for (; i < used.size() && used[i] < at + s.rows; ++i) any = true;
    if (any && (chunks_.empty() || chunks_.back().first != b.views || chunks_.back().second != s.chunk))
      chunks_.emplace_back(b.views, s.chunk);
    at += s.rows;
  }
}

void DeferredChecks::verify() const {
  for (const auto& [v, chunk] : chunks_) {
    if (v->state[chunk].load(std::memory_order_acquire) == EmbeddingViews::kVerified) continue;
    ensure_verified(*v, chunk, false);
    const auto& c = v->chunks[chunk];
    release_around(*v->map, c.data, c.data + c.bytes);  // resident memory stays at a chunk
  }
}

size_t DeferredChecks::pending() const {
  size_t n = 0;
  for (const auto& [v, chunk] : chunks_) n += v->state[chunk].load(std::memory_order_acquire) != EmbeddingViews::kVerified;
  return n;
}

float ShardBlock::view_bound(const Segment& s) const { return views->chunks[s.chunk].norm_bound; }

void ShardBlock::view_after(const Segment& s, int dim) const {
  // After a chunk's last row, its whole pages leave this process's mapping (they stay in the
  // page cache), so resident memory stays at a block's worth, not a shard's.
  const auto& c = views->chunks[s.chunk];
  const char* end = s.data ? reinterpret_cast<const char*>(s.data + s.rows * uint64_t(dim))
                           : reinterpret_cast<const char*>(s.half + s.rows * uint64_t(dim));
  if (end != c.data + c.bytes) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  uintptr_t a = (uintptr_t(c.data) + page - 1) / page * page, b = uintptr_t(end) / page * page;
  if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
}

std::string shard_file_name(uint64_t chunk_index) {
  char b[48];
  std::snprintf(b, sizeof b, "shard-%06llu.h5", static_cast<unsigned long long>(chunk_index));
  return b;
}

// ---- Writer --------------------------------------------------------------------------------

namespace {
// One CSR string column being written: X_offsets u64[rows + 1], X_bytes u8[bytes].
struct StrColumnWriter {
  h5::Dataset offsets, bytes;
  uint64_t total = 0;  // bytes written so far (= the last offset)

  void create(h5::File& f, const std::string& name, uint64_t chunk_rows, uint64_t byte_chunk) {
    offsets = h5::Dataset::create(f, name + "_offsets", h5::Type::kU64, std::min(chunk_rows, kStrOffsetRows));
    bytes = h5::Dataset::create(f, name + "_bytes", h5::Type::kU8, byte_chunk);
    uint64_t zero = 0;
    offsets.write(0, 1, &zero);
  }
  // Rows [row, row + n) from v; off and buf are scratch space.
  void append(uint64_t row, const std::vector<std::string>& v, std::vector<uint64_t>& off, std::string& buf) {
    const size_t n = v.size();
    size_t nb = 0;
    for (const auto& s : v) nb += s.size();
    buf.resize(nb);
    off.resize(n);
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i) {
      const std::string& s = v[i];
      if (!s.empty()) std::memcpy(&buf[pos], s.data(), s.size());
      pos += s.size();
      off[i] = total + pos;
    }
    if (nb) bytes.write(total, nb, reinterpret_cast<const uint8_t*>(buf.data()));
    offsets.write(row + 1, n, off.data());
    total += nb;
  }
  void close() { offsets = h5::Dataset(), bytes = h5::Dataset(); }
};
}  // namespace

struct ShardWriter::Impl {
  std::string path;
  ShardMeta meta;
  h5::File file;  // declared first: destroyed after the datasets
  h5::Dataset uid, offsets, tokens, emb;
  StrColumnWriter id, text, label;
  uint64_t rows = 0, ntokens = 0, last_uid = 0;
  bool closed = false, failed = false;
  std::vector<uint64_t> off_buf;
  std::string byte_buf;

  void close_datasets() {
    for (h5::Dataset* d : {&uid, &offsets, &tokens, &emb}) *d = h5::Dataset();
    for (StrColumnWriter* c : {&id, &text, &label}) c->close();
  }
};

ShardWriter::ShardWriter(const std::string& path, const ShardMeta& meta, uint64_t chunk_rows)
    : impl_(new Impl) {
  auto& m = *impl_;
  m.path = path;
  m.meta = meta;
  try {
    if (meta.dim < 1) throw UsageError(cat(path, ": embedding dim ", meta.dim, " must be at least 1"));
    if (meta.chunk_index >= kMaxChunks)
      throw UsageError(cat(path, ": chunk index ", meta.chunk_index, " is too large (at most ", kMaxChunks - 1, ")"));
    if (chunk_rows < 1) throw UsageError(cat(path, ": chunk rows must be at least 1"));
    m.file = h5::File::create(path);
    h5::set_format(m.file, kShardFormat, kShardFormatVersion);
    m.file.set_attr("encoder", meta.encoder);
    m.file.set_attr("encoder-params", meta.encoder_params);
    m.file.set_attr("dim", static_cast<int64_t>(meta.dim));
    m.file.set_attr("dtype", std::string(dtype_name(meta.dtype)));
    m.file.set_attr("normalisation", meta.normalisation);
    m.file.set_attr("source-file", meta.source_file);
    m.file.set_attr("source-checksum", meta.source_checksum);
    m.file.set_attr_u64("chunk-index", meta.chunk_index);
    m.file.set_attr("config", meta.config);
    m.uid = h5::Dataset::create(m.file, "uid", h5::Type::kU64, chunk_rows);
    m.id.create(m.file, "id", chunk_rows, kShortByteChunk);
    m.text.create(m.file, "text", chunk_rows, kTextByteChunk);
    if (meta.has_label) m.label.create(m.file, "label", chunk_rows, kShortByteChunk);
    m.offsets = h5::Dataset::create(m.file, "token_offsets", h5::Type::kU64, chunk_rows);
    m.tokens = h5::Dataset::create(m.file, "token_ids", h5::Type::kU32, kTokenChunk);
    uint64_t elem = meta.dtype == Dtype::kF16 ? 2 : 4;
    uint64_t emb_chunk = std::max<uint64_t>(1, std::min<uint64_t>(chunk_rows, kMaxChunkBytes / (elem * meta.dim)));
    m.emb = h5::Dataset::create(m.file, "embedding", meta.dtype == Dtype::kF16 ? h5::Type::kF16 : h5::Type::kF32,
                                emb_chunk, static_cast<uint64_t>(meta.dim));
    uint64_t zero = 0;
    m.offsets.write(0, 1, &zero);
  } catch (...) {
    delete impl_;
    impl_ = nullptr;
    throw;
  }
}

ShardWriter::~ShardWriter() {
  if (!impl_) return;
  // Not closed: leave an incomplete file (no 'rows' attribute) for the caller's AtomicOutput
  // to remove; never throw from here.
  impl_->close_datasets();
  delete impl_;
}

uint64_t ShardWriter::rows() const { return impl_->rows; }

void ShardWriter::append(const ShardBlock& b) {
  auto& m = *impl_;
  TRAWL_ASSERT_MSG(!m.closed, "ShardWriter::append after close: ", m.path);
  TRAWL_ASSERT_MSG(!m.failed, "ShardWriter::append after a failed append: ", m.path);
  const uint64_t n = b.size();
  const uint64_t dim = static_cast<uint64_t>(m.meta.dim);
  // The block's shape is the caller's contract: a violation is a bug in trawl.
  TRAWL_ASSERT_MSG(b.id.size() == n && b.text.size() == n, m.path, ": block columns differ in length (uid ", n,
                   ", id ", b.id.size(), ", text ", b.text.size(), ")");
  TRAWL_ASSERT_MSG(b.label.size() == (m.meta.has_label ? n : 0), m.path, ": block has ", b.label.size(),
                   " labels for ", n, " rows (has_label = ", m.meta.has_label, ")");
  TRAWL_ASSERT_MSG(b.token_offsets.size() == n + 1 && b.token_offsets[0] == 0 &&
                       b.token_offsets.back() == b.token_ids.size(),
                   m.path, ": block token_offsets must have n+1 entries from 0 to token_ids.size()");
  TRAWL_ASSERT_MSG(b.embedding.size() == n * dim, m.path, ": block embedding has ", b.embedding.size(),
                   " floats, expected ", n, " x ", dim);
  for (uint64_t i = 0; i < n; ++i) {
    TRAWL_ASSERT_MSG(b.token_offsets[i] <= b.token_offsets[i + 1], m.path, ": block token_offsets decrease at row ", i);
    TRAWL_ASSERT_MSG((m.rows == 0 && i == 0) || b.uid[i] > (i ? b.uid[i - 1] : m.last_uid), m.path,
                     ": uids must increase: ", hex(b.uid[i]), " after ", hex(i ? b.uid[i - 1] : m.last_uid));
    TRAWL_ASSERT_MSG((b.uid[i] >> 40) == m.meta.chunk_index, m.path, ": uid ", hex(b.uid[i]),
                     " is not of chunk ", m.meta.chunk_index);
  }
  if (n == 0) return;
  try {
    m.uid.write(m.rows, n, b.uid.data());
    m.id.append(m.rows, b.id, m.off_buf, m.byte_buf);
    m.text.append(m.rows, b.text, m.off_buf, m.byte_buf);
    if (m.meta.has_label) m.label.append(m.rows, b.label, m.off_buf, m.byte_buf);
    m.off_buf.resize(n);
    for (uint64_t i = 0; i < n; ++i) m.off_buf[i] = m.ntokens + b.token_offsets[i + 1];
    m.offsets.write(m.rows + 1, n, m.off_buf.data());
    if (!b.token_ids.empty()) m.tokens.write(m.ntokens, b.token_ids.size(), b.token_ids.data());
    m.emb.write(m.rows, n, b.embedding.data());
  } catch (...) {
    m.failed = true;
    throw;
  }
  m.rows += n;
  m.ntokens += b.token_ids.size();
  m.last_uid = b.uid.back();
}

void ShardWriter::close(uint64_t rejected_rows) {
  auto& m = *impl_;
  if (m.closed) return;
  TRAWL_ASSERT_MSG(!m.failed, "ShardWriter::close after a failed append: ", m.path);
  m.file.set_attr_u64("rejected-rows", rejected_rows);
  m.close_datasets();
  // 'rows' last: its presence marks the shard complete.
  m.file.set_attr_u64("rows", m.rows);
  m.closed = true;
  m.file.close();
}

void commit_shard(AtomicOutput& out) {
  out.commit();
  ScopedTimer t("cache in 2 MiB pages");
  recache_in_large_pages(out.final_path());
}

// ---- Reader --------------------------------------------------------------------------------

namespace {

// Offsets [row0, row0 + offs.size()) of a CSR column, as stored: they must not decrease (from
// prev, the entry before row0, updated here) and must stay within the target dataset.
void check_raw_offsets(const h5::Dataset& off, uint64_t row0, const std::vector<uint64_t>& offs, uint64_t& prev,
                       const h5::Dataset& target, const char* unit) {
  for (size_t i = 0; i < offs.size(); ++i) {
    const uint64_t row = row0 + i;
    if (offs[i] < prev)
      throw InputError(cat(off.where(), ": entry ", row, " = ", offs[i], " is less than the previous entry ", prev,
                           " (offsets must not decrease)"));
    if (offs[i] > target.rows())
      throw InputError(cat(off.where(), ": entry ", row, " = ", offs[i], " is past the end of '", target.name(),
                           "' (", target.rows(), " ", unit, ")"));
    prev = offs[i];
  }
}

// Offsets of rows [begin, begin + k] read for a row range: non-decreasing and within target.
void check_range_offsets(const h5::Dataset& off, uint64_t begin, const std::vector<uint64_t>& offs,
                         const h5::Dataset& target, const char* unit) {
  const uint64_t k = offs.size() - 1;
  for (uint64_t i = 0; i < k; ++i) {
    if (offs[i + 1] < offs[i])
      throw InputError(cat(off.where(), ": offsets decrease at row ", begin + i + 1, " (", offs[i], " then ",
                           offs[i + 1], ")"));
  }
  if (offs[k] > target.rows())
    throw InputError(cat(off.where(), ": offset ", offs[k], " at row ", begin + k, " is past the end of '",
                         target.name(), "' (", target.rows(), " ", unit, ")"));
}

// A string column stored as CSR UTF-8: X_offsets u64[n + 1] from 0 to the size of X_bytes u8[*].
struct StrColumn {
  h5::Dataset offsets, bytes;

  // Opens and checks the shapes, types and the first and last offsets (cheap: two values).
  void open(const h5::File& f, const std::string& name, uint64_t n) {
    offsets = h5::Dataset::open(f, name + "_offsets");
    bytes = h5::Dataset::open(f, name + "_bytes");
    offsets.expect(h5::Type::kU64, 1);
    bytes.expect(h5::Type::kU8, 1);
    offsets.expect_rows(n + 1, cat("rows + 1 = ", n + 1));
    uint64_t first = 0, last = 0;
    offsets.read(0, 1, &first);
    offsets.read(n, 1, &last);
    if (first != 0) throw InputError(cat(offsets.where(), ": first offset is ", first, ", expected 0"));
    if (last != bytes.rows())
      throw InputError(cat(offsets.where(), ": last offset is ", last, " but dataset '", bytes.name(), "' has ",
                           bytes.rows(), " bytes"));
  }

  // Rows [begin, begin + k) into out, reading only their offsets and bytes; offs and buf are
  // scratch space.
  void read(uint64_t begin, uint64_t k, std::vector<std::string>& out, std::vector<uint64_t>& offs,
            std::string& buf) const {
    offs.resize(k + 1);
    offsets.read(begin, k + 1, offs.data());
    check_range_offsets(offsets, begin, offs, bytes, "bytes");
    const uint64_t base = offs[0], nb = offs[k] - base;
    buf.resize(nb);
    if (nb) bytes.read(base, nb, reinterpret_cast<uint8_t*>(&buf[0]));
    out.resize(k);
    for (uint64_t i = 0; i < k; ++i) out[i].assign(buf.data() + (offs[i] - base), offs[i + 1] - offs[i]);
  }
};

}  // namespace

struct ShardReader::Impl {
  std::string path;
  ShardMeta meta;
  h5::File file;
  h5::Dataset uid, offsets, tokens, emb;
  StrColumn id, text, label;
  uint64_t n = 0;
  std::vector<uint64_t> str_offs;  // scratch for StrColumn::read
  std::string str_buf;
  // kEmbeddingView: the mapping and its chunks (made on first use; views->map null when the
  // file cannot be mapped).
  std::shared_ptr<EmbeddingViews> views;
  bool view_embeddings(uint64_t begin, uint64_t end, ShardBlock& out, bool half_ok);
};

// The embedding rows [begin, end) as views into the mapping (chunk extents looked up here, under
// the HDF5 lock); verified by ShardBlock::check_views, and at the latest when used
// (for_each_embedding_run). False, with nothing added, when some chunk cannot be viewed: the
// caller copies.
bool ShardReader::Impl::view_embeddings(uint64_t begin, uint64_t end, ShardBlock& out, bool half_ok) {
  const bool half = meta.dtype == Dtype::kF16;
  if ((half && !half_ok) || !emb.direct() || emb.chunk_rows() == 0) return false;
  const uint64_t elem = half ? sizeof(uint16_t) : sizeof(float);
  if (!views) {
    views = std::make_shared<EmbeddingViews>();
    views->map = MappedFile::open(path);
    views->where = emb.where();
    views->chunk_rows = emb.chunk_rows();
    views->rows = n;
    views->dim = meta.dim;
    views->half = half;
    const size_t nc = size_t((n + emb.chunk_rows() - 1) / emb.chunk_rows());
    views->chunks.resize(nc);
    views->state.reset(new std::atomic<uint8_t>[nc]);
    for (size_t i = 0; i < nc; ++i) views->state[i].store(EmbeddingViews::kNew, std::memory_order_relaxed);
  }
  if (!views->map) return false;
  const uint64_t cr = emb.chunk_rows(), dim = uint64_t(meta.dim);
  std::vector<ShardBlock::Segment> seg;
  for (uint64_t c = begin / cr; c * cr < end; ++c) {
    const uint64_t lo = c * cr, hi = std::min(lo + cr, n);
    const uint64_t a = std::max(lo, begin), b = std::min(hi, end);
    auto& ch = views->chunks[size_t(c)];
    if (!ch.data) {
      uint64_t off = 0, bytes = 0;
      if (!emb.chunk_extent(c, &off, &bytes) || off % elem != 0 || off + bytes + 4 > views->map->size())
        return false;
      ch.data = views->map->data() + off;
      ch.bytes = bytes;
    }
    // Verified by ShardBlock::check_views, on the reading thread but outside the HDF5 lock
    // (BlockStream's unlocked step), so the consumer's HDF5 writes do not wait for it.
    if (half)
      seg.push_back({nullptr, b - a, size_t(c), reinterpret_cast<const uint16_t*>(ch.data) + (a - lo) * dim});
    else
      seg.push_back({reinterpret_cast<const float*>(ch.data) + (a - lo) * dim, b - a, size_t(c)});
  }
  out.emb_segments = std::move(seg);
  out.views = views;
  return true;
}

ShardReader::ShardReader(const std::string& path) : impl_(new Impl) {
  auto& m = *impl_;
  try {
    m.path = path;
    m.file = h5::File::open(path);
    auto& f = m.file;
    m.meta.format_version = h5::check_format(f, kShardFormat, kShardFormatVersion);
    for (const char* name : kRequired) {
      if (!f.exists(name))
        throw InputError(cat(path, ": missing dataset '", name,
                             "' (a shard has uid, id_offsets, id_bytes, text_offsets, text_bytes, token_offsets, "
                             "token_ids, embedding)"));
    }
    if (!f.has_attr("rows"))
      throw InputError(cat(path, ": incomplete shard: no 'rows' attribute (the writer did not finish; "
                                 "remove the file and rerun the task that writes it)"));
    ShardMeta& meta = m.meta;
    meta.rows = f.attr_u64("rows");
    meta.trawl_version = f.attr_str("trawl-version");
    meta.encoder = f.attr_str("encoder");
    meta.encoder_params = f.attr_str("encoder-params");
    int64_t dim = f.attr_i64("dim");
    if (dim < 1 || dim > (1 << 20))
      throw InputError(cat(path, ": attribute 'dim' = ", dim, " is out of range (expected 1..", 1 << 20, ")"));
    meta.dim = static_cast<int>(dim);
    std::string dt = f.attr_str("dtype");
    if (dt != "f32" && dt != "f16")
      throw InputError(cat(path, ": attribute 'dtype' = '", dt, "', expected 'f32' or 'f16'"));
    meta.dtype = dt == "f16" ? Dtype::kF16 : Dtype::kF32;
    meta.normalisation = f.attr_str("normalisation");
    meta.source_file = f.attr_str("source-file");
    meta.source_checksum = f.attr_str("source-checksum");
    meta.chunk_index = f.attr_u64("chunk-index");
    meta.rejected_rows = f.attr_u64("rejected-rows");
    meta.config = f.attr_str("config");
    // Either label dataset marks a labelled shard; the other one must then exist too.
    meta.has_label = f.exists("label_offsets") || f.exists("label_bytes");

    m.uid = h5::Dataset::open(f, "uid");
    m.offsets = h5::Dataset::open(f, "token_offsets");
    m.tokens = h5::Dataset::open(f, "token_ids");
    m.emb = h5::Dataset::open(f, "embedding");
    m.uid.expect(h5::Type::kU64, 1);
    m.offsets.expect(h5::Type::kU64, 1);
    m.tokens.expect(h5::Type::kU32, 1);
    m.emb.expect(meta.dtype == Dtype::kF16 ? h5::Type::kF16 : h5::Type::kF32, 2, static_cast<uint64_t>(meta.dim));

    m.n = m.uid.rows();
    if (meta.rows != m.n)
      throw InputError(cat(path, ": attribute 'rows' = ", meta.rows, " but dataset 'uid' has ", m.n, " rows"));
    m.id.open(f, "id", m.n);
    m.text.open(f, "text", m.n);
    if (meta.has_label) m.label.open(f, "label", m.n);
    m.emb.expect_rows(m.n, cat("the shard has ", m.n, " rows"));
    m.offsets.expect_rows(m.n + 1, cat("rows + 1 = ", m.n + 1));
    uint64_t first = 0, last = 0;
    m.offsets.read(0, 1, &first);
    m.offsets.read(m.n, 1, &last);
    if (first != 0) throw InputError(cat(m.offsets.where(), ": first offset is ", first, ", expected 0"));
    if (last != m.tokens.rows())
      throw InputError(cat(m.offsets.where(), ": last offset is ", last, " but dataset 'token_ids' has ",
                           m.tokens.rows(), " elements"));
  } catch (...) {
    delete impl_;
    impl_ = nullptr;
    throw;
  }
}

ShardReader::~ShardReader() { delete impl_; }

const ShardMeta& ShardReader::meta() const { return impl_->meta; }
uint64_t ShardReader::rows() const { return impl_->n; }
const std::string& ShardReader::path() const { return impl_->path; }

void ShardReader::read(uint64_t begin, uint64_t end, ShardBlock& out, unsigned cols) const {
  auto& m = *impl_;
  if (begin > end || end > m.n)
    throw UsageError(cat(m.path, ": rows [", begin, ", ", end, ") are out of range (the shard has ", m.n, " rows)"));
  // Everything but the two fixed-width columns is cleared; those are resized to k below, so a
  // buffer reused for blocks of one size is never zero-filled again (it is overwritten).
  const uint64_t k = end - begin;
  {
    std::vector<uint64_t> uid = std::move(out.uid);
    std::vector<float> emb = std::move(out.embedding);
    out.clear();
    out.uid = std::move(uid);
    out.embedding = std::move(emb);
  }
  if (!(cols & kUid)) out.uid.clear();
  if (!(cols & (kEmbedding | kEmbeddingView))) out.embedding.clear();
  if (cols & kUid) {
    out.uid.resize(k);
    m.uid.read(begin, k, out.uid.data());
  }
  if (cols & kId) m.id.read(begin, k, out.id, m.str_offs, m.str_buf);
  if (cols & kText) m.text.read(begin, k, out.text, m.str_offs, m.str_buf);
  if ((cols & kLabel) && m.meta.has_label) m.label.read(begin, k, out.label, m.str_offs, m.str_buf);
  if (cols & kTokens) {
    out.token_offsets.resize(k + 1);
    m.offsets.read(begin, k + 1, out.token_offsets.data());
    check_range_offsets(m.offsets, begin, out.token_offsets, m.tokens, "elements");
    const uint64_t base = out.token_offsets[0];
    const uint64_t count = out.token_offsets[k] - base;
    for (auto& o : out.token_offsets) o -= base;
    out.token_ids.resize(count);
    if (count) m.tokens.read(base, count, out.token_ids.data());
  }
  if ((cols & kEmbeddingView) && k && m.view_embeddings(begin, end, out, (cols & kEmbeddingViewHalf) != 0)) {
    out.embedding.clear();
    out.defer_check_ = (cols & kDeferCheck) != 0;
  } else if (cols & (kEmbedding | kEmbeddingView)) {
    out.embedding.resize(k * static_cast<uint64_t>(m.meta.dim));
    if (k) m.emb.read(begin, k, out.embedding.data());
  }
}

void ShardReader::read_embeddings(uint64_t begin, uint64_t end, float* out) const {
  auto& m = *impl_;
  if (begin > end || end > m.n)
    throw UsageError(cat(m.path, ": rows [", begin, ", ", end, ") are out of range (the shard has ", m.n, " rows)"));
  if (end > begin) m.emb.read(begin, end - begin, out);
}

std::vector<uint64_t> ShardReader::read_uids() const {
  std::vector<uint64_t> v(impl_->n);
  if (!v.empty()) impl_->uid.read(0, v.size(), v.data());
  return v;
}

void ShardReader::validate_deep() const {
  auto& m = *impl_;
  const uint64_t dim = static_cast<uint64_t>(m.meta.dim);
  const bool l2 = m.meta.normalisation == "l2";
  const uint64_t block = std::max<uint64_t>(1, std::min<uint64_t>(65536, (4u << 20) / dim));
  ShardBlock b;
  uint64_t prev_uid = 0, prev_off = 0;
  std::vector<uint64_t> offs;
  // The string columns with their rows in b, raw offsets of the block and running previous offset.
  struct Col {
    const StrColumn* c;
    const std::vector<std::string>* v;
    std::vector<uint64_t> offs;
    uint64_t prev = 0;
  };
  std::vector<Col> str_cols = {{&m.id, &b.id, {}, 0}, {&m.text, &b.text, {}, 0}};
  if (m.meta.has_label) str_cols.push_back({&m.label, &b.label, {}, 0});
  for (uint64_t begin = 0; begin < m.n || begin == 0; begin += block) {
    const uint64_t end = std::min(m.n, begin + block);
    const uint64_t k = end - begin;
    // Offsets first (raw, not rebased), so a bad one is reported as such.
    offs.resize(k + 1);
    m.offsets.read(begin, k + 1, offs.data());
    check_raw_offsets(m.offsets, begin, offs, prev_off, m.tokens, "elements");
    for (Col& c : str_cols) {
      c.offs.resize(k + 1);
      c.c->offsets.read(begin, k + 1, c.offs.data());
      check_raw_offsets(c.c->offsets, begin, c.offs, c.prev, c.c->bytes, "bytes");
    }
    if (k == 0) break;
    read(begin, end, b, kAll);
    for (uint64_t i = 0; i < k; ++i) {
      const uint64_t row = begin + i;
      const uint64_t u = b.uid[i];
      if (row > 0 && u <= prev_uid)
        throw InputError(cat(m.uid.where(), ": row ", row, ": uid ", hex(u), " is not greater than the previous uid ",
                             hex(prev_uid), " (uids must be unique and increasing)"));
      if ((u >> 40) != m.meta.chunk_index)
        throw InputError(cat(m.uid.where(), ": row ", row, ": uid ", hex(u), " belongs to chunk ", (u >> 40),
                             ", but the shard's chunk-index is ", m.meta.chunk_index));
      prev_uid = u;
      // Token layout: u unigram ids (< 2^31) then u-1 bigram ids (>= 2^31).
      const uint64_t t0 = b.token_offsets[i], t1 = b.token_offsets[i + 1], nt = t1 - t0;
      if (nt % 2 == 0 && nt != 0)
        throw InputError(cat(m.tokens.where(), ": row ", row, " has ", nt,
                             " token ids; expected 2u-1 (u unigrams, u-1 bigrams) or 0"));
      const uint64_t nu = nt == 0 ? 0 : (nt + 1) / 2;
      for (uint64_t j = 0; j < nt; ++j) {
        bool big = (b.token_ids[t0 + j] & kBigramBit) != 0;
        if (big != (j >= nu))
          throw InputError(cat(m.tokens.where(), ": row ", row, ", token ", j, ": id ", b.token_ids[t0 + j],
                               j >= nu ? " should be a bigram id (>= 2^31)" : " should be a unigram id (< 2^31)"));
      }
      double norm2 = 0;
      for (uint64_t d = 0; d < dim; ++d) {
        float v = b.embedding[i * dim + d];
        if (!std::isfinite(v))
          throw InputError(cat(m.emb.where(), ": row ", row, ", column ", d, ": value ", v, " is not finite"));
        norm2 += static_cast<double>(v) * v;
      }
      if (l2 && norm2 != 0 && std::fabs(std::sqrt(norm2) - 1.0) > 1e-2)
        throw InputError(cat(m.emb.where(), ": row ", row, ": L2 norm ", std::sqrt(norm2),
                             ", expected 1 (or 0) for normalisation 'l2'"));
      for (const Col& c : str_cols) {
        const std::string& s = (*c.v)[i];
        size_t ok = utf8_valid_prefix(s);
        if (ok != s.size())
          throw InputError(cat(c.c->bytes.where(), ": row ", row, ": invalid UTF-8 at byte ", ok, " of the row (",
                               c.c->bytes.name(), "[", c.offs[i] + ok, "])"));
      }
    }
  }
}

bool shard_is_complete(const std::string& path) {
  try {
    if (!path_exists(path)) return false;
    ShardReader r(path);
    return true;
  } catch (const std::exception& e) {
    log::debug(path, ": not a complete shard: ", e.what());
    return false;
  }
}

std::vector<std::string> list_shards(const std::string& dir) {
  if (!path_exists(dir)) throw IoError(cat(dir, ": shard directory does not exist"));
  if (!is_directory(dir)) throw IoError(cat(dir, ": not a directory (expected a directory of shard-*.h5 files)"));
  std::vector<std::string> v = list_files(dir, "shard-", ".h5");
  if (v.empty()) throw InputError(cat(dir, ": no shard files (shard-*.h5) in this directory"));
  return v;
}

}  // namespace trawl::io
