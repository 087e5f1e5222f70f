// Over 600 lines on purpose: TSV, CSV and JSONL share the buffer, the record scanner, the
// gzip path and the id/limit checks below; split by format they would each need them.
// Streaming chunk readers. The file is read through one growable buffer (4 MiB to start);
// a record is parsed in place when it is complete in the buffer, and only the id, text and
// label columns are copied out. Nothing but the buffer and the set of ids seen so far grows
// with the file.
#include "text/reader.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "text/json.h"
#include "text/source.h"
#include "text/utf8.h"

namespace trawl::text {

namespace {

constexpr size_t kInitialBuffer = 4 << 20;
constexpr size_t kRawMax = 200;
constexpr size_t kSniffBytes = 64 << 10;

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Format from the file name, or kAuto when the extension says nothing.
Format format_from_extension(const std::string& path) {
  std::string p = lower(path);
  if (ends_with(p, ".gz")) p.resize(p.size() - 3);
  if (ends_with(p, ".tsv") || ends_with(p, ".tab")) return Format::kTsv;
  if (ends_with(p, ".csv")) return Format::kCsv;
  if (ends_with(p, ".jsonl") || ends_with(p, ".ndjson") || ends_with(p, ".json")) return Format::kJsonl;
  return Format::kAuto;
}

std::string_view strip_bom(std::string_view s) {
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.remove_prefix(3);
  return s;
}

/// Format from the start of the (decompressed) data; throws InputError when it cannot tell.
Format sniff(std::string_view head, bool whole_file, const std::string& path) {
  head = strip_bom(head);
  size_t nl = head.find('\n');
  std::string_view first = nl == std::string_view::npos ? head : head.substr(0, nl);
  size_t k = 0;
  while (k < first.size() && (first[k] == ' ' || first[k] == '\t' || first[k] == '\r')) ++k;
  if (k < first.size() && first[k] == '{') return Format::kJsonl;
  if (first.find('\t') != std::string_view::npos) return Format::kTsv;
  if (first.find(',') != std::string_view::npos) return Format::kCsv;
  if (head.empty() && whole_file)
    throw InputError(at(path, 0, "cannot tell the format of an empty file (no .tsv, .csv or .jsonl extension)"));
  throw InputError(at(path, 1,
                      "cannot tell the format: the extension is not .tsv/.tab/.csv/.jsonl/.ndjson/.json "
                      "(optionally .gz) and the first line is not a JSON object and has no TAB or "
                      "comma; give the format explicitly"));
}

/// Whitespace for the purpose of "empty after trimming": ASCII and Unicode spaces, and the
/// invisible format characters that often pad empty cells (ZWSP, BOM).
bool is_blank(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == ' ' || (c >= '\t' && c <= '\r')) {
        ++i;
        continue;
      }
      return false;
    }
    // Valid UTF-8 is checked before this is called.
    uint32_t cp = utf8::decode(s.data(), i);
    bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
                 cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
                 cp == 0xFEFF;
    if (!space) return false;
  }
  return true;
}

std::string truncate_raw(std::string_view s) { return std::string(s.substr(0, utf8::safe_prefix(s, kRawMax))); }

