// trawl-libs: trawl_io
// The HDF5 wrappers (io/h5.h): half-precision conversion, files, attributes, datasets, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/h5.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::io;

namespace {

float from_bits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// The value of a half from the IEEE 754 binary16 definition, computed in double.
double half_value(uint16_t h) {
  int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0) v = std::ldexp(m, -24);
  else if (e == 31) v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(1024 + m, e - 25);
  return sign ? -v : v;
}

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_HAS(s, sub) EXPECT_NE(std::string(s).find(sub), std::string::npos) << "in: " << (s)

}  // namespace

// ---- f16 -----------------------------------------------------------------------------------

TEST(F16, AllHalfValuesWidenExactlyAndRoundTrip) {
  int nans = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = h5::f16_to_f32(static_cast<uint16_t>(h));
    double ref = half_value(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ++nans;
    } else {
      ASSERT_EQ(static_cast<double>(f), ref) << std::hex << h;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0) << std::hex << h;
    }
    ASSERT_EQ(h5::f32_to_f16(f), h) << "round trip of 0x" << std::hex << h;  // NaN payloads too
  }
  EXPECT_EQ(nans, 2 * 1023);
}

// The array conversion (F16C where the CPU has it) gives the scalar conversion's bits for every
// half, in every position of a group of 8 and in the tail, NaN payloads included.
TEST(F16, ArrayWideningEqualsScalarBitForBit) {
  std::vector<uint16_t> all(65536 + 5);
  for (uint32_t h = 0; h < all.size(); ++h) all[h] = static_cast<uint16_t>((h * 40503u) & 0xffffu);
  for (size_t shift : {0, 1, 3, 7}) {
    std::vector<float> out(all.size() - shift);
    h5::f16_to_f32(all.data() + shift, out.data(), out.size());
    for (size_t i = 0; i < out.size(); ++i) {
      float want = h5::f16_to_f32(all[i + shift]);
      ASSERT_EQ(std::memcmp(&out[i], &want, 4), 0) << "half 0x" << std::hex << all[i + shift];
    }
  }
}

TEST(F16, HandCheckedValues) {
  struct Case {
    float f;
    uint16_t h;
  } cases[] = {
      {0.0f, 0x0000},        {-0.0f, 0x8000},       {1.0f, 0x3c00},        {-2.0f, 0xc000},
      {0.5f, 0x3800},        {65504.0f, 0x7bff},    {-65504.0f, 0xfbff},   {0.1f, 0x2e66},
      {1.0f / 3, 0x3555},    {3.14159265f, 0x4248}, {6.103515625e-05f, 0x0400},  // smallest normal 2^-14
      {5.9604644775390625e-08f, 0x0001},  // smallest subnormal 2^-24
      {6.097555160522461e-05f, 0x03ff},   // largest subnormal
      {2.98023223876953125e-08f, 0x0000},  // 2^-25: a tie between 0 and 2^-24, to even (0)
      {8.940696716308594e-08f, 0x0002},    // 1.5 * 2^-24: tie between 1 and 2, to even (2)
      {65519.99609375f, 0x7bff},           // just below the overflow threshold
      {65520.0f, 0x7c00},                  // the threshold: a tie rounding to even = inf
      {1e10f, 0x7c00},                     {-1e10f, 0xfc00},
      {1e-10f, 0x0000},                    {-1e-10f, 0x8000},
      {1.00048828125f, 0x3c00},  // 1 + 2^-11: a tie between 0x3c00 and 0x3c01, to even
      {1.00146484375f, 0x3c02},  // 1 + 3*2^-11: a tie between 0x3c01 and 0x3c02, to even
      {1.00048840045928955078125f, 0x3c01},  // one float above the tie
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
      {std::numeric_limits<float>::denorm_min(), 0x0000},
  };
  for (auto& c : cases) EXPECT_EQ(h5::f32_to_f16(c.f), c.h) << c.f;
  EXPECT_EQ(h5::f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7c00, 0x7c00);
  EXPECT_NE(h5::f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x3ff, 0);
  EXPECT_TRUE(std::isnan(h5::f16_to_f32(h5::f32_to_f16(from_bits(0x7f800001u)))));  // low-bit payload
  EXPECT_EQ(h5::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(h5::f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(h5::f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

TEST(F16, EveryMidpointRoundsToEvenAndNeighboursToNearest) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      uint16_t a = static_cast<uint16_t>(h | sign), b = static_cast<uint16_t>((h + 1) | sign);
      float fa = h5::f16_to_f32(a), fb = h5::f16_to_f32(b);
      float mid = (fa + fb) / 2;  // exact: 12 significant bits
      ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(fa) + fb) / 2);
      uint16_t even = (h & 1) ? b : a;
      ASSERT_EQ(h5::f32_to_f16(mid), even) << std::hex << h;
      ASSERT_EQ(h5::f32_to_f16(std::nextafter(mid, fa)), a) << std::hex << h;
      ASSERT_EQ(h5::f32_to_f16(std::nextafter(mid, fb)), b) << std::hex << h;
    }
  }
}

