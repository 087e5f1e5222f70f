#include "io/h5.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/error.h"
#include "io/checksum.h"
#include "core/log.h"
#include "trawl/version.h"

namespace trawl::io::h5 {

// ---- Errors --------------------------------------------------------------------------------

namespace {

std::once_flag g_init_once;
hid_t g_f16_file = -1;  // little-endian IEEE half, as stored
hid_t g_f16_mem = -1;   // native-order IEEE half (identical on little-endian hosts)
hid_t g_str_utf8 = -1;  // variable-length UTF-8 string

hid_t make_half(hid_t base) {
  hid_t t = H5Tcopy(base);
  // sign bit 15, exponent bits 10..14 (5 bits, bias 15), mantissa bits 0..9.
  if (t < 0 || H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
      H5Tset_ebias(t, 15) < 0)
    TRAWL_ASSERT_MSG(false, "cannot build the HDF5 half-precision type");
  return t;
}

void do_init() {
  H5open();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  g_f16_file = make_half(H5T_IEEE_F32LE);
  g_f16_mem = make_half(H5T_NATIVE_FLOAT);
  g_str_utf8 = H5Tcopy(H5T_C_S1);
  TRAWL_ASSERT(g_str_utf8 >= 0);
  TRAWL_ASSERT(H5Tset_size(g_str_utf8, H5T_VARIABLE) >= 0);
  TRAWL_ASSERT(H5Tset_cset(g_str_utf8, H5T_CSET_UTF8) >= 0);
}

struct StackEntry {
  std::string desc, minor;
};

herr_t walk_cb(unsigned, const H5E_error2_t* e, void* data) {
  auto* v = static_cast<std::vector<StackEntry>*>(data);
  StackEntry s;
  if (e->desc) s.desc = e->desc;
  char buf[256];
  if (H5Eget_msg(e->min_num, nullptr, buf, sizeof buf) > 0) s.minor = buf;
  v->push_back(s);
  return 0;
}

[[noreturn]] void fail_io(const std::string& where, const std::string& what) {
  std::string st = error_stack();
  throw IoError(cat(where, ": ", what, st.empty() ? "" : " (HDF5: " + st + ")"));
}
[[noreturn]] void fail_input(const std::string& where, const std::string& what) {
  std::string st = error_stack();
  throw InputError(cat(where, ": ", what, st.empty() ? "" : " (HDF5: " + st + ")"));
}

// Owned id or IoError naming where and what.
Id checked(hid_t id, const std::string& where, const std::string& what) {
  if (id < 0) fail_io(where, what);
  return Id(id);
}

}  // namespace

void init() { std::call_once(g_init_once, do_init); }

std::string error_stack() {
  std::vector<StackEntry> v;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &v);
  if (v.empty()) return "";
  // The outermost entry says what failed, the innermost why; keep those two.
  std::vector<std::string> parts;
  auto add = [&](const StackEntry& e) {
    auto lower = [](std::string x) {
      for (auto& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return x;
    };
    std::string s = e.desc;
    if (!e.minor.empty() && lower(s).find(lower(e.minor)) == std::string::npos)
      s += s.empty() ? e.minor : " [" + e.minor + "]";
    if (!s.empty() && std::find(parts.begin(), parts.end(), s) == parts.end()) parts.push_back(s);
  };
  add(v.front());
  if (v.size() > 1) add(v.back());
  std::string out;
  for (auto& p : parts) out += (out.empty() ? "" : ": ") + p;
  return out;
}

// ---- f16 -----------------------------------------------------------------------------------

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

// ---- Types ---------------------------------------------------------------------------------

const char* type_name(Type t) {
  switch (t) {
    case Type::kU64: return "u64";
    case Type::kU32: return "u32";
    case Type::kU8: return "u8";
    case Type::kI64: return "i64";
    case Type::kI32: return "i32";
    case Type::kF32: return "f32";
    case Type::kF64: return "f64";
    case Type::kF16: return "f16";
    case Type::kStr: return "str";
    case Type::kOther: return "other";
  }
  return "?";
}

hid_t file_type(Type t) {
  init();
  switch (t) {
    case Type::kU64: return H5Tcopy(H5T_STD_U64LE);
    case Type::kU32: return H5Tcopy(H5T_STD_U32LE);
    case Type::kU8: return H5Tcopy(H5T_STD_U8LE);
    case Type::kI64: return H5Tcopy(H5T_STD_I64LE);
    case Type::kI32: return H5Tcopy(H5T_STD_I32LE);
    case Type::kF32: return H5Tcopy(H5T_IEEE_F32LE);
    case Type::kF64: return H5Tcopy(H5T_IEEE_F64LE);
    case Type::kF16: return H5Tcopy(g_f16_file);
    case Type::kStr: return H5Tcopy(g_str_utf8);
    case Type::kOther: break;
  }
  TRAWL_ASSERT_MSG(false, "no file type for 'other'");
  return -1;
}

namespace {

Type classify(hid_t t) {
  H5T_class_t c = H5Tget_class(t);
  size_t s = H5Tget_size(t);
  if (c == H5T_INTEGER) {
    bool u = H5Tget_sign(t) == H5T_SGN_NONE;
    if (s == 8) return u ? Type::kU64 : Type::kI64;
    if (s == 4) return u ? Type::kU32 : Type::kI32;
    if (s == 1 && u) return Type::kU8;
    return Type::kOther;
  }
  if (c == H5T_FLOAT) {
    if (s == 4) return Type::kF32;
    if (s == 8) return Type::kF64;
    if (s == 2) {
      size_t spos, epos, esize, mpos, msize;
      if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) >= 0 && esize == 5 && msize == 10 &&
          H5Tget_ebias(t) == 15)
        return Type::kF16;
    }
    return Type::kOther;
  }
  if (c == H5T_STRING) return Type::kStr;
  return Type::kOther;
}

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "vlen";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