/// TSV field unescaping: \t \n \r \\ ; any other backslash is kept as it is.
void unescape_tsv(const char* b, const char* e, std::string& out) {
  const void* bs = std::memchr(b, '\\', static_cast<size_t>(e - b));
  if (!bs) {
    out.assign(b, e);
    return;
  }
  const char* p = static_cast<const char*>(bs);
  out.assign(b, p);
  while (p < e) {
    if (*p == '\\' && p + 1 < e) {
      switch (p[1]) {
        case 't': out.push_back('\t'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        default:
          out.push_back('\\');
          out.push_back(p[1]);
      }
      p += 2;
    } else {
      out.push_back(*p++);
    }
  }
}

/// CSV field: a quoted field's "" escapes become ".
void unescape_csv(const char* b, const char* e, bool escaped, std::string& out) {
  if (!escaped) {
    out.assign(b, e);
    return;
  }
  out.clear();
  for (const char* p = b; p < e; ++p) {
    out.push_back(*p);
    if (*p == '"') ++p;  // skip the second quote of ""
  }
}

std::string trim_ascii(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

/// Ids seen so far, for duplicate detection. The probe table holds 8-byte slots (a 32-bit
/// tag of the hash and an index into the entries), so it stays small; the entries (full
/// hash, line, the id's bytes in an arena) are touched only on a tag match. Large tables ask
/// for transparent huge pages: the probes are random, and TLB misses would otherwise
/// dominate the whole reader on files of millions of rows.
class IdSet {
 public:
  IdSet() = default;
  IdSet(const IdSet&) = delete;
  IdSet& operator=(const IdSet&) = delete;
  ~IdSet() { std::free(slots_); }

  static uint64_t hash(std::string_view id) { return hash_str(id); }
  /// Hints the cache with the slot that insert(h, ...) will probe first.
  void prefetch(uint64_t h) const {
    if (slots_) __builtin_prefetch(&slots_[static_cast<size_t>(h) & mask_]);
  }
  /// Inserts id (whose hash() is h) first seen at line; returns 0 if it is new, else the line
  /// where it was first seen.
  uint64_t insert(uint64_t h, std::string_view id, uint64_t line) {
    if (!slots_ || (entries_.size() + 1) * 10 > (mask_ + 1) * 7) grow();
    const uint64_t tag = h >> 32;
    for (size_t i = static_cast<size_t>(h) & mask_;; i = (i + 1) & mask_) {
      uint64_t s = slots_[i];
      if (s == 0) {
        TRAWL_ASSERT(entries_.size() < 0xFFFFFFFFull);
        entries_.push_back(Entry{h, arena_.size(), line, id.size()});
        arena_.append(id.data(), id.size());
        slots_[i] = (tag << 32) | entries_.size();  // index + 1: never 0
        return 0;
      }
      if ((s >> 32) == tag) {
        const Entry& e = entries_[(s & 0xFFFFFFFFu) - 1];
        if (e.hash == h && e.len == id.size() && std::memcmp(arena_.data() + e.off, id.data(), id.size()) == 0)
          return e.line;
      }
    }
  }

 private:
  struct Entry {
    uint64_t hash, off, line, len;
  };
  static uint64_t* allocate(size_t n) {
    const size_t bytes = n * sizeof(uint64_t);
    constexpr size_t kHuge = 2 << 20;
    void* p = nullptr;
    if (bytes >= kHuge) {
      p = std::aligned_alloc(kHuge, bytes);
#ifdef MADV_HUGEPAGE
      if (p) ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
    } else {
      p = std::malloc(bytes);
    }
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    return static_cast<uint64_t*>(p);
  }
  void grow() {
    const size_t n = slots_ ? (mask_ + 1) * 2 : 4096;
    uint64_t* fresh = allocate(n);
    std::free(slots_);
    slots_ = fresh;
    mask_ = n - 1;
    for (size_t k = 0; k < entries_.size(); ++k) {
      uint64_t h = entries_[k].hash;
      size_t i = static_cast<size_t>(h) & mask_;
      while (slots_[i] != 0) i = (i + 1) & mask_;
      slots_[i] = ((h >> 32) << 32) | (k + 1);
    }
  }
  uint64_t* slots_ = nullptr;
  size_t mask_ = 0;
  std::vector<Entry> entries_;
  std::string arena_;
};

struct Span {
  const char* b;
  const char* e;
  bool escaped;  // CSV: quoted field containing ""
};

}  // namespace

Format parse_format(const std::string& s) {
  std::string l = lower(s);
  if (l == "auto") return Format::kAuto;
  if (l == "tsv") return Format::kTsv;
  if (l == "csv") return Format::kCsv;
  if (l == "jsonl" || l == "ndjson") return Format::kJsonl;
  throw UsageError(cat("unknown input format '", s, "' (expected auto, tsv, csv or jsonl)"));
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kAuto: return "auto";
    case Format::kTsv: return "tsv";
    case Format::kCsv: return "csv";
    case Format::kJsonl: return "jsonl";
  }
  return "?";
}

