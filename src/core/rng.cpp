#include "core/rng.h"

#include <cmath>
#include <cstring>

namespace trawl {

namespace {
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian hosts only (checked in tests)
}
}  // namespace

uint64_t hash_bytes(const void* data, size_t n, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = mix64(seed ^ (0x51ed27f3a9c4b17dULL * (n + 1)));
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t a = load64(p + i) * 0x9fb21c651e98df25ULL;
    uint64_t b = load64(p + i + 8) * 0xc2b2ae3d27d4eb4fULL;
    h = rotl(h ^ a, 29) * 0x165667b19e3779f9ULL + rotl(b, 31);
  }
  if (i + 8 <= n) {
    h = rotl(h ^ (load64(p + i) * 0x9fb21c651e98df25ULL), 27) * 0x85ebca77c2b2ae63ULL;
    i += 8;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < n; ++i, ++k) tail |= uint64_t(p[i]) << (8 * k);
  h ^= tail * 0x27d4eb2f165667c5ULL;
  return mix64(h);
}

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) {
    x += 0x9e3779b97f4a7c15ULL;
    s = mix64(x);
  }
}
uint64_t Rng::operator()() {
  uint64_t r = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return r;
}
double Rng::uniform() { return double((*this)() >> 11) * (1.0 / 9007199254740992.0); }
uint64_t Rng::below(uint64_t n) {
  if (n == 0) return 0;
  uint64_t lim = max() - max() % n;
  uint64_t r;
  do r = (*this)(); while (r >= lim);
  return r % n;
}
double Rng::normal() {
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace trawl
