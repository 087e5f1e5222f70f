// A byte stream over a file on disk, plain or gzip (detected by the magic bytes 1f 8b;
// multi-member gzip files are read to the end). Private to the text module.
#pragma once
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace trawl::text {

class ByteSource {
 public:
  /// Opens path; throws IoError if it cannot be opened or read.
  explicit ByteSource(const std::string& path);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  enum class Error { kNone, kTruncated, kCorrupt };
  /// Reads up to cap (> 0) decompressed bytes into dst. Returns the count, 0 at the end of
  /// the data, or -1 on a gzip error (see error() and error_detail()). Read failures of the
  /// file itself throw IoError.
  long read(char* dst, size_t cap);
  Error error() const { return error_; }
  const std::string& error_detail() const { return detail_; }

  bool gzip() const { return gzip_; }
  uint64_t file_bytes() const { return file_bytes_; }
  /// Bytes of the file on disk consumed so far (compressed position for gzip).
  uint64_t bytes_consumed() const;
  const std::string& path() const { return path_; }

 private:
  size_t read_file(char* dst, size_t cap);  // raw read, loops over EINTR/short reads
  bool refill_input();                      // gzip: refills in_ when empty; false at EOF
  long read_gzip(char* dst, size_t cap);

  std::string path_;
  int fd_ = -1;
  bool gzip_ = false;
  bool file_eof_ = false;
  uint64_t file_bytes_ = 0;
  uint64_t file_read_ = 0;  // bytes read from disk
  uint64_t served_ = 0;     // plain: bytes returned by read()
  // Plain: bytes read while sniffing, returned first. Gzip: the compressed input buffer.
  std::vector<unsigned char> in_;
  size_t pending_pos_ = 0, pending_end_ = 0;
  z_stream zs_{};
  bool z_init_ = false;
  bool member_done_ = false;  // inflate reached the end of a gzip member
  Error error_ = Error::kNone;
  std::string detail_;
};

}  // namespace trawl::text