#if defined(__FLT16_MAX__)
TEST(F16, AgreesWithTheCompilersFloat16OnSampledFloats) {
  // An independent reference: GCC's _Float16 conversion (libgcc soft-float).
  uint64_t checked = 0;
  for (uint64_t x = 0; x < (1ull << 32); x += 997) {
    float f = from_bits(static_cast<uint32_t>(x));
    _Float16 r = static_cast<_Float16>(f);
    uint16_t rb;
    std::memcpy(&rb, &r, 2);
    uint16_t mine = h5::f32_to_f16(f);
    if (std::isnan(f)) {
      ASSERT_EQ(mine & 0x7c00, 0x7c00);
      ASSERT_NE(mine & 0x3ff, 0);
    } else {
      ASSERT_EQ(mine, rb) << "float bits 0x" << std::hex << x;
    }
    ++checked;
  }
  EXPECT_GT(checked, 4000000u);
}
#endif

TEST(F16, BulkConversionMatchesScalarForEveryHalf) {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  std::vector<float> wide(65536);
  h5::f16_to_f32(all.data(), wide.data(), all.size());
  std::vector<uint16_t> back(65536);
  h5::f32_to_f16(wide.data(), back.data(), wide.size());
  for (uint32_t h = 0; h < 65536; ++h) {
    float s = h5::f16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(std::memcmp(&wide[h], &s, 4), 0) << std::hex << h;  // bitwise, NaNs too
    ASSERT_EQ(back[h], h) << std::hex << h;
  }
}

TEST(F16, BulkConversionMatchesScalar) {
  std::vector<float> in = {0.25f, -1.5f, 1000.0f, 7e-6f};
  std::vector<uint16_t> h(in.size());
  std::vector<float> back(in.size());
  h5::f32_to_f16(in.data(), h.data(), in.size());
  h5::f16_to_f32(h.data(), back.data(), h.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(h[i], h5::f32_to_f16(in[i]));
    EXPECT_EQ(back[i], h5::f16_to_f32(h[i]));
  }
  EXPECT_EQ(back[0], 0.25f);
  EXPECT_EQ(back[1], -1.5f);
  EXPECT_EQ(back[2], 1000.0f);
  EXPECT_NEAR(back[3], 7e-6f, 6e-8);  // subnormal: absolute spacing 2^-24
}

// ---- files and attributes ------------------------------------------------------------------