Format detect_format(const std::string& path) {
  Format f = format_from_extension(path);
  if (f != Format::kAuto) return f;
  ByteSource src(path);
  std::string head(kSniffBytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    long n = src.read(&head[got], head.size() - got);
    if (n < 0)
      throw InputError(at(path, 0, cat(src.error() == ByteSource::Error::kTruncated ? "truncated gzip stream: "
                                                                                     : "corrupt gzip data: ",
                                       src.error_detail(), " while reading the first line")));
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (std::memchr(head.data(), '\n', got)) break;
  }
  head.resize(got);
  return sniff(head, got < kSniffBytes, path);
}

struct ChunkReader::Impl {
  std::string path;
  ReaderOptions opt;
  Format fmt = Format::kAuto;
  ByteSource src;

  std::vector<char> buf;
  size_t pos = 0, end = 0;
  bool eof = false;
  uint64_t lines_done = 0;  // newline characters consumed (+1 for a last line without one)
  uint64_t next_row = 0;

  // Columns: index of id/text/label in the header (TSV/CSV); -1 label: none.
  size_t ncols = 0;
  int col_id = -1, col_text = -1, col_label = -1;
  std::vector<Span> spans;
  // JSONL keys: id, text[, label].
  std::string keys[3];
  size_t nkeys = 0;
  json::Field jf[3];
  std::string jerr;

  IdSet ids;
  std::string too_long_raw;

  Impl(const std::string& p, const ReaderOptions& o) : path(p), opt(o), src(p) {}

  [[noreturn]] void throw_source_error() {
    if (src.error() == ByteSource::Error::kTruncated)
      throw InputError(at(path, 0, cat("truncated gzip stream: unexpected end of file after line ", lines_done)));
    throw InputError(at(path, 0, cat("corrupt gzip data (", src.error_detail(), ") after line ", lines_done)));
  }

  /// Moves the unparsed bytes to the front and reads more; false at the end of the data.
  bool fill() {
    if (eof) return false;
    if (pos > 0) {
      if (end > pos) std::memmove(buf.data(), buf.data() + pos, end - pos);
      end -= pos;
      pos = 0;
    }
    if (end == buf.size()) buf.resize(buf.size() * 2);
    long n = src.read(buf.data() + end, buf.size() - end);
    if (n < 0) throw_source_error();
    if (n == 0) {
      eof = true;
      return false;
    }
    end += static_cast<size_t>(n);
    return true;
  }

  /// Discards bytes from index i (absolute in buf, >= pos) up to and including the next
  /// newline, refilling as needed; counts every newline from pos on. Afterwards pos is the
  /// start of the next line.
  void skip_line_from(size_t i) {
    lines_done += static_cast<uint64_t>(std::count(buf.data() + pos, buf.data() + i, '\n'));
    pos = i;
    for (;;) {
      const void* nl = std::memchr(buf.data() + pos, '\n', end - pos);
      if (nl) {
        pos = static_cast<size_t>(static_cast<const char*>(nl) - buf.data()) + 1;
        ++lines_done;
        return;
      }
      pos = end;
      if (!fill()) {
        ++lines_done;  // the last line had no newline
        return;
      }
    }
  }

  enum class LineKind { kLine, kTooLong, kEof };

