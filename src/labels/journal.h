// The append-only annotations journal and its consensus views (docs/FORMATS.md "Labels
// journal", docs/LABELS.md).
//
// File: UTF-8 text. Line 1 is the header `# trawl-format: labels-journal` followed by
// `\ttrawl-format-version: 1`; then one record a line:
//   uid \t class \t annotator \t label \t time \t round \t source \t crc32
// (class, annotator, label, time and source with backslash, tab, CR, LF written as \\ \t \r \n;
// crc32: 8 lowercase hex digits, the zlib CRC-32 of the line's bytes before "\t<crc32>").
// time: ISO-8601 UTC text as the annotation tool gave it, or the import time
// (YYYY-MM-DDTHH:MM:SSZ). A final segment without its newline is a torn append (a crash
// mid-write): readers skip it with a warning and the next append truncates it first. Any
// other bad line is an InputError naming the file and line. Appends are one write() of whole
// lines followed by fsync, under an exclusive flock(); readers take a shared flock().
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trawl::labels {

constexpr const char* kJournalFormat = "labels-journal";
constexpr int kJournalFormatVersion = 1;

struct Record {
  uint64_t uid = 0;
  std::string cls;        // the class the item was queued for; may be empty
  std::string annotator;  // non-empty
  std::string label;      // non-empty
  std::string time;       // non-empty
  uint64_t round = 0;
  std::string source;     // e.g. the imported file's name
  uint64_t line = 0;      // where it was read (0 when not read from a journal)
};

struct JournalRead {
  std::vector<Record> records;  // in append order
  bool torn_tail = false;       // a torn final line was skipped
  uint64_t torn_bytes = 0;
};

/// The record's line without its newline (checksum included).
std::string format_record(const Record& r);
/// Parses one line (without newline); InputError "path:line: ..." when malformed.
Record parse_record(const std::string& line, const std::string& path, uint64_t lineno);

/// Reads a journal. A missing file is an IoError; a torn final line is skipped with a warning.
JournalRead read_journal(const std::string& path);

/// Appends all records in one write() + fsync under an exclusive lock, creating the file
/// (with its header) when missing or empty and truncating a torn final line first. Validates
/// every record before writing anything (UsageError on an empty annotator/label/time).
/// No records: a no-op. Returns the number of torn bytes removed. With already_present, records
/// whose line is already in the journal (every field equal, the time included) are not
/// appended again and counted there — an import rerun after a kill, or a cumulative export
/// imported again, adds only what is new (this reads the whole journal, under the lock).
uint64_t append_journal(const std::string& path, const std::vector<Record>& records,
                        uint64_t* already_present = nullptr);

/// The current time as YYYY-MM-DDTHH:MM:SSZ; and unix seconds in that form.
std::string now_iso8601();
std::string unix_to_iso8601(int64_t seconds);

// ---- consensus

struct Vote {
  uint64_t uid = 0;
  std::string cls, annotator, label;
};

/// The votes that count: per (uid, class, annotator) the latest record in journal order
/// (a re-annotation replaces the earlier answer; the journal keeps both). Sorted by
/// (uid, class, annotator). `only_class`, when non-empty, keeps records queued for that class.
std::vector<Vote> effective_votes(const std::vector<Record>& records, const std::string& only_class = "");

struct ConsensusOptions {
  std::string rule = "majority";  // majority | plurality
  uint64_t seed = 42;             // majority: the last tie-break draws from key(seed, uid)
  bool keep_single = false;       // plurality: keep items with one label (the reference drops them)
};

struct Decision {
  uint64_t uid = 0;
  std::string cls, label;
  int votes = 0;       // labels the item has
  int top = 0;         // votes for the chosen label
  // majority: how it was decided: "votes", "minority" (tie-break 2: lowest global count),
  // "agreement" (tie-break 3), "random" (tie-break 4)
  std::string how;
};

struct ConsensusResult {
  std::vector<Decision> decisions;  // sorted by (uid, class)
  uint64_t items = 0;               // (uid, class) groups seen
  uint64_t dropped_single = 0;      // plurality: items with one label, dropped
  uint64_t dropped_tied = 0;        // plurality: top answer not strictly ahead
  uint64_t random_ties = 0;         // majority: ties settled by the seeded draw
};

/// majority: activelab.md §1 without P — top count; ties: the tied label with the lowest
/// global vote count, then the highest mean annotator agreement (each annotator's agreement
/// with the majority on the items without a tie; no overlap → the mean over annotators), then
/// a uniform draw keyed by (seed, uid) among the labels still tied (sorted by name).
/// plurality: twitter-labor §5.5 — an item is kept when it has more than one label and its
/// top answer strictly outnumbers the runner-up (items with one label only with keep_single).
ConsensusResult consensus(const std::vector<Vote>& votes, const ConsensusOptions& o);

/// The labels TSV rows (uid, label) of a consensus; a uid decided differently for two queued
/// classes is an InputError naming both (identical decisions collapse).
std::vector<std::pair<uint64_t, std::string>> label_rows(const ConsensusResult& r, const std::string& journal);

/// The long table for ActiveLab/CROWDLAB: header `uid annotator label class`, one effective
/// vote a line, written atomically.
void write_long_table(const std::string& path, const std::vector<Vote>& votes);

/// TSV escaping (\\, \t, \r, \n) as queue.tsv uses, and its inverse.
std::string escape_field(const std::string& s);
std::string unescape_field(const std::string& s);

}  // namespace trawl::labels