TEST(H5File, AttributesRoundTripWithTypes) {
  test::TempDir d("h5");
  std::string p = d / "a.h5";
  {
    auto f = h5::File::create(p);
    h5::set_format(f, "vocab", 3);
    f.set_attr("name", std::string("héllo wörld"));
    f.set_attr("multi", std::string("a = 1\nb = 2\n"));
    f.set_attr("neg", static_cast<int64_t>(-5));
    f.set_attr_u64("big", 0xffffffffffffffffull);
    f.set_attr("pi", 3.25);
    f.set_attr("name", std::string("replaced"));  // replacing keeps one attribute
    f.close();
  }
  auto f = h5::File::open(p);
  EXPECT_EQ(f.attr_str("trawl-format"), "vocab");
  EXPECT_EQ(f.attr_i64("trawl-format-version"), 3);
  EXPECT_FALSE(f.attr_str("trawl-version").empty());
  EXPECT_EQ(f.attr_str("name"), "replaced");
  EXPECT_EQ(f.attr_str("multi"), "a = 1\nb = 2\n");
  EXPECT_EQ(f.attr_i64("neg"), -5);
  EXPECT_EQ(f.attr_u64("big"), 0xffffffffffffffffull);
  EXPECT_EQ(f.attr_f64("pi"), 3.25);
  EXPECT_EQ(f.attr_text("big"), "18446744073709551615");
  EXPECT_EQ(f.attr_text("pi"), "3.25");
  EXPECT_EQ(f.attr_text("name"), "replaced");
  std::vector<std::string> names = {"big", "multi", "name", "neg", "pi", "trawl-format", "trawl-format-version",
                                    "trawl-version"};
  EXPECT_EQ(f.attr_names(), names);
  EXPECT_TRUE(f.has_attr("neg"));
  EXPECT_FALSE(f.has_attr("nope"));

  std::string e = error_of([&] { f.attr_str("nope"); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "missing attribute 'nope'");
  EXPECT_THROW(f.attr_str("nope"), InputError);
  e = error_of([&] { f.attr_i64("name"); });
  EXPECT_HAS(e, "attribute 'name'");
  EXPECT_HAS(e, "expected an integer");
  EXPECT_THROW(f.attr_i64("name"), InputError);
  EXPECT_THROW(f.attr_str("neg"), InputError);
  e = error_of([&] { f.attr_u64("neg"); });
  EXPECT_HAS(e, "-5 is negative");
  e = error_of([&] { f.attr_i64("big"); });
  EXPECT_HAS(e, "out of range");
}

TEST(H5File, CheckFormatMessages) {
  test::TempDir d("h5");
  auto make = [&](const std::string& name, const char* fmt, int version) {
    auto f = h5::File::create(d / name);
    if (fmt) h5::set_format(f, fmt, version);
    f.close();
    return d / name;
  };
  std::string ok = make("ok.h5", "index", 1), newer = make("new.h5", "index", 7),
              other = make("other.h5", "subpool", 1), foreign = make("foreign.h5", nullptr, 0),
              zero = make("zero.h5", "index", 0);
  EXPECT_EQ(h5::check_format(h5::File::open(ok), "index", 2), 1);
  std::string e = error_of([&] { h5::check_format(h5::File::open(newer), "index", 2); });
  EXPECT_HAS(e, newer);
  EXPECT_HAS(e, "newer version 7 (this trawl reads up to 2)");
  e = error_of([&] { h5::check_format(h5::File::open(other), "index", 2); });
  EXPECT_HAS(e, other);
  EXPECT_HAS(e, "not a trawl index (trawl-format = 'subpool'");
  e = error_of([&] { h5::check_format(h5::File::open(foreign), "index", 2); });
  EXPECT_HAS(e, foreign);
  EXPECT_HAS(e, "not a trawl file (no 'trawl-format' attribute");
  e = error_of([&] { h5::check_format(h5::File::open(zero), "index", 2); });
  EXPECT_HAS(e, "invalid trawl-format-version 0");
  EXPECT_THROW(h5::check_format(h5::File::open(newer), "index", 2), InputError);
}

TEST(H5File, OpenErrorsNameTheFileAndTheFamily) {
  test::TempDir d("h5");
  std::string missing = d / "missing.h5";
  std::string e = error_of([&] { h5::File::open(missing); });
  EXPECT_HAS(e, missing);
  EXPECT_THROW(h5::File::open(missing), IoError);

  std::string text = d / "text.h5";
  test::write_file(text, "id\ttext\n1\thello\n");
  e = error_of([&] { h5::File::open(text); });
  EXPECT_HAS(e, text);
  EXPECT_HAS(e, "not an HDF5 file");
  EXPECT_THROW(h5::File::open(text), InputError);

  std::string empty = d / "empty.h5";
  test::write_file(empty, "");
  EXPECT_HAS(error_of([&] { h5::File::open(empty); }), "not an HDF5 file");

  EXPECT_THROW(h5::File::open(d.path()), IoError);  // a directory
  std::string nodir = d / "no/such/dir/x.h5";
  e = error_of([&] { h5::File::create(nodir); });
  EXPECT_HAS(e, nodir);
  EXPECT_THROW(h5::File::create(nodir), IoError);
}

// ---- datasets ------------------------------------------------------------------------------

TEST(H5Dataset, NumericRowRangesAcrossChunksAndBlocks) {
  test::TempDir d("h5");
  std::string p = d / "n.h5";
  const uint64_t n = 1000;
  std::vector<uint64_t> u(n);
  std::vector<uint32_t> w(n);
  std::vector<float> f(n * 3);
  for (uint64_t i = 0; i < n; ++i) {
    u[i] = (i << 40) | (i * 7);
    w[i] = static_cast<uint32_t>(i * 2654435761u);
    for (int c = 0; c < 3; ++c) f[i * 3 + c] = static_cast<float>(i) + 0.25f * c;
  }
  {
    auto file = h5::File::create(p);
    auto du = h5::Dataset::create(file, "u", h5::Type::kU64, 64);
    auto dw = h5::Dataset::create(file, "w", h5::Type::kU32, 100);
    auto df = h5::Dataset::create(file, "f", h5::Type::kF32, 33, 3);
    auto dh = h5::Dataset::create(file, "h", h5::Type::kF16, 50, 3);
    auto dz = h5::Dataset::create(file, "z", h5::Type::kU64, 8, 0, 4);  // deflate 4
    // Blocks of odd sizes, 1, 0 and a large one.
    uint64_t pos = 0;
    for (uint64_t b : {1ull, 0ull, 7ull, 63ull, 129ull, 300ull, 500ull}) {
      du.append(u.data() + pos, b);
      dw.append(w.data() + pos, b);
      df.append(f.data() + pos * 3, b);
      dh.append(f.data() + pos * 3, b);
      dz.append(u.data() + pos, b);
      pos += b;
    }
    ASSERT_EQ(pos, n);
    EXPECT_EQ(du.rows(), n);
    EXPECT_EQ(df.rows(), n);
    EXPECT_EQ(df.cols(), 3u);
    // Overwrite a range in place.
    std::vector<uint32_t> patch = {1, 2, 3};
    dw.write(10, 3, patch.data());
    w[10] = 1, w[11] = 2, w[12] = 3;
    file.close();
  }
  auto file = h5::File::open(p);
  auto du = h5::Dataset::open(file, "u");
  auto dw = h5::Dataset::open(file, "w");
  auto df = h5::Dataset::open(file, "f");
  auto dh = h5::Dataset::open(file, "h");
  auto dz = h5::Dataset::open(file, "z");
  EXPECT_EQ(du.type(), h5::Type::kU64);
  EXPECT_EQ(dw.type(), h5::Type::kU32);
  EXPECT_EQ(df.type(), h5::Type::kF32);
  EXPECT_EQ(dh.type(), h5::Type::kF16);
  EXPECT_EQ(dh.type_desc(), "f16");
  EXPECT_EQ(du.chunk_dims(), std::vector<uint64_t>({64}));
  EXPECT_EQ(df.chunk_dims(), std::vector<uint64_t>({33, 3}));
  EXPECT_EQ(df.dims(), std::vector<uint64_t>({n, 3}));
  EXPECT_EQ(dz.deflate_level(), 4);
  EXPECT_EQ(du.deflate_level(), 0);
  EXPECT_EQ(du.read_all<uint64_t>(), u);
  EXPECT_EQ(dz.read_all<uint64_t>(), u);
  EXPECT_EQ(dw.read_all<uint32_t>(), w);
  EXPECT_EQ(df.read_all<float>(), f);
  for (auto [b, e] : std::vector<std::pair<uint64_t, uint64_t>>{{0, 1}, {63, 65}, {60, 200}, {999, 1000}, {5, 5}, {0, 1000}}) {
    std::vector<uint64_t> ru(e - b);
    du.read(b, e - b, ru.data());
    EXPECT_TRUE(std::equal(ru.begin(), ru.end(), u.begin() + b)) << b << ".." << e;
    std::vector<uint64_t> rw(e - b);  // u32 dataset widened to u64 by HDF5
    dw.read(b, e - b, rw.data());
    for (uint64_t i = b; i < e; ++i) ASSERT_EQ(rw[i - b], w[i]);
    std::vector<float> rf((e - b) * 3), rh((e - b) * 3);
    df.read(b, e - b, rf.data());
    dh.read(b, e - b, rh.data());
    for (uint64_t i = 0; i < rf.size(); ++i) {
      ASSERT_EQ(rf[i], f[b * 3 + i]);
      ASSERT_EQ(rh[i], h5::f16_to_f32(h5::f32_to_f16(f[b * 3 + i])));  // rounded once, to half
      ASSERT_NEAR(rh[i], f[b * 3 + i], std::fabs(f[b * 3 + i]) * (1.0 / 2048) + 1e-7);
    }
  }
  std::vector<double> dd(6);
  dh.read(998, 2, dd.data());
  EXPECT_EQ(dd[3], 999.0);
  EXPECT_EQ(dd[5], 999.5);

  std::vector<uint64_t> r(10);
  std::string e = error_of([&] { du.read(995, 10, r.data()); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "dataset 'u'");
  EXPECT_HAS(e, "out of range");
  EXPECT_THROW(du.read(995, 10, r.data()), UsageError);
  std::vector<float> fl(3);
  e = error_of([&] { du.read(0, 1, fl.data()); });
  EXPECT_HAS(e, "dataset 'u'");
  EXPECT_HAS(e, "cannot be accessed as float");
  EXPECT_THROW(du.read(0, 1, fl.data()), InputError);
  // Writing into a read-only file fails with an IoError naming the dataset.
  e = error_of([&] { du.append(u.data(), 1); });
  EXPECT_HAS(e, "dataset 'u'");
  EXPECT_THROW(du.append(u.data(), 1), IoError);
}

// Whole chunks of a checksummed dataset are written raw with trawl's Fletcher-32
// (Dataset::write_direct), the edges of a range through HDF5's filter. HDF5 itself must then
// read every chunk back and accept its checksum: h5py (HDF5's own filter pipeline, which fails
// the read on a mismatch) is the reference. Mixed on purpose: a partial chunk cached by HDF5
// then overwritten raw, a raw chunk then patched through HDF5, appends of several whole chunks.
TEST(H5Dataset, RawChunkWritesAreReadByHdf5sOwnFilter) {
  if (test::run("/usr/bin/python3 -c 'import h5py, numpy'") != 0)
    FAIL() << "reference cannot run (tools/install-deps.sh installs it): /usr/bin/python3 with h5py and numpy";
  test::TempDir d("h5");
  const std::string p = d / "raw.h5";
  const uint64_t n = 1000;
  std::vector<uint64_t> u(n);
  std::vector<float> f(n * 3);
  for (uint64_t i = 0; i < n; ++i) {
    u[i] = i * 0x9e3779b97f4a7c15ull;
    for (int c = 0; c < 3; ++c) f[i * 3 + c] = float(i) * 0.5f - float(c);
  }
  {
    auto file = h5::File::create(p);
    auto du = h5::Dataset::create(file, "u", h5::Type::kU64, 64);
    auto df = h5::Dataset::create(file, "f", h5::Type::kF32, 64, 3);
    std::vector<uint64_t> old(10, 7);
    std::vector<float> oldf(30, 7.0f);
    du.append(old.data(), 10);  // chunk 0 partial: held in HDF5's cache...
    df.append(oldf.data(), 10);
    du.write(0, 128, u.data());  // ...then chunks 0 and 1 whole, raw
    df.write(0, 128, f.data());
    std::vector<uint64_t> patch(10);
    std::vector<float> patchf(30);
    for (uint64_t i = 0; i < 10; ++i) {
      patch[i] = u[100 + i] = ~u[100 + i];
      for (int c = 0; c < 3; ++c) patchf[i * 3 + c] = f[(100 + i) * 3 + c] = -f[(100 + i) * 3 + c];
    }
    du.write(100, 10, patch.data());  // a raw chunk patched through HDF5
    df.write(100, 10, patchf.data());
    du.append(u.data() + 128, 300);  // 128..428: chunks 2-5 raw, 6 partial
    df.append(f.data() + 128 * 3, 300);
    du.append(u.data() + 428, n - 428);  // the rest of chunk 6 through HDF5, 7-14 raw, 15 partial
    df.append(f.data() + 428 * 3, n - 428);
    file.close();
  }
  const std::string ref = d / "ref";
  {
    std::FILE* o = std::fopen(ref.c_str(), "wb");
    ASSERT_TRUE(o);
    ASSERT_EQ(std::fwrite(u.data(), 8, n, o), n);
    ASSERT_EQ(std::fwrite(f.data(), 4, n * 3, o), n * 3);
    std::fclose(o);
  }
  std::string out;
  ASSERT_EQ(test::run("/usr/bin/python3 -c \"import h5py, numpy as np, sys\n"
                      "f = h5py.File(sys.argv[1], 'r'); raw = open(sys.argv[2], 'rb').read()\n"
                      "u = np.frombuffer(raw[:8000], np.uint64); x = np.frombuffer(raw[8000:], np.float32).reshape(-1, 3)\n"
                      "assert f['u'].fletcher32 and f['f'].fletcher32\n"
                      "assert np.array_equal(f['u'][()], u), 'u differs'\n"
                      "assert np.array_equal(f['f'][()], x), 'f differs'\n"
                      "print('ok')\" " + p + " " + ref, &out), 0) << out;
  EXPECT_HAS(out, "ok");
  auto file = h5::File::open(p);
  EXPECT_EQ(h5::Dataset::open(file, "u").read_all<uint64_t>(), u);  // and trawl's own verified read
  EXPECT_EQ(h5::Dataset::open(file, "f").read_all<float>(), f);
}

TEST(H5Dataset, StringsUtf8EmptyAndRanges) {
  test::TempDir d("h5");
  std::string p = d / "s.h5";
  std::vector<std::string> s;
  for (int i = 0; i < 250; ++i) s.push_back(i % 7 == 0 ? "" : "row " + std::to_string(i) + " – ünïcødé 😀");
  s.push_back(std::string(100000, 'x'));  // a long one
  {
    auto file = h5::File::create(p);
    auto ds = h5::Dataset::create(file, "s", h5::Type::kStr, 16);
    ds.write_strings(0, 3, s.data());
    ds.write_strings(3, 100, s.data() + 3);
    std::vector<std::string> rest(s.begin() + 103, s.end());
    ds.append_strings(rest);
    std::vector<std::string> bad = {"a", std::string("b\0c", 3)};
    std::string e = error_of([&] { ds.append_strings(bad); });
    EXPECT_HAS(e, "dataset 's'");
    EXPECT_HAS(e, "row 252");  // the second string of the rejected block
    EXPECT_HAS(e, "NUL");
    EXPECT_EQ(ds.rows(), s.size());
    ds.set_attr("note", std::string("per-dataset attribute"));
    file.close();
  }
  auto file = h5::File::open(p);
  auto ds = h5::Dataset::open(file, "s");
  EXPECT_EQ(ds.type(), h5::Type::kStr);
  EXPECT_EQ(ds.type_desc(), "str (vlen utf-8)");
  EXPECT_EQ(ds.attr_str("note"), "per-dataset attribute");
  std::vector<std::string> out;
  ds.read_strings(0, ds.rows(), out);
  EXPECT_EQ(out, s);
  ds.read_strings(14, 20, out);
  EXPECT_EQ(out, std::vector<std::string>(s.begin() + 14, s.begin() + 34));
  ds.read_strings(7, 0, out);
  EXPECT_TRUE(out.empty());
  std::vector<uint64_t> u(1);
  EXPECT_THROW(ds.read(0, 1, u.data()), InputError);
}

TEST(H5Dataset, BytesU8RangesAcrossChunks) {
  // u8 datasets hold raw bytes (CSR string columns): appended in blocks of any size, read back
  // by byte range, all 256 values and NUL included.
  test::TempDir d("h5");
  std::string p = d / "b.h5";
  const uint64_t n = 5000;
  std::vector<uint8_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + i / 256) & 0xff);
  {
    auto file = h5::File::create(p);
    auto db = h5::Dataset::create(file, "b", h5::Type::kU8, 1024);
    EXPECT_EQ(db.type(), h5::Type::kU8);
    uint64_t pos = 0;
    for (uint64_t b : {0ull, 1ull, 1023ull, 1ull, 2000ull, 1975ull}) {
      db.append(v.data() + pos, b);
      pos += b;
    }
    ASSERT_EQ(pos, n);
    EXPECT_EQ(db.rows(), n);
    std::vector<uint8_t> patch = {0, 0xff, 0};
    db.write(1023, 3, patch.data());  // across a chunk boundary, in place
    std::copy(patch.begin(), patch.end(), v.begin() + 1023);
    // Writing past the end extends the dataset (here with a gap the caller fills next).
    db.write(n + 10, 2, patch.data());
    EXPECT_EQ(db.rows(), n + 12);
    db.write(n, 10, v.data());
    std::vector<uint8_t> head(v.begin(), v.begin() + 10);
    v.insert(v.end(), head.begin(), head.end());
    v.insert(v.end(), patch.begin(), patch.begin() + 2);
    file.close();
  }
  auto file = h5::File::open(p);
  auto db = h5::Dataset::open(file, "b");
  EXPECT_EQ(db.type(), h5::Type::kU8);
  EXPECT_EQ(db.type_desc(), "u8");
  EXPECT_STREQ(h5::type_name(h5::Type::kU8), "u8");
  EXPECT_EQ(db.rank(), 1);
  EXPECT_EQ(db.chunk_dims(), std::vector<uint64_t>({1024}));
  EXPECT_NO_THROW(db.expect(h5::Type::kU8, 1));
  EXPECT_HAS(error_of([&] { db.expect(h5::Type::kU32, 1); }), "type is u8, expected u32");
  {
    h5::Id t(H5Dget_type(db.id()));
    EXPECT_TRUE(H5Tequal(t.get(), H5T_STD_U8LE) > 0);
  }
  EXPECT_EQ(db.read_all<uint8_t>(), v);
  for (auto [b, e] : std::vector<std::pair<uint64_t, uint64_t>>{{0, 1}, {1000, 1100}, {1023, 1026}, {2048, 2048},
                                                                  {4999, 5012}, {0, 5012}}) {
    std::vector<uint8_t> r(e - b);
    db.read(b, e - b, r.data());
    EXPECT_TRUE(std::equal(r.begin(), r.end(), v.begin() + b)) << b << ".." << e;
    std::vector<uint32_t> w(e - b);  // widened by HDF5
    db.read(b, e - b, w.data());
    for (uint64_t i = b; i < e; ++i) ASSERT_EQ(w[i - b], v[i]);
  }
  std::vector<uint8_t> r(20);
  std::string e = error_of([&] { db.read(5000, 20, r.data()); });
  EXPECT_HAS(e, "dataset 'b'");
  EXPECT_HAS(e, "out of range");
  EXPECT_THROW(db.read(5000, 20, r.data()), UsageError);
  std::vector<float> fl(1);
  EXPECT_THROW(db.read(0, 1, fl.data()), InputError);
  std::vector<std::string> s;
  EXPECT_THROW(db.read_strings(0, 1, s), InputError);
}

