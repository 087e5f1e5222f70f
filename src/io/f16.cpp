// IEEE binary16 <-> binary32, as trawl stores f16 embeddings (docs/FORMATS.md "Element types").
#include <cstdint>
#include <cstring>
#include <vector>

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
void f16_to_f32(const uint16_t* in, float* out, size_t n) {
  // A 256 KiB table of every half's value, built once from the scalar conversion.
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(static_cast<uint16_t>(h));
    return t;
  }();
  const float* t = table.data();
  for (size_t i = 0; i < n; ++i) out[i] = t[in[i]];
}

}  // namespace trawl::io::h5