std::string describe_type(hid_t t) {
  H5T_class_t c = H5Tget_class(t);
  size_t s = H5Tget_size(t);
  Type k = classify(t);
  if (c == H5T_STRING) {
    bool utf8 = H5Tget_cset(t) == H5T_CSET_UTF8;
    if (H5Tis_variable_str(t) > 0) return cat("str (vlen ", utf8 ? "utf-8" : "ascii", ")");
    return cat("str (fixed ", s, utf8 ? ", utf-8" : "", ")");
  }
  if (k != Type::kOther) return type_name(k);
  if (c == H5T_INTEGER) return cat(H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "i", 8 * s);
  if (c == H5T_FLOAT) return cat("f", 8 * s, " (non-IEEE layout)");
  return cat("other (", class_name(c), ", ", s, " bytes)");
}

std::string fmt_double(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

}  // namespace

// ---- Id ------------------------------------------------------------------------------------

Id& Id::operator=(Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

bool Id::reset() {
  bool ok = true;
  if (id_ >= 0) {
    ok = H5Idec_ref(id_) >= 0;
    id_ = -1;
  }
  return ok;
}

// ---- Object (attributes) -------------------------------------------------------------------

std::string Object::where() const {
  return dataset_.empty() ? path_ : cat(path_, ", dataset '", dataset_, "'");
}

bool Object::has_attr(const std::string& name) const {
  htri_t e = H5Aexists(id(), name.c_str());
  if (e < 0) fail_io(where(), cat("cannot look up attribute '", name, "'"));
  return e > 0;
}

namespace {
herr_t attr_name_cb(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> Object::attr_names() const {
  std::vector<std::string> v;
  hsize_t idx = 0;
  if (H5Aiterate2(id(), H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name_cb, &v) < 0)
    fail_input(where(), "cannot list attributes");
  std::sort(v.begin(), v.end());
  return v;
}

namespace {

// Creates (replacing) a scalar attribute of file type ft and writes buf with memory type mt.
void write_attr(const Object& o, const std::string& name, hid_t ft, hid_t mt, const void* buf) {
  if (o.has_attr(name) && H5Adelete(o.id(), name.c_str()) < 0)
    fail_io(o.where(), cat("cannot replace attribute '", name, "'"));
  Id space = checked(H5Screate(H5S_SCALAR), o.where(), "cannot create a dataspace");
  Id a = checked(H5Acreate2(o.id(), name.c_str(), ft, space.get(), H5P_DEFAULT, H5P_DEFAULT), o.where(),
                 cat("cannot create attribute '", name, "'"));
  if (H5Awrite(a.get(), mt, buf) < 0) fail_io(o.where(), cat("cannot write attribute '", name, "'"));
  if (!a.reset()) fail_io(o.where(), cat("cannot close attribute '", name, "'"));
}

struct OpenAttr {
  Id attr, type, space;
  hssize_t npoints = 0;
  H5T_class_t cls = H5T_NO_CLASS;
};

OpenAttr open_attr(const Object& o, const std::string& name) {
  if (!o.has_attr(name)) throw InputError(cat(o.where(), ": missing attribute '", name, "'"));
  OpenAttr a;
  a.attr = Id(H5Aopen(o.id(), name.c_str(), H5P_DEFAULT));
  if (!a.attr.valid()) fail_input(o.where(), cat("cannot open attribute '", name, "'"));
  a.type = Id(H5Aget_type(a.attr.get()));
  a.space = Id(H5Aget_space(a.attr.get()));
  if (!a.type.valid() || !a.space.valid()) fail_input(o.where(), cat("cannot read attribute '", name, "'"));
  a.npoints = H5Sget_simple_extent_npoints(a.space.get());
  a.cls = H5Tget_class(a.type.get());
  return a;
}

// All strings of a string attribute (vlen or fixed).
std::vector<std::string> read_attr_strings(const Object& o, const std::string& name, OpenAttr& a) {
  std::vector<std::string> out;
  size_t n = a.npoints > 0 ? static_cast<size_t>(a.npoints) : 0;
  if (n == 0) return out;
  H5T_cset_t cset = H5Tget_cset(a.type.get());
  if (H5Tis_variable_str(a.type.get()) > 0) {
    Id mt(H5Tcopy(H5T_C_S1));
    H5Tset_size(mt.get(), H5T_VARIABLE);
    H5Tset_cset(mt.get(), cset);
    std::vector<char*> p(n, nullptr);
    if (H5Aread(a.attr.get(), mt.get(), p.data()) < 0) fail_input(o.where(), cat("cannot read attribute '", name, "'"));
    for (auto* s : p) out.push_back(s ? s : "");
    H5Dvlen_reclaim(mt.get(), a.space.get(), H5P_DEFAULT, p.data());
  } else {
    size_t sz = H5Tget_size(a.type.get());
    Id mt(H5Tcopy(H5T_C_S1));
    H5Tset_size(mt.get(), sz);
    H5Tset_cset(mt.get(), cset);
    H5Tset_strpad(mt.get(), H5Tget_strpad(a.type.get()));
    std::vector<char> buf(n * sz + 1, 0);
    if (H5Aread(a.attr.get(), mt.get(), buf.data()) < 0) fail_input(o.where(), cat("cannot read attribute '", name, "'"));
    for (size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * sz, sz);
      size_t z = s.find('\0');
      if (z != std::string::npos) s.resize(z);
      while (!s.empty() && s.back() == ' ' && H5Tget_strpad(a.type.get()) == H5T_STR_SPACEPAD) s.pop_back();
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace

void Object::set_attr(const std::string& name, const std::string& value) {
  init();
  const char* p = value.c_str();
  write_attr(*this, name, g_str_utf8, g_str_utf8, &p);
}
void Object::set_attr(const std::string& name, int64_t value) {
  write_attr(*this, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}
void Object::set_attr_u64(const std::string& name, uint64_t value) {
  write_attr(*this, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}
void Object::set_attr(const std::string& name, double value) {
  write_attr(*this, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

std::string Object::attr_str(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  if (a.cls != H5T_STRING || a.npoints != 1)
    throw InputError(cat(where(), ": attribute '", name, "' is ", describe_type(a.type.get()),
                         a.npoints != 1 ? cat(" with ", a.npoints, " elements") : "", ", expected one string"));
  return read_attr_strings(*this, name, a).at(0);
}

namespace {
// Reads a scalar integer attribute as signed or unsigned 64-bit without silent clipping.
void read_int_attr(const Object& o, const std::string& name, bool* is_unsigned, int64_t* s, uint64_t* u) {
  OpenAttr a = open_attr(o, name);
  if (a.cls != H5T_INTEGER || a.npoints != 1)
    throw InputError(cat(o.where(), ": attribute '", name, "' is ", describe_type(a.type.get()),
                         a.npoints != 1 ? cat(" with ", a.npoints, " elements") : "", ", expected an integer"));
  *is_unsigned = H5Tget_sign(a.type.get()) == H5T_SGN_NONE;
  herr_t r = *is_unsigned ? H5Aread(a.attr.get(), H5T_NATIVE_UINT64, u) : H5Aread(a.attr.get(), H5T_NATIVE_INT64, s);
  if (r < 0) fail_input(o.where(), cat("cannot read attribute '", name, "'"));
}
}  // namespace

int64_t Object::attr_i64(const std::string& name) const {
  bool un;
  int64_t s = 0;
  uint64_t u = 0;
  read_int_attr(*this, name, &un, &s, &u);
  if (!un) return s;
  if (u > static_cast<uint64_t>(INT64_MAX))
    throw InputError(cat(where(), ": attribute '", name, "' = ", u, " is out of range (expected at most ", INT64_MAX, ")"));
  return static_cast<int64_t>(u);
}

uint64_t Object::attr_u64(const std::string& name) const {
  bool un;
  int64_t s = 0;
  uint64_t u = 0;
  read_int_attr(*this, name, &un, &s, &u);
  if (un) return u;
  if (s < 0) throw InputError(cat(where(), ": attribute '", name, "' = ", s, " is negative (expected >= 0)"));
  return static_cast<uint64_t>(s);
}

double Object::attr_f64(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  if ((a.cls != H5T_FLOAT && a.cls != H5T_INTEGER) || a.npoints != 1)
    throw InputError(cat(where(), ": attribute '", name, "' is ", describe_type(a.type.get()), ", expected a number"));
  double d = 0;
  if (H5Aread(a.attr.get(), H5T_NATIVE_DOUBLE, &d) < 0) fail_input(where(), cat("cannot read attribute '", name, "'"));
  return d;
}

std::string Object::attr_text(const std::string& name) const {
  try {
    OpenAttr a = open_attr(*this, name);
    size_t n = a.npoints > 0 ? static_cast<size_t>(a.npoints) : 0;
    bool scalar = H5Sget_simple_extent_type(a.space.get()) == H5S_SCALAR;
    std::vector<std::string> items;
    const size_t kMax = 16;
    if (a.cls == H5T_STRING) {
      items = read_attr_strings(*this, name, a);
      if (scalar && items.size() == 1) return items[0];
      for (auto& s : items) s = "'" + s + "'";
    } else if (a.cls == H5T_INTEGER || a.cls == H5T_FLOAT) {
      bool u = a.cls == H5T_INTEGER && H5Tget_sign(a.type.get()) == H5T_SGN_NONE;
      if (a.cls == H5T_INTEGER) {
        std::vector<int64_t> s(n);
        std::vector<uint64_t> uu(n);
        herr_t r = u ? H5Aread(a.attr.get(), H5T_NATIVE_UINT64, uu.data()) : H5Aread(a.attr.get(), H5T_NATIVE_INT64, s.data());
        if (r < 0) return "<unreadable>";
        for (size_t i = 0; i < n && i < kMax; ++i) items.push_back(u ? std::to_string(uu[i]) : std::to_string(s[i]));
      } else {
        std::vector<double> d(n);
        if (H5Aread(a.attr.get(), H5T_NATIVE_DOUBLE, d.data()) < 0) return "<unreadable>";
        for (size_t i = 0; i < n && i < kMax; ++i) items.push_back(fmt_double(d[i]));
      }
      if (scalar && items.size() == 1) return items[0];
    } else {
      return cat("<", describe_type(a.type.get()), ", ", n, " elements>");
    }
    std::string out = "[";
    for (size_t i = 0; i < items.size() && i < kMax; ++i) out += (i ? ", " : "") + items[i];
    if (n > kMax) out += cat(", ... (", n, " elements)");
    return out + "]";
  } catch (const Error& e) {
    return cat("<unreadable: ", e.what(), ">");
  }
}

// ---- File ----------------------------------------------------------------------------------

namespace {
Id make_fapl() {
  Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  TRAWL_ASSERT(fapl.valid());
#if H5_VERSION_GE(1, 10, 7)
  // Lock files, but do not fail on file systems where locks are disabled (Lustre, NFS).
  H5Pset_file_locking(fapl.get(), 1, 1);
#endif
  return fapl;
}
}  // namespace

File::~File() {
  if (id_.valid() && !id_.reset()) log::debug(path_, ": error while closing HDF5 file: ", error_stack());
}

File File::create(const std::string& path) {
  init();
  Id fapl = make_fapl();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (f < 0) {
    int err = errno;
    std::string st = error_stack();
    throw IoError(cat(path, ": cannot create HDF5 file", err ? cat(": ", std::strerror(err)) : "",
                      st.empty() ? "" : " (HDF5: " + st + ")"));
  }
  File out;
  out.id_ = Id(f);
  out.path_ = path;
  out.writable_ = true;
  return out;
}

File File::open(const std::string& path, Mode mode) {
  init();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw IoError(cat(path, ": cannot open: ", std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw IoError(cat(path, ": cannot open: is a directory"));
  if (::access(path.c_str(), mode == kRead ? R_OK : (R_OK | W_OK)) != 0)
    throw IoError(cat(path, ": cannot open for ", mode == kRead ? "reading" : "writing", ": ", std::strerror(errno)));
  if (st.st_size == 0) throw InputError(cat(path, ": not an HDF5 file (the file is empty)"));
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is == 0) throw InputError(cat(path, ": not an HDF5 file (no HDF5 signature)"));
  if (is < 0) fail_input(path, "not an HDF5 file, or unreadable");
  Id fapl = make_fapl();
  hid_t f = H5Fopen(path.c_str(), mode == kRead ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl.get());
  if (f < 0) {
    std::string s = error_stack();
    std::string hint = s.empty() ? "" : " (HDF5: " + s + ")";
    if (s.find("unable to lock") != std::string::npos || s.find("lock the file") != std::string::npos)
      throw IoError(cat(path, ": cannot open HDF5 file (is another process writing it?)", hint));
    throw InputError(cat(path, ": cannot open HDF5 file: truncated or corrupt", hint));
  }
  File out;
  out.id_ = Id(f);
  out.path_ = path;
  out.writable_ = mode == kReadWrite;
  return out;
}

void File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_LOCAL) < 0) fail_io(path_, "cannot flush HDF5 file");
}

void File::close() {
  if (!id_.valid()) return;
  if (writable_ && H5Fflush(id(), H5F_SCOPE_LOCAL) < 0) {
    std::string s = error_stack();
    id_.reset();
    throw IoError(cat(path_, ": cannot write HDF5 file (HDF5: ", s, ")"));
  }
  if (!id_.reset()) fail_io(path_, "cannot close HDF5 file");
}

bool File::exists(const std::string& name) const {
  // H5Lexists fails (rather than returning false) when an intermediate group is missing.
  std::string cur;
  size_t i = 0;
  while (i < name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    if (j > i) {
      cur += "/" + name.substr(i, j - i);
      htri_t e = H5Lexists(id(), cur.c_str(), H5P_DEFAULT);
      if (e <= 0) return false;
    }
    i = j + 1;
  }
  return !cur.empty();
}

namespace {
#if H5_VERSION_GE(1, 12, 0)
using LinkInfo = H5L_info2_t;
#else
using LinkInfo = H5L_info_t;
#endif
herr_t visit_cb(hid_t g, const char* name, const LinkInfo* info, void* data) {
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) return 0;
  if (H5Iget_type(o) == H5I_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
  H5Oclose(o);
  return 0;
}
}  // namespace

std::vector<std::string> File::datasets() const {
  std::vector<std::string> v;
  if (H5Lvisit(id(), H5_INDEX_NAME, H5_ITER_INC, visit_cb, &v) < 0) fail_input(path_, "cannot list datasets");
  std::sort(v.begin(), v.end());
  return v;
}

int check_format(const File& f, const std::string& expected, int max_version) {
  if (!f.has_attr("trawl-format"))
    throw InputError(cat(f.path(), ": not a trawl file (no 'trawl-format' attribute; expected trawl-format = '",
                         expected, "')"));
  std::string found = f.attr_str("trawl-format");
  if (found != expected)
    throw InputError(cat(f.path(), ": not a trawl ", expected, " (trawl-format = '", found, "', expected '",
                         expected, "')"));
  if (!f.has_attr("trawl-format-version"))
    throw InputError(cat(f.path(), ": trawl ", expected, " without a 'trawl-format-version' attribute"));
  int64_t v = f.attr_i64("trawl-format-version");
  if (v > max_version)
    throw InputError(cat(f.path(), ": trawl ", expected, " of a newer version ", v, " (this trawl reads up to ",
                         max_version, "); use a newer trawl"));
  if (v < 1)
    throw InputError(cat(f.path(), ": invalid trawl-format-version ", v, " (expected 1..", max_version, ")"));
  return static_cast<int>(v);
}

void set_format(File& f, const std::string& format, int version) {
  f.set_attr("trawl-format", format);
  f.set_attr("trawl-format-version", static_cast<int64_t>(version));
  f.set_attr("trawl-version", std::string(TRAWL_VERSION));
}

// ---- Dataset -------------------------------------------------------------------------------

namespace {

// A chunk cache holding at least two chunks (the default 1 MiB would bypass big chunks and
// re-read them on every partial access), at most 256 MiB.
Id make_dapl(uint64_t chunk_bytes) {
  Id dapl(H5Pcreate(H5P_DATASET_ACCESS));
  TRAWL_ASSERT(dapl.valid());
  size_t nbytes = static_cast<size_t>(std::min<uint64_t>(std::max<uint64_t>(2 * chunk_bytes, 1 << 20), 256u << 20));
  H5Pset_chunk_cache(dapl.get(), 12421, nbytes, 0.75);
  return dapl;
}

}  // namespace

Dataset Dataset::create(File& f, const std::string& name, Type type, uint64_t chunk_rows, uint64_t cols,
                        int deflate, bool checksum) {
  init();
  std::string where = cat(f.path(), ", dataset '", name, "'");
  if (chunk_rows < 1) throw UsageError(cat(where, ": chunk rows must be at least 1"));
  if (deflate < 0 || deflate > 9) throw UsageError(cat(where, ": deflate level ", deflate, " is not in 0..9"));
  if (type == Type::kOther) throw UsageError(cat(where, ": cannot create a dataset of type 'other'"));
  Id ft(file_type(type));
  uint64_t elem = H5Tget_size(ft.get());
  uint64_t chunk_bytes = chunk_rows * (cols ? cols : 1) * elem;
  if (chunk_bytes >= (1ULL << 32))
    throw UsageError(cat(where, ": a chunk of ", chunk_rows, " rows is ", chunk_bytes,
                         " bytes; HDF5 chunks must be smaller than 4 GiB"));
  int rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
  Id space = checked(H5Screate_simple(rank, dims, maxd), where, "cannot create dataspace");
  Id dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), where, "cannot create property list");
  if (H5Pset_chunk(dcpl.get(), rank, chunk) < 0) fail_io(where, "cannot set chunking");
  // No object timestamps: the same data give the same bytes (reruns, checksums of inputs).
  H5Pset_obj_track_times(dcpl.get(), 0);
  if (type != Type::kStr) H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  if (deflate > 0) {
    H5Pset_shuffle(dcpl.get());
    H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate));
  }
  if (checksum && type != Type::kStr && H5Pset_fletcher32(dcpl.get()) < 0) fail_io(where, "cannot add checksums");
  Id dapl = make_dapl(chunk_bytes);
  if (f.exists(name)) throw UsageError(cat(where, ": already exists"));
  hid_t d = H5Dcreate2(f.id(), name.c_str(), ft.get(), space.get(), H5P_DEFAULT, dcpl.get(), dapl.get());
  if (d < 0) fail_io(where, "cannot create dataset");
  Dataset out;
  out.id_ = Id(d);
  out.path_ = f.path();
  out.dataset_ = name;
  out.refresh();
  out.inspect_filters(false);
  return out;
}

Dataset Dataset::open(const File& f, const std::string& name) {
  init();
  if (!f.exists(name)) throw InputError(cat(f.path(), ": missing dataset '", name, "'"));
  hid_t d = H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT);
  if (d < 0) fail_input(f.path(), cat("cannot open dataset '", name, "'"));
  Dataset out;
  out.id_ = Id(d);
  out.path_ = f.path();
  out.dataset_ = name;
  out.refresh();
  // Reopen with a chunk cache sized for this dataset's chunks.
  auto ch = out.chunk_dims();
  if (!ch.empty()) {
    Id t(H5Dget_type(out.id()));
    uint64_t bytes = H5Tget_size(t.get());
    for (auto c : ch) bytes *= c;
    if (bytes > (1u << 19)) {
      Id dapl = make_dapl(bytes);
      hid_t d2 = H5Dopen2(f.id(), name.c_str(), dapl.get());
      if (d2 >= 0) out.id_ = Id(d2);
    }
  }
  out.inspect_filters(!f.writable());
  return out;
}

// Checksummed when fletcher32 is among the filters; read directly (read_verified) when it is the
// only one, the file is read-only (a chunk written by this process may still sit in HDF5's
// cache, which direct reads bypass) and each chunk spans whole rows.
void Dataset::inspect_filters(bool read_only) {
  checksum_ = direct_ = false;
  chunk_rows_ = 0;
  Id dcpl(H5Dget_create_plist(id()));
  if (!dcpl.valid() || H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return;
  int n = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, cd[8], cfg = 0;
    size_t ncd = 8;
    char nm[64];
    if (H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, cd, sizeof nm, nm, &cfg) ==
        H5Z_FILTER_FLETCHER32)
      checksum_ = true;
  }
  auto ch = chunk_dims();
  auto d = dims();
  bool whole_rows = !ch.empty() && ch.size() == d.size();
  for (size_t i = 1; whole_rows && i < d.size(); ++i) whole_rows = ch[i] == d[i];
  if (checksum_ && n == 1 && read_only && whole_rows && type_ != Type::kStr && type_ != Type::kOther) {
    direct_ = true;
    chunk_rows_ = ch[0];
  }
}

void Dataset::refresh() {
  Id space(H5Dget_space(id()));
  Id t(H5Dget_type(id()));
  if (!space.valid() || !t.valid()) fail_input(where(), "cannot read the dataset's shape and type");
  int r = H5Sget_simple_extent_ndims(space.get());
  if (r < 0) fail_input(where(), "cannot read the dataset's shape");
  rank_ = r;
  hsize_t d[H5S_MAX_RANK];
  H5Sget_simple_extent_dims(space.get(), d, nullptr);
  rows_ = r >= 1 ? d[0] : 1;
  cols_ = r >= 2 ? d[1] : 0;
  if (r > 2) {
    for (int i = 2; i < r; ++i) cols_ *= d[i];
  }
  type_ = classify(t.get());
}

std::string Dataset::type_desc() const {
  Id t(H5Dget_type(id()));
  return t.valid() ? describe_type(t.get()) : "?";
}

std::vector<uint64_t> Dataset::dims() const {
  Id space(H5Dget_space(id()));
  int r = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> d(r > 0 ? r : 0);
  if (r > 0) H5Sget_simple_extent_dims(space.get(), d.data(), nullptr);
  return std::vector<uint64_t>(d.begin(), d.end());
}

std::vector<uint64_t> Dataset::chunk_dims() const {
  Id dcpl(H5Dget_create_plist(id()));
  if (!dcpl.valid() || H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return {};
  hsize_t c[H5S_MAX_RANK];
  int r = H5Pget_chunk(dcpl.get(), H5S_MAX_RANK, c);
  if (r <= 0) return {};
  return std::vector<uint64_t>(c, c + r);
}

int Dataset::deflate_level() const {
  Id dcpl(H5Dget_create_plist(id()));
  if (!dcpl.valid()) return 0;
  int n = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, cd[8];
    size_t ncd = 8;
    char nm[64];
    unsigned cfg;
    H5Z_filter_t fl = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, cd, sizeof nm, nm, &cfg);
    if (fl == H5Z_FILTER_DEFLATE) return ncd > 0 ? static_cast<int>(cd[0]) : 1;
  }
  return 0;
}

void Dataset::expect(Type type, int rank, uint64_t cols) const {
  if (type_ != type)
    throw InputError(cat(where(), ": type is ", type_desc(), ", expected ", type_name(type)));
  if (rank_ != rank)
    throw InputError(cat(where(), ": has ", rank_, " dimension(s), expected ", rank));
  if (rank == 2 && cols && cols_ != cols)
    throw InputError(cat(where(), ": has ", cols_, " columns, expected ", cols));
}

void Dataset::expect_rows(uint64_t n, const std::string& what) const {
  if (rows_ != n) throw InputError(cat(where(), ": has ", rows_, " rows, expected ", n, " (", what, ")"));
}

void Dataset::check_range(uint64_t row, uint64_t nrows) const {
  if (row > rows_ || nrows > rows_ - row)
    throw UsageError(cat(where(), ": rows [", row, ", ", row + nrows, ") are out of range (the dataset has ",
                         rows_, " rows)"));
}

void Dataset::extend_to(uint64_t rows) {
  if (rows <= rows_) return;
  if (rank_ < 1 || rank_ > 2) throw UsageError(cat(where(), ": only 1-D and 2-D datasets can be extended"));
  hsize_t d[2] = {rows, cols_};
  if (H5Dset_extent(id(), d) < 0) fail_io(where(), cat("cannot extend to ", rows, " rows"));
  rows_ = rows;
}

void Dataset::check_kind(Kind k, const char* mem) const {
  Id t(H5Dget_type(id()));
  H5T_class_t c = H5Tget_class(t.get());
  bool ok = k == Kind::kInt ? c == H5T_INTEGER : c == H5T_FLOAT;
  if (!ok) throw InputError(cat(where(), ": type is ", describe_type(t.get()), ", cannot be accessed as ", mem));
}

void Dataset::transfer(bool write, uint64_t row, uint64_t nrows, hid_t mem_type, void* buf, bool allow_direct) const {
  if (nrows == 0) return;
  if (rank_ < 1) throw InputError(cat(where(), ": is a scalar dataset, expected rows"));
  const int r = rank_;
  Id fspace = checked(H5Dget_space(id()), where(), "cannot get dataspace");
  std::vector<hsize_t> start(r, 0), count(r, 0);
  H5Sget_simple_extent_dims(fspace.get(), count.data(), nullptr);  // all of the other dimensions
  start[0] = row;
  count[0] = nrows;
  if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
    fail_io(where(), cat("cannot select rows [", row, ", ", row + nrows, ")"));
  if (!write && direct_ && allow_direct) {
    Id ft(H5Dget_type(id()));
    if (H5Tequal(ft.get(), mem_type) > 0) return read_verified(row, nrows, buf);
  }
  Id mspace = checked(H5Screate_simple(r, count.data(), nullptr), where(), "cannot create dataspace");
  herr_t rc = write ? H5Dwrite(id(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, buf)
                    : H5Dread(id(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, buf);
  if (rc < 0) {
    std::string what = cat("cannot ", write ? "write" : "read", " rows [", row, ", ", row + nrows, ")");
    if (write) fail_io(where(), what);
    std::string st = error_stack();
    std::string lower = st;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("checksum") != std::string::npos)
      throw InputError(cat(where(), ": checksum mismatch in rows [", row, ", ", row + nrows,
                           "): the stored bytes changed after they were written (HDF5: ", st,
                           "); restore the file or make it again"));
    fail_input(where(), what);
  }
}

// Rows [row, row + nrows) of a fletcher32-only dataset, chunk by chunk: each stored chunk is
// fetched raw (H5Dread_chunk, no filter pipeline, no chunk cache) and verified with trawl's
// Fletcher-32 (io/checksum.h) before its rows are used. A chunk entirely inside the request is
// read straight into buf (its 4 checksum bytes spill into the next chunk's place, which is read
// next), the others through a one-chunk cache of the last chunk verified (so rows read one at a
// time in order cost one read and one check per chunk). Chunks never written (no storage) and chunks
// stored with the filter skipped go through HDF5's own read.
void Dataset::read_verified(uint64_t row, uint64_t nrows, void* buf) const {
  Id ft(H5Dget_type(id()));
  const uint64_t row_bytes = H5Tget_size(ft.get()) * (cols_ ? cols_ : 1);
  const uint64_t chunk_bytes = chunk_rows_ * row_bytes;
  auto* out = static_cast<char*>(buf);
  const uint64_t end = row + nrows;
  for (uint64_t c = row / chunk_rows_; c * chunk_rows_ < end; ++c) {
    const uint64_t lo = c * chunk_rows_, hi = std::min(lo + chunk_rows_, rows_);
    const uint64_t a = std::max(lo, row), b = std::min(hi, end);  // the rows wanted from this chunk
    hsize_t off[2] = {lo, 0};
    hsize_t stored = 0;
    if (H5Dget_chunk_storage_size(id(), off, &stored) < 0 || stored == 0) {
      transfer(false, a, b - a, ft.get(), out + (a - row) * row_bytes, false);
      continue;
    }
    if (stored != chunk_bytes + 4 && stored != chunk_bytes)
      throw InputError(cat(where(), ": rows [", lo, ", ", hi, ") are stored in ", stored, " bytes, expected ",
                           chunk_bytes + 4, " (", chunk_bytes, " bytes of data and a 4-byte checksum); the file is corrupt"));
    // In place when the chunk's rows are all wanted and its spill lands on rows read later.
    const bool in_place = a == lo && lo + chunk_rows_ < end;
    char* dst;
    if (in_place) {
      dst = out + (lo - row) * row_bytes;
    } else if (c == cache_chunk_) {  // verified by an earlier read: rows fetched one by one
      std::memcpy(out + (a - row) * row_bytes, cache_.data() + (a - lo) * row_bytes, (b - a) * row_bytes);
      continue;
    } else {
      cache_chunk_ = UINT64_MAX;
      if (cache_.size() < chunk_bytes + 4) cache_.resize(chunk_bytes + 4);
      dst = cache_.data();
    }
    uint32_t mask = 0;
    if (H5Dread_chunk(id(), H5P_DEFAULT, off, &mask, dst) < 0)
      fail_input(where(), cat("cannot read the chunk of rows [", lo, ", ", hi, ")"));
    if (mask != 0 || stored == chunk_bytes) {  // stored without its checksum: let HDF5 read it
      transfer(false, a, b - a, ft.get(), out + (a - row) * row_bytes, false);
      continue;
    }
    if (!io::fletcher32_matches(dst, chunk_bytes, dst + chunk_bytes))
      throw InputError(cat(where(), ": checksum mismatch in rows [", lo, ", ", hi,
                           "): the stored bytes changed after they were written; restore the file or make it again"));
    if (!in_place) {
      cache_chunk_ = c;
      std::memcpy(out + (a - row) * row_bytes, dst + (a - lo) * row_bytes, (b - a) * row_bytes);
    }
  }
}

#define TRAWL_H5_WRITE(T, KIND, MEM)                                        \
  void Dataset::write(uint64_t row, uint64_t nrows, const T* data) {        \
    check_kind(KIND, #T);                                                   \
    extend_to(row + nrows);                                                 \
    transfer(true, row, nrows, MEM, const_cast<T*>(data));                  \
  }                                                                         \
  void Dataset::read(uint64_t row, uint64_t nrows, T* out) const {          \
    check_kind(KIND, #T);                                                   \
    check_range(row, nrows);                                                \
    transfer(false, row, nrows, MEM, out);                                  \
  }
TRAWL_H5_WRITE(uint64_t, Kind::kInt, H5T_NATIVE_UINT64)
TRAWL_H5_WRITE(uint32_t, Kind::kInt, H5T_NATIVE_UINT32)
TRAWL_H5_WRITE(uint8_t, Kind::kInt, H5T_NATIVE_UINT8)
TRAWL_H5_WRITE(int64_t, Kind::kInt, H5T_NATIVE_INT64)
TRAWL_H5_WRITE(int32_t, Kind::kInt, H5T_NATIVE_INT32)
#undef TRAWL_H5_WRITE

void Dataset::write(uint64_t row, uint64_t nrows, const float* data) {
  check_kind(Kind::kFloat, "float");
  extend_to(row + nrows);
  if (type_ == Type::kF16) {
    std::vector<uint16_t> h(nrows * (cols_ ? cols_ : 1));
    f32_to_f16(data, h.data(), h.size());
    transfer(true, row, nrows, g_f16_mem, h.data());
  } else {
    transfer(true, row, nrows, H5T_NATIVE_FLOAT, const_cast<float*>(data));
  }
}

void Dataset::write(uint64_t row, uint64_t nrows, const double* data) {
  check_kind(Kind::kFloat, "double");
  extend_to(row + nrows);
  if (type_ == Type::kF16) {
    std::vector<uint16_t> h(nrows * (cols_ ? cols_ : 1));
    // Rounded through float: a value within 2^-24 relative of a half tie may round twice.
    for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_f16(static_cast<float>(data[i]));
    transfer(true, row, nrows, g_f16_mem, h.data());
  } else {
    transfer(true, row, nrows, H5T_NATIVE_DOUBLE, const_cast<double*>(data));
  }
}

void Dataset::write_f16_bits(uint64_t row, uint64_t nrows, const uint16_t* data) {
  if (type_ != Type::kF16) throw InputError(cat(where(), ": type is ", type_desc(), ", expected f16"));
  extend_to(row + nrows);
  transfer(true, row, nrows, g_f16_mem, const_cast<uint16_t*>(data));
}

void Dataset::read(uint64_t row, uint64_t nrows, float* out) const {
  check_kind(Kind::kFloat, "float");
  check_range(row, nrows);
  if (type_ == Type::kF16) {
    std::vector<uint16_t> h(nrows * (cols_ ? cols_ : 1));
    transfer(false, row, nrows, g_f16_mem, h.data());
    f16_to_f32(h.data(), out, h.size());
  } else {
    transfer(false, row, nrows, H5T_NATIVE_FLOAT, out);
  }
}

void Dataset::read(uint64_t row, uint64_t nrows, double* out) const {
  check_kind(Kind::kFloat, "double");
  check_range(row, nrows);
  if (type_ == Type::kF16) {
    std::vector<uint16_t> h(nrows * (cols_ ? cols_ : 1));
    transfer(false, row, nrows, g_f16_mem, h.data());
    for (size_t i = 0; i < h.size(); ++i) out[i] = f16_to_f32(h[i]);
  } else {
    transfer(false, row, nrows, H5T_NATIVE_DOUBLE, out);
  }
}

void Dataset::read_f16_bits(uint64_t row, uint64_t nrows, uint16_t* out) const {
  if (type_ != Type::kF16) throw InputError(cat(where(), ": type is ", type_desc(), ", expected f16"));
  check_range(row, nrows);
  transfer(false, row, nrows, g_f16_mem, out);
}

void Dataset::write_strings(uint64_t row, uint64_t nrows, const std::string* data) {
  if (type_ != Type::kStr) throw InputError(cat(where(), ": type is ", type_desc(), ", cannot write strings"));
  std::vector<const char*> p(nrows);
  for (uint64_t i = 0; i < nrows; ++i) {
    const std::string& s = data[i];
    if (std::memchr(s.data(), 0, s.size()))
      throw InputError(cat(where(), ": row ", row + i, ": the string contains a NUL byte"));
    p[i] = s.c_str();
  }
  Id t(H5Dget_type(id()));
  Id mt(H5Tcopy(H5T_C_S1));
  H5Tset_size(mt.get(), H5T_VARIABLE);
  H5Tset_cset(mt.get(), H5Tget_cset(t.get()));
  if (H5Tis_variable_str(t.get()) <= 0)
    throw InputError(cat(where(), ": type is ", type_desc(), ", expected variable-length strings"));
  extend_to(row + nrows);
  transfer(true, row, nrows, mt.get(), p.data());
}

void Dataset::read_strings(uint64_t row, uint64_t nrows, std::vector<std::string>& out) const {
  if (type_ != Type::kStr) throw InputError(cat(where(), ": type is ", type_desc(), ", expected strings"));
  if (rank_ != 1) throw InputError(cat(where(), ": has ", rank_, " dimensions, expected 1 (a string column)"));
  check_range(row, nrows);
  out.clear();
  if (nrows == 0) return;
  out.reserve(nrows);
  Id t(H5Dget_type(id()));
  H5T_cset_t cset = H5Tget_cset(t.get());
  if (H5Tis_variable_str(t.get()) > 0) {
    Id mt(H5Tcopy(H5T_C_S1));
    H5Tset_size(mt.get(), H5T_VARIABLE);
    H5Tset_cset(mt.get(), cset);
    std::vector<char*> p(nrows, nullptr);
    transfer(false, row, nrows, mt.get(), p.data());
    for (auto* s : p) out.emplace_back(s ? s : "");
    hsize_t n = nrows;
    Id ms(H5Screate_simple(1, &n, nullptr));
    H5Dvlen_reclaim(mt.get(), ms.get(), H5P_DEFAULT, p.data());
  } else {
    size_t sz = H5Tget_size(t.get());
    Id mt(H5Tcopy(H5T_C_S1));
    H5Tset_size(mt.get(), sz);
    H5Tset_cset(mt.get(), cset);
    H5Tset_strpad(mt.get(), H5Tget_strpad(t.get()));
    std::vector<char> buf(nrows * sz);
    transfer(false, row, nrows, mt.get(), buf.data());
    for (uint64_t i = 0; i < nrows; ++i) {
      const char* s = buf.data() + i * sz;
      size_t len = strnlen(s, sz);
      out.emplace_back(s, len);
    }
  }
}

}  // namespace trawl::io::h5