TEST(H5Dataset, MissingDatasetAndListing) {
  test::TempDir d("h5");
  std::string p = d / "l.h5";
  {
    auto file = h5::File::create(p);
    h5::Dataset::create(file, "b", h5::Type::kU32, 4);
    h5::Dataset::create(file, "a", h5::Type::kF32, 4, 8);
    hid_t g = H5Gcreate2(file.id(), "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(g, 0);
    H5Gclose(g);
    h5::Dataset::create(file, "grp/c", h5::Type::kI64, 4);
    EXPECT_THROW(h5::Dataset::create(file, "a", h5::Type::kF32, 4), UsageError);
    file.close();
  }
  auto file = h5::File::open(p);
  EXPECT_EQ(file.datasets(), std::vector<std::string>({"/a", "/b", "/grp/c"}));
  EXPECT_TRUE(file.exists("grp/c"));
  EXPECT_FALSE(file.exists("nope/c"));
  EXPECT_FALSE(file.exists("grp/d"));
  std::string e = error_of([&] { h5::Dataset::open(file, "embedding"); });
  EXPECT_HAS(e, p);
  EXPECT_HAS(e, "missing dataset 'embedding'");
  EXPECT_THROW(h5::Dataset::open(file, "embedding"), InputError);
  auto a = h5::Dataset::open(file, "a");
  EXPECT_NO_THROW(a.expect(h5::Type::kF32, 2, 8));
  e = error_of([&] { a.expect(h5::Type::kF32, 2, 16); });
  EXPECT_HAS(e, "dataset 'a': has 8 columns, expected 16");
  e = error_of([&] { a.expect(h5::Type::kF16, 2); });
  EXPECT_HAS(e, "type is f32, expected f16");
  e = error_of([&] { a.expect_rows(3, "the shard has 3 rows"); });
  EXPECT_HAS(e, "has 0 rows, expected 3 (the shard has 3 rows)");
}

TEST(H5Dataset, Float16FileTypeIsTheIeeeHalfLayout) {
  h5::init();
  h5::Id t(h5::file_type(h5::Type::kF16));
  size_t spos, epos, esize, mpos, msize;
  ASSERT_GE(H5Tget_fields(t.get(), &spos, &epos, &esize, &mpos, &msize), 0);
  EXPECT_EQ(H5Tget_size(t.get()), 2u);
  EXPECT_EQ(spos, 15u);
  EXPECT_EQ(epos, 10u);
  EXPECT_EQ(esize, 5u);
  EXPECT_EQ(mpos, 0u);
  EXPECT_EQ(msize, 10u);
  EXPECT_EQ(H5Tget_ebias(t.get()), 15u);
  EXPECT_EQ(H5Tget_order(t.get()), H5T_ORDER_LE);
  EXPECT_EQ(H5Tget_precision(t.get()), 16u);
}
