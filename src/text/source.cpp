#include "text/source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace trawl::text {

namespace {
constexpr size_t kInputBuffer = 1 << 20;
}

ByteSource::ByteSource(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(at(path, 0, cat("cannot open for reading: ", std::strerror(errno))));
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int e = errno;
    ::close(fd_);
    throw IoError(at(path, 0, cat("cannot stat: ", std::strerror(e))));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw IoError(at(path, 0, "is a directory, expected a text file"));
  }
  file_bytes_ = static_cast<uint64_t>(st.st_size);
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  in_.resize(kInputBuffer);
  size_t n;
  try {
    n = read_file(reinterpret_cast<char*>(in_.data()), in_.size());
  } catch (...) {
    ::close(fd_);
    throw;
  }
  gzip_ = n >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
  if (gzip_) {
    zs_.next_in = in_.data();
    zs_.avail_in = static_cast<uInt>(n);
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) {
      ::close(fd_);
      throw IoError(at(path, 0, "cannot initialise zlib"));
    }
    z_init_ = true;
  } else {
    pending_pos_ = 0;
    pending_end_ = n;
  }
}

ByteSource::~ByteSource() {
  if (z_init_) inflateEnd(&zs_);
  if (fd_ >= 0) ::close(fd_);
}

size_t ByteSource::read_file(char* dst, size_t cap) {
  size_t got = 0;
  while (got < cap && !file_eof_) {
    ssize_t r = ::read(fd_, dst + got, cap - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw IoError(at(path_, 0, cat("read error after ", file_read_, " bytes: ", std::strerror(errno))));
    }
    if (r == 0) {
      file_eof_ = true;
      break;
    }
    got += static_cast<size_t>(r);
    file_read_ += static_cast<uint64_t>(r);
  }
  return got;
}

uint64_t ByteSource::bytes_consumed() const {
  if (gzip_) return file_read_ - zs_.avail_in;
  return served_;
}

long ByteSource::read(char* dst, size_t cap) {
  if (gzip_) return read_gzip(dst, cap);
  size_t n;
  if (pending_pos_ < pending_end_) {
    n = std::min(cap, pending_end_ - pending_pos_);
    std::memcpy(dst, in_.data() + pending_pos_, n);
    pending_pos_ += n;
    if (pending_pos_ == pending_end_) {
      in_.clear();
      in_.shrink_to_fit();
      pending_pos_ = pending_end_ = 0;
    }
  } else {
    n = read_file(dst, cap);
  }
  served_ += n;
  return static_cast<long>(n);
}

bool ByteSource::refill_input() {
  if (file_eof_) return false;
  size_t keep = zs_.avail_in;
  if (keep > 0 && zs_.next_in != in_.data()) std::memmove(in_.data(), zs_.next_in, keep);
  size_t n = read_file(reinterpret_cast<char*>(in_.data()) + keep, in_.size() - keep);
  zs_.next_in = in_.data();
  zs_.avail_in = static_cast<uInt>(keep + n);
  return n > 0;
}

long ByteSource::read_gzip(char* dst, size_t cap) {
  if (error_ != Error::kNone) return -1;
  // zlib counts in uInt; a huge cap is simply served in several calls.
  if (cap > (1u << 30)) cap = 1u << 30;
  zs_.next_out = reinterpret_cast<Bytef*>(dst);
  zs_.avail_out = static_cast<uInt>(cap);
  for (;;) {
    size_t produced = cap - zs_.avail_out;
    if (member_done_) {
      if (produced > 0) return static_cast<long>(produced);
      // Another gzip member may follow (concatenated files, bgzip); else the end.
      while (zs_.avail_in < 2 && refill_input()) {
      }
      if (zs_.avail_in == 0) return 0;
      if (zs_.avail_in < 2 || zs_.next_in[0] != 0x1f || zs_.next_in[1] != 0x8b) {
        error_ = Error::kCorrupt;
        detail_ = "unexpected data after the end of the gzip stream";
        return -1;
      }
      if (inflateReset(&zs_) != Z_OK) {
        error_ = Error::kCorrupt;
        detail_ = "cannot reset zlib for the next gzip member";
        return -1;
      }
      member_done_ = false;
    }
    if (zs_.avail_in == 0 && !refill_input()) {
      if (produced > 0) return static_cast<long>(produced);
      error_ = Error::kTruncated;
      detail_ = "unexpected end of file";
      return -1;
    }
    int ret = inflate(&zs_, Z_NO_FLUSH);
    produced = cap - zs_.avail_out;
    if (ret == Z_STREAM_END) {
      member_done_ = true;
      continue;
    }
    if (ret == Z_OK) {
      if (produced > 0) return static_cast<long>(produced);
      continue;
    }
    if (ret == Z_BUF_ERROR && zs_.avail_in == 0) {
      if (produced > 0) return static_cast<long>(produced);
      continue;  // needs more input
    }
    error_ = Error::kCorrupt;
    detail_ = zs_.msg ? zs_.msg : cat("zlib error ", ret);
    if (produced > 0) return static_cast<long>(produced);
    return -1;
  }
}

}  // namespace trawl::text