  /// Next physical line (without "\n" or "\r\n"). The view is valid until the next call.
  LineKind next_line(std::string_view& line, uint64_t& start_line) {
    start_line = lines_done + 1;
    size_t scanned = 0;
    for (;;) {
      const char* b = buf.data() + pos;
      size_t avail = end - pos;
      const void* nl = std::memchr(b + scanned, '\n', avail - scanned);
      if (nl) {
        size_t len = static_cast<size_t>(static_cast<const char*>(nl) - b);
        pos += len + 1;
        ++lines_done;
        if (len > 0 && b[len - 1] == '\r') --len;
        line = std::string_view(b, len);
        if (len > opt.max_line_bytes) {
          too_long_raw = truncate_raw(line);
          return LineKind::kTooLong;
        }
        return LineKind::kLine;
      }
      scanned = avail;
      if (avail > opt.max_line_bytes) {
        too_long_raw = truncate_raw(std::string_view(b, avail));
        skip_line_from(end);
        return LineKind::kTooLong;
      }
      if (!fill()) {
        if (avail == 0) return LineKind::kEof;
        b = buf.data() + pos;
        size_t len = avail;
        pos = end;
        ++lines_done;
        if (b[len - 1] == '\r') --len;
        line = std::string_view(b, len);
        if (len > opt.max_line_bytes) {
          too_long_raw = truncate_raw(line);
          return LineKind::kTooLong;
        }
        return LineKind::kLine;
      }
    }
  }

  // ---- CSV -------------------------------------------------------------------------------

  enum class Rec { kOk, kMalformed, kTooLong, kEof };

  /// Buffers the next CSV record: [pos, limit) with complete == true when limit is the
  /// record's end (its terminating newline, or the end of the data). A record longer than
  /// max_line_bytes is buffered only to max_line_bytes + 1 bytes (complete == false).
  /// Returns false at the end of the data.
  bool buffer_csv_record(size_t& limit, bool& complete) {
    size_t scanned = 0;
    bool odd = false;  // quote parity: inside a quoted field when the record is well formed
    for (;;) {
      const char* b = buf.data() + pos;
      size_t avail = end - pos;
      size_t lim = std::min<uint64_t>(avail, opt.max_line_bytes + 1);
      for (size_t k = scanned; k < lim; ++k) {
        char c = b[k];
        if (c == '"') {
          odd = !odd;
        } else if (c == '\n' && !odd) {
          limit = pos + k;
          complete = true;
          return true;
        }
      }
      scanned = lim;
      if (scanned > opt.max_line_bytes) {
        limit = pos + scanned;
        complete = false;
        return true;
      }
      if (!fill()) {
        if (end == pos) return false;
        limit = end;
        complete = true;
        return true;
      }
    }
  }

  /// Parses the record in [pos, limit) into spans. On kMalformed, reason is set and err_at is
  /// the absolute offset of the problem. kTooLong: no error up to limit in an incomplete record.
  Rec parse_csv_record(size_t limit, bool complete, std::string& reason, size_t& err_at) {
    spans.clear();
    const char* b = buf.data();
    size_t i = pos;
    for (;;) {
      size_t field_no = spans.size() + 1;
      if (i < limit && b[i] == '"') {
        size_t start = i + 1;
        bool escaped = false;
        size_t j = start;
        for (;;) {
          const void* q = std::memchr(b + j, '"', limit - j);
          if (!q) {
            if (!complete) return Rec::kTooLong;
            reason = cat("unterminated quoted field ", field_no, " (no closing quote before the end of the file)");
            err_at = i;
            return Rec::kMalformed;
          }
          j = static_cast<size_t>(static_cast<const char*>(q) - b);
          if (j + 1 < limit && b[j + 1] == '"') {
            escaped = true;
            j += 2;
            continue;
          }
          if (j + 1 >= limit && !complete) return Rec::kTooLong;
          break;
        }
        spans.push_back(Span{b + start, b + j, escaped});
        i = j + 1;  // after the closing quote
        if (i >= limit) {
          if (!complete) return Rec::kTooLong;
          return Rec::kOk;
        }
        if (b[i] == ',') {
          ++i;
          if (i >= limit && complete) {  // trailing comma: a last empty field
            spans.push_back(Span{b + i, b + i, false});
            return Rec::kOk;
          }
          continue;
        }
        if (b[i] == '\r' && i + 1 == limit && complete) return Rec::kOk;
        reason = cat("unexpected character '", std::string(1, b[i]), "' after the closing quote of field ",
                     field_no, " (expected ',' or the end of the record)");
        err_at = i;
        return Rec::kMalformed;
      }
      // Unquoted field: up to ',' or the end of the record; a quote inside is malformed.
      size_t j = i;
      while (j < limit && b[j] != ',' && b[j] != '"') ++j;
      if (j < limit && b[j] == '"') {
        reason = cat("quote inside unquoted field ", field_no, " (quote the whole field and double the quote)");
        err_at = j;
        return Rec::kMalformed;
      }
      if (j >= limit) {
        if (!complete) return Rec::kTooLong;
        size_t fe = j;
        if (fe > i && b[fe - 1] == '\r') --fe;  // CRLF
        spans.push_back(Span{b + i, b + fe, false});
        return Rec::kOk;
      }
      spans.push_back(Span{b + i, b + j, false});
      i = j + 1;
      if (i >= limit && complete) {
        spans.push_back(Span{b + i, b + i, false});
        return Rec::kOk;
      }
    }
  }

