// Datasets: creation (chunked, checksummed), row-range reads and writes, and the verified
// direct chunk reads (docs/CONVENTIONS.md "Integrity").
#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/error.h"
#include "io/checksum.h"
#include "io/h5.h"
#include "io/h5_internal.h"

namespace trawl::io::h5 {

using namespace detail;

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
  write_chunk_rows_ = checksum_ && n == 1 && !read_only && whole_rows && type_ != Type::kStr && type_ != Type::kOther
                          ? ch[0] : 0;
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
  // The direct paths first: they need no dataspace selection.
  if (!write && direct_ && allow_direct) {
    Id ft(H5Dget_type(id()));
    if (H5Tequal(ft.get(), mem_type) > 0) return read_verified(row, nrows, buf);
  }
  if (write && allow_direct && write_chunk_rows_ > 0) {
    // Whole chunks go in raw; what is left (the edges of the range) through HDF5's pipeline.
    const uint64_t cr = write_chunk_rows_, first = (row + cr - 1) / cr * cr, last = (row + nrows) / cr * cr;
    if (first < last) {
      Id ft(H5Dget_type(id()));
      if (H5Tequal(ft.get(), mem_type) > 0) {
        const uint64_t row_bytes = H5Tget_size(ft.get()) * (cols_ ? cols_ : 1);
        auto* p = static_cast<char*>(buf);
        transfer(true, row, first - row, mem_type, p, false);
        write_direct(first, last - first, row_bytes, p + (first - row) * row_bytes);
        transfer(true, last, row + nrows - last, mem_type, p + (last - row) * row_bytes, false);
        return;
      }
    }
  }
  const int r = rank_;
  Id fspace = checked(H5Dget_space(id()), where(), "cannot get dataspace");
  std::vector<hsize_t> start(r, 0), count(r, 0);
  H5Sget_simple_extent_dims(fspace.get(), count.data(), nullptr);  // all of the other dimensions
  start[0] = row;
  count[0] = nrows;
  if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
    fail_io(where(), cat("cannot select rows [", row, ", ", row + nrows, ")"));
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

bool Dataset::chunk_extent(uint64_t c, uint64_t* file_offset, uint64_t* data_bytes) const {
  if (!direct_ || c * chunk_rows_ >= rows_) return false;
  Id ft(H5Dget_type(id()));
  const uint64_t bytes = chunk_rows_ * H5Tget_size(ft.get()) * (cols_ ? cols_ : 1);
  hsize_t off[2] = {c * chunk_rows_, 0};
  unsigned mask = 0;
  haddr_t addr = 0;
  hsize_t stored = 0;
  if (H5Dget_chunk_info_by_coord(id(), off, &mask, &addr, &stored) < 0 || addr == HADDR_UNDEF || mask != 0 ||
      stored != bytes + 4)
    return false;
  // Addresses are relative to the HDF5 base address: after the user block, if the file has one.
  Id file(H5Iget_file_id(id()));
  Id fcpl(H5Fget_create_plist(file.get()));
  hsize_t ub = 0;
  if (!fcpl.valid() || H5Pget_userblock(fcpl.get(), &ub) < 0) return false;
  *file_offset = uint64_t(addr) + uint64_t(ub);
  *data_bytes = bytes;
  return true;
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

// Rows [row, row + nrows), whole chunks of a fletcher32-only dataset, each written raw
// (H5Dwrite_chunk) as its bytes followed by trawl's Fletcher-32 of them: what HDF5's filter would
// store (io/checksum.h), at trawl's checksum rate instead of HDF5's byte-at-a-time loop (the
// filter took most of a scores file's write time: docs/BENCHMARKS.md, "Scoring"). HDF5 evicts
// any cached copy of a chunk written this way, so its later reads and partial writes see these
// bytes.
// buf holds rows of row_bytes bytes in the file's type (the caller has compared the types).
void Dataset::write_direct(uint64_t row, uint64_t nrows, uint64_t row_bytes, const void* buf) const {
  const uint64_t cr = write_chunk_rows_;
  TRAWL_ASSERT(cr > 0 && row % cr == 0 && nrows % cr == 0);
  const uint64_t chunk_bytes = cr * row_bytes;
  if (cache_.size() < chunk_bytes + 4) cache_.resize(chunk_bytes + 4);
  cache_chunk_ = UINT64_MAX;
  const auto* in = static_cast<const char*>(buf);
  for (uint64_t lo = row; lo < row + nrows; lo += cr) {
    std::memcpy(cache_.data(), in + (lo - row) * row_bytes, chunk_bytes);
    const uint32_t c = io::fletcher32(cache_.data(), chunk_bytes);
    const unsigned char le[4] = {uint8_t(c), uint8_t(c >> 8), uint8_t(c >> 16), uint8_t(c >> 24)};
    std::memcpy(cache_.data() + chunk_bytes, le, 4);
    hsize_t off[2] = {lo, 0};
    if (H5Dwrite_chunk(id(), H5P_DEFAULT, 0, off, size_t(chunk_bytes + 4), cache_.data()) < 0)
      fail_io(where(), cat("cannot write the chunk of rows [", lo, ", ", lo + cr, ")"));
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
    transfer(true, row, nrows, f16_mem_type(), h.data());
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
    transfer(true, row, nrows, f16_mem_type(), h.data());
  } else {
    transfer(true, row, nrows, H5T_NATIVE_DOUBLE, const_cast<double*>(data));
  }
}

void Dataset::write_f16_bits(uint64_t row, uint64_t nrows, const uint16_t* data) {
  if (type_ != Type::kF16) throw InputError(cat(where(), ": type is ", type_desc(), ", expected f16"));
  extend_to(row + nrows);
  transfer(true, row, nrows, f16_mem_type(), const_cast<uint16_t*>(data));
}

void Dataset::read(uint64_t row, uint64_t nrows, float* out) const {
  check_kind(Kind::kFloat, "float");
  check_range(row, nrows);
  if (type_ == Type::kF16) {
    std::vector<uint16_t> h(nrows * (cols_ ? cols_ : 1));
    transfer(false, row, nrows, f16_mem_type(), h.data());
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
    transfer(false, row, nrows, f16_mem_type(), h.data());
    for (size_t i = 0; i < h.size(); ++i) out[i] = f16_to_f32(h[i]);
  } else {
    transfer(false, row, nrows, H5T_NATIVE_DOUBLE, out);
  }
}

void Dataset::read_f16_bits(uint64_t row, uint64_t nrows, uint16_t* out) const {
  if (type_ != Type::kF16) throw InputError(cat(where(), ": type is ", type_desc(), ", expected f16"));
  check_range(row, nrows);
  transfer(false, row, nrows, f16_mem_type(), out);
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
