// Streaming readers of input text chunks: TSV, CSV (RFC 4180) and JSONL, optionally gzip.
// A header row (TSV/CSV) or the object keys (JSONL) name the columns.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace trawl::text {

enum class Format { kAuto, kTsv, kCsv, kJsonl };
Format parse_format(const std::string& s);  // auto|tsv|csv|jsonl; throws UsageError
const char* format_name(Format f);
/// By extension (.tsv .tab .csv .jsonl .ndjson .json, each optionally .gz), else sniffed
/// from the first line. Throws InputError when it cannot tell.
Format detect_format(const std::string& path);

struct ReaderOptions {
  Format format = Format::kAuto;
  std::string id_column = "id";
  std::string text_column = "text";
  std::string label_column;  // empty: no label
  uint64_t max_line_bytes = 1 << 20;  // a longer physical line (or CSV record) is a bad row
};

/// One data row. row is the 0-based index among data rows (bad rows count too, so uids of
/// good rows do not shift when a bad row is fixed); line is the 1-based physical line where
/// the row starts.
struct Row {
  uint64_t row = 0;
  uint64_t line = 0;
  std::string id, text, label;
};

struct BadRow {
  uint64_t row = 0;
  uint64_t line = 0;
  std::string reason;  // e.g. "invalid UTF-8 at byte 17 of column 'text'"
  std::string raw;     // the offending record, truncated to 200 bytes
};

/// Details of the readers (text module):
///  * Completely empty lines (whitespace-only in JSONL) are skipped: they are not rows and do
///    not take a row index. A UTF-8 BOM at the start of the file is ignored; header names are
///    trimmed of spaces. A header naming the id/text/label column twice is an InputError.
///  * TSV: "\t" "\n" "\r" "\\" are unescaped in fields; any other backslash is kept.
///    CRLF line ends are accepted. CSV: RFC 4180; bytes inside quotes are kept as they are.
///  * JSONL: the id and text keys are required (absent or null: a bad row); a label key that
///    is absent or null gives an empty label; numbers keep their literal text, booleans are
///    "true"/"false"; objects or arrays for these keys are bad rows; a repeated key: the last
///    one wins. Nesting deeper than 512 is a bad row.
///  * Columns id/text/label must be valid UTF-8 (overlong forms and surrogates are invalid)
///    and free of NUL characters (HDF5 strings cannot hold them).
///  * Empty means empty after trimming ASCII and Unicode spaces (and ZWSP/BOM).
///  * A duplicate id is only checked against earlier good rows.
///  * After a malformed CSV record or one longer than max_line_bytes, reading resumes at the
///    next physical line after the problem.
///  * Multi-member gzip files (concatenated .gz, bgzip) are read to the end; anything else
///    after the gzip stream is corrupt data.
class ChunkReader {
 public:
  /// Opens the file (gzip is detected by magic bytes) and reads the header. Throws IoError if
  /// it cannot be opened, InputError if a named column is missing (listing the columns found).
  ChunkReader(const std::string& path, const ReaderOptions& opt);
  ~ChunkReader();
  enum class Status { kRow, kBad, kEnd };
  /// The next row, or a bad row (malformed, invalid UTF-8, empty text, missing column,
  /// duplicate id, over-long line) for the caller to fail on or reject. Errors that make the
  /// rest of the file unreadable (truncated gzip, read error) throw InputError with file/line.
  Status next(Row& row, BadRow& bad);
  Format format() const;
  const std::string& path() const;
  uint64_t bytes_consumed() const;  // of the file on disk (compressed), for progress
  uint64_t file_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trawl::text