  /// Reads the CSV header into names; throws InputError on any problem.
  void read_csv_header(std::vector<std::string>& names, uint64_t& header_line) {
    for (;;) {
      size_t limit;
      bool complete;
      if (!buffer_csv_record(limit, complete))
        throw InputError(at(path, 0, "empty file: expected a header row naming the columns"));
      header_line = lines_done + 1;
      if (complete && (limit == pos || (limit == pos + 1 && buf[pos] == '\r'))) {  // blank line
        skip_line_from(pos);
        continue;
      }
      std::string reason;
      size_t err_at = 0;
      Rec r = parse_csv_record(limit, complete, reason, err_at);
      if (r == Rec::kTooLong)
        throw InputError(at(path, header_line, cat("header row longer than max_line_bytes (", opt.max_line_bytes, " bytes)")));
      if (r == Rec::kMalformed) throw InputError(at(path, header_line, cat("malformed header row: ", reason)));
      names.clear();
      std::string tmp;
      for (const Span& s : spans) {
        unescape_csv(s.b, s.e, s.escaped, tmp);
        names.push_back(tmp);
      }
      consume_record(limit);
      return;
    }
  }

  /// Advances past a complete record ending at limit, counting its lines.
  void consume_record(size_t limit) {
    lines_done += static_cast<uint64_t>(std::count(buf.data() + pos, buf.data() + limit, '\n')) + 1;
    pos = limit < end ? limit + 1 : end;
  }

  // ---- setup -----------------------------------------------------------------------------

