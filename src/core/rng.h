// Deterministic hashing and random streams. Draws are keyed by (seed, round, item or shard),
// never by rank, so results do not depend on how work is split.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace trawl {

/// SplitMix64 finaliser: a bijective 64-bit mixer.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
/// Key for a derived stream: key(seed, round, item).
inline uint64_t key(uint64_t a) { return mix64(a); }
template <class... R>
uint64_t key(uint64_t a, uint64_t b, R... rest) {
  return key(mix64(a) ^ (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2)), rest...);
}

/// 64-bit hash of bytes (trawl's own; stable across platforms and versions — token ids
/// depend on it, so changing it is a format change).
uint64_t hash_bytes(const void* data, size_t n, uint64_t seed = 0);
inline uint64_t hash_str(std::string_view s, uint64_t seed = 0) {
  return hash_bytes(s.data(), s.size(), seed);
}

/// xoshiro256** seeded through SplitMix64; satisfies UniformRandomBitGenerator.
class Rng {
 public:
  using result_type = uint64_t;
  explicit Rng(uint64_t seed);
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }
  result_type operator()();
  double uniform();                 // [0, 1)
  uint64_t below(uint64_t n);       // [0, n), unbiased
  double normal();                  // standard normal (Box–Muller)

 private:
  uint64_t s_[4];
};

}  // namespace trawl
