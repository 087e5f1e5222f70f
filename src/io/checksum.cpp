#include "io/checksum.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace trawl::io {

namespace {

constexpr uint64_t kMod = 65535;
constexpr size_t kPrefetchAhead = 2048;

// Sums over a run of 16 * k words (k <= 256, so no u32 lane overflows: a lane's plain sum is at
// most 256 * 65535 < 2^24 and its running sum at most 256 * 257 / 2 * 65535 < 2^32).
// Lane l, step j holds word w_{16 j + l}. lane_sum[l] = sum_j w, lane_run[l] = sum_j (k - j) w.
// Returns through a (plain sum) and b (sum of (16 k - i) w_i over the run's words i).
void finish_run(const uint32_t* lane_sum, const uint32_t* lane_run, const int* lane_pos, uint64_t* a, uint64_t* b) {
  // sum over words of (16 (k - j) - l) w = 16 * sum_l lane_run[l] - sum_l l * lane_sum[l].
  uint64_t sa = 0, sr = 0, sl = 0;
  for (int l = 0; l < 16; ++l) {
    sa += lane_sum[l];
    sr += lane_run[l];
    sl += uint64_t(lane_pos[l]) * lane_sum[l];
  }
  *a = sa;
  *b = 16 * sr - sl;
}

void run_sums_portable(const uint8_t* __restrict p, size_t k, uint64_t* a, uint64_t* b) {
  static const int pos[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  uint32_t lane_sum[16] = {0}, lane_run[16] = {0};
  for (size_t j = 0; j < k; ++j) {
    const uint8_t* q = p + 32 * j;
    for (int l = 0; l < 16; ++l) {
      lane_sum[l] += (uint32_t(q[2 * l]) << 8) | q[2 * l + 1];
      lane_run[l] += lane_sum[l];
    }
  }
  finish_run(lane_sum, lane_run, pos, a, b);
}

#if defined(__x86_64__)
// The same with AVX2: byte-swap the 16 words of 32 bytes, widen to two vectors of 8 u32.
// unpacklo/hi work within each 128-bit half, so the u32 lanes hold words 0-3, 8-11 (lo) and
// 4-7, 12-15 (hi).
__attribute__((target("avx2"), always_inline)) inline void sums_step_avx2(const uint8_t* at, __m256i swap, __m256i& s0,
                                                                        __m256i& s1, __m256i& r0, __m256i& r1) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i q = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at)), swap);
  s0 = _mm256_add_epi32(s0, _mm256_unpacklo_epi16(q, zero));
  s1 = _mm256_add_epi32(s1, _mm256_unpackhi_epi16(q, zero));
  r0 = _mm256_add_epi32(r0, s0);
  r1 = _mm256_add_epi32(r1, s1);
}

__attribute__((target("avx2"))) void run_sums_avx2(const uint8_t* __restrict p, size_t k, uint64_t* a,
                                                    uint64_t* b) {
  static const int pos[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};
  const __m256i swap = _mm256_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14,  //
                                        1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  const __m256i zero = _mm256_setzero_si256();
  __m256i s0 = zero, s1 = zero, r0 = zero, r1 = zero;
  // A software prefetch kPrefetchAhead bytes ahead, one per 64-byte line: the hardware's
  // streaming prefetcher stops at every 4 KiB page boundary, and a chunk read from DRAM (the
  // first pass over a mapped shard) then waits at each page's start; prefetching across it
  // measured +30-40% from DRAM (docs/BENCHMARKS.md, "Scoring"). Prefetches past the buffer's
  // end do not fault.
  size_t j = 0;
  for (; j + 2 <= k; j += 2) {
    _mm_prefetch(reinterpret_cast<const char*>(p + 32 * j + kPrefetchAhead), _MM_HINT_T0);
    sums_step_avx2(p + 32 * j, swap, s0, s1, r0, r1);
    sums_step_avx2(p + 32 * j + 32, swap, s0, s1, r0, r1);
  }
  if (j < k) sums_step_avx2(p + 32 * j, swap, s0, s1, r0, r1);
  alignas(32) uint32_t lane_sum[16], lane_run[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lane_sum), s0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lane_sum + 8), s1);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lane_run), r0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lane_run + 8), r1);
  finish_run(lane_sum, lane_run, pos, a, b);
}
#endif

void run_sums(const uint8_t* p, size_t k, uint64_t* a, uint64_t* b) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return run_sums_avx2(p, k, a, b);
#endif
  run_sums_portable(p, k, a, b);
}

}  // namespace

Fletcher32::Fletcher32(size_t total_bytes) : total_(total_bytes / 2 + (total_bytes & 1)) {}

void Fletcher32::update(const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  const size_t words = bytes / 2;
  const size_t left = total_ - done_;  // the words after this piece's start, its own included
  constexpr size_t kRunWords = 16 * 256;
  size_t i = 0;  // this piece's words done
  while (words - i >= 16) {
    const size_t k = std::min<size_t>((words - i) / 16, kRunWords / 16);
    uint64_t a, b;
    run_sums(p + 2 * i, k, &a, &b);
    const size_t len = 16 * k;
    s2_ = (s2_ + ((left - i - len) % kMod) * (a % kMod) + b % kMod) % kMod;
    s1_ = (s1_ + a) % kMod;
    nonzero_ = nonzero_ || a != 0;
    i += len;
  }
  const size_t n = words + (bytes & 1);  // an odd trailing byte (the last piece's) is one more word
  for (; i < n; ++i) {
    const uint64_t w = i < words ? (uint64_t(p[2 * i]) << 8) | p[2 * i + 1] : uint64_t(p[2 * i]) << 8;
    s1_ = (s1_ + w) % kMod;
    s2_ = (s2_ + ((left - i) % kMod) * w) % kMod;
    nonzero_ = nonzero_ || w != 0;
  }
  done_ += n;
}

uint32_t Fletcher32::value() const {
  uint64_t s1 = s1_, s2 = s2_;
  if (nonzero_) {
    if (s1 == 0) s1 = kMod;
    if (s2 == 0) s2 = kMod;
  }
  return static_cast<uint32_t>((s2 << 16) | s1);
}

bool Fletcher32::matches(const void* stored) const {
  const auto* s = static_cast<const uint8_t*>(stored);
  const uint32_t le = uint32_t(s[0]) | uint32_t(s[1]) << 8 | uint32_t(s[2]) << 16 | uint32_t(s[3]) << 24;
  const uint32_t be = uint32_t(s[3]) | uint32_t(s[2]) << 8 | uint32_t(s[1]) << 16 | uint32_t(s[0]) << 24;
  const uint32_t c = value();
  return c == le || c == be;
}

uint32_t fletcher32(const void* data, size_t bytes) {
  Fletcher32 f(bytes);
  f.update(data, bytes);
  return f.value();
}

bool fletcher32_matches(const void* data, size_t bytes, const void* stored) {
  Fletcher32 f(bytes);
  f.update(data, bytes);
  return f.matches(stored);
}

}  // namespace trawl::io