  void open() {
    if (opt.max_line_bytes < 1) throw UsageError("max_line_bytes must be at least 1");
    buf.resize(std::max<size_t>(kInitialBuffer, std::min<uint64_t>(opt.max_line_bytes + 2, 64 << 20)));
    while (end - pos < 3 && fill()) {
    }
    if (end - pos >= 3 && std::memcmp(buf.data() + pos, "\xEF\xBB\xBF", 3) == 0) pos += 3;  // BOM
    fmt = opt.format;
    if (fmt == Format::kAuto) fmt = format_from_extension(path);
    if (fmt == Format::kAuto) {
      // Sniff the first line from the buffer.
      while (!std::memchr(buf.data() + pos, '\n', end - pos) && end - pos < kSniffBytes && fill()) {
      }
      fmt = sniff(std::string_view(buf.data() + pos, std::min(end - pos, kSniffBytes)), eof, path);
    }
    if (fmt == Format::kJsonl) {
      keys[0] = opt.id_column;
      keys[1] = opt.text_column;
      nkeys = 2;
      if (!opt.label_column.empty()) keys[nkeys++] = opt.label_column;
      return;
    }
    std::vector<std::string> names;
    uint64_t header_line = 1;
    if (fmt == Format::kTsv) {
      std::string_view line;
      for (;;) {
        LineKind k = next_line(line, header_line);
        if (k == LineKind::kEof) throw InputError(at(path, 0, "empty file: expected a header row naming the columns"));
        if (k == LineKind::kTooLong)
          throw InputError(at(path, header_line, cat("header row longer than max_line_bytes (", opt.max_line_bytes, " bytes)")));
        if (!line.empty()) break;
      }
      const char* p = line.data();
      const char* e = p + line.size();
      std::string tmp;
      for (;;) {
        const char* t = static_cast<const char*>(std::memchr(p, '\t', static_cast<size_t>(e - p)));
        const char* fe = t ? t : e;
        unescape_tsv(p, fe, tmp);
        names.push_back(tmp);
        if (!t) break;
        p = t + 1;
      }
    } else {
      read_csv_header(names, header_line);
    }
    for (auto& n : names) n = trim_ascii(n);
    ncols = names.size();
    spans.reserve(ncols + 1);
    col_id = find_column(names, opt.id_column, "id", header_line);
    col_text = find_column(names, opt.text_column, "text", header_line);
    if (!opt.label_column.empty()) col_label = find_column(names, opt.label_column, "label", header_line);
  }

