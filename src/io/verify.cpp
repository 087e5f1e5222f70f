#include "io/verify.h"

#include <algorithm>

namespace trawl::io {

namespace {

template <class T>
uint64_t read_blocks(const h5::Dataset& d, uint64_t row_elems) {
  const uint64_t row_bytes = sizeof(T) * row_elems;
  const uint64_t block = std::max<uint64_t>(1, (64u << 20) / std::max<uint64_t>(row_bytes, 1));
  std::vector<T> buf;
  for (uint64_t r = 0; r < d.rows(); r += block) {
    uint64_t n = std::min(block, d.rows() - r);
    buf.resize(n * row_elems);
    if constexpr (std::is_same_v<T, uint16_t>) {
      d.read_f16_bits(r, n, buf.data());
    } else {
      d.read(r, n, buf.data());
    }
  }
  return d.rows() * row_bytes;
}

}  // namespace

std::vector<DatasetCheck> verify_datasets(const h5::File& f) {
  std::vector<DatasetCheck> out;
  for (const auto& name : f.datasets()) {
    auto d = h5::Dataset::open(f, name);
    DatasetCheck c;
    c.name = name;
    c.checksummed = d.has_checksum();
    if (d.rank() == 0) {  // a scalar dataset: nothing in chunks
      out.push_back(c);
      continue;
    }
    const uint64_t w = std::max<uint64_t>(d.cols(), 1);
    switch (d.type()) {
      case h5::Type::kU64: c.bytes = read_blocks<uint64_t>(d, w); break;
      case h5::Type::kU32: c.bytes = read_blocks<uint32_t>(d, w); break;
      case h5::Type::kU8: c.bytes = read_blocks<uint8_t>(d, w); break;
      case h5::Type::kI64: c.bytes = read_blocks<int64_t>(d, w); break;
      case h5::Type::kI32: c.bytes = read_blocks<int32_t>(d, w); break;
      case h5::Type::kF32: c.bytes = read_blocks<float>(d, w); break;
      case h5::Type::kF64: c.bytes = read_blocks<double>(d, w); break;
      case h5::Type::kF16: c.bytes = read_blocks<uint16_t>(d, w); break;
      case h5::Type::kStr: {
        std::vector<std::string> s;
        for (uint64_t r = 0; r < d.rows(); r += 65536) {
          d.read_strings(r, std::min<uint64_t>(65536, d.rows() - r), s);
          for (auto& x : s) c.bytes += x.size();
        }
        break;
      }
      case h5::Type::kOther: break;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace trawl::io
