// Small RAII wrappers over the HDF5 C API, shared by every module that writes trawl files
// (shards, vocabularies, indexes, subpools, scores...). See docs/FORMATS.md.
//
//  * Every failure becomes a trawl error naming the file and the dataset or attribute:
//    IoError when a file cannot be created, opened, read or written; InputError when a file
//    is not what it should be (not HDF5, truncated, foreign format, newer version, missing
//    dataset, wrong type or shape). HDF5's automatic error-stack printing is turned off; the
//    innermost HDF5 messages are appended to ours instead.
//  * Datasets are chunked along rows and extendable (unlimited rows), 1-D [rows] or 2-D
//    [rows, cols]; row ranges are read and written through hyperslabs, so reading a range
//    touches only the chunks it overlaps.
//  * Element types: u64, u32, u8, i64, i32, f32, f64, f16 (an IEEE half built from a float type,
//    which h5py reads as numpy.float16; converted here, not by HDF5) and variable-length UTF-8
//    strings. u8 datasets hold raw bytes, e.g. the concatenated UTF-8 of a CSR string column
//    (offsets in a u64 dataset): far faster to write and read than variable-length strings,
//    each of which costs HDF5 a global-heap object.
//  * Attributes: variable-length UTF-8 strings and 64-bit integers (and f64) as scalars.
//
// Thread safety: Debian's parallel HDF5 is not built thread-safe. Call these functions from
// one thread at a time (e.g. outside OpenMP regions, or under a critical section).
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace trawl::io::h5 {

/// Turns off HDF5's automatic error printing (idempotent; every File entry point calls it).
void init();

/// The current HDF5 error stack condensed to one line ("" if empty); call right after a failure.
std::string error_stack();

// ---- IEEE half precision (binary16) -------------------------------------------------------
/// Round-to-nearest-even; overflow gives ±inf; NaN stays NaN (payload kept where it fits).
uint16_t f32_to_f16(float f);
/// Exact (every half is a float).
float f16_to_f32(uint16_t h);
void f32_to_f16(const float* in, uint16_t* out, size_t n);
void f16_to_f32(const uint16_t* in, float* out, size_t n);

// ---- Types ---------------------------------------------------------------------------------
enum class Type { kU64, kU32, kU8, kI64, kI32, kF32, kF64, kF16, kStr, kOther };
const char* type_name(Type t);  // "u64", "u32", "u8", ..., "f16", "str", "other"
/// The file (on-disk, little-endian) type of t; the caller owns the returned id (H5Tclose).
hid_t file_type(Type t);

// ---- A move-only owner of an HDF5 id -------------------------------------------------------
class Id {
 public:
  Id() = default;
  /// Takes ownership of id (closed with H5Idec_ref when it is valid).
  explicit Id(hid_t id) : id_(id) {}
  Id(Id&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes the id; returns false if HDF5 reported an error while closing.
  bool reset();
  hid_t release() {
    hid_t i = id_;
    id_ = -1;
    return i;
  }

 private:
  hid_t id_ = -1;
};

// ---- Objects with attributes ---------------------------------------------------------------
/// A file's root group or a dataset: the things trawl hangs attributes on.
class Object {
 public:
  hid_t id() const { return id_.get(); }
  const std::string& file_path() const { return path_; }
  /// "file" or "file, dataset 'name'" for messages.
  std::string where() const;

  bool has_attr(const std::string& name) const;
  std::vector<std::string> attr_names() const;  // sorted by name
  /// Writes (or replaces) a scalar attribute.
  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, const char* value) { set_attr(name, std::string(value)); }
  void set_attr(const std::string& name, int64_t value);
  void set_attr(const std::string& name, int value) { set_attr(name, static_cast<int64_t>(value)); }
  void set_attr_u64(const std::string& name, uint64_t value);
  void set_attr(const std::string& name, double value);
  /// Read a scalar attribute; InputError naming the file and attribute when it is missing,
  /// of another kind (string vs number) or out of the target's range.
  std::string attr_str(const std::string& name) const;
  int64_t attr_i64(const std::string& name) const;
  uint64_t attr_u64(const std::string& name) const;
  double attr_f64(const std::string& name) const;
  /// Any attribute rendered as text for people (strings as is, numbers, small arrays as
  /// "[a, b]"), for inspectors. Never throws for unusual types ("<class, n elements>").
  std::string attr_text(const std::string& name) const;

 protected:
  Object() = default;
  Object(Id id, std::string path, std::string dataset) : id_(std::move(id)), path_(std::move(path)), dataset_(std::move(dataset)) {}
  Id id_;
  std::string path_, dataset_;
};

// ---- Files ---------------------------------------------------------------------------------
class File : public Object {
 public:
  enum Mode { kRead, kReadWrite };
  File() = default;
  File(File&&) = default;
  File& operator=(File&&) = default;
  ~File();  // closes without throwing (errors are logged at debug level)

  /// Creates (truncates) path. IoError if it cannot be created.
  static File create(const std::string& path);
  /// Opens path. IoError if it is missing or unreadable (or locked by a writer); InputError
  /// "not an HDF5 file" for other files, and for truncated or corrupt HDF5 files.
  static File open(const std::string& path, Mode mode = kRead);

  const std::string& path() const { return path_; }
  bool is_open() const { return id_.valid(); }
  bool writable() const { return writable_; }
  void flush();
  /// Closes the file; IoError if HDF5 cannot finish writing it.
  void close();

  /// True if a link (dataset or group) of that name or path exists.
  bool exists(const std::string& name) const;
  /// Full paths ("/a", "/g/b") of every dataset, in name order, recursively.
  std::vector<std::string> datasets() const;

 private:
  bool writable_ = false;
};

/// Validates the trawl-format / trawl-format-version attributes of f and returns the
/// version. InputError naming the file: "not a trawl file (no 'trawl-format' attribute...)",
/// "not a trawl <expected> (trawl-format = '<found>')", "newer version N (this trawl reads up
/// to M)", or an invalid version.
int check_format(const File& f, const std::string& expected_format, int max_supported_version);

/// Writes trawl-format, trawl-format-version and trawl-version (this build's) on the root group.
void set_format(File& f, const std::string& format, int version);

// ---- Datasets ------------------------------------------------------------------------------
class Dataset : public Object {
 public:
  Dataset() = default;
  Dataset(Dataset&&) = default;
  Dataset& operator=(Dataset&&) = default;

  /// A chunked, row-extendable dataset with 0 rows: 1-D when cols == 0, else [rows, cols].
  /// chunk_rows >= 1; deflate 0 = no compression, 1..9 = gzip level (with shuffle).
  /// Numeric datasets carry a Fletcher-32 checksum per chunk (HDF5's fletcher32 filter) unless
  /// checksum is false; variable-length strings never do (their bytes live outside the chunks).
  static Dataset create(File& f, const std::string& name, Type type, uint64_t chunk_rows,
                        uint64_t cols = 0, int deflate = 0, bool checksum = true);
  /// InputError naming the file and dataset if it does not exist or is not a dataset.
  static Dataset open(const File& f, const std::string& name);

  const std::string& name() const { return dataset_; }
  int rank() const { return rank_; }
  uint64_t rows() const { return rows_; }
  uint64_t cols() const { return cols_; }  // 0 for 1-D datasets
  /// rows * max(cols, 1)
  uint64_t elements() const { return rows_ * (cols_ ? cols_ : 1); }
  Type type() const { return type_; }
  /// "u64", "f16", "str (vlen utf-8)", "str (fixed 12)", "other (compound, 24 bytes)"...
  std::string type_desc() const;
  std::vector<uint64_t> dims() const;
  /// Chunk shape; empty when the layout is not chunked.
  std::vector<uint64_t> chunk_dims() const;
  int deflate_level() const;  // 0 when not compressed
  /// True when every chunk carries a Fletcher-32 checksum, verified on every read: by trawl's
  /// own direct chunk reads (files opened read-only, no other filter, no type conversion) or by
  /// HDF5's filter. A mismatch is an InputError naming the file, dataset and row range.
  bool has_checksum() const { return checksum_; }
  /// True when chunks are read directly (see has_checksum); chunk_rows() is then the rows per chunk.
  bool direct() const { return direct_; }
  uint64_t chunk_rows() const { return chunk_rows_; }
  /// Direct datasets only: where chunk c (rows [c·chunk_rows, ...)) is stored in the file —
  /// its byte offset and its data bytes (followed by the 4-byte Fletcher-32) — when it is
  /// stored whole, unfiltered but for the checksum. False otherwise (chunks never written, the
  /// filter skipped, or not direct): such chunks go through read().
  bool chunk_extent(uint64_t c, uint64_t* file_offset, uint64_t* data_bytes) const;

  /// Throws InputError naming file and dataset unless the dataset has that type, rank and
  /// (for 2-D) number of columns (cols == 0: any).
  void expect(Type type, int rank, uint64_t cols = 0) const;
  /// Throws InputError unless rows() == n ("... has R rows, expected n (what)").
  void expect_rows(uint64_t n, const std::string& what) const;

  /// Rows [row, row + nrows) from data (nrows * max(cols,1) elements); the dataset is extended
  /// when the range ends past its current end. The element type must match the dataset's
  /// kind (integers into integer datasets, floats into f32/f64/f16 datasets; f16 datasets are
  /// converted here with f32_to_f16). uint8_t into a u8 dataset is a plain byte copy (rows are
  /// bytes), the way to append the bytes of a CSR string column.
  void write(uint64_t row, uint64_t nrows, const uint64_t* data);
  void write(uint64_t row, uint64_t nrows, const uint32_t* data);
  void write(uint64_t row, uint64_t nrows, const uint8_t* data);
  void write(uint64_t row, uint64_t nrows, const int64_t* data);
  void write(uint64_t row, uint64_t nrows, const int32_t* data);
  void write(uint64_t row, uint64_t nrows, const float* data);
  void write(uint64_t row, uint64_t nrows, const double* data);
  /// Raw half-precision bits into an f16 dataset.
  void write_f16_bits(uint64_t row, uint64_t nrows, const uint16_t* data);
  /// Variable-length UTF-8 strings (no NUL bytes: InputError naming the row).
  void write_strings(uint64_t row, uint64_t nrows, const std::string* data);

  template <class T>
  void append(const T* data, uint64_t nrows) { write(rows_, nrows, data); }
  template <class T>
  void append(const std::vector<T>& v) {
    uint64_t w = cols_ ? cols_ : 1;
    write(rows_, v.size() / w, v.data());
  }
  void append_strings(const std::vector<std::string>& v) { write_strings(rows_, v.size(), v.data()); }

  /// Rows [row, row + nrows) into out (nrows * max(cols,1) elements). UsageError when the range
  /// is out of bounds; InputError when the stored type cannot be read as T (HDF5 converts
  /// between integer widths, and between float widths; f16 is widened here). Reading a u8
  /// dataset into uint8_t reads exactly the bytes [row, row + nrows) (only the chunks they touch).
  void read(uint64_t row, uint64_t nrows, uint64_t* out) const;
  void read(uint64_t row, uint64_t nrows, uint32_t* out) const;
  void read(uint64_t row, uint64_t nrows, uint8_t* out) const;
  void read(uint64_t row, uint64_t nrows, int64_t* out) const;
  void read(uint64_t row, uint64_t nrows, int32_t* out) const;
  void read(uint64_t row, uint64_t nrows, float* out) const;
  void read(uint64_t row, uint64_t nrows, double* out) const;
  void read_f16_bits(uint64_t row, uint64_t nrows, uint16_t* out) const;
  /// Replaces out with the strings of rows [row, row + nrows) (vlen or fixed-length).
  void read_strings(uint64_t row, uint64_t nrows, std::vector<std::string>& out) const;

  template <class T>
  std::vector<T> read_all() const {
    std::vector<T> v(elements());
    if (!v.empty()) read(0, rows_, v.data());
    return v;
  }

 private:
  void refresh();
  void check_range(uint64_t row, uint64_t nrows) const;
  void extend_to(uint64_t rows);
  enum class Kind { kInt, kFloat };
  void check_kind(Kind k, const char* mem) const;
  void transfer(bool write, uint64_t row, uint64_t nrows, hid_t mem_type, void* buf, bool allow_direct = true) const;
  void read_verified(uint64_t row, uint64_t nrows, void* buf) const;
  void write_direct(uint64_t row, uint64_t nrows, uint64_t row_bytes, const void* buf) const;
  void inspect_filters(bool read_only);
  int rank_ = 0;
  bool checksum_ = false;   // fletcher32 on every chunk
  bool direct_ = false;     // chunks read and verified by trawl (read_verified)
  uint64_t chunk_rows_ = 0;
  uint64_t write_chunk_rows_ = 0;  // > 0: whole chunks written raw with trawl's checksum (write_direct)
  mutable std::vector<char> cache_;           // the last chunk read_verified checked...
  mutable uint64_t cache_chunk_ = UINT64_MAX;  // ...and its index
  uint64_t rows_ = 0, cols_ = 0;
  Type type_ = Type::kOther;
};

}  // namespace trawl::io::h5
