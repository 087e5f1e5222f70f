// File-system helpers: atomic outputs (temporary name, rename when complete), checks that an
// output location is writable before hours of work, checksums of inputs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trawl {

bool path_exists(const std::string& p);
bool is_directory(const std::string& p);
uint64_t file_size(const std::string& p);  // throws IoError
std::string basename(const std::string& p);
std::string join_path(const std::string& a, const std::string& b);
void make_dirs(const std::string& dir);  // mkdir -p; throws IoError
/// Creates dir if needed and proves it is writable by creating and removing a probe file.
void check_writable_dir(const std::string& dir);
/// Files in dir whose names start with prefix and end with suffix, sorted by name.
std::vector<std::string> list_files(const std::string& dir, const std::string& prefix,
                                    const std::string& suffix);
/// Removes the temporaries (names with ".tmp.") that killed writers left in dir: those of this
/// machine whose writer process is gone, and those of other machines (or of older trawl
/// versions) not modified for max_age_hours. Returns how many were removed. AtomicOutput calls
/// it once per directory and process, so every stage cleans up on rerun.
int remove_stale_temporaries(const std::string& dir, double max_age_hours = 24.0);
/// The directory part of a path ("." when there is none).
std::string parent_dir(const std::string& path);
void remove_file(const std::string& p);  // no error if missing

/// CRC-32 (zlib polynomial) of a whole file, streamed; also returns its size.
struct FileChecksum {
  uint32_t crc32 = 0;
  uint64_t size = 0;
  std::string str() const;  // "crc32:1a2b3c4d/size:1234"
};
FileChecksum checksum_file(const std::string& path);

/// An output written under a temporary name in the same directory and renamed onto the
/// final name by commit(). Destroyed without commit (an exception, a failed check), it
/// removes the temporary: a failed stage leaves nothing partial behind.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string final_path);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  const std::string& temp_path() const { return temp_; }
  const std::string& final_path() const { return final_; }
  void commit();  // fsync the file, rename, fsync the directory; throws IoError
  void abandon();

 private:
  std::string final_, temp_;
  bool done_ = false;
};

/// Writes text to path atomically (AtomicOutput): IoError naming the file on failure.
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace trawl