  int find_column(const std::vector<std::string>& names, const std::string& want, const char* role,
                  uint64_t header_line) {
    int found = -1;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != want) continue;
      if (found >= 0)
        throw InputError(at(path, header_line, cat("column '", want, "' appears twice in the header (fields ",
                                                   found + 1, " and ", i + 1, ")")));
      found = static_cast<int>(i);
    }
    if (found < 0) {
      std::string list;
      for (size_t i = 0; i < names.size(); ++i) list += cat(i ? ", " : "", "'", names[i], "'");
      throw InputError(at(path, header_line, cat("no column '", want, "' (the ", role,
                                                 " column) in the header; columns found: ", list)));
    }
    return found;
  }

  // ---- rows ------------------------------------------------------------------------------

  Status bad_row(BadRow& bad, uint64_t r, uint64_t line, std::string reason, std::string_view raw) {
    bad.row = r;
    bad.line = line;
    bad.reason = std::move(reason);
    bad.raw = truncate_raw(raw);
    return Status::kBad;
  }

  bool check_column(const std::string& v, const std::string& name, std::string& reason) {
    size_t at_byte = utf8::find_invalid(v.data(), v.size());
    if (at_byte != utf8::kValid) {
      reason = cat("invalid UTF-8 at byte ", at_byte, " of column '", name, "'");
      return false;
    }
    at_byte = utf8::find_nul(v.data(), v.size());
    if (at_byte != utf8::kValid) {
      reason = cat("NUL character at byte ", at_byte, " of column '", name, "'");
      return false;
    }
    return true;
  }

  /// Checks shared by every format once id/text/label are in row.
  Status finish_row(Row& row, BadRow& bad, uint64_t r, uint64_t line, std::string_view raw) {
    row.row = r;
    row.line = line;
    // Start fetching the id's hash slot now; the checks below hide part of the miss.
    const uint64_t h = IdSet::hash(row.id);
    ids.prefetch(h);
    std::string reason;
    if (!check_column(row.id, opt.id_column, reason) || !check_column(row.text, opt.text_column, reason) ||
        (!opt.label_column.empty() && !check_column(row.label, opt.label_column, reason)))
      return bad_row(bad, r, line, reason, raw);
    if (is_blank(row.id)) return bad_row(bad, r, line, cat("empty id (column '", opt.id_column, "')"), raw);
    if (is_blank(row.text)) return bad_row(bad, r, line, cat("empty text (column '", opt.text_column, "')"), raw);
    uint64_t first = ids.insert(h, row.id, line);
    if (first != 0)
      return bad_row(bad, r, line, cat("duplicate id '", row.id.substr(0, 100), "' (first seen at line ", first, ")"), raw);
    return Status::kRow;
  }

  std::string wrong_count(size_t found) const {
    return cat("expected ", ncols, " fields, found ", found);
  }

  /// The duplicate check misses the cache on large files; hashing the next line's id now
  /// (when it is already buffered) lets its slot arrive while this row is processed.
  void prefetch_next_tsv_id() {
    const char* p = buf.data() + pos;
    const char* e = p + std::min<size_t>(end - pos, 512);
    for (int k = 0; k < col_id; ++k) {
      const void* t = std::memchr(p, '\t', static_cast<size_t>(e - p));
      if (!t) return;
      p = static_cast<const char*>(t) + 1;
    }
    const char* q = p;
    while (q < e && *q != '\t' && *q != '\n' && *q != '\r') ++q;
    if (q == e) return;
    ids.prefetch(IdSet::hash(std::string_view(p, static_cast<size_t>(q - p))));
  }

  // The next line that `keep` accepts (the others are skipped): kRow with line and start set,
  // kEnd at the end of the file, or a bad row for a line over max_line_bytes.
  template <class Keep>
  Status next_kept_line(std::string_view& line, uint64_t& start, BadRow& bad, Keep keep) {
    for (;;) {
      LineKind k = next_line(line, start);
      if (k == LineKind::kEof) return Status::kEnd;
      if (k == LineKind::kTooLong)
        return bad_row(bad, next_row++, start, cat("line longer than max_line_bytes (", opt.max_line_bytes, " bytes)"),
                       too_long_raw);
      if (keep(line)) return Status::kRow;
    }
  }

  Status next_tsv(Row& row, BadRow& bad) {
    std::string_view line;
    uint64_t start;
    if (Status st = next_kept_line(line, start, bad, [](std::string_view l) { return !l.empty(); }); st != Status::kRow)
      return st;
    uint64_t r = next_row++;
    const char* p = line.data();
    const char* e = p + line.size();
    spans.clear();
    size_t nf = 0;
    for (;;) {
      const char* t = static_cast<const char*>(std::memchr(p, '\t', static_cast<size_t>(e - p)));
      const char* fe = t ? t : e;
      if (nf < ncols) spans.push_back(Span{p, fe, false});
      ++nf;
      if (!t) break;
      p = t + 1;
    }
    prefetch_next_tsv_id();
    if (nf != ncols) return bad_row(bad, r, start, wrong_count(nf), line);
    unescape_tsv(spans[col_id].b, spans[col_id].e, row.id);
    unescape_tsv(spans[col_text].b, spans[col_text].e, row.text);
    if (col_label >= 0) unescape_tsv(spans[col_label].b, spans[col_label].e, row.label);
    else row.label.clear();
    return finish_row(row, bad, r, start, line);
  }

  Status next_csv(Row& row, BadRow& bad) {
    size_t limit;
    bool complete;
    for (;;) {
      if (!buffer_csv_record(limit, complete)) return Status::kEnd;
      if (complete && (limit == pos || (limit == pos + 1 && buf[pos] == '\r'))) {  // blank line
        consume_record(limit);
        continue;
      }
      break;
    }
    uint64_t r = next_row++;
    uint64_t start = lines_done + 1;
    std::string reason;
    size_t err_at = 0;
    Rec rc = parse_csv_record(limit, complete, reason, err_at);
    if (rc == Rec::kTooLong) {
      too_long_raw = truncate_raw(std::string_view(buf.data() + pos, limit - pos));
      skip_line_from(limit);
      return bad_row(bad, r, start, cat("record longer than max_line_bytes (", opt.max_line_bytes, " bytes)"),
                     too_long_raw);
    }
    if (rc == Rec::kMalformed) {
      // The raw record: from its start to the end of the physical line with the problem.
      const char* b = buf.data() + pos;
      const void* nl = std::memchr(buf.data() + err_at, '\n', limit - err_at);
      size_t raw_end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - buf.data()) : limit;
      std::string raw = truncate_raw(std::string_view(b, raw_end - pos));
      skip_line_from(err_at);
      return bad_row(bad, r, start, reason, raw);
    }
    if (spans.size() != ncols) {
      std::string raw = truncate_raw(std::string_view(buf.data() + pos, limit - pos));
      size_t nf = spans.size();
      consume_record(limit);
      return bad_row(bad, r, start, wrong_count(nf), raw);
    }
    const Span& si = spans[col_id];
    const Span& st = spans[col_text];
    unescape_csv(si.b, si.e, si.escaped, row.id);
    unescape_csv(st.b, st.e, st.escaped, row.text);
    if (col_label >= 0) unescape_csv(spans[col_label].b, spans[col_label].e, spans[col_label].escaped, row.label);
    else row.label.clear();
    std::string_view raw(buf.data() + pos, limit - pos);
    Status s = finish_row(row, bad, r, start, raw);  // raw is copied before the buffer moves
    consume_record(limit);
    return s;
  }

  Status next_jsonl(Row& row, BadRow& bad) {
    std::string_view line;
    uint64_t start;
    auto non_blank = [](std::string_view l) { return l.find_first_not_of(" \t\r") != std::string_view::npos; };
    if (Status st = next_kept_line(line, start, bad, non_blank); st != Status::kRow) return st;
    uint64_t r = next_row++;
    size_t err_pos = 0;
    if (!json::parse_object(line, keys, nkeys, jf, jerr, err_pos))
      return bad_row(bad, r, start, cat("malformed JSON at byte ", err_pos, ": ", jerr), line);
    std::string* dst[3] = {&row.id, &row.text, &row.label};
    row.label.clear();
    for (size_t k = 0; k < nkeys; ++k) {
      const json::Field& f = jf[k];
      bool is_label = k == 2;
      switch (f.kind) {
        case json::Field::Kind::kMissing:
          if (is_label) break;
          return bad_row(bad, r, start, cat("missing key '", keys[k], "'"), line);
        case json::Field::Kind::kNull:
          if (is_label) break;
          return bad_row(bad, r, start, cat("key '", keys[k], "' is null"), line);
        case json::Field::Kind::kObject:
        case json::Field::Kind::kArray:
          return bad_row(bad, r, start,
                         cat("value of '", keys[k], "' is ", json::kind_name(f.kind),
                             "; expected a string, number or boolean"),
                         line);
        default:
          *dst[k] = f.value;
      }
    }
    return finish_row(row, bad, r, start, line);
  }
};

ChunkReader::ChunkReader(const std::string& path, const ReaderOptions& opt) : impl_(new Impl(path, opt)) {
  impl_->open();
}

ChunkReader::~ChunkReader() = default;

ChunkReader::Status ChunkReader::next(Row& row, BadRow& bad) {
  switch (impl_->fmt) {
    case Format::kTsv: return impl_->next_tsv(row, bad);
    case Format::kCsv: return impl_->next_csv(row, bad);
    case Format::kJsonl: return impl_->next_jsonl(row, bad);
    case Format::kAuto: break;
  }
  TRAWL_ASSERT(false);
  return Status::kEnd;
}

Format ChunkReader::format() const { return impl_->fmt; }
const std::string& ChunkReader::path() const { return impl_->path; }
uint64_t ChunkReader::file_bytes() const { return impl_->src.file_bytes(); }
uint64_t ChunkReader::bytes_consumed() const {
  const Impl& m = *impl_;
  if (m.src.gzip()) return m.src.bytes_consumed();
  return m.src.bytes_consumed() - (m.end - m.pos);
}

}  // namespace trawl::text
