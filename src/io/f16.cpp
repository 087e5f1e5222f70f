// IEEE binary16 <-> binary32, as trawl stores f16 embeddings (docs/FORMATS.md "Element types").
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "io/h5.h"

namespace trawl::io::h5 {


uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t a = x & 0x7fffffffu;
  if (a >= 0x38800000u && a < 0x477ff000u) {
    // Fast path, results that are normal halves (|f| in [2^-14, 65520)): rebias the exponent
    // and round the 13 dropped mantissa bits to nearest even (a carry may bump the exponent).
    return static_cast<uint16_t>(sign | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13));
  }
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xffu) {  // inf or NaN
    if (mant == 0) return static_cast<uint16_t>(sign | 0x7c00u);
    uint32_t m = mant >> 13;
    if (m == 0) m = 0x200;  // a payload only in the low bits: keep it a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7c00u | m);
  }
  int e = static_cast<int>(exp) - 127 + 15;  // the half's biased exponent
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // too large even before rounding
  if (e <= 0) {
    // A half subnormal (or zero): value = m * 2^(exp-150) = hm * 2^-24, hm = m >> (126 - exp).
    if (exp == 0) return static_cast<uint16_t>(sign);  // float zero/subnormal: < 2^-126
    uint32_t m = mant | 0x800000u;
    uint32_t shift = 126u - exp;  // >= 14
    if (shift > 24) return static_cast<uint16_t>(sign);  // < half the smallest subnormal
    uint32_t hm = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (hm & 1u))) ++hm;  // may carry into the first normal
    return static_cast<uint16_t>(sign | hm);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry may reach inf: correct
  return static_cast<uint16_t>(sign | h);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      uint32_t e = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --e;
      }
      x = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void f32_to_f16(const float* in, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_f16(in[i]);
}
namespace {

// A 256 KiB table of every half's value, built once from the scalar conversion.
const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

#if defined(__x86_64__)
// F16C widens 8 halves per instruction, exactly (every half is a float). It quiets signalling
// NaNs where the table keeps their bits, so any group of 8 holding an inf or NaN goes through
// the table: the result is bit-identical to the scalar conversion for all 65,536 halves.
__attribute__((target("avx2,f16c"))) void widen_f16c(const uint16_t* in, float* out, size_t n, const float* t) {
  const __m128i exp_mask = _mm_set1_epi16(0x7c00);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i special = _mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask);
    if (_mm_movemask_epi8(special) == 0) {
      _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    } else {
      for (size_t k = i; k < i + 8; ++k) out[k] = t[in[k]];
    }
  }
  for (; i < n; ++i) out[i] = t[in[i]];
}
#endif

}  // namespace

void f16_to_f32(const uint16_t* in, float* out, size_t n) {
  const float* t = f16_table();
#if defined(__x86_64__)
  static const bool f16c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  if (f16c) return widen_f16c(in, out, n, t);
#endif
  for (size_t i = 0; i < n; ++i) out[i] = t[in[i]];
}

}  // namespace trawl::io::h5
