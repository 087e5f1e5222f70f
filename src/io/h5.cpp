// The HDF5 layer: errors, element types, ids, attributes and files (h5_dataset.cpp holds
// datasets, f16.cpp the half-precision codec).
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
#include "core/log.h"
#include "io/h5_internal.h"
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

}  // namespace

namespace detail {

hid_t f16_mem_type() { return g_f16_mem; }

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

}  // namespace detail

using namespace detail;

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

namespace detail {

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

namespace {
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

}  // namespace

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

}  // namespace detail

namespace {

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

}  // namespace trawl::io::h5
